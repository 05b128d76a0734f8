"""Deterministic slot extraction, validators, dialogue acts and the domain loader."""

from __future__ import annotations

import re

import pytest
import yaml

from ragkit.errors import ConfigError
from ragkit.support import slots as S
from ragkit.support.domain import DEFAULT_DOMAIN, load_domain, parse_domain


@pytest.fixture(scope="module")
def domain():
    return load_domain()


@pytest.mark.parametrize("text,expected", [
    ("Where is bc204518? my email is Anna.DeVries@example.nl",
     {"order_id": "BC-204518", "email": "anna.devries@example.nl"}),
    ("电水壶坏了，订单BC 123456，手机13812345678",
     {"order_id": "BC-123456", "product": "KIT-1001", "reason": "damaged",
      "phone": "13812345678"}),
    ("the air fryer arrived broken", {"product": "KIT-1002", "reason": "damaged"}),
    # seen in a UI walk: "a crack" was no reason, and the message became a product question
    ("hi, my blender arrived with a crack in the jug", {"product": "KIT-1004",
                                                        "reason": "damaged"}),
    ("refund for RT-100233?", {"return_id": "RT-100233"}),
    ("my phone is +31 6 1234 5601", {"phone": "+31612345601"}),
    ("please ship it to 12 Oak Street, Leeds LS1 4AB.", {"address": "12 Oak Street, Leeds LS1 4AB"}),
    ("帮我把地址改成上海市浦东新区世纪大道100号", {"address": "上海市浦东新区世纪大道100号"}),
    # words after the address are not part of it (seen in a walk: "... Paris instead")
    ("can you send it to 12 Rue de Rivoli, 75001 Paris instead please?",
     {"address": "12 Rue de Rivoli, 75001 Paris"}),
    ("改成上海市徐汇区漕溪北路88号吧", {"address": "上海市徐汇区漕溪北路88号"}),
    ("it stopped working after a week", {"reason": "defective"}),
    ("我不想要了", {"reason": "changed_mind"}),
    ("my card is 4111 1111 1111 1111", {}),  # a Luhn-valid card is never a phone
    ("I ordered on 2026-10-01", {}),
])
def test_extract(domain, text, expected):
    assert S.extract(text, domain) == expected


def test_bare_address_is_accepted_only_when_expected(domain):
    text = "12 Oak Street, Leeds LS1 4AB"
    assert "address" not in S.extract(text, domain)
    assert S.extract(text, domain, expected="address")["address"] == text


@pytest.mark.parametrize("text,rest,bare", [
    ("Phone: +39 347 123 4604", "Phone", True),
    ("marco.rossi@example.it", "", True),
    ("You can use my number, +44 7700 900309.", "You can use my number", True),
    ("我的手机号是13700150120", "我的手机号是", True),
    ("human please +44 7700 900309", "human please", True),
    ("I want to return BC-123456 because it arrived broken and I am upset",
     "I want to return because it arrived broken and I am upset", False),
    ("what is the status of my order", "what is the status of my order", False),  # no value
    ("请寄到广州市天河区体育西路 103 号", "请寄到广州市天河区体育西路 103 号", False),
])
def test_residual_and_bare_value(domain, text, rest, bare):
    assert S.residual(text, domain) == rest
    assert (S.bare_residual(text, domain) is not None) is bare


def test_order_id_validator_rejects_wrong_lengths(domain):
    assert S.extract("BC-12345", domain) == {}
    assert S.extract("BC-1234567", domain) == {}


@pytest.mark.parametrize("text,affirm,deny", [
    ("yes", True, False), ("Yes please!", True, False), ("好的", True, False),
    ("确认", True, False), ("no", False, True), ("No thanks.", False, True),
    ("不要", False, True), ("what is your return policy?", False, False),
    # thanks is not a yes; "not yet" in any position is a no (issue 16, item 2)
    ("ok thanks", False, False), ("Okay, thank you!", False, False), ("好的谢谢", False, False),
    ("yes, thanks", True, False), ("是的，谢谢", True, False),
    ("Hold on, don't file anything yet", False, True), ("don't submit it yet", False, True),
    ("please wait, not yet", False, True), ("先别提交", False, True),
    ("等等，先不要办", False, True),
])
def test_yes_no(domain, text, affirm, deny):
    assert S.is_affirm(text, domain) is affirm
    assert S.is_deny(text, domain) is deny


def test_abort_and_correction_cues(domain):
    assert S.is_abort("never mind", domain) and S.is_abort("算了吧", domain)
    assert S.is_abort("forget it, I'll keep it", domain)
    assert S.is_abort("算了，我不退了", domain)
    # an abort phrase and a "keep it" phrase together are still (nearly) the whole message
    assert S.is_abort("Actually, forget about it, I'll keep it.", domain)
    assert S.is_abort("算了，我还是留着吧", domain)
    assert not S.is_abort("forget it, where is my other order BC-123456 that never arrived?",
                          domain)
    assert not S.is_abort("I want to cancel my order", domain)
    assert S.is_correction("no, it's BC-222222", domain)
    assert S.is_correction("不对，是BC-222222", domain)
    assert S.mentions_other("no, the other order") and S.mentions_other("是另一个订单")


@pytest.mark.parametrize(("text", "general"), [
    ("How long does a refund usually take?", True), ("退款一般多久到账？", True),
    ("通常几天发货？", True), ("In general, can I return opened items?", True),
    ("Where is my refund?", False), ("我的退款到哪了？", False),
])
def test_a_question_that_says_how_things_usually_go(text, general) -> None:
    assert S.general(text) is general


@pytest.mark.parametrize(("text", "rule"), [
    ("How many days do I have to send back an item for a refund?", True),
    ("What's the deadline to cancel an order?", True), ("Is there a fee to return an item?", True),
    ("退货要多少天内申请？", True), ("退款多久到账？", True),
    ("How many days until my refund arrives?", False),  # the customer's own refund
    ("我的退款多久到账？", False), ("How do I return an item?", False),
])
def test_a_question_about_what_a_rule_says(text, rule) -> None:
    assert S.asks_rule(text) is rule


@pytest.mark.parametrize(("text", "remedy", "own"), [
    ("my grinder arrived cracked, what can I do", True, True),
    ("the kettle I got leaks, what now?", True, True),
    ("收到的水壶漏水，怎么办？", True, True),
    ("Does the warranty cover water damage?", False, False),
    ("Is the Orbit S8 faulty if it beeps twice?", False, False),
])
def test_a_customer_asking_what_can_be_done_about_their_own_item(text, remedy, own) -> None:
    assert S.asks_remedy(text) is remedy and S.about_own_item(text) is own


@pytest.mark.parametrize(("text", "listed"), [
    ("I want to return BC-291108 and BC-233467", ["BC-291108", "BC-233467"]),
    ("BC-291108、BC-233467 和 BC-200740 都要退", ["BC-291108", "BC-233467", "BC-200740"]),
    ("sorry, not BC-111111, it's BC-281229", []),  # a correction lists nothing
    ("BC-291108 and BC-291108", []),
    ("where is BC-291108?", []),
])
def test_orders_listed_side_by_side(domain, text, listed) -> None:
    assert S.listed_values(text, domain, "order_id") == listed


@pytest.mark.parametrize(("text", "index"), [
    ("the first one", 0), ("first", 0), ("第一个", 0), ("the second one please", 1),
    ("第二个", 1), ("the last one", -1), ("BC-291108", None), ("yes", None),
])
def test_which_of_the_offered_options(text, index) -> None:
    assert S.ordinal(text) == index


def test_luhn():
    assert S.luhn_ok("4111111111111111") and not S.luhn_ok("4111111111111112")


def test_default_domain_loads_with_enough_examples(domain):
    for name, intent in domain.spec.intents.items():
        assert len(intent.examples.en) >= 15 and len(intent.examples.zh) >= 15, name
    assert len(domain.products) == 20


def test_domain_errors_name_the_bad_field():
    data = yaml.safe_load(DEFAULT_DOMAIN.read_text(encoding="utf-8"))
    data["slots"]["order_id"]["typo"] = 1
    with pytest.raises(ConfigError, match=r"slots\.order_id\.typo: unknown field"):
        parse_domain(data)
    data["slots"]["order_id"].pop("typo")
    data["intents"]["cancel_order"]["tool"] = "cancel"
    with pytest.raises(ConfigError, match=r"intents\.cancel_order\.tool: unknown tool 'cancel'"):
        parse_domain(data)


def test_user_domain_file_without_code_changes(tmp_path):
    (tmp_path / "facts.json").write_text('{"items": [{"id": "X-1", "title": "Blue Mug"}]}')
    (tmp_path / "d.yaml").write_text("""
name: mugs
catalogue: {path: facts.json, key: items, id_field: id, name_fields: [title]}
slots:
  product: {type: catalogue, scope: conversation}
  ticket: {type: pattern, pattern: '(?i)MUG-(\\d{4})', normalise: 'MUG-{1}'}
tools:
  refund: {changes_data: true}
confirmation: {affirm: {en: ["yes"]}, deny: {en: ["no"]}}
intents:
  refund_mug:
    kind: task
    slots: [product, ticket]
    required: [product]
    tool: refund
    examples: {en: [refund my mug, I want money back for the mug]}
""")
    d = load_domain(tmp_path / "d.yaml")
    assert S.extract("refund the blue mug, ticket mug-0042", d) == {
        "product": "X-1", "ticket": "MUG-0042"}
    assert d.spec.tools["refund"].needs_confirmation


def test_missing_domain_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="--domain"):
        load_domain(tmp_path / "nope.yaml")


@pytest.mark.parametrize("edit,expect", [
    # an unknown slot type, an intent with no examples, a tool name nobody declared
    (lambda t: t.replace("    type: email\n", "    type: emial\n", 1), r"line \d+: slots\.email\.type"),
    (lambda t: re.sub(r"(  greeting:\n    kind: chitchat\n    examples:\n)      en: .*\n      zh: "
                      r".*\n", r"\1      en: []\n      zh: []\n", t, count=1),
     r"line \d+: intents\.greeting\.examples: .*at least two example"),
    (lambda t: t.replace("  cancel_order:\n    kind: task", "  cancel_order:\n    kind: task",
                         1) + "\n  cancel_order:\n    kind: task\n    examples: {en: [a, b]}\n",
     r"line \d+: duplicate key 'intents\.cancel_order' \(first at line \d+\)"),
])
def test_domain_file_errors_name_the_line(tmp_path, edit, expect):
    text = DEFAULT_DOMAIN.read_text(encoding="utf-8")
    bad = tmp_path / "store_domain.yaml"
    bad.write_text(edit(text), encoding="utf-8")
    for name in ("store_facts.json",):
        (tmp_path / name).write_text((DEFAULT_DOMAIN.parent / name).read_text(encoding="utf-8"),
                                     encoding="utf-8")
    with pytest.raises(ConfigError, match=expect):
        load_domain(bad)


def test_a_bad_near_miss_pattern_is_refused_when_the_domain_loads() -> None:
    from pydantic import ValidationError

    from ragkit.support.domain import SlotSpec

    with pytest.raises(ValidationError, match="near_miss is not a valid regular expression"):
        SlotSpec(type="pattern", pattern=r"BC-(\d{6})", near_miss="BC-(")
    with pytest.raises(ValidationError, match="needs a 'pattern'"):
        SlotSpec(type="pattern")
