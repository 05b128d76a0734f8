"""The model service as a user runs it: `ragkit serve` in its own process, and `ragkit search`
and `ragkit ask` subprocesses that find it, use it, and answer as they do without it.

Tiny local models throughout (a tiny embedder for the knowledge base, a tiny causal LM as the
generator); the relevance stage (``--relevance fast``) reads with the real INT8
cross-encoder, in the service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragkit import service
from ragkit.config import KnowledgeBaseConfig
from ragkit.kb import KnowledgeBase
from tests.conftest import TINY_CORPUS
from tests.helpers.docs import write_docs
from tests.helpers.tiny_models import build_tiny_causal_lm
from tests.rag.conftest import DOCS
from tests.serving.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How long do refunds take?"


def _env(home: Path, server: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "RAGKIT_KB": "",
           "RAGKIT_HOME": str(home)}
    env.pop("RAGKIT_SERVER", None)
    if server is not None:
        env["RAGKIT_SERVER"] = server
    return env


def _ragkit(*args: str, home: Path, server: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ragkit", *args], env=_env(home, server),
                          capture_output=True, text=True, timeout=600, cwd=home)


# -- discovery (no process needed) ----------------------------------------------------------
def test_without_a_service_file_commands_load_their_own_models(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGKIT_HOME", str(tmp_path))
    monkeypatch.delenv("RAGKIT_SERVER")
    url, why = service.find_service()
    assert url is None and "no ragkit service is running" in why and "ragkit serve" in why


def test_a_stale_service_file_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("RAGKIT_HOME", str(tmp_path))
    monkeypatch.delenv("RAGKIT_SERVER")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / service.SERVICE_FILE).write_text(json.dumps(
        {"url": f"http://127.0.0.1:{free_port()}", "pid": dead.pid}))
    url, why = service.find_service()
    assert url is None and "is not running" in why


def test_ragkit_server_off_and_an_unreachable_url_load_in_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGKIT_SERVER", "off")
    assert service.find_service()[0] is None
    monkeypatch.setenv("RAGKIT_SERVER", f"http://127.0.0.1:{free_port()}")
    url, why = service.find_service()
    assert url is None and "does not answer" in why


# -- a real service --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, tiny_embedder_dir: Path
          ) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("service")
    lm = build_tiny_causal_lm(root / "lm", TINY_CORPUS)
    docs = write_docs(root / "docs", DOCS)
    kb_dir = root / "kb"
    with KnowledgeBase.open(kb_dir, create=True,
                            config=KnowledgeBaseConfig(embedder=str(tiny_embedder_dir))) as kb:
        kb.sync([docs])
    home = root / "home"
    home.mkdir()
    # share the model cache (the cross-encoder) with the service without touching its file
    real_home = os.environ.get("RAGKIT_HOME")
    if real_home is None:
        from ragkit.config import ragkit_home

        real_home = str(ragkit_home())
    for sub in ("models", "files", "verified", "packages"):
        if (Path(real_home) / sub).exists():
            (home / sub).symlink_to(Path(real_home) / sub)
    return {"lm": lm, "kb": kb_dir, "home": home}


@pytest.fixture(scope="module")
def running(setup: dict[str, Any]) -> Iterator[dict[str, Any]]:
    home, port = setup["home"], free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragkit", "serve", "--model", str(setup["lm"]), "--port",
         str(port), "--no-preload"], env=_env(home, None), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, cwd=home, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (home / service.SERVICE_FILE).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"ragkit serve did not start: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        time.sleep(0.2)
    url = json.loads((home / service.SERVICE_FILE).read_text())["url"]
    yield {**setup, "url": url, "proc": proc}
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_search_uses_the_service_and_finds_what_it_finds_alone(running: dict[str, Any]) -> None:
    args = ("search", QUESTION, "--kb", str(running["kb"]), "--json")
    via = _ragkit(*args, home=running["home"])
    alone = _ragkit(*args, home=running["home"], server="off")
    assert via.returncode == 0 and alone.returncode == 0, via.stderr + alone.stderr
    assert not via.stderr  # --json keeps stderr quiet
    plain = _ragkit(*args[:-1], home=running["home"])
    assert f"using the ragkit service at {running['url']}" in plain.stderr
    hits, ref = json.loads(via.stdout), json.loads(alone.stdout)
    assert [h["chunk_id"] for h in hits] == [h["chunk_id"] for h in ref]
    assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in ref], abs=1e-4)
    info = httpx.get(f"{running['url']}/ragkit/v1/info", timeout=10).json()
    assert info["served"]["embed"] >= 1  # the query was embedded in the service


def test_ask_uses_the_service_for_every_model_and_answers_as_alone(running: dict[str, Any]
                                                                   ) -> None:
    args = ("ask", QUESTION, "--kb", str(running["kb"]), "--json", "--model", str(running["lm"]),
            "--relevance", "fast", "--no-cache", "--translate", "off")

    def counters() -> tuple[int, int, int]:
        health = httpx.get(f"{running['url']}/health", timeout=10).json()
        info = httpx.get(f"{running['url']}/ragkit/v1/info", timeout=10).json()
        return (health["stats"]["requests"], info["served"]["relevance"],
                info["served"]["embed"])

    start = counters()
    via = _ragkit(*args, home=running["home"])
    assert via.returncode == 0, via.stderr[-2000:]
    used = counters()
    alone = _ragkit(*args, home=running["home"], server="off")
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert counters() == used  # RAGKIT_SERVER=off: nothing went to the service
    a, b = json.loads(via.stdout), json.loads(alone.stdout)
    assert a["answer"] == b["answer"] and a["refused"] == b["refused"]
    assert [c["chunk_id"] for c in a["citations"]] == [c["chunk_id"] for c in b["citations"]]
    assert used[1] > start[1] and used[2] > start[2]  # evidence scored, question embedded there
    if a["usage"]["completion_tokens"]:
        assert used[0] > start[0]  # and the answer generated there
    plain = _ragkit(*args[:4], "--model", str(running["lm"]), "--relevance", "fast",
                    home=running["home"])
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert "using the ragkit service" in plain.stderr and "in the ragkit service" in plain.stderr


def test_a_service_that_stopped_is_noticed_and_commands_still_work(running: dict[str, Any]
                                                                   ) -> None:
    os.killpg(running["proc"].pid, signal.SIGTERM)
    running["proc"].wait(30)
    assert not (running["home"] / service.SERVICE_FILE).exists()  # withdrawn on the way out
    proc = _ragkit("search", QUESTION, "--kb", str(running["kb"]), home=running["home"])
    assert proc.returncode == 0, proc.stderr
    assert "no ragkit service is running" in proc.stderr and "refunds" in proc.stdout.lower()


def test_a_taken_port_is_a_clear_error_before_any_model_loads(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = _ragkit("serve", "--port", str(port), "--model", str(tmp_path / "no-such-model"),
                       home=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"127.0.0.1:{port} is taken" in proc.stderr and "--port" in proc.stderr
    assert "no-such-model" not in proc.stderr  # refused before the model was looked up
    assert not (tmp_path / service.SERVICE_FILE).exists()
