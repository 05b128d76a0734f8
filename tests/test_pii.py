"""ragkit.pii on its own: redaction of nested values, sealing with an owner-only key, and a
LangGraph checkpoint that goes through the redacting serializer into a real SQLite saver and
comes back with its ids and versions intact (a UUID-shaped checkpoint id once read as a phone
number and was mangled, which broke resuming a conversation)."""

from __future__ import annotations

import sqlite3
import stat

from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.sqlite import SqliteSaver

from ragkit import pii
from ragkit.pii import RedactingSerializer, Sealer, private_file, scrub

EN_EMAIL, EN_ORDER = "oliver.hughes@example.co.uk", "BC-281229"
CARD, PHONE = "4111 1111 1111 1111", "+44 7700 900123"


def test_sealed_values_are_unreadable_without_the_key(tmp_path, monkeypatch) -> None:
    from cryptography.fernet import Fernet

    from ragkit.pii import REDACTED, SEALED_PREFIX, unseal_all

    monkeypatch.delenv("RAGKIT_PII_KEY", raising=False)
    key = tmp_path / "k" / "pii.key"
    a = Sealer(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    state = {"slots": {"email": EN_EMAIL, "order_id": EN_ORDER},
             "input": f"card {CARD}, phone {PHONE}"}
    out = scrub(state, sealer=a, sealed_keys={"email"})
    assert out["slots"]["email"].startswith(SEALED_PREFIX) and EN_EMAIL not in str(out)
    assert out["slots"]["order_id"] == EN_ORDER  # order ids are not personal data
    assert CARD not in out["input"] and "[CARD_1]" in out["input"] and "[PHONE_1]" in out["input"]
    assert unseal_all(out, Sealer(key))["slots"]["email"] == EN_EMAIL  # same key file
    monkeypatch.setenv("RAGKIT_PII_KEY", Fernet.generate_key().decode())
    assert unseal_all(out, Sealer())["slots"]["email"] == REDACTED  # another key: nothing



def test_checkpoint_ids_and_versions_survive_the_redacting_serializer(tmp_path) -> None:
    conn = sqlite3.connect(private_file(tmp_path / "c.sqlite"), check_same_thread=False)
    saver = SqliteSaver(conn, serde=RedactingSerializer())
    cp = empty_checkpoint()
    cp["id"] = "12345678-1234-6428-8001-8a1503f9b875"  # digits and dashes, like a phone
    cp["channel_values"] = {"input": f"my card is {CARD}, call {PHONE}",
                            "thread_id": "12345678-1234", "ref": cp["id"]}
    cp["channel_versions"] = {"input": "00000000000000000000000000000015.0.004916630347417461"}
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    saved = saver.put(config, cp, {"source": "input", "step": 1}, cp["channel_versions"])
    assert saved["configurable"]["checkpoint_id"] == cp["id"]
    back = saver.get_tuple(saved)
    assert back is not None
    assert back.checkpoint["id"] == cp["id"]
    assert back.checkpoint["channel_versions"] == cp["channel_versions"]
    values = back.checkpoint["channel_values"]
    assert values["thread_id"] == "12345678-1234" and values["ref"] == cp["id"]
    assert CARD not in values["input"] and "[CARD_1]" in values["input"]
    conn.close()
    assert stat.S_IMODE((tmp_path / "c.sqlite").stat().st_mode) == 0o600
    assert CARD.encode() not in (tmp_path / "c.sqlite").read_bytes()


def test_scrub_walks_dataclasses_and_models_and_keeps_types() -> None:
    from dataclasses import dataclass

    from pydantic import BaseModel

    @dataclass(frozen=True)
    class Turn:
        text: str
        n: int

    class Note(BaseModel):
        body: str

    out = scrub({"turns": [Turn(f"phone {PHONE}", 1)], "note": Note(body=EN_EMAIL),
                 "pair": ("x", f"card {CARD}")})
    assert out["turns"][0] == Turn("phone [PHONE_1]", 1)
    assert out["note"].body == "[EMAIL_1]"
    assert out["pair"] == ("x", "card [CARD_1]")


def test_shapes_found_by_the_adversarial_pass_are_redacted() -> None:
    from ragkit.pii import redact

    cases = {
        "card 4111.1111.1111.1111 ok": "4111.1111.1111.1111",
        "5500\xa00000\xa00000\xa00004": "5500\xa00000\xa00000\xa00004",
        "4111/1111/1111/1111": "4111/1111/1111/1111",
        "邮箱 张伟@例子.中国": "张伟@例子.中国",
        "write to zhang.wei [at] example [dot] cn": "zhang.wei [at] example [dot] cn",
        "地址改成北京朝阳区建国路88号": "北京朝阳区建国路88号",
    }
    for text, value in cases.items():
        out, mapping = redact(text)
        assert value not in out and value in mapping.values(), (text, out)
    # and what is not personal data stays
    keep = "price 1234.56 on 2026-12-04, order BC-281229, return RT-100233, version 3.11"
    assert redact(keep)[0] == keep


def test_numbers_the_text_calls_card_or_id_numbers_and_spaced_chinese_addresses() -> None:
    text, found = pii.redact("银行卡号为 6222 0212 3456 7890 123，身份证号 11010519491231002X，"
                             "地址是上海市浦东新区张杨路 1288 弄 5 号 602 室")
    assert sorted(found.values()) == ["11010519491231002X", "6222 0212 3456 7890 123",
                                      "上海市浦东新区张杨路 1288 弄 5 号 602 室"]
    assert "6222" not in text and "1288" not in text
    assert pii.redact("Order BC-123456, gift card code GC 1234")[1] == {}
