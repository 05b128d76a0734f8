"""The negative-sentiment lexicon, measured on labelled examples (en and zh)."""

from __future__ import annotations

import pytest

from ragkit.support.domain import load_domain
from ragkit.support.sentiment import negative_score

STRONG = [
    "This is the worst service ever, absolutely useless.",
    "I'm furious, this is unacceptable!",
    "You are a scam, I'll talk to my lawyer.",
    "Pathetic. Incompetent people everywhere.",
    "I'm sick of waiting, fed up with you",
    "WHERE IS MY ORDER??? THIS IS RIDICULOUS!!!",
    "你们就是骗子，垃圾公司",
    "气死我了，太过分了",
    "什么破服务，我要起诉你们",
    "受够了，再也不在你们家买了",
]
MILD_OR_NEUTRAL = [
    "I'm a bit disappointed with the kettle.",
    "The delivery was late, not terrible though.",
    "Where is my order BC-204518?",
    "I want to make a complaint about the courier.",
    "It's not bad, but the lid is loose.",
    "I have an issue with my invoice",
    "我要投诉快递员",
    "有点失望",
    "我的订单到哪了",
    "退货政策是什么",
]


@pytest.fixture(scope="module")
def domain():
    return load_domain()


def test_lexicon_separates_strong_from_mild(domain):
    th = domain.spec.handoff.negative_sentiment_threshold
    hits = [negative_score(t, domain) >= th for t in STRONG]
    false = [negative_score(t, domain) >= th for t in MILD_OR_NEUTRAL]
    recall = sum(hits) / len(hits)
    precision = sum(hits) / max(1, sum(hits) + sum(false))
    assert recall == 1.0, [t for t, h in zip(STRONG, hits, strict=True) if not h]
    assert precision == 1.0, [t for t, f in zip(MILD_OR_NEUTRAL, false, strict=True) if f]


def test_negation_and_word_boundaries(domain):
    assert negative_score("not terrible", domain) == 0
    assert negative_score("I have an issue", domain) == 0  # "sue" inside "issue"
