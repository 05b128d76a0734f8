"""Personal data at rest (issue 24, item 2): after a conversation full of card numbers, phones,
emails and addresses, no file the assistant wrote holds one of them in plain text, the files
are owner-only, and the values a later turn's tools need still work (they are sealed, not
lost).

The orders database's customers and orders tables legitimately hold the store's own records
(the sample data, and an address change the customer confirmed), so there only the tickets
table is scanned; every other file is scanned byte for byte, side files included."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from tests.support.support_helpers import EN_EMAIL, EN_ORDER, open_bot, turn

pytestmark = pytest.mark.real_model  # the intent classifier needs the default embedder

CARD = "4111 1111 1111 1111"
PHONE = "+44 7700 900123"
OTHER_EMAIL = "jane.private@example.org"
ADDRESS = "221 Baker Street, London"


def _needles() -> list[bytes]:
    vals = [CARD, CARD.replace(" ", ""), PHONE, PHONE.replace(" ", ""), "7700 900123",
            OTHER_EMAIL, EN_EMAIL, ADDRESS, "Baker Street"]
    return [v.encode() for v in vals]


def _leaks(blob: bytes) -> list[str]:
    return [n.decode() for n in _needles() if n in blob]


def test_a_pii_heavy_conversation_leaves_no_plain_personal_data(
        tmp_path, real_embedder, scripted_generator) -> None:
    gen = scripted_generator(replies=['{"reason": "other"}'], labels=lambda m, labels: labels[0])
    bot = open_bot(tmp_path, real_embedder, gen)
    try:
        # the email is given in one turn and used by the tool in a later one: it is stored
        # sealed between the turns, and still proves the order
        turn(bot, "p", f"Hi, my email is {EN_EMAIL}, my card is {CARD} and my phone {PHONE}")
        r = turn(bot, "p", f"where is my order {EN_ORDER}?")
        assert r.tool_calls and r.tool_calls[0]["ok"], r.text
        turn(bot, "p", f"please change the address to {ADDRESS}, and write to {OTHER_EMAIL}")
        r = turn(bot, "p", "let me talk to a real person")
        assert r.handoff and r.ticket_id
        bot.resume("p", "Hi, Sam here. I have your details.")
        ticket = bot.db.get_ticket(r.ticket_id)
        assert ticket is not None and ticket.transcript  # the agent still gets the transcript
    finally:
        bot.close()

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "threads.db" for p in files)
    for p in files:
        if p.name.startswith("store.db"):
            continue  # the store's own records; its tickets table is checked below
        assert not _leaks(p.read_bytes()), (p.name, _leaks(p.read_bytes()))
    with sqlite3.connect(tmp_path / "store.db") as conn:
        rows = conn.execute("SELECT subject, transcript, state, resolution FROM tickets")
        blob = "\n".join(str(c) for row in rows for c in row).encode()
    assert not _leaks(blob), _leaks(blob)
    assert b"[CARD_" in blob or b"[PHONE_" in blob  # redacted, not dropped
    for p in files:
        if p.suffix in (".sqlite", ".db") or p.name.endswith(("-wal", "-shm")):
            assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, (p.name, oct(p.stat().st_mode))

