"""The customer-service assistant over a knowledge base in PostgreSQL: its orders database
lives beside the knowledge base (schema KBSCHEMA_orders) and is shared by every process on
that URL; the data is built once from the same sources as the SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.config import KnowledgeBaseConfig
from ragkit.kb import KnowledgeBase
from ragkit.support import SupportAssistant
from ragkit.support.db import PgSupportDB
from tests.support.support_helpers import EN_EMAIL, EN_ORDER, turn


def test_two_assistants_on_one_url_share_the_orders(pg_url: str, tmp_path: Path,
                                                     tiny_embedder_dir: Path, tiny_embedder,
                                                     scripted_generator) -> None:
    with KnowledgeBase.open(pg_url, create=True, embedder=tiny_embedder,
                            config=KnowledgeBaseConfig(embedder=str(tiny_embedder_dir))) as kb:
        bots = [SupportAssistant.open(kb, generator=scripted_generator(["ok"]),
                                      embedder=tiny_embedder,
                                      threads_path=tmp_path / f"threads{i}.sqlite")
                for i in range(2)]
        try:
            assert all(isinstance(b.db, PgSupportDB) for b in bots)
            assert bots[0].db.schema == f"{kb.store.url.schema}_orders"
            ticket = bots[0].db.create_ticket("Kettle leaks", order_id=EN_ORDER,
                                              thread_id="th-1")
            assert ticket in bots[1].db.open_tickets()  # the other process sees it
            ret = bots[1].db.create_return(EN_ORDER, "changed_mind")
            assert bots[0].db.returns_for_order(EN_ORDER) == [ret]
        finally:
            for b in bots:
                b.db.close()


@pytest.mark.real_model  # intents from the real default embedder's trained model
def test_another_assistant_continues_the_conversation(pg_url: str, real_embedder,
                                                      scripted_generator) -> None:
    """Conversations of an assistant over a Postgres knowledge base live in the schema
    KBSCHEMA_support: a second assistant on the URL (another app process) takes the next
    turn of a thread, with the identity the first turn asked for."""
    gen = scripted_generator(replies=['{"reason": "other"}'], labels=lambda m, labels: labels[0])
    with KnowledgeBase.open(pg_url, create=True, embedder=real_embedder) as kb:
        first = SupportAssistant.open(kb, generator=gen, embedder=real_embedder)
        second = SupportAssistant.open(kb, generator=gen, embedder=real_embedder)
        try:
            r = turn(first, "t-1", f"where is my order {EN_ORDER}?")
            assert r.state.intent == "order_status" and "email" in r.text.lower()
            r = turn(second, "t-1", f"it's {EN_EMAIL}")
            assert r.tool_calls and r.tool_calls[0]["name"] == "lookup_order"
            assert "Delivered" in r.text
            assert [m["role"] for m in first.transcript("t-1")] == ["user", "assistant"] * 2
            first.delete_thread("t-1")
            assert second.transcript("t-1") == []
        finally:
            first.close()
            second.close()
