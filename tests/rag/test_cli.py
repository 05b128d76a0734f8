"""`ragkit ask` as a real subprocess: clear errors, JSON output, and the plain streamed form,
over a real (tiny) knowledge base and a tiny locally built causal LM (its answers are noise,
so these tests check the command's plumbing, not answer quality)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragkit import sdk
from ragkit.kb import KnowledgeBase
from ragkit.rag.prompts import refusal_text
from tests.conftest import TINY_CORPUS
from tests.helpers.tiny_models import build_tiny_causal_lm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), TINY_CORPUS)


def _ragkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "RAGKIT_KB": ""}
    return subprocess.run([sys.executable, "-m", "ragkit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_ask_without_a_knowledge_base_says_how_to_make_one(tmp_path: Path) -> None:
    proc = _ragkit("ask", "How long do refunds take?", "--kb", str(tmp_path / "none"),
                   cwd=tmp_path)
    assert proc.returncode != 0
    assert "no knowledge base" in proc.stderr and "ragkit index" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ask_refuses_an_empty_question_before_loading_a_model(tiny_kb: KnowledgeBase,
                                                                tmp_path: Path) -> None:
    tiny_kb.close()
    proc = _ragkit("ask", "   ", "--kb", str(tiny_kb.dir), "--model",
                   str(tmp_path / "no-such-model"), cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "question is empty" in proc.stderr
    assert "no-such-model" not in proc.stderr  # no model was resolved or loaded


def test_ask_with_a_missing_model_is_a_clear_error(tiny_kb: KnowledgeBase, tmp_path: Path) -> None:
    tiny_kb.close()
    proc = _ragkit("ask", "How long do refunds take?", "--kb", str(tiny_kb.dir),
                   "--model", str(tmp_path / "no-such-model"), cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no-such-model" in proc.stderr


def test_ask_json_and_plain(tiny_kb: KnowledgeBase, tiny_lm: Path, tmp_path: Path) -> None:
    tiny_kb.close()
    proc = _ragkit("ask", "How long do refunds take?", "--kb", str(tiny_kb.dir), "--json",
                   "--model", str(tiny_lm), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert set(data) >= {"answer", "citations", "refused", "usage", "language",
                         "standalone_question", "confidence"}
    assert isinstance(data["refused"], bool) and data["language"] == "en"
    assert set(data["usage"]) >= {"retrieval_ms", "time_to_first_token_s", "tokens_per_second",
                                  "kv_cache_hit_rate", "answer_cache_hit"}
    for c in data["citations"]:
        assert {"chunk_id", "source", "heading", "snippet", "support", "n"} <= set(c)
        assert f"[{c['n']}]" in data["answer"]
    if data["refused"]:
        assert data["answer"] == refusal_text("en")
    plain = _ragkit("ask", "How long do refunds take?", "--kb", str(tiny_kb.dir),
                    "--model", str(tiny_lm), cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr[-2000:]
    # served from the answer cache, same text (compared modulo line endings and whitespace:
    # the tiny model's noise may contain "\r")
    assert " ".join(data["answer"].split()) in " ".join(plain.stdout.split())
    assert "answer cache hit" in plain.stderr


def test_chat_keeps_a_thread_and_quits(tiny_kb: KnowledgeBase, tiny_lm: Path,
                                       tmp_path: Path) -> None:
    tiny_kb.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ragkit", "chat", "--kb", str(tiny_kb.dir), "--model",
         str(tiny_lm), "--thread", "cli-thread"],
        input="How long do refunds take?\nAnd in China?\n/exit\n", cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "thread cli-thread" in proc.stderr
    assert proc.stdout.count("you> ") == 3
    with KnowledgeBase.open(tiny_kb.dir, embedder=tiny_kb.embedder) as kb:
        from tests.helpers.scripted import ScriptedGenerator

        history = sdk.rag_pipeline(kb, ScriptedGenerator()).history("cli-thread")
    assert [h["content"] for h in history if h["role"] == "user"] == [
        "How long do refunds take?", "And in China?"]


def test_ask_translate_searches_the_translation_too(tiny_kb: KnowledgeBase, tiny_lm: Path,
                                                    tmp_path: Path) -> None:
    tiny_kb.close()
    runs = {}
    for mode in ("off", "on"):
        proc = _ragkit("ask", "How long do refunds take?", "--kb", str(tiny_kb.dir), "--json",
                       "--no-cache", "--translate", mode, "--model", str(tiny_lm), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[mode] = json.loads(proc.stdout)
    assert runs["off"]["translation"] == ""
    # on: one more generator call (the translation prompt) is counted in the usage
    assert runs["on"]["usage"]["prompt_tokens"] > runs["off"]["usage"]["prompt_tokens"]
    bad = _ragkit("ask", "How long do refunds take?", "--kb", str(tiny_kb.dir),
                  "--translate", "sometimes", "--model", str(tiny_lm), cwd=tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "sometimes" in bad.stderr


def test_on_a_terminal_a_spinner_waits_for_the_first_sentence_then_it_streams(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import threading

    from rich.console import Console

    from ragkit.cli import rag as rag_cli
    from ragkit.rag.types import Answer, AnswerStream

    screen = io.StringIO()
    monkeypatch.setattr(rag_cli, "err", Console(file=screen, force_terminal=True))
    written: list[str] = []

    def deltas():
        yield "Refunds take five days [1]. "
        written.append(capsys.readouterr().out)  # what was on stdout when the 2nd was due
        yield "Cards take longer."

    answer = Answer("q", "q", "Refunds take five days [1]. Cards take longer.", "en")
    rag_cli._print_stream(AnswerStream(deltas(), lambda: answer, threading.Event()))
    assert written == ["Refunds take five days [1]. "]  # the first was out before the second
    assert capsys.readouterr().out.startswith("Cards take longer.\n")
    assert "writing and checking" in screen.getvalue()


def test_the_usage_line_gives_the_generator_s_figures_only_for_an_answer_it_wrote() -> None:
    """Seen on an overview: "first token 0.00 s · 0.0 tok/s" (the question's translation had
    counted completion tokens)."""
    from types import SimpleNamespace

    from ragkit.cli.rag import usage_line

    def answer(stages: dict) -> SimpleNamespace:
        usage = SimpleNamespace(answer_cache_hit=False, retrieval_ms=625.0,
                                completion_tokens=12, time_to_first_token_s=0.4,
                                tokens_per_second=20.0, kv_cache_hit_rate=0.5,
                                prompt_tokens=300)
        return SimpleNamespace(usage=usage, confidence=0.87,
                               diagnostics={"stages_ms": stages})

    overview = usage_line(answer({"retrieve": 1500.0, "evidence": 1300.0}))
    assert "first token" not in overview and "tok/s" not in overview
    assert overview.startswith("search 625 ms · confidence 0.87 · stages retrieve 1.5 s")
    generated = usage_line(answer({"retrieve": 1500.0, "generate": 900.0}))
    assert "first token 0.40 s" in generated and "20.0 tok/s" in generated
