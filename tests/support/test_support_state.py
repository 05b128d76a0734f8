"""Pure dialogue-state updates: carry-over, correction, abort, stack push/pop, confirmation."""

from __future__ import annotations

import pytest

from ragkit.support.domain import load_domain
from ragkit.support.state import DialogueState, TurnInput, expected_slot, missing, update


@pytest.fixture(scope="module")
def domain():
    return load_domain()


def say(state, domain, intent=None, conf=0.9, **kw):
    values = kw.pop("values", {})
    return update(state, TurnInput(intent, conf, values, **kw), domain)


def test_slots_carry_over_across_turns(domain):
    s = say(DialogueState(), domain, "return_request", values={"order_id": "BC-111111"})
    assert s.intent == "return_request" and missing(s.top, domain) == ["reason"]
    s = say(s, domain, "complaint", conf=0.4, values={"reason": "damaged"})
    assert s.intent == "return_request"
    assert s.slots == {"order_id": "BC-111111", "reason": "damaged"}
    assert expected_slot(s, domain) == "email"  # identity before the tool runs


def test_conversation_slots_seed_a_new_intent_but_intent_slots_do_not(domain):
    s = say(DialogueState(), domain, "return_request",
            values={"order_id": "BC-111111", "reason": "damaged"})
    s = say(s, domain, "cancel_order")
    assert s.intent == "cancel_order"
    assert s.slots == {"order_id": "BC-111111"}  # reason is intent-scoped


def test_correction_overwrites_and_clears_pending_confirmation(domain):
    s = say(DialogueState(), domain, "cancel_order", values={"order_id": "BC-111111"})
    from ragkit.support.state import propose
    s = propose(s, "cancel_order", {"order_id": "BC-111111"})
    s = say(s, domain, "cancel_order", values={"order_id": "BC-222222"}, correction=True)
    assert s.slots["order_id"] == "BC-222222"
    assert s.pending is None and not s.confirmed


def test_abort_clears_the_frame_and_its_values_but_keeps_identity(domain):
    s = say(DialogueState(), domain, "return_request",
            values={"order_id": "BC-111111", "email": "a@b.example"})
    s = say(s, domain, None, abort=True)
    assert s.intent is None and s.slots == {}
    assert "order_id" not in s.memory and s.memory["email"] == "a@b.example"
    s = say(s, domain, "order_status")
    assert s.slots == {"email": "a@b.example"}


def test_side_question_is_pushed_and_the_task_resumes(domain):
    from ragkit.support.state import finish

    s = say(DialogueState(), domain, "return_request", values={"order_id": "BC-111111"})
    s = say(s, domain, "policy_question")
    assert [f.intent for f in s.stack] == ["return_request", "policy_question"]
    assert s.intent == "policy_question" and s.slots == {}
    s = finish(s)  # the question was answered
    s = say(s, domain, "complaint", conf=0.3, values={"reason": "changed_mind"})
    assert s.intent == "return_request" and s.last_event == "resumed"
    assert s.slots == {"order_id": "BC-111111", "reason": "changed_mind"}


def test_task_intent_replaces_the_top_frame(domain):
    s = say(DialogueState(), domain, "change_address", values={"order_id": "BC-111111"})
    s = say(s, domain, "cancel_order", conf=0.95)
    assert [f.intent for f in s.stack] == ["cancel_order"]


def test_yes_confirms_and_no_keeps_the_state_without_acting(domain):
    from ragkit.support.state import propose

    s = say(DialogueState(), domain, "cancel_order", values={"order_id": "BC-111111"})
    s = propose(s, "cancel_order", {"order_id": "BC-111111"})
    yes = say(s, domain, None, affirm=True)
    assert yes.confirmed and yes.intent == "cancel_order" and yes.failed_turns == 0
    no = say(s, domain, None, deny=True)
    assert no.intent == "cancel_order" and no.slots == {"order_id": "BC-111111"}
    assert no.pending is None and not no.confirmed and no.top.done
    assert say(no, domain, "goodbye").stack[0].intent == "goodbye"  # popped next turn


def test_not_understood_turns_are_counted_and_reset(domain):
    s = say(DialogueState(), domain, None)
    s = say(s, domain, None)
    assert s.failed_turns == 2
    s = say(s, domain, "greeting")
    assert s.failed_turns == 0


def test_finished_frames_pop_at_the_next_turn(domain):
    from ragkit.support.state import finish

    s = finish(say(DialogueState(), domain, "greeting"))
    assert s.intent == "greeting"  # still visible on the turn it finished
    s = say(s, domain, "order_status", values={"order_id": "BC-111111"})
    assert [f.intent for f in s.stack] == ["order_status"]


def test_state_round_trips_through_a_dict(domain):
    s = say(DialogueState(), domain, "return_request", values={"order_id": "BC-111111"})
    s = say(s, domain, "policy_question")
    again = DialogueState.from_dict(s.to_dict())
    assert again.to_dict() == s.to_dict()
    d = s.to_dict()
    assert set(d) >= {"intent", "slots", "intent_stack", "pending_confirmation", "handoff",
                      "ticket_id"}
