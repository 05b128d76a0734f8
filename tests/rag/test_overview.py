"""Overview answers to broad questions (:mod:`ragkit.rag.overview`): which questions are
broad, a document's main points, the reply; then the graph answering a broad question from
a real (tiny) knowledge base with the real cross-encoder, without generating."""

from __future__ import annotations

import pytest

from ragkit.kb import KnowledgeBase
from ragkit.rag import RagConfig, RagPipeline
from ragkit.rag import overview as ov
from tests.rag.conftest import answer_calls


@pytest.mark.parametrize(("question", "topic"), [
    ("What is your return policy?", "return"),
    ("what's your returns policy in a nutshell", "returns"),
    ("Tell me about your shipping policy", "shipping"),
    ("How do gift cards work?", "gift cards"),
    ("Could you please explain the warranty?", "warranty"),
    ("What's the policy on cancelling orders?", "cancelling orders"),
    ("Give me an overview of account security", "account security"),
    ("return policy?", "return"),
    ("你们的换货政策是什么？", "换货"),
    ("介绍一下积分会员计划", "积分会员计划"),
    ("发票怎么开？说说你们的发票政策", "发票政策"),
    ("价格保护是怎么回事？", "价格保护"),
    ("退货政策？", "退货"),
])
def test_a_broad_question_names_its_topic(question: str, topic: str) -> None:
    assert ov.topic(question) == topic


@pytest.mark.parametrize("question", [
    "What is the return window?",  # one fact, not a policy
    "How long do I have to return an item?",
    "What is the price of the kettle?",
    "explain why my refund is late",  # the "topic" is a question
    "What about Gold members?",  # a follow-up
    "What is your policy on opened earbuds?",  # one case of a policy
    "Can you explain how to reset my password?",
    "按照三包规定，签收 15 天内出现故障可以怎么处理？",  # "三包规定" inside a particular question
    "怎么修改收货地址？",
])
def test_a_particular_question_is_not_broad(question: str) -> None:
    assert ov.topic(question) == ""


def _passage(heading: str, text: str, title: str = "Returns policy") -> dict:
    return {"heading": heading, "text": text, "title": title}


RETURNS = [
    _passage("Returns policy", "# Returns policy\n\nThis page explains how to send something "
             "back. It applies to the EU, the UK and the US."),
    _passage("Returns policy > The return window", "## The return window\n\nYou can return "
             "most items within 30 days of delivery. Gold members have 45 days."),
    _passage("Returns policy > The return window", "Holiday extension: until 31 January."),
    _passage("Returns policy > Condition", "## Condition\n\nWe accept returns of items that "
             "are complete:\n\n- all accessories are included;\n- the box is included."),
    _passage("Returns policy > Prices", "| Item | Label |\n|---|---|\n| Kettle | €5.95 |"),
    _passage("Returns policy > Gifts", "## Gifts\n\nA gift can be returned by its recipient."),
    _passage("Returns policy > Bulky items", "## Bulky items\n\nWe collect tents and vacuums."),
]


def test_main_points_are_each_section_s_first_sentence_in_the_document_s_order() -> None:
    points, left = ov.main_points(RETURNS, max_points=4)
    assert [p.section for p in points] == ["The return window", "Condition", "Prices", "Gifts"]
    assert points[0].text == "You can return most items within 30 days of delivery."
    # a list item keeps the sentence that introduces it; a table row its header
    assert points[1].text.startswith("We accept returns of items that are complete:")
    assert "Item: Kettle" in points[2].text and "€5.95" in points[2].text
    assert left == ["Bulky items"]
    assert [p.passage for p in points] == [1, 3, 4, 5]  # the opening is about the page


def test_an_opening_that_is_not_about_the_page_is_the_first_point() -> None:
    gifts = [_passage("Gift cards", "# Gift cards\n\nGift cards come by email or by post.",
                      "Gift cards"),
             _passage("Gift cards > Validity", "## Validity\n\nA card is valid for 3 years.",
                      "Gift cards")]
    points, _ = ov.main_points(gifts)
    assert [p.text for p in points] == ["Gift cards come by email or by post.",
                                       "A card is valid for 3 years."]


def test_headings_and_page_labels_read_as_text_are_not_points() -> None:
    """An HTML page's chunks start with their heading as a plain line ("Opening hours"),
    and a page may carry a site label ("亮购帮助中心")."""
    page = [_passage("", "亮购帮助中心", "保修"),
            _passage("Contact us", "Contact us\n\nLive chat answers fastest.", "Contact"),
            _passage("Contact us > Opening hours", "Opening hours\n\nWe open at 08:00 on "
                     "weekdays.", "Contact")]
    points, _ = ov.main_points(page)
    assert [p.text for p in points] == ["Live chat answers fastest.",
                                       "We open at 08:00 on weekdays."]


def test_a_sentence_announcing_a_list_is_read_with_its_first_item() -> None:
    """Seen in a walk: a refunds overview ended on "Each refund shows one of these
    statuses: [4]" with nothing after it."""
    status = [_passage("Refunds", "# Refunds\n\nWe refund to the original method.", "Refunds"),
              _passage("Refunds > Status", "## Status\n\nEach refund shows one of these "
                       "statuses:\n\n- Requested: we have your request.\n- Paid: done.",
                       "Refunds")]
    points, _ = ov.main_points(status)
    assert points[1].text == "Each refund shows one of these statuses: Requested: we have " \
                             "your request."


def test_a_document_without_sections_has_no_main_points() -> None:
    assert ov.main_points([_passage("", "Warranty terms. They add to your rights.")]) == ([], [])


def test_the_reply_cites_every_point_and_names_what_it_left_out() -> None:
    points, left = ov.main_points(RETURNS, max_points=2)
    text = ov.reply(points, [1, 2], "Returns policy", left, "en")
    assert text.splitlines()[0] == "The main points of Returns policy:"
    assert "- The return window: You can return most items within 30 days of delivery. [1]" \
        in text
    assert text.splitlines()[-1] == ("It also covers: Prices; Gifts; Bulky items. Ask about "
                                     "any of them for the details.")
    assert "[2]\n\nIt also covers" in text  # its own paragraph, not part of the last item
    zh = ov.reply(points[:1], [1], "退货指南", [], "zh", ["30 天内可以退货。"])
    assert zh.startswith("《退货指南》的要点：")
    assert "（中文大意：“30 天内可以退货。”） [1]" in zh


def test_the_document_whose_title_names_the_topic_is_preferred() -> None:
    assert ov.preferred("refund", ["Returns policy", "Refunds"]) == 1
    assert ov.preferred("cancelling orders", ["Changing or cancelling an order"]) == 0
    assert ov.preferred("中国大陆的配送", ["退货指南", "中国大陆配送说明"]) == 1
    assert ov.preferred("loyalty", ["Returns policy"]) == -1


# -- in the graph ----------------------------------------------------------------------------
EVIDENCE = RagConfig(min_confidence=0.0, support_method="lexical", answer_cache=False,
                     translate_query=False)


@pytest.mark.real_model
def test_a_broad_question_gets_the_main_points_without_generating(
        tiny_kb: KnowledgeBase, cross_encoder, scripted_generator) -> None:
    gen = scripted_generator(["Returns are accepted [1]."])
    answer = RagPipeline(tiny_kb, gen, EVIDENCE, relevance=cross_encoder).ask(
        "What is your returns policy?")
    assert answer.diagnostics["overview"] is True
    assert not answer.refused and answer_calls(gen) == []
    lines = answer.text.splitlines()
    assert lines[0] == "The main points of Returns:"
    assert lines[1] == ("- Window: Returns are accepted within thirty days if the item is "
                        "unused and in its box. [1]")
    assert lines[2].startswith("- Refunds: Refunds are paid back") and lines[2].endswith("[2]")
    assert [c.n for c in answer.citations] == [1, 2]
    assert all(c.source.endswith("returns.md") for c in answer.citations)
    assert {e["n"] for e in answer.diagnostics["evidence"]} == {1, 2}


@pytest.mark.real_model
def test_overviews_can_be_turned_off(tiny_kb: KnowledgeBase, cross_encoder,
                                     scripted_generator) -> None:
    gen = scripted_generator(["Returns are accepted within thirty days [1]."])
    config = EVIDENCE.model_copy(update={"overview": False})
    answer = RagPipeline(tiny_kb, gen, config, relevance=cross_encoder).ask(
        "What is your returns policy?")
    assert answer.diagnostics["overview"] is False and len(answer_calls(gen)) == 1


def test_a_document_s_passages_come_in_its_order(tiny_kb: KnowledgeBase) -> None:
    source = next(d["source"] for d in tiny_kb.documents() if d["source"].endswith("returns.md"))
    passages = tiny_kb.passages(source)
    assert passages and all(p.source == source for p in passages)
    assert [p.start for p in passages] == sorted(p.start for p in passages)
    assert "thirty days" in passages[0].text or "thirty days" in passages[1].text
    assert tiny_kb.passages("no/such/file.md") == []


@pytest.mark.real_model
def test_the_document_is_the_one_the_title_names_else_the_closest_title_else_the_evidence_s(
        tiny_kb: KnowledgeBase, cross_encoder, gemma_embedder, scripted_generator) -> None:
    """"What is your refund policy?" scored the returns policy's sentences best, but the
    refunds page is what was asked about; "What is your exchange policy?" reaches a page
    written in Chinese by its title's EmbeddingGemma score (the cascade's first stage never
    passed that title on); without either, the best evidence's document."""
    from dataclasses import replace

    from ragkit.rag.graph import _overview_source
    from ragkit.relevance import Cascade, EmbeddingRelevance, embedding_curve, finest

    gemma = EmbeddingRelevance(gemma_embedder, **embedding_curve(gemma_embedder.id))
    assert finest(Cascade(cross_encoder, gemma)) is gemma and finest(gemma) is gemma
    deps = RagPipeline(tiny_kb, scripted_generator([]), EVIDENCE,
                       relevance=cross_encoder)._deps()
    titles = [("p/returns.md", "Returns policy"), ("p/refunds.md", "Refunds"),
              ("faq.jsonl", "Refund questions"), ("p/kettle.md", "Kettle manual"),
              ("p/exchanges_zh.md", "换货政策")]
    deps = replace(deps, documents=lambda: titles, title_relevance=gemma)
    returns_hit = {"source": "p/returns.md", "title": "Returns policy"}
    assert _overview_source(deps, "What is your refund policy?", "refund",
                            [(returns_hit, 0.99)]) == ("p/refunds.md", "Refunds")
    assert _overview_source(deps, "What is your exchange policy?", "exchange",
                            [(returns_hit, 0.99)]) == ("p/exchanges_zh.md", "换货政策")
    # no title names "descaling" and none reads close to it: the evidence's document, not
    # an FAQ file
    got = _overview_source(replace(deps, documents=lambda: titles[:2]),
                           "Tell me about descaling", "descaling",
                           [({"source": "faq.jsonl", "title": "Refund questions"}, 0.9),
                            ({"source": "p/kettle.md", "title": "Kettle manual"}, 0.8)])
    assert got == ("p/kettle.md", "Kettle manual")
    assert _overview_source(replace(deps, documents=lambda: []), "Tell me about descaling",
                            "descaling", [(returns_hit, 0.1)]) is None
