"""The labelled dialogue set agrees with the orders data and the labelling conventions."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from ragkit.evals.dst import load_dialogues
from ragkit.support.db import SupportDB, build_db
from ragkit.support.records import RETURN_REASONS

# the labelled set lives in the repository (knowledge/eval), the orders data in the package
SET = Path(__file__).resolve().parents[2] / "knowledge" / "eval" / "dialogues.jsonl"
INTENTS = {"greeting", "goodbye", "order_status", "return_request", "refund_status",
           "change_address", "cancel_order", "product_question", "policy_question", "complaint",
           "human_agent"}
SLOTS = {"order_id", "return_id", "email", "phone", "product", "reason", "address"}
ORDER_TOOLS = {"lookup_order", "create_return", "cancel_order", "change_address"}
DIALOGUES = load_dialogues(SET)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_db(db_path=tmp_path_factory.mktemp("db") / "store.db")


def test_size_languages_and_splits() -> None:
    assert len(DIALOGUES) >= 150
    langs = Counter(d.lang for d in DIALOGUES)
    assert abs(langs["en"] - langs["zh"]) <= 0.2 * len(DIALOGUES)
    tests = [d for d in DIALOGUES if d.split == "test"]
    assert len(tests) >= 50 and {d.lang for d in tests} == {"en", "zh"}
    assert {d.split for d in DIALOGUES} == {"dev", "test"}
    assert len({d.id for d in DIALOGUES}) == len(DIALOGUES)
    assert load_dialogues(SET, split="test") == tests


def test_labels_use_only_the_fixed_names_and_cover_every_intent() -> None:
    seen = set()
    for d in DIALOGUES:
        for t in d.turns:
            assert t.intent is None or t.intent in INTENTS, (d.id, t.intent)
            seen.add(t.intent)
            assert set(t.state) <= SLOTS, (d.id, t.state)
            assert t.state.get("reason", "damaged") in RETURN_REASONS
            for key, pattern in (("order_id", r"BC-\d{6}"), ("return_id", r"RT-\d{6}"),
                                 ("product", r"[A-Z]{3}-\d{4}")):
                if key in t.state:
                    assert re.fullmatch(pattern, t.state[key]), (d.id, t.state)
            if t.tool:
                expected = {k: v for k, v in t.state.items() if k not in ("email", "phone")}
                assert t.tool["args"] == expected, d.id
    assert seen >= INTENTS
    tags = Counter(tag for d in DIALOGUES for tag in d.tags)
    for needed in ("correction", "side_question", "cancel", "confirmation", "deny",
                   "eligibility_failure", "handoff", "negative_sentiment", "chitchat",
                   "carry_over", "slot_filling"):
        assert tags[needed] >= 2, needed


def test_handoffs_end_the_dialogue() -> None:
    for d in DIALOGUES:
        for i, t in enumerate(d.turns):
            if t.handoff:
                assert i == len(d.turns) - 1, d.id
                assert t.tool is None


def test_gold_actions_succeed_on_a_fresh_database_and_refusals_are_refused(
        pristine: Path, tmp_path: Path) -> None:
    for d in DIALOGUES:
        shutil.copyfile(pristine, tmp_path / "s.db")
        with SupportDB(tmp_path / "s.db") as db:
            for t in d.turns:
                if t.tool is None:
                    continue
                args, name = t.tool["args"], t.tool["name"]
                if name in ORDER_TOOLS | {"refund_status"}:
                    oid = args.get("order_id") or db.get_return(args["return_id"]).order_id
                    ident = {k: t.state[k] for k in ("email", "phone") if k in t.state}
                    assert ident and db.verify_customer(oid, **ident), (d.id, ident)
                if name == "lookup_order":
                    assert db.get_order(args["order_id"]) is not None
                elif name == "refund_status":
                    assert db.refunds_for(**args), d.id
                elif name == "create_return":
                    db.create_return(args["order_id"], args["reason"], sku=args.get("product"))
                elif name == "cancel_order":
                    db.cancel_order(args["order_id"])
                elif name == "change_address":
                    db.change_address(args["order_id"], args["address"])
                else:
                    assert name == "create_ticket", d.id
            if "eligibility_failure" in d.tags:
                last = next(t for t in reversed(d.turns) if "order_id" in t.state)
                s = last.state
                if "reason" in s:
                    elig = db.return_eligibility(s["order_id"], s["reason"])
                elif "address" in s:
                    elig = db.address_change_eligibility(s["order_id"])
                else:
                    elig = db.cancel_eligibility(s["order_id"])
                assert not elig.ok, d.id
