"""Language and token helpers shared by chunking, the keyword index and the retriever.

Owns: CJK detection, language guessing, sentence spans, Markdown emphasis removal, and the
normalisation of text for the
SQLite FTS5 keyword index (indexing side: :func:`segment_for_search`; query side:
:func:`query_terms` and :func:`fts_query`). Pure functions; the only state is jieba's
dictionary, loaded lazily and quietly on first use.

Does not own tokenisation for embeddings (that is the embedder's tokenizer) and does not touch
SQLite. Stemming is left to FTS5: the keyword table should be created with
``tokenize = 'porter unicode61 remove_diacritics 2'``. Text from :func:`segment_for_search` is
already split into space-separated words (Chinese segmented by jieba), so ``unicode61`` only
has to split on spaces and ``porter`` stems the English words on both the indexing and the query
side; Chinese words pass through porter unchanged.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any, Literal

# Han ideographs (unified, extension A, compatibility, extensions B..H).
_CJK_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x323AF),
)
_CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"


def is_cjk(ch: str) -> bool:
    """True for a Han ideograph (the characters jieba segments)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


_CJK_RE = re.compile(f"[{_CJK_CLASS}]")
_LETTER_RE = re.compile(r"[^\W\d_]")


def cjk_ratio(text: str) -> float:
    """Share of Han characters among all letters (Han + alphabetic); 0.0 for no letters."""
    letters = len(_LETTER_RE.findall(text))  # Han characters are letters too
    if not letters:
        return 0.0
    return len(_CJK_RE.findall(text)) / letters


# One Chinese character carries roughly one English word of meaning (~5 letters), so 0.2 of
# letters being Han means Chinese dominates the content.
ZH_THRESHOLD = 0.2


def detect_language(text: str) -> Literal["zh", "en"]:
    return "zh" if cjk_ratio(text) >= ZH_THRESHOLD else "en"


_EMPHASIS = re.compile(r"\*\*|__")


def without_emphasis(text: str) -> str:
    """``text`` without Markdown bold markers (``**Standard delivery:**``): where a source's
    sentence is shown or quoted as plain text, and where a model copied them into an answer."""
    return _EMPHASIS.sub("", text)


# ---------------------------------------------------------------------------------------------
# Sentence spans


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


_CLOSERS = "\"'”’」』）)】》〉]"
_STRONG_TERMINATORS = "。！？；…"  # split after these regardless of what follows
_ABBREVIATIONS = _words(
    "e.g i.e mr mrs ms dr prof sr jr st vs etc fig no nos vol approx cf al inc ltd co corp dept "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
_TERMINATOR_RE = re.compile(r"[。！？；…!?.．]+")
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n\s*")
_LINE_START_RE = re.compile(r"\n(?=[ \t]*(?:[-*+•]\s|\d{1,3}[.)]\s|#{1,6}\s|>|\|))")
_WORD_BEFORE_RE = re.compile(r"([A-Za-z](?:[A-Za-z.]*[A-Za-z])?)$")


def _ends_with_abbreviation(text: str, dot: int, next_char: str) -> bool:
    m = _WORD_BEFORE_RE.search(text, max(0, dot - 16), dot)
    if not m:
        return False
    word = m.group(1)
    low = word.lower()
    if low == "no" or low == "nos":  # "No. 5" but "I said no. Then..."
        return next_char.isdigit()
    if len(word) == 1 and word.isupper():  # an initial: "J. Smith"
        return True
    return low in _ABBREVIATIONS


def _terminator_boundary(text: str, m: re.Match[str]) -> int | None:
    """Offset where a sentence ending at terminator run ``m`` ends (trailing space included)."""
    n = len(text)
    run = m.group()
    j = m.end()
    while j < n and text[j] in _CLOSERS:
        j += 1
    k = j
    while k < n and text[k].isspace():
        k += 1
    if any(c in _STRONG_TERMINATORS for c in run):
        return k
    # ASCII / full-width stop, "!" and "?": need a space, the end, or CJK right after.
    if j == n:
        return n
    if is_cjk(text[j]):
        return j
    if k == j:  # no whitespace: "3.5", "e.g.x", "file.txt"
        return None
    if "." in run or "．" in run:
        if not run.strip(".．") and _ends_with_abbreviation(text, m.start(), text[k : k + 1]):
            return None
        if k == n:
            return n
        nxt = text[k]
        if not (
            "\n" in text[j:k] or nxt.isupper() or nxt.isdigit() or nxt in "\"'“‘([" or is_cjk(nxt)
        ):
            return None
    return k


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` that tile ``text`` exactly, one per sentence.

    Whitespace after a sentence belongs to it. Splits after Chinese 。！？；… (and closing
    quotes or brackets after them), after English ``.?!`` followed by space and a capital,
    digit or quote (not after abbreviations such as "e.g." or "Dr." and never inside "3.5"),
    at blank lines, and before a line that starts a list item, heading, quote or table row.
    """
    n = len(text)
    if n == 0:
        return []
    cuts: set[int] = set()
    for m in _TERMINATOR_RE.finditer(text):
        b = _terminator_boundary(text, m)
        if b is not None:
            cuts.add(b)
    for m in _BLANK_LINE_RE.finditer(text):
        cuts.add(m.end())
    for m in _LINE_START_RE.finditer(text):
        cuts.add(m.end())
    spans: list[tuple[int, int]] = []
    prev = 0
    for c in sorted(cuts):
        if prev < c < n:
            spans.append((prev, c))
            prev = c
    spans.append((prev, n))
    return spans


# ---------------------------------------------------------------------------------------------
# Keyword-search normalisation

_jieba_lock = threading.Lock()


@lru_cache(maxsize=1)
def _jieba() -> Any:
    """Import and initialise jieba once, with its log output silenced."""
    import logging

    with _jieba_lock:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
    return jieba


_TOKEN_RE = re.compile(f"([{_CJK_CLASS}]+)|([^\\W_{_CJK_CLASS}]+)")


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for m in _TOKEN_RE.finditer(text):
        if m.group(1):
            out.extend(w for w in _jieba().cut_for_search(m.group(1)) if w.strip())
        else:
            out.append(m.group(2))
    return out


def segment_for_search(text: str) -> str:
    """Lower-cased, NFKC-normalised words separated by single spaces, punctuation removed.

    Chinese runs are segmented with ``jieba.cut_for_search`` (which also emits the shorter words
    inside long ones, so a query for 语言 finds 自然语言); other words are kept whole.
    """
    return " ".join(_tokens(text))


_STOPWORDS = _words(
    """a an the is are was were be been being am do does did of to in on at for with by from as
    and or but if then so it its this that these those i you he she we they me my your our their
    what which who whom how when where why can could should would will shall may might must
    there here about into please
    的 了 是 在 和 与 及 或 吗 呢 吧 啊 呀 我 你 您 他 她 它 们 我们 你们 这 那 这个 那个 有 也 就
    都 而 等 如何 怎么 怎么样 怎样 什么 哪些 哪个 一个 请问 请 可以 能 会 要 想 么"""
)


def query_terms(text: str) -> list[str]:
    """Distinct search terms of a query, in order, with English and Chinese stopwords removed.

    Normalised exactly like :func:`segment_for_search`. If every term is a stopword (a query
    such as "what is it"), the terms are returned unfiltered rather than as an empty list.
    """
    seen: dict[str, None] = {}
    for t in _tokens(text):
        seen.setdefault(t, None)
    terms = list(seen)
    kept = [t for t in terms if t not in _STOPWORDS]
    return kept or terms


def fts_query(terms: list[str], operator: Literal["OR", "AND"] = "OR") -> str:
    """An FTS5 MATCH expression over ``terms``, each quoted so no term is read as syntax."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms if t]
    return f" {operator} ".join(quoted)
