"""Builders for the support-logic graph tests (not a conftest: support-data shares this folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Sample data facts (knowledge/support): a delivered order and its owner, and another customer.
EN_ORDER, EN_EMAIL = "BC-281229", "oliver.hughes@example.co.uk"
ZH_ORDER, ZH_PHONE = "BC-209411", "+86 138 0013 0118"
OTHER_ORDER, OTHER_EMAIL = "BC-253297", "anna.devries@example.nl"  # Anna's order


def open_bot(tmp: Path, embedder: Any, generator: Any, *, kb: Any = None,
             answerer: Any = None, threads: Path | None = None, guard: Any = None) -> Any:
    from ragkit.support import SupportAssistant
    from ragkit.support.db import build_db

    db = tmp / "store.db"
    if not db.exists():
        build_db(None, db)
    return SupportAssistant.open(kb, generator=generator, db_path=db, embedder=embedder,
                                 answerer=answerer, threads_path=threads or tmp / "threads.db",
                                 guard=guard)


def turn(bot: Any, thread: str, text: str) -> Any:
    stream = bot.send(thread, text)
    deltas = list(stream)
    reply = stream.reply
    assert reply is not None
    assert "".join(deltas).strip()  # something was streamed
    return reply
