"""Typo repair for the support assistant: the vocabulary of a domain (every English word of
five letters or more in its intent examples, phrase lists, slot synonyms and cues, and
catalogue names, with counts), read by :class:`ragkit.spelling.Speller`.

Values are never read from the repaired text alone: :mod:`ragkit.support.nlu` reads ids,
emails and phones from what the customer wrote, and takes an address from the repaired text
only when the customer's own text contains it verbatim.
"""

from __future__ import annotations

from ragkit.spelling import Speller, words
from ragkit.support.domain import Domain


def domain_texts(domain: Domain) -> list[str]:
    """Every English text of the domain file a customer's words could match."""
    spec = domain.spec
    out: list[str] = []
    for intent in spec.intents.values():
        out += intent.examples.en
        if intent.reply is not None:
            out.append(intent.reply.en)
    for slot in spec.slots.values():
        out += slot.cues.en
        if slot.prompt is not None:
            out.append(slot.prompt.en)
        for phrases in slot.values.values():
            out += phrases.en
    c = spec.confirmation
    for phrases in (c.affirm, c.deny, c.hold, c.thanks, c.strong_affirm, spec.abort,
                    spec.correction_cues):
        out += phrases.en
    out += list(spec.handoff.negative_lexicon.get("en", {}))
    out += [n for p in domain.products for n in p.names]  # names and aliases
    return out


def speller_for(domain: Domain) -> Speller:
    """The speller of a domain's own words."""
    return Speller(words(domain_texts(domain)))
