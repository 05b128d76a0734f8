"""Scoring of dialogue state tracking on hand-made predictions (ragkit.evals.dst)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragkit.errors import ConfigError
from ragkit.evals.dst import (
    Dialogue,
    GoldTurn,
    PredTurn,
    load_dialogues,
    normalise_state,
    normalise_value,
    score,
)


def _return_dialogue(lang: str = "en") -> Dialogue:
    s1 = {"order_id": "BC-200001"}
    s2 = {**s1, "email": "a@example.com"}
    s3 = {**s2, "reason": "damaged"}
    call = {"name": "create_return", "args": {"order_id": "BC-200001", "reason": "damaged"}}
    return Dialogue(f"{lang}-r", lang, "dev", "return", ("return_request",), (
        GoldTurn("return BC-200001", "return_request", s1, False, None),
        GoldTurn("a@example.com", "return_request", s2, False, None),
        GoldTurn("it arrived damaged", "return_request", s3, False, None),
        GoldTurn("yes", "return_request", s3, False, call),
    ))


def _handoff_dialogue() -> Dialogue:
    return Dialogue("zh-h", "zh", "test", "human", ("handoff",), (
        GoldTurn("你好", "greeting", {}, False, None),
        GoldTurn("转人工", "human_agent", {}, True, None),
    ))


def _perfect(d: Dialogue) -> list[PredTurn]:
    return [PredTurn(t.intent, dict(t.state), t.handoff,
                     tuple([{**t.tool, "ok": True}] if t.tool else [])) for t in d.turns]


def test_perfect_predictions_score_one_everywhere() -> None:
    ds = [_return_dialogue(), _handoff_dialogue()]
    rep = score(ds, [_perfect(d) for d in ds])
    m = rep.overall
    for key in ("intent_accuracy", "slot_precision", "slot_recall", "slot_f1",
                "joint_goal_accuracy", "task_success", "handoff_precision", "handoff_recall"):
        assert m[key] == 1.0, key
    assert m["turns"] == 6 and m["dialogues"] == 2 and m["task_dialogues"] == 1
    assert rep.failures == [] and set(rep.by_lang) == {"en", "zh"}


def test_a_wrong_slot_costs_joint_goal_and_precision_and_recall() -> None:
    d = _return_dialogue()
    preds = _perfect(d)
    preds[2] = PredTurn("return_request", {"order_id": "BC-200001", "email": "a@example.com",
                                           "reason": "defective"})
    m = score([d], [preds]).overall
    assert m["joint_goal_accuracy"] == 0.75
    # turn 3: 2 of 3 pairs right, 1 wrong -> tp 8, fp 1, fn 1 over the dialogue
    assert m["slot_precision"] == pytest.approx(8 / 9, abs=1e-4)
    assert m["slot_recall"] == pytest.approx(8 / 9, abs=1e-4)
    assert m["intent_accuracy"] == 1.0 and m["task_success"] == 1.0


def test_values_are_compared_after_normalisation() -> None:
    assert normalise_value("order_id", "bc-200001 ") == "BC-200001"
    assert normalise_value("email", "A@Example.COM") == "a@example.com"
    assert normalise_value("phone", "+44 7700-900 107") == "+447700900107"
    assert normalise_value("address", "45 King  Street, Leeds.") == \
        normalise_value("address", "45 king street, leeds")
    assert normalise_value("address", "上海市徐汇区漕溪北路 18 号") == "上海市徐汇区漕溪北路18号"
    assert normalise_state({"order_id": "bc-1", "product": None, "reason": ""}) == {
        "order_id": "BC-1"}


def test_task_success_needs_the_right_tool_args_and_turn() -> None:
    d = _return_dialogue()
    wrong_args = _perfect(d)
    wrong_args[3] = PredTurn("return_request", dict(d.turns[3].state), False, (
        {"name": "create_return", "args": {"order_id": "BC-200001", "reason": "defective"}},))
    early = _perfect(d)
    early[2] = PredTurn("return_request", dict(d.turns[2].state), False, (
        {"name": "create_return", "args": {"order_id": "BC-200001", "reason": "damaged"}},))
    refused = _perfect(d)
    refused[3] = PredTurn("return_request", dict(d.turns[3].state), False, (
        {"name": "create_return", "args": d.turns[3].tool["args"], "ok": False},))
    for preds in (wrong_args, early, refused):
        assert score([d], [preds]).overall["task_success"] == 0.0
    m = score([d], [early]).overall
    assert m["wrong_action_rate"] == 1.0


def test_extra_lookups_are_tolerated_but_extra_actions_are_not() -> None:
    d = _return_dialogue()
    preds = _perfect(d)
    preds[0] = PredTurn("return_request", dict(d.turns[0].state), False, (
        {"name": "lookup_order", "args": {"order_id": "BC-200001"}},))
    assert score([d], [preds]).overall["task_success"] == 1.0
    h = _handoff_dialogue()
    hp = _perfect(h)
    hp[0] = PredTurn("greeting", {}, False, ({"name": "cancel_order", "args": {}},))
    m = score([h], [hp]).overall
    assert m["wrong_action_rate"] == 1.0 and m["task_dialogues"] == 0


def test_handoff_precision_and_recall_and_ignored_handoff_ticket() -> None:
    h = _handoff_dialogue()
    missed = _perfect(h)
    missed[1] = PredTurn("human_agent", {}, False)
    m = score([h], [missed]).overall
    assert m["handoff_recall"] == 0.0 and m["handoff_precision"] is None
    extra = _perfect(h)
    extra[0] = PredTurn("greeting", {}, True)
    m = score([h], [extra]).overall
    assert m["handoff_recall"] == 1.0 and m["handoff_precision"] == 0.5
    ticket = _perfect(h)
    ticket[1] = PredTurn("human_agent", {}, True, ({"name": "create_ticket", "args": {}},))
    m = score([h], [ticket]).overall
    assert m["wrong_action_rate"] == 0.0


def test_a_stopped_dialogue_counts_its_missing_turns_as_wrong() -> None:
    d = _return_dialogue()
    preds = _perfect(d)[:2]
    rep = score([d], [preds])
    assert rep.overall["joint_goal_accuracy"] == 0.5
    assert rep.overall["errors"] == 2 and rep.overall["task_success"] == 0.0
    assert [f["turn"] for f in rep.failures] == [2, 3]
    with pytest.raises(ValueError):
        score([d], [])


def test_loading_checks_the_file_and_the_split(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    row = {"id": "x", "lang": "en", "split": "dev", "turns": [
        {"user": "hi", "intent": "greeting", "state": {}, "handoff": False, "tool": None}]}
    p.write_text(json.dumps(row) + "\n\n", encoding="utf-8")
    assert len(load_dialogues(p)) == 1 and load_dialogues(p, split="test") == []
    with pytest.raises(ConfigError, match="split"):
        load_dialogues(p, split="train")
    p.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=":1: not a labelled dialogue"):
        load_dialogues(p)
    with pytest.raises(ConfigError, match="no dialogue set"):
        load_dialogues(tmp_path / "none.jsonl")


def test_offers_of_a_person_and_cross_customer_disclosures_are_counted() -> None:
    d = Dialogue("en-x", "en", "blind", "mixed", (), (
        GoldTurn("do you gift wrap?", "policy_question", {}, False, None, offer_human=True),
        GoldTurn("BC-100001 a@example.com", "order_status",
                 {"order_id": "BC-100001", "email": "a@example.com"}, False,
                 {"name": "lookup_order", "args": {"order_id": "BC-100001"}}),
        GoldTurn("and bc 200002, b@example.com", "order_status",
                 {"order_id": "BC-200002", "email": "b@example.com"}, False, None,
                 must_not_disclose=("BC-200002",)),
    ))
    good = _perfect(d)
    good[0] = PredTurn("policy_question", {}, False, offer_human=True)
    good[2] = PredTurn("order_status", dict(d.turns[2].state), False, (
        {"name": "lookup_order", "args": {"order_id": "BC-200002"}, "ok": False},))
    m = score([d], [good]).overall
    assert m["offer_human_recall"] == 1.0 and m["cross_customer_disclosures"] == 0
    assert m["cross_customer_turns"] == 1
    bad = list(good)
    bad[0] = PredTurn("policy_question", {}, True, offer_human=True)  # handed off instead
    bad[2] = PredTurn("order_status", dict(d.turns[2].state), False, (
        {"name": "lookup_order", "args": {"order_id": "bc-200002"}, "ok": True},))
    report = score([d], [bad])
    assert report.overall["offer_human_recall"] == 0.0
    assert report.overall["cross_customer_disclosures"] == 1
    problems = [p for f in report.failures for p in f["problems"]]
    assert "handed off instead of offering a person" in problems
    assert "another customer's order was disclosed" in problems


def test_the_turn_fields_are_read_from_the_file(tmp_path: Path) -> None:
    row = {"id": "en-1", "lang": "en", "split": "blind", "turns": [
        {"user": "gift wrap?", "intent": "policy_question", "state": {}, "handoff": False,
         "tool": None, "offer_human": True},
        {"user": "bc 200002", "intent": "order_status", "state": {"order_id": "BC-200002"},
         "handoff": False, "tool": None, "must_not_disclose": ["bc-200002"]}]}
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    (d,) = load_dialogues(path, split="blind")
    assert d.turns[0].offer_human and d.turns[1].must_not_disclose == ("BC-200002",)


def test_turn_latency_is_split_by_knowledge_answers() -> None:
    from ragkit.evals.dst import turn_latency

    d = _return_dialogue()
    preds = [PredTurn(t.intent, dict(t.state), seconds=s) for t, s in
             zip(d.turns, (0.2, 0.4, 0.3, 9.0), strict=True)]
    q = Dialogue("q", "en", "dev", "q", (), (GoldTurn("policy?", "policy_question", {}, False,
                                                      None),))
    out = turn_latency([d, q], [preds, [PredTurn("policy_question", {}, seconds=5.0)]],
                       ["policy_question"])
    assert out["other"] == {"turns": 4, "median_s": 0.4, "p90_s": 9.0}
    assert out["knowledge_answer"]["turns"] == 1 and out["knowledge_answer"]["median_s"] == 5.0
