"""The customer-service assistant over a knowledge base in PostgreSQL: its orders database
lives beside the knowledge base (schema KBSCHEMA_orders) and is shared by every process on
that URL; the data is built once from the same sources as the SQLite file."""

from __future__ import annotations

from pathlib import Path

from ragkit.config import KnowledgeBaseConfig
from ragkit.kb import KnowledgeBase
from ragkit.support import SupportAssistant
from ragkit.support.db import PgSupportDB
from tests.support.support_helpers import EN_ORDER


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
