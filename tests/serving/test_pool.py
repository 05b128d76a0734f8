"""A pool of generation servers: the routing rule (pure), then three real `ragkit serve-model`
processes on loopback serving the tiny model: spreading concurrent streams, keeping a
conversation on one server, failing over when one is killed, a server killed mid-answer, and
every server down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ragkit.errors import GenerationError
from ragkit.generation.base import SamplingParams
from ragkit.generation.config import RemoteGeneratorConfig
from ragkit.generation.openai_client import OpenAICompatibleGenerator
from ragkit.generation.pool import BackendState, GeneratorPool, affinity_key, rank_backends
from ragkit.types import Message
from tests.serving.conftest import free_port, long_running_prompt

ROOT = Path(__file__).resolve().parents[2]
NAME = "tiny"


# -- the rule (pure) ----------------------------------------------------------------------------
def _states(*loads: int, weights: tuple[float, ...] = ()) -> list[BackendState]:
    return [BackendState(f"http://s{i}", weight=(weights[i] if weights else 1.0), outstanding=n)
            for i, n in enumerate(loads)]


def test_least_loaded_first_by_weight() -> None:
    assert rank_backends(_states(2, 0, 1), None, now=0.0) == [1, 2, 0]
    # weight 3 carries three times the requests before it counts as busier
    assert rank_backends(_states(2, 1, weights=(3.0, 1.0)), None, now=0.0) == [0, 1]


def test_a_conversation_stays_on_its_server_until_it_is_busier_than_the_slack() -> None:
    key = affinity_key([Message("system", "s"), Message("user", "hello")])
    idle = _states(0, 0, 0)
    own = rank_backends(idle, key, now=0.0)[0]
    later = affinity_key([Message("system", "s"), Message("user", "hello"),
                          Message("assistant", "hi"), Message("user", "and then?")])
    assert later == key  # later turns of the conversation share the key
    busy = _states(*[(1 if i == own else 0) for i in range(3)])
    assert rank_backends(busy, key, now=0.0)[0] == own  # one more request: within the slack
    busier = _states(*[(2 if i == own else 0) for i in range(3)])
    assert rank_backends(busier, key, now=0.0)[0] != own
    # another server leaving does not move the conversation
    gone = _states(0, 0, 0)
    other = next(i for i in range(3) if i != own)
    gone[other].failures, gone[other].down_until = 1, 10.0
    assert rank_backends(gone, key, now=5.0)[0] == own


def test_servers_cooling_down_come_last_soonest_back_first() -> None:
    s = _states(0, 0, 0)
    s[0].failures, s[0].down_until = 1, 30.0
    s[1].failures, s[1].down_until = 2, 20.0
    assert rank_backends(s, None, now=10.0) == [2, 1, 0]
    assert rank_backends(s, None, now=25.0) == [1, 2, 0]  # its back-off is over


def test_config_takes_several_urls_and_checks_weights() -> None:
    cfg = RemoteGeneratorConfig(base_url="http://a:1, http://b:2", model="m", weights=(1, 2))
    assert cfg.urls == ["http://a:1", "http://b:2"]
    with pytest.raises(ValueError, match="one positive number per server"):
        RemoteGeneratorConfig(base_url="http://a:1,http://b:2", model="m", weights=(1,))


# -- real servers -------------------------------------------------------------------------------
class Served:
    """`ragkit serve-model` in a subprocess on a free loopback port."""

    def __init__(self, model_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ragkit", "serve-model", "--model", str(model_dir),
             "--port", str(self.port), "--served-name", NAME, "--no-guard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve-model on {self.port} exited ({self.proc.returncode})")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"serve-model on {self.port} did not start")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture()
def servers(tiny_lm_dir: Path):
    procs = [Served(tiny_lm_dir) for _ in range(3)]
    try:
        for p in procs:
            p.wait_ready()
        yield procs
    finally:
        for p in procs:
            p.kill()


def _pool(servers: list[Served]) -> GeneratorPool:
    return GeneratorPool([OpenAICompatibleGenerator(s.url, NAME, timeout=120) for s in servers])


def _served(pool: GeneratorPool) -> list[int]:
    return [s["served"] for s in pool.stats()["servers"]]


def test_pool_of_real_servers(servers: list[Served], local_generator) -> None:
    pool = _pool(servers)
    params = SamplingParams(max_tokens=24, temperature=0.0)
    prompt = long_running_prompt(local_generator, 48)
    long = SamplingParams(max_tokens=48, temperature=0.0)
    alone = local_generator.generate([Message("user", prompt)], long).text

    # four streams of one conversation at once: two on its own server (the slack), then the
    # least loaded take the rest; each is the same greedy text as the model alone
    streams = [pool.stream([Message("user", prompt)], long) for _ in range(4)]
    heads = [next(s) for s in streams]  # all four are in flight now
    assert sorted(x["outstanding"] for x in pool.stats()["servers"]) == [1, 1, 2]
    texts = [h + "".join(s) for h, s in zip(heads, streams, strict=True)]
    assert texts == [alone] * 4
    assert sum(_served(pool)) == 4 and all(n >= 1 for n in _served(pool))

    # threads at once, each its own conversation: every one answered
    done: list[str] = []

    def ask(i: int) -> None:
        msgs = [Message("system", f"user {i}"), Message("user", "Tell me about refunds.")]
        done.append(pool.stream(msgs, params).collect().text)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(done) == 6 and sum(_served(pool)) == 10

    # a conversation's turns go to the same server while it is not busy
    first = [Message("system", "shop"), Message("user", "Tell me about refunds.")]
    before = _served(pool)
    pool.generate(first, params)
    own = next(i for i, (a, b) in enumerate(zip(before, _served(pool), strict=True)) if b > a)
    for turn in ("And shipping?", "Thanks."):
        before = _served(pool)
        pool.generate([*first, Message("assistant", "..."), Message("user", turn)], params)
        assert _served(pool)[own] == before[own] + 1

    # kill that server: every later request is answered by the others, nothing is lost
    servers[own].kill()
    for i in range(4):
        reply = pool.generate([*first, Message("user", f"again {i}")], params)
        assert reply.text
    stats = pool.stats()["servers"]
    assert stats[own]["up"] is False and stats[own]["last_error"]
    assert stats[own]["served"] == _served(pool)[own]  # it served nothing more

    # a request the servers refuse (a wrong model name) is not retried and takes no server out
    wrong = GeneratorPool([OpenAICompatibleGenerator(s.url, "nope", timeout=30)
                           for s in servers if s.proc.poll() is None])
    with pytest.raises(GenerationError, match="answered 404"):
        wrong.generate([Message("user", "hi")], params)
    assert all(s["up"] and s["failures"] == 0 for s in wrong.stats()["servers"])

    # a server killed in the middle of an answer: the stream ends with an error saying so
    prompt = long_running_prompt(local_generator, 400)
    stream = pool.stream([Message("user", prompt)], SamplingParams(max_tokens=400))
    next(stream)
    busy = next(i for i, s in enumerate(pool.stats()["servers"]) if s["outstanding"])
    servers[busy].kill()
    with pytest.raises(GenerationError, match="failed in the middle of the answer"):
        for _ in stream:
            pass

    # every server down: one error naming each of them
    for s in servers:
        s.kill()
    with pytest.raises(GenerationError, match="every generation server failed") as err:
        pool.generate([Message("user", "hi")], params)
    assert all(s.url in str(err.value) for s in servers)
    pool.close()


def test_ask_and_the_ui_use_running_servers(tiny_lm_dir: Path, tiny_embedder_dir: Path,
                                            tmp_path: Path) -> None:
    """`ragkit ask --generator-url` answers through a running `ragkit serve-model` (no model
    loaded in the command); the UI's backend builds a pool from comma-separated URLs."""
    from ragkit.ui import Backend, UiSettings
    from tests.helpers.docs import write_docs
    from tests.kb.test_sync import DOCS

    docs = write_docs(tmp_path / "docs", DOCS)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    kb = tmp_path / "kb"
    subprocess.run([sys.executable, "-m", "ragkit", "index", str(docs), "--kb", str(kb),
                    "--embedder", str(tiny_embedder_dir)], env=env, check=True,
                   capture_output=True, timeout=300)
    server = Served(tiny_lm_dir)
    try:
        server.wait_ready()
        proc = subprocess.run(
            [sys.executable, "-m", "ragkit", "ask", "How long do refunds take?", "--kb", str(kb),
             "--model", NAME, "--relevance", "off", "--translate", "off"],
            env={**env, "RAGKIT_GENERATOR_URL": server.url}, capture_output=True, text=True,
            timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"using {NAME} served at {server.url}" in proc.stderr
        assert "loading" not in proc.stderr and proc.stdout.strip()
    finally:
        server.kill()
    backend = Backend(UiSettings(kb_dir=kb, model=NAME,
                                 generator_url="http://127.0.0.1:9, http://127.0.0.1:10"))
    pool = backend.generator()
    assert isinstance(pool, GeneratorPool)
    assert [s["url"] for s in pool.stats()["servers"]] == ["http://127.0.0.1:9/v1",
                                                           "http://127.0.0.1:10/v1"]
