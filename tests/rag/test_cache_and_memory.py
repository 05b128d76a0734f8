"""Answer cache and conversation persistence on real SQLite files: cache hits, invalidation by
a content-changing sync, no cache for follow-ups, checkpoints surviving a process restart,
and retention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ragkit.errors import ConfigError
from ragkit.kb import KnowledgeBase
from ragkit.rag import RagPipeline
from ragkit.rag.cache import AnswerCache
from ragkit.rag.memory import ConversationStore
from tests.rag.conftest import ROUTING, answer_calls

ROOT = Path(__file__).resolve().parents[2]
REFUND = "Refunds are paid back to the original payment method within five business days."


def test_repeated_question_is_served_from_the_cache(tiny_kb: KnowledgeBase,
                                                    scripted_generator) -> None:
    gen = scripted_generator([REFUND])
    pipe = RagPipeline(tiny_kb, gen, ROUTING)
    first = pipe.ask("How long do refunds take?")
    assert not first.usage.answer_cache_hit and len(answer_calls(gen)) == 1
    stream = pipe.stream("How long do refunds take?")
    deltas = list(stream)
    second = stream.answer
    assert second.usage.answer_cache_hit and len(answer_calls(gen)) == 1
    assert second.text == first.text == "".join(deltas)
    assert [c.chunk_id for c in second.citations] == [c.chunk_id for c in first.citations]
    assert [h.chunk_id for h in second.hits] == [h.chunk_id for h in first.hits]


@pytest.mark.real_model
def test_an_answer_made_by_another_scorer_is_not_served(tiny_kb: KnowledgeBase, cross_encoder,
                                                        scripted_generator) -> None:
    """The support assistant's pipeline once had no relevance scorer; its answers, cached
    under the same config, were served to the evidence-first pipeline."""
    gen = scripted_generator([REFUND, REFUND])
    RagPipeline(tiny_kb, gen, ROUTING).ask("How long do refunds take?")
    scored = RagPipeline(tiny_kb, gen, ROUTING, relevance=cross_encoder)
    assert not scored.ask("How long do refunds take?").usage.answer_cache_hit
    assert scored.ask("How long do refunds take?").usage.answer_cache_hit


def test_sync_that_changes_content_invalidates_the_cache(tiny_kb: KnowledgeBase, docs: Path,
                                                         scripted_generator) -> None:
    gen = scripted_generator([REFUND])
    pipe = RagPipeline(tiny_kb, gen, ROUTING)
    pipe.ask("How long do refunds take?")
    tiny_kb.sync([docs])  # nothing changed: the cache stays valid
    assert pipe.ask("How long do refunds take?").usage.answer_cache_hit
    (docs / "policies" / "shipping.md").write_text("# Shipping\n\nShipping costs five euros.\n",
                                                    encoding="utf-8")
    report = tiny_kb.sync([docs])
    assert report.updated == 1
    again = pipe.ask("How long do refunds take?")
    assert not again.usage.answer_cache_hit and len(answer_calls(gen)) == 2


def test_an_answer_made_while_the_knowledge_base_changed_is_not_cached_as_current(
        tiny_kb: KnowledgeBase, docs: Path, scripted_generator) -> None:
    def reply(messages):
        if len(answer_calls(gen)) == 1:  # a sync lands while the first answer is written
            (docs / "policies" / "shipping.md").write_text(
                "# Shipping\n\nShipping costs five euros.\n", encoding="utf-8")
            assert tiny_kb.sync([docs]).updated == 1
        return REFUND

    gen = scripted_generator(reply)
    pipe = RagPipeline(tiny_kb, gen, ROUTING)
    pipe.ask("How long do refunds take?")
    again = pipe.ask("How long do refunds take?")  # found in what the knowledge base is now
    assert not again.usage.answer_cache_hit and len(answer_calls(gen)) == 2
    assert pipe.ask("How long do refunds take?").usage.answer_cache_hit


def test_cache_is_never_used_for_a_follow_up(tiny_kb: KnowledgeBase, scripted_generator) -> None:
    def reply(messages):
        return REFUND

    gen = scripted_generator(reply)
    pipe = RagPipeline(tiny_kb, gen, ROUTING)
    pipe.ask("How long do refunds take?")  # cached, outside any conversation
    conv = pipe.conversation()
    assert not conv.ask("Can I return a kettle?").usage.answer_cache_hit
    n = len(answer_calls(gen))
    follow = conv.ask("How long do refunds take?")  # same words, but inside a conversation
    assert not follow.usage.answer_cache_hit
    assert len(answer_calls(gen)) == n + 1  # answered afresh


def test_regenerate_replaces_the_last_exchange_past_the_cache(tiny_kb: KnowledgeBase,
                                                               scripted_generator) -> None:
    again = "Refunds reach the original payment method within five business days."
    gen = scripted_generator([REFUND, again, again])
    pipe = RagPipeline(tiny_kb, gen, ROUTING)
    question = "How long do refunds take?"
    pipe.ask(question)  # outside a conversation: stored in the answer cache
    conv = pipe.conversation()
    first = conv.ask(question)
    assert first.usage.answer_cache_hit and len(answer_calls(gen)) == 1
    stream = conv.regenerate(question)
    shown = "".join(stream)
    redo = stream.answer
    assert not redo.usage.answer_cache_hit and len(answer_calls(gen)) == 2
    assert shown == redo.text and "five business days" in redo.text and redo.citations
    assert gen.sampling[-1].temperature == ROUTING.regenerate_temperature > 0
    assert [t["content"] for t in conv.history] == [question, redo.text]  # replaced, not added
    assert pipe.ask(question).text == first.text  # the cache keeps the first answer
    # a question that is not the last one stored is asked again as a new turn
    conv.regenerate("Can I return a kettle?").collect()
    assert [t["content"] for t in conv.history][::2] == [question, "Can I return a kettle?"]
    with pytest.raises(ConfigError, match="no question"):
        pipe.conversation().regenerate()


def test_cache_threshold_and_scope_on_real_sqlite(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "answers.sqlite", max_entries=2)
    a = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    near = np.array([0.96, 0.28, 0.0], dtype=np.float32)  # cosine 0.96
    far = np.array([0.8, 0.6, 0.0], dtype=np.float32)  # cosine 0.8
    cache.put(a, "q", {"text": "stored"}, kb_version=3, scope="s")
    assert cache.lookup(near, kb_version=3, scope="s", threshold=0.95)[0] == {"text": "stored"}
    assert cache.lookup(far, kb_version=3, scope="s", threshold=0.95) is None
    assert cache.lookup(a, kb_version=3, scope="other", threshold=0.95) is None
    for i in range(3):
        cache.put(a, f"q{i}", {"text": str(i)}, kb_version=3, scope="s")
    assert cache.count() == 2  # bounded
    assert cache.lookup(a, kb_version=4, scope="s", threshold=0.95) is None
    assert cache.count() == 0  # entries of an older kb_version are deleted


_TURN = textwrap.dedent("""
    import json, sys
    from ragkit.kb import KnowledgeBase
    from ragkit.rag import RagConfig, RagPipeline
    from tests.helpers.scripted import ScriptedGenerator

    def reply(messages):
        return "Refunds are paid back to the original payment method within five business days."

    gen = ScriptedGenerator(reply)
    with KnowledgeBase.open(sys.argv[1]) as kb:
        pipe = RagPipeline(kb, gen, RagConfig(min_confidence=0.0, support_method="lexical"))
        answer = pipe.ask(sys.argv[3], thread_id=sys.argv[2])
        print(json.dumps({"standalone": answer.standalone_question,
                          "history": pipe.history(sys.argv[2]),
                          "checkpoints": pipe.memory.checkpoint_count(sys.argv[2]),
                          "prompts": [" | ".join(m.content for m in c) for c in gen.calls]}))
""")


def _turn(kb_dir: Path, thread: str, text: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _TURN, str(kb_dir), thread, text],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_conversation_survives_a_process_restart(tiny_kb: KnowledgeBase) -> None:
    kb_dir = tiny_kb.dir
    tiny_kb.close()
    first = _turn(kb_dir, "thread-1", "How long do refunds take?")
    assert len(first["history"]) == 2 and first["checkpoints"] == 1
    second = _turn(kb_dir, "thread-1", "And in China?")  # a new process
    assert [h["content"] for h in second["history"]][:1] == ["How long do refunds take?"]
    assert len(second["history"]) == 4
    assert second["standalone"] == "How long do refunds take? And in China?"
    assert any("How long do refunds take?" in p for p in second["prompts"])
    assert second["checkpoints"] == 1  # superseded checkpoints are dropped


def test_retention_limits_threads_and_age(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "conversations.sqlite", max_threads=2,
                              max_age_days=1.0)
    for i, t in enumerate(["a", "b", "c"]):
        store.after_turn(t, now=1000.0 + i)
    assert [t["thread_id"] for t in store.threads()] == ["c", "b"]
    store.after_turn("d", now=1000.0 + 86400.0 + 2.5)  # "b" is now idle for more than a day
    assert [t["thread_id"] for t in store.threads()] == ["d"]
    store.close()


def test_retention_deletes_checkpoints_of_dropped_threads(tiny_kb: KnowledgeBase,
                                                          scripted_generator) -> None:
    cfg = ROUTING.model_copy(update={"max_threads": 2, "answer_cache": False})
    pipe = RagPipeline(tiny_kb, scripted_generator([REFUND]), cfg)
    for t in ("t1", "t2", "t3"):
        pipe.ask("How long do refunds take?", thread_id=t)
    assert pipe.memory.checkpoint_count("t1") == 0
    assert pipe.history("t1") == []
    assert len(pipe.history("t3")) == 2
    assert {t["thread_id"] for t in pipe.memory.threads()} == {"t2", "t3"}
    fresh = pipe.ask("And in China?", thread_id="t4")  # a new thread starts without history
    assert fresh.standalone_question == "And in China?" and len(pipe.history("t4")) == 2


def test_conversations_and_answer_cache_keep_no_plain_personal_data(
        tiny_kb: KnowledgeBase, scripted_generator) -> None:
    """Issue 24, item 2: a question carrying a card number, phone and email is answered, but
    neither the conversation checkpoints nor the answer cache store those values, and both
    files are owner-only."""
    import stat

    card, phone, email = "4111 1111 1111 1111", "+44 7700 900123", "jane.private@example.org"
    gen = scripted_generator([REFUND, REFUND, REFUND])
    pipe = RagPipeline(tiny_kb, gen, ROUTING)
    question = f"My card {card}, phone {phone}, email {email}: how long do refunds take?"
    assert not pipe.ask(question).refused
    chat = pipe.conversation()
    for text in (question, f"and to {email}?"):
        list(chat.send(text))
    pipe.close()
    files = [p for p in tiny_kb.dir.rglob("*") if p.is_file()
             and p.name.startswith(("conversations.sqlite", "answers.sqlite"))]
    assert {p.name for p in files} >= {"conversations.sqlite", "answers.sqlite"}
    for p in files:
        blob = p.read_bytes()
        for needle in (card, card.replace(" ", ""), phone, email):
            assert needle.encode() not in blob, (p.name, needle)
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, (p.name, oct(p.stat().st_mode))
    # the redaction happened on the way to disk: what the user was shown was the real answer
    assert AnswerCache.for_kb(tiny_kb.dir, 10).count() == 0  # nothing cached for it
