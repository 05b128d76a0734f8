"""Typo repair against a vocabulary of known words ("I want to rteurn it", "how long do i have
to retrun stuff", "expres shiping"): the support assistant's domain file, a knowledge base's
own text.

Owns :func:`words` (the vocabulary: English words of five letters or more, counted),
:func:`one_edit` and :class:`Speller`, which replaces a word that is not in the vocabulary by
the one vocabulary word a single edit away (insertion, deletion, substitution or swap of
neighbours; same first letter; the most frequent when several are). Words shorter than five
letters, words glued to digits or inside ids and emails, capitalised words inside a sentence
(names: "8 Place Bellecour") and anything in Chinese are left alone: one edit turns short
words into other real words. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

MIN_LEN = 5
_WORD = re.compile(r"[A-Za-z]+")
_VALUE = re.compile(r"[@\d_/]")


def words(texts: Iterable[str]) -> Counter[str]:
    """Lower-case English words of :data:`MIN_LEN` letters or more, counted."""
    out: Counter[str] = Counter()
    for t in texts:
        out.update(w.lower() for w in _WORD.findall(t) if len(w) >= MIN_LEN)
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

    def __init__(self, vocabulary: Counter[str],
                 known: Callable[[str], bool] | None = None) -> None:
        """``known``: whether a word outside the vocabulary is a real word all the same
        (left alone: "bought" is no typo of a knowledge base's "brought")."""
        self.vocabulary = vocabulary
        self.known = known
        self._by_first: dict[str, list[str]] = {}
        for w, _ in vocabulary.most_common():  # most frequent first: it wins ties
            self._by_first.setdefault(w[0], []).append(w)
        self._memo: dict[str, str | None] = {}

    def fix(self, word: str) -> str | None:
        """The vocabulary word ``word`` is a typo of, or None (known, short, or no match)."""
        low = word.lower()
        if len(low) < MIN_LEN or low in self.vocabulary:
            return None
        if low not in self._memo:
            real = self.known is not None and self.known(low)
            self._memo[low] = None if real else next(
                (w for w in self._by_first.get(low[0], ()) if one_edit(low, w)), None)
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
