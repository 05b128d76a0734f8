"""Negative-sentiment scoring for handoff: a weighted lexicon from the domain file.

Owns: :func:`negative_score` (sum of the weights of lexicon entries found in a message,
English on word boundaries, Chinese by substring; a negated English entry such as "not
terrible" does not count; "!!!" and ALL-CAPS shouting add one point). Deterministic and
cheap, so the threshold is easy to reason about and to measure on labelled examples
(tests/support/test_sentiment.py).
"""

from __future__ import annotations

import re

from ragkit.support.domain import Domain
from ragkit.support.slots import clean, find_phrases

_NEGATORS = ("not ", "n't ", "no ", "never ", "hardly ")


def negative_score(text: str, domain: Domain) -> float:
    lexicon = domain.spec.handoff.negative_lexicon
    t = clean(text)
    score = 0.0
    for lang, words in lexicon.items():
        for start, _end, phrase in find_phrases(text, words):
            before = t[max(0, start - 8):start]
            if lang == "en" and any(before.endswith(n) for n in _NEGATORS):
                continue
            score += words[phrase]
    if re.search(r"[!！]{3,}", text):
        score += 1
    caps = re.findall(r"\b[A-Z]{4,}\b", text)
    if len(caps) >= 2:
        score += 1
    return score
