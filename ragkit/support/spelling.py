"""Typo repair against the domain's own vocabulary, before the rules and the classifier read a
message ("I want to rteurn it", "New adress is ...", "forgte about it", "my ohter order").

Owns: the vocabulary of a domain (every English word of five letters or more in its intent
examples, phrase lists, slot synonyms and cues, and catalogue names, with counts) and
:class:`Speller`, which replaces a word that is not in it by the one vocabulary word a single
edit away (insertion, deletion, substitution or swap of neighbours; same first letter; the
most frequent when several are). Words shorter than five letters, words glued to digits or
inside ids and emails, capitalised words inside a sentence (names: "8 Place Bellecour") and
anything in Chinese are left alone: one edit turns short words into other real words. Pure;
no I/O.

Values are never read from the repaired text alone: :mod:`ragkit.support.nlu` reads ids,
emails and phones from what the customer wrote, and takes an address from the repaired text
only when the customer's own text contains it verbatim.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from ragkit.support.domain import Domain

MIN_LEN = 5
_WORD = re.compile(r"[A-Za-z]+")
_VALUE = re.compile(r"[@\d_/]")


def words(texts: Iterable[str]) -> Counter[str]:
    """Lower-case English words of :data:`MIN_LEN` letters or more, counted."""
    out: Counter[str] = Counter()
    for t in texts:
        out.update(w.lower() for w in _WORD.findall(t) if len(w) >= MIN_LEN)
    return out


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


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by exactly one insertion, deletion, substitution or swap
    of two neighbouring letters."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1:]


class Speller:
    """Repairs one-edit typos of words the vocabulary knows; everything else is kept as is."""

    def __init__(self, vocabulary: Counter[str]) -> None:
        self.vocabulary = vocabulary
        self._by_first: dict[str, list[str]] = {}
        for w, _ in vocabulary.most_common():  # most frequent first: it wins ties
            self._by_first.setdefault(w[0], []).append(w)
        self._memo: dict[str, str | None] = {}

    @classmethod
    def for_domain(cls, domain: Domain) -> Speller:
        return cls(words(domain_texts(domain)))

    def fix(self, word: str) -> str | None:
        """The vocabulary word ``word`` is a typo of, or None (known, short, or no match)."""
        low = word.lower()
        if len(low) < MIN_LEN or low in self.vocabulary:
            return None
        if low not in self._memo:
            self._memo[low] = next((w for w in self._by_first.get(low[0], ())
                                    if one_edit(low, w)), None)
            if len(self._memo) > 50_000:
                self._memo.clear()
        return self._memo[low]

    def correct(self, text: str) -> str:
        """``text`` with each repairable word replaced (its capitalisation kept)."""

        def repl(m: re.Match[str]) -> str:
            w = m.group(0)
            s, e = m.span()
            # a word inside an id, an email or anything with digits is no English word
            start = max(text.rfind(" ", 0, s), text.rfind("\n", 0, s)) + 1
            end = min([i for i in (text.find(" ", e), text.find("\n", e)) if i >= 0]
                      or [len(text)])
            if _VALUE.search(text[start:end]):
                return w
            if w[0].isupper() and text[:s].strip() and text[:s].rstrip()[-1] not in ".!?:;":
                return w  # a capital inside a sentence: a name ("8 Place Bellecour")
            fixed = self.fix(w)
            if fixed is None:
                return w
            return fixed.capitalize() if w[0].isupper() else fixed

        return _WORD.sub(repl, text)
