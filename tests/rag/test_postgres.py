"""The RAG pipeline over a knowledge base in PostgreSQL (a real server, the tiny embedder):
answers with citations, conversations that another process continues by thread id, their
retention, and the per-machine side files kept out of the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.config import ChunkingConfig, KnowledgeBaseConfig
from ragkit.kb import KnowledgeBase
from ragkit.rag import RagPipeline
from ragkit.rag.memory import PgConversationStore
from tests.rag.conftest import ROUTING
from tests.rag.test_cache_and_memory import REFUND, _turn


@pytest.fixture()
def pg_kb(pg_url: str, docs: Path, tiny_embedder_dir: Path, tiny_embedder):
    config = KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                                 chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
    base = KnowledgeBase.open(pg_url, create=True, config=config, embedder=tiny_embedder)
    base.sync([docs])
    yield base
    base.close()


def test_answers_with_citations_from_postgres(pg_kb: KnowledgeBase, scripted_generator) -> None:
    pipe = RagPipeline(pg_kb, scripted_generator([REFUND]), ROUTING)
    answer = pipe.ask("How long do refunds take?")
    assert not answer.refused and answer.citations
    assert answer.citations[0].source.endswith("returns.md")
    assert pipe.ask("How long do refunds take?").usage.answer_cache_hit


def test_another_process_continues_the_conversation(pg_kb: KnowledgeBase, pg_url: str) -> None:
    pg_kb.close()
    first = _turn(pg_url, "thread-1", "How long do refunds take?")  # type: ignore[arg-type]
    assert len(first["history"]) == 2 and first["checkpoints"] == 1
    second = _turn(pg_url, "thread-1", "And in China?")  # type: ignore[arg-type]
    assert [h["content"] for h in second["history"]][:1] == ["How long do refunds take?"]
    assert second["standalone"] == "How long do refunds take? And in China?"
    assert second["checkpoints"] == 1  # superseded checkpoints are dropped
    store = PgConversationStore(pg_kb.store.url, max_threads=10, max_age_days=1)
    try:  # checkpoints and their channel blobs live in the knowledge base's own schema
        schema = pg_kb.store.url.schema
        rows = store._conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,)).fetchall()
        assert {"checkpoints", "checkpoint_blobs", "threads"} <= {r[0] for r in rows}
        assert [t["thread_id"] for t in store.threads()] == ["thread-1"]
    finally:
        store.close()


def test_retention_on_postgres(pg_kb: KnowledgeBase, scripted_generator) -> None:
    cfg = ROUTING.model_copy(update={"max_threads": 2, "answer_cache": False})
    pipe = RagPipeline(pg_kb, scripted_generator([REFUND]), cfg)
    for t in ("t1", "t2", "t3"):
        pipe.ask("How long do refunds take?", thread_id=t)
    assert pipe.memory.checkpoint_count("t1") == 0 and pipe.history("t1") == []
    assert {t["thread_id"] for t in pipe.memory.threads()} == {"t2", "t3"}
    blobs = pipe.memory._conn.execute(
        "SELECT count(*) FROM checkpoint_blobs WHERE thread_id = 't1'").fetchone()[0]
    assert blobs == 0
    pipe.close()


def test_the_answer_cache_is_shared_through_postgres(pg_kb: KnowledgeBase, pg_url: str,
                                                     scripted_generator, tiny_embedder) -> None:
    """A second pipeline (as another app process would) gets the first one's answer from the
    cache; a sync that changes content empties it."""
    first = RagPipeline(pg_kb, scripted_generator([REFUND]), ROUTING)
    assert not first.ask("How long do refunds take?").usage.answer_cache_hit
    with KnowledgeBase.open(pg_url, embedder=tiny_embedder) as other_kb:
        second = RagPipeline(other_kb, scripted_generator([REFUND]), ROUTING)
        assert second.ask("How long do refunds take?").usage.answer_cache_hit
        assert second.cache.count() == 1
        second.close()
    first.close()
