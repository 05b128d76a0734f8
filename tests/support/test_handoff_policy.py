"""Handoff only when it helps (issue 16, item 3) and one verified customer per conversation
(item 4), through the real graph: intents from the real default embedder, knowledge answers
from a real RAG pipeline (real SQLite + FAISS knowledge base, the real INT8 cross-encoder
deciding there is no evidence). The generator is scripted: these tests are about routing."""

from __future__ import annotations

import pytest

from ragkit.kb import KnowledgeBase
from ragkit.rag import RagConfig, RagPipeline
from tests.rag.conftest import docs, tiny_kb  # noqa: F401  (fixtures)
from tests.support.support_helpers import (
    EN_EMAIL,
    EN_ORDER,
    OTHER_EMAIL,
    OTHER_ORDER,
    ZH_ORDER,
    ZH_PHONE,
    open_bot,
    turn,
)

pytestmark = pytest.mark.real_model
EVIDENCE = RagConfig(min_confidence=0.0, support_method="lexical", answer_cache=False,
                     translate_query=False)
UNANSWERABLE = "What colour is the chief executive's car?"
UNANSWERABLE_2 = "What colour is the car of your CEO?"
ANSWERABLE = "How many days do I have to return an item?"


@pytest.fixture()
def bot(tmp_path, real_embedder, scripted_generator, cross_encoder,
        tiny_kb: KnowledgeBase):  # noqa: F811
    gen = scripted_generator(replies=["Refunds take five business days [1]."] * 8,
                             labels=lambda m, labels: labels[0])
    rag = RagPipeline(tiny_kb, gen, EVIDENCE, relevance=cross_encoder)
    b = open_bot(tmp_path, real_embedder, gen, answerer=rag)
    yield b
    b.close()


def test_an_unanswered_question_offers_a_person_and_does_not_hand_off(bot) -> None:
    r = turn(bot, "q", UNANSWERABLE)
    assert r.offer_human and not r.handoff and r.ticket_id is None
    assert "team" in r.text and not bot.waiting_for_agent("q")
    # the conversation is not locked: the next question is answered by the assistant
    r = turn(bot, "q", ANSWERABLE)
    assert not r.handoff and not r.offer_human
    assert r.citations and "days" in r.text


def test_yes_to_the_offer_hands_off_and_no_keeps_the_assistant(bot) -> None:
    turn(bot, "y", UNANSWERABLE)
    r = turn(bot, "y", "yes please")
    assert r.handoff and r.ticket_id and bot.waiting_for_agent("y")
    turn(bot, "n", UNANSWERABLE)
    r = turn(bot, "n", "no thanks")
    assert not r.handoff and not bot.waiting_for_agent("n")
    assert "anything else" in r.text


def test_the_same_need_unanswered_twice_hands_off(bot) -> None:
    first = turn(bot, "t", UNANSWERABLE)
    assert first.offer_human and not first.handoff
    second = turn(bot, "t", UNANSWERABLE_2)
    assert second.handoff and second.ticket_id
    assert second.state.refused_answers == 2


def test_an_agents_reply_resolves_the_ticket_and_returns_the_conversation(bot) -> None:
    turn(bot, "h", "I want to talk to a human agent")
    assert bot.waiting_for_agent("h")
    queued = turn(bot, "h", "hello? anyone?")
    assert queued.handoff  # waiting: the message is queued for the agent
    ticket = bot.state("h").ticket_id
    back = bot.resume("h", "Hi, it's Sam from the team. Your question is answered by email.")
    assert back.resolved and not back.handoff and not bot.waiting_for_agent("h")
    assert bot.db.get_ticket(ticket).status == "closed"
    r = turn(bot, "h", ANSWERABLE)
    assert not r.handoff and r.citations  # the assistant answers again
    with pytest.raises(Exception, match="not waiting for an agent"):
        bot.resume("h", "again")


def test_another_customers_order_is_refused_with_the_reason(bot) -> None:
    ok = turn(bot, "c", f"status of {EN_ORDER}, email {EN_EMAIL}")
    assert ok.tool_calls and ok.tool_calls[0]["ok"]
    bound = ok.state.customer_id
    r = turn(bot, "c", f"and order {OTHER_ORDER}? my email is {OTHER_EMAIL}")
    assert not [c for c in r.tool_calls if c["ok"]]
    assert [c["code"] for c in r.tool_calls] in ([], ["other_customer"])
    assert "another account" in r.text and "Keizersgracht" not in r.text
    assert r.state.customer_id == bound


def test_identity_in_the_first_message_is_used(bot) -> None:
    r = turn(bot, "f", f"hi, order {ZH_ORDER}, phone {ZH_PHONE}")
    assert r.state.memory.get("order_id") == ZH_ORDER
    r = turn(bot, "f", "has it shipped?")
    assert r.tool_calls and r.tool_calls[0]["ok"], r.text
    assert r.state.customer_id is not None
