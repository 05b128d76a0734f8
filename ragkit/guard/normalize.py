"""Views of a text that word lists are matched on, each with a map back to the original.

Owns, all pure: the *word view* (NFKC, lower case, words of letters joined by one space,
letter-for-digit swaps undone inside words, a run of single letters split by spaces or
punctuation joined into one word: "F.U.C.K" and "ｆｕｃｋ" read "fuck"), the *Han view*
(Chinese characters with the spaces and punctuation between them dropped: "傻 逼", "傻.逼")
and the forms a Chinese term is also written in (pinyin spelled out, with and without
spaces, and for terms of 3+ characters its initials). Each view keeps, per character, the
index of the original character it came from, so a match can be masked in place.

Does not know about categories, actions or automata (:mod:`ragkit.guard.lists`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# a digit or sign standing for a letter inside a word ("sh1t", "b!tch", "a$$hole")
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
        "!": "i", "|": "l"}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# characters that may be slipped between the letters of a word or the characters of a term
_FILLER = re.compile(r"[\s\W_]", re.UNICODE)


@dataclass(frozen=True)
class View:
    """A normalised text; ``origin[i]`` is the index in the original of ``text[i]``
    (padding spaces point at the nearest original character)."""

    text: str
    origin: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of ``text[start:end]``."""
        return self.origin[start], self.origin[end - 1] + 1


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    f = unicodedata.normalize("NFKC", ch).lower()
    return f[0] if f else " "


def fold(text: str) -> str:
    """NFKC and lower case, length-preserving per character (full-width forms become ASCII;
    a character that NFKC expands to several keeps its first). ASCII text only needs lower()."""
    if text.isascii():
        return text.lower()
    return "".join(map(_fold_char, text))


def is_han(ch: str) -> bool:
    return bool(_HAN.match(ch))


def _is_letter(ch: str) -> bool:
    return ch.isalpha() and not is_han(ch)


_HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"(?:[^\W_{_HAN_RANGES}]|[@$!|])+")
_HAN_OR_WORD = re.compile(rf"[{_HAN_RANGES}]|[^\W_{_HAN_RANGES}]+")


def _tokens(folded: str) -> list[tuple[str, list[int]]]:
    """Runs of letters, digits and leet signs (not Han), with their original indexes."""
    return [(m.group(0), list(range(m.start(), m.end()))) for m in _TOKEN.finditer(folded)]


_EDGE_SIGNS = "!|"  # punctuation at a word's edge ("world!"), a letter only inside one


def _trimmed(tok: tuple[str, list[int]]) -> tuple[str, list[int]]:
    text, idx = tok
    a, b = 0, len(text)
    while a < b and text[a] in _EDGE_SIGNS:
        a += 1
    while b > a and text[b - 1] in _EDGE_SIGNS:
        b -= 1
    return text[a:b], idx[a:b]


def _unleet(token: str) -> str:
    """Letter-for-digit swaps undone in a word of 2+ letters that is mostly letters
    ("sh1t", "b1tch", "a$$hole"); "a55", "4", "2024" and "x86" are left alone."""
    letters = sum(1 for ch in token if _is_letter(ch))
    if letters < 2 or letters * 2 < len(token) or not any(ch in LEET for ch in token):
        return token
    return "".join(LEET.get(ch, ch) for ch in token)


def word_view(text: str, folded: str | None = None) -> View:
    """Words of letters, one space apart, padded with a space at each end, so that a term
    padded the same way matches whole words only. Single letters in a row ("f u c k",
    "k.i.l.l") are joined into one word; a sign standing for a letter is not guessed ("sh*t"
    stays two words). ``folded`` is ``fold(text)`` when the caller already has it."""
    folded = fold(text) if folded is None else folded
    toks = [(_unleet(t), idx) for t, idx in map(_trimmed, _tokens(folded)) if t]
    words: list[tuple[str, list[int]]] = []
    run: list[tuple[str, list[int]]] = []

    def flush() -> None:
        if len(run) >= 4 and run[0][0] in "ai":  # "a f a k e": the article, then "fake"
            words.append(run.pop(0))
        if len(run) >= 3:  # three single letters or more: one word spelled out
            words.append(("".join(t for t, _ in run), [i for _, idx in run for i in idx]))
        else:
            words.extend(run)
        run.clear()

    for tok in toks:
        if len(tok[0]) == 1 and _is_letter(tok[0]):
            run.append(tok)
        else:
            flush()
            words.append(tok)
    flush()
    chars: list[str] = [" "]
    origin: list[int] = [0]
    for w, idx in words:
        chars.extend(w)
        origin.extend(idx)
        chars.append(" ")
        origin.append(idx[-1])
    return View("".join(chars), tuple(origin))


def han_view(text: str, folded: str | None = None) -> View:
    """The Chinese characters of ``text`` with spaces and punctuation between them dropped
    (a letter or digit between two characters ends the run: "傻A逼" is not "傻逼").
    ``folded`` is ``fold(text)`` when the caller already has it."""
    chars: list[str] = []
    origin: list[int] = []
    for m in _HAN_OR_WORD.finditer(fold(text) if folded is None else folded):
        piece = m.group(0)
        if len(piece) == 1 and is_han(piece):
            chars.append(piece)
            origin.append(m.start())
        elif chars and chars[-1] != "|":
            chars.append("|")  # a break no term crosses
            origin.append(m.start())
    return View("".join(chars), tuple(origin))


@lru_cache(maxsize=4096)
def pinyin_forms(term: str) -> tuple[str, ...]:
    """How a Chinese term is also written in letters: "sha bi", "shabi", and for 3+
    characters its initials ("cnm" for 操你妈). Empty for a term that is not all Han."""
    if not term or not all(is_han(ch) for ch in term):
        return ()
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(term, style=Style.NORMAL)
    forms = [" ".join(syllables), "".join(syllables)]
    if len(term) >= 3:
        forms.append("".join(s[0] for s in syllables))
    return tuple(dict.fromkeys(forms))


def term_key(term: str) -> tuple[str, str]:
    """(view, key) a list entry is matched as: ("han", "傻逼") for a Chinese term (spaces and
    punctuation dropped), ("word", " kill myself ") for one in letters (its word view)."""
    if any(is_han(ch) for ch in term):
        return "han", han_view(term).text.replace("|", "")
    return "word", word_view(term).text
