"""Dialogue acts people use that the tuned phrasing did not cover (issue 16, item 2), through
the real graph with the real trained intent model and a real RAG pipeline (the real INT8
cross-encoder choosing evidence); the generator is scripted, these tests are about routing.
Each case was seen failing in a walk through the CLI before it was fixed."""

from __future__ import annotations

import pytest

from ragkit.kb import KnowledgeBase
from ragkit.rag import RagConfig, RagPipeline
from ragkit.support import replies as R
from ragkit.support import slots as S
from ragkit.support.tools import ToolOutcome
from tests.rag.conftest import docs, tiny_kb  # noqa: F401  (fixtures)
from tests.support.support_helpers import EN_EMAIL, EN_ORDER, ZH_ORDER, ZH_PHONE, open_bot, turn

EVIDENCE = RagConfig(min_confidence=0.0, support_method="lexical", answer_cache=False,
                     translate_query=False)


@pytest.fixture()
def bot(tmp_path, real_embedder, scripted_generator, cross_encoder,
        tiny_kb: KnowledgeBase):  # noqa: F811
    gen = scripted_generator(replies=["Refunds are paid back within five business days [1]."]
                             * 8, labels=lambda m, labels: labels[0])
    rag = RagPipeline(tiny_kb, gen, EVIDENCE, relevance=cross_encoder)
    b = open_bot(tmp_path, real_embedder, gen, answerer=rag)
    yield b
    b.close()


def _return_waiting_for_reason(bot, t: str, order: str, contact: str) -> None:
    r = turn(bot, t, f"I want to return {order}")
    assert r.state.intent == "return_request"
    r = turn(bot, t, contact)
    assert r.state.intent == "return_request" and "reason" not in r.state.slots


@pytest.mark.real_model
@pytest.mark.parametrize("text", ["Actually, forget about it, I'll keep it.", "算了，我还是留着吧"])
def test_a_change_of_mind_while_a_value_is_asked_for_cancels_the_request(bot, text) -> None:
    _return_waiting_for_reason(bot, "a", EN_ORDER, f"It's {EN_EMAIL}")
    r = turn(bot, "a", text)
    # not read as the return reason the assistant was waiting for
    assert r.state.intent is None and r.state.last_event == "aborted"
    assert not r.tool_calls and r.state.pending is None


@pytest.mark.real_model
def test_a_question_before_confirming_is_answered_and_the_confirmation_asked_again(bot) -> None:
    _return_waiting_for_reason(bot, "q", EN_ORDER, f"my email is {EN_EMAIL}")
    r = turn(bot, "q", "it arrived broken")
    assert r.state.pending is not None
    r = turn(bot, "q", "hang on, how long does a refund take?")  # "hang on" alone is a no
    assert r.citations and "five business days" in r.text
    assert not r.tool_calls and r.state.pending is not None  # nothing declined, nothing done
    assert "Back to your return" in r.text and "yes or no" in r.text
    r = turn(bot, "q", "ok yes go ahead")
    assert [c["name"] for c in r.tool_calls] == ["create_return"] and r.tool_calls[0]["ok"]
    assert not r.text.startswith("Back to")


@pytest.mark.real_model
def test_a_plain_hold_still_declines(bot) -> None:
    _return_waiting_for_reason(bot, "h", EN_ORDER, f"my email is {EN_EMAIL}")
    turn(bot, "h", "it arrived broken")
    r = turn(bot, "h", "hang on, not yet")
    assert r.state.pending is None and not r.tool_calls and r.state.last_event == "declined"


@pytest.mark.real_model
def test_my_other_order_is_asked_for_not_replaced_by_the_one_in_hand(bot) -> None:
    # nobody is verified yet, so which "other order" is meant cannot be looked up: ask
    _return_waiting_for_reason(bot, "o", ZH_ORDER, f"phone {ZH_PHONE}")
    r = turn(bot, "o", "wait, my other order never showed up, where is it?")
    assert r.state.intent == "order_status"
    assert "order_id" not in r.state.slots and not r.tool_calls
    assert "order number" in r.text


@pytest.mark.real_model
@pytest.mark.parametrize("text", ["asdkjh qwpoeiru zxmcnv", "?????", "tell me a joke about "
                                  "penguins", "哈哈哈哈", "帮我写一首关于大海的诗", "👍👍"])
def test_gibberish_and_off_topic_requests_are_not_understood(bot, text) -> None:
    r = turn(bot, "g", text)
    assert r.state.intent is None and not r.tool_calls and not r.handoff
    assert r.state.failed_turns == 1
    assert "didn't understand" in r.text or "没有理解" in r.text


@pytest.mark.real_model
def test_off_topic_in_the_middle_of_a_task_keeps_the_task(bot) -> None:
    _return_waiting_for_reason(bot, "m", EN_ORDER, f"my email is {EN_EMAIL}")
    r = turn(bot, "m", "tell me a joke")
    assert r.state.intent == "return_request" and r.state.slots["order_id"] == EN_ORDER
    assert "Why would you like to return it" in r.text


@pytest.mark.real_model
def test_an_off_topic_looking_question_still_goes_to_the_knowledge_base(bot) -> None:
    # whether "who founded the company?" is answerable is the knowledge base's call
    r = turn(bot, "k", "What colour is the car of your CEO?")
    assert r.offer_human and not r.handoff and r.state.pending is not None
    assert "stages_ms" in r.knowledge  # the panel says how the search went


def test_a_chinese_refusal_carries_no_english_policy_text() -> None:
    out = ToolOutcome("create_return", {"order_id": "BC-123456"}, False, "already_returned",
                      {"message": "a return is already open for order BC-123456"})
    zh = R.refused(out, "zh")
    assert "BC-123456" in zh and "退货" in zh and "return is already" not in zh
    assert "a return is already open" in R.refused(out, "en")


@pytest.mark.real_model
def test_contact_details_with_carrier_words_are_no_request_for_a_person(bot) -> None:
    r = turn(bot, "p", f"I want to return {ZH_ORDER}")
    r = turn(bot, "p", "You can use my number, +86 138 0013 0118.")
    assert not r.handoff and r.state.intent == "return_request"
    assert r.state.slots.get("phone") == "+8613800130118"
    r = turn(bot, "p2", "my phone is +86 138 0013 0118, get me a human please")
    assert r.handoff


@pytest.mark.real_model
@pytest.mark.parametrize("text", ["How long does a refund to PayPal take?", "退款一般多久到账？"])
def test_a_general_question_about_refunds_goes_to_the_knowledge_base(bot, text) -> None:
    r = turn(bot, "r", text)
    assert r.state.intent in ("policy_question", "product_question")
    assert "order number" not in r.text and "订单号" not in r.text
    # how it was found travels with the reply, for the panel (a walk saw Support mode's
    # panel show intent and slots only, under a cited knowledge answer)
    assert r.knowledge["evidence"] and r.knowledge["standalone_question"]
    assert "retrieve" in r.knowledge["stages_ms"]
    assert r.to_dict()["knowledge"] == r.knowledge
    r = turn(bot, "r2", "how long until my refund arrives?")  # about this customer's refund
    assert r.state.intent == "refund_status"


@pytest.mark.real_model
@pytest.mark.parametrize("text", ["How many days do I have to send back an item for a refund?",
                                  "What's the deadline to cancel an order?", "退款多久到账？"])
def test_a_question_about_a_rule_goes_to_the_knowledge_base(bot, text) -> None:
    """Seen by a new user: "How many days do I have to send back an item for a refund?" got
    "What is your order number?"."""
    r = turn(bot, "q", text)
    assert r.state.intent in ("policy_question", "product_question")
    assert "order number" not in r.text and "订单号" not in r.text


@pytest.mark.real_model
def test_typos_of_domain_words_do_not_derail_a_dialogue(bot) -> None:
    # seen on the labelled dialogues with typos put in: the address cue was missed and the
    # label became part of the address; "rteurn" read as a refund question
    r = turn(bot, "t", "I need to chnage the delivery adress for BC-206611")
    assert r.state.intent == "change_address"
    r = turn(bot, "t", "my email is camille.laurent@example.fr")
    r = turn(bot, "t", "New adrdess is 8 Place Bellecour, 69002 Lyon, France")
    assert r.state.slots.get("address") == "8 Place Bellecour, 69002 Lyon, France"
    r = turn(bot, "t2", f"Can you statr a rteurn for order {EN_ORDER}?")
    assert r.state.intent == "return_request"


@pytest.mark.real_model
@pytest.mark.parametrize(("text", "reason"), [
    ("my coffee grinder arrived with a cracked hopper, what can I do", "damaged"),
    ("收到的水壶漏水，怎么办？", "defective"),
])
def test_a_reported_fault_with_something_received_starts_a_return(bot, text, reason) -> None:
    # seen in a walk through the assistant: read as a product question, refused by the
    # knowledge base and offered a person; the customer wants the item sorted out
    r = turn(bot, "f", text)
    assert r.state.intent == "return_request" and r.state.slots.get("reason") == reason
    assert not r.offer_human and not r.handoff
    # a question about something else stays a question
    r = turn(bot, "f2", "Does the warranty cover water damage?")
    assert r.state.intent in ("policy_question", "product_question")


@pytest.mark.real_model
def test_an_id_or_an_email_alone_keeps_the_conversation_in_its_language(bot) -> None:
    # seen in a walk: after "RT-534711" the assistant went on in English
    r = turn(bot, "l", "我的退款怎么还没到")
    assert r.state.language == "zh"
    r = turn(bot, "l", "RT-534711")
    assert r.state.language == "zh" and S.language(r.text) == "zh", r.text
    r = turn(bot, "l", "lina@example.cn")
    assert [c["name"] for c in r.tool_calls] == ["refund_status"]
    assert S.language(r.text) == "zh", r.text


@pytest.mark.real_model
@pytest.mark.parametrize(("first", "pick", "chosen"), [
    ("I want to return BC-291108 and BC-233467", "the first one", "BC-291108"),
    ("我想退 BC-291108 和 BC-233467 这两单", "第二个", "BC-233467"),
])
def test_two_orders_in_one_message_are_asked_about_not_guessed(bot, first, pick, chosen) -> None:
    # seen in a walk: the last order named was taken, and "the first one" then became the
    # return reason
    r = turn(bot, "two", first)
    assert r.state.intent == "return_request" and "order_id" not in r.state.slots
    assert "BC-291108" in r.text and "BC-233467" in r.text
    r = turn(bot, "two", pick)
    assert r.state.slots.get("order_id") == chosen and "reason" not in r.state.slots


@pytest.mark.real_model
def test_a_correction_naming_two_orders_keeps_the_new_one(bot) -> None:
    r = turn(bot, "fix", f"Where is my order BC-111111? my email is {EN_EMAIL}")
    r = turn(bot, "fix", f"sorry, not BC-111111, it's {EN_ORDER}")
    assert r.state.slots.get("order_id") == EN_ORDER
