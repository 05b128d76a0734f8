"""Overview answers: a broad question about a topic as a whole ("What is your return policy?",
"How do gift cards work?", "介绍一下积分会员计划") is answered with the main points of the
document that covers it, in the document's own order, each cited, instead of the one sentence
that happens to score best (which for "What is your return policy?" was the line pointing
Chinese customers to their own guide).

Owns, all pure: recognising a broad question (:func:`topic`, its topic phrase or ""), a
document's main points (:func:`main_points`: the opening sentence, then the first sentence of
each top-level section, a sentence about the page itself skipped), and the reply that lists
them and names the sections left out (:func:`reply`).

Does not: retrieve, score or translate (the graph does, :mod:`ragkit.rag.graph`), nor decide
which document answers (the evidence stage's best chunk does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragkit.rag import evidence as ev
from ragkit.text import detect_language

# what a broad English question calls its topic; "what is X" alone is not broad ("What is the
# return window?" asks for one fact), "what is your X policy" is
_KIND_EN = (r"(?:polic(?:y|ies)|rules|terms(?: and conditions)?|program(?:me)?|scheme|"
            r"process|procedure|guidelines|service)")
# the owner, never a shop's name written into the pattern: "Acme's" (a possessive name)
_OWNER_EN = r"(?:(?:your|the|our|you guys'?|\w+'s)\s+)?"
_TAIL_EN = r"(?:\s+(?:in (?:a nutshell|short|brief)|please|briefly|for me|in general))?"
_ASK_EN = (r"(?:(?:can|could|would) you\s+(?:please\s+)?)?(?:please\s+)?"
           r"(?:tell me about|tell me more about|explain|describe|summari[sz]e|"
           r"give me (?:an overview|a summary|the gist|the basics|a rundown) of|"
           r"walk me through|(?:i'?d like|i want) to know about|"
           r"what (?:do|should) i (?:need to )?know about|info(?:rmation)? (?:on|about)|"
           r"overview of)")
_BROAD_EN = [re.compile(p, re.IGNORECASE) for p in (
    rf"^(?:what is|what are|whats)\s+{_OWNER_EN}(?P<t>.+?)\s+{_KIND_EN}{_TAIL_EN}$",
    # "policy on returns", "policy on cancelling orders"; "policy on opened earbuds" is about
    # one case
    rf"^(?:what is|what are|whats)\s+{_OWNER_EN}{_KIND_EN}\s+(?:on|for|about)\s+"
    rf"(?P<t>\S+|\S+ing\s+\S+){_TAIL_EN}$",
    rf"^{_ASK_EN}\s+{_OWNER_EN}(?P<t>.+?)(?:\s+{_KIND_EN})?{_TAIL_EN}$",
    rf"^how (?:do|does)\s+{_OWNER_EN}(?P<t>.+?)\s+work{_TAIL_EN}$",
    rf"^{_OWNER_EN}(?P<t>.+?)\s+{_KIND_EN}$",
)]
# a topic that is itself a question ("explain why my refund is late") is not a topic
_NOT_TOPIC_EN = re.compile(r"^(?:why|how|when|what|where|which|who|if|whether|to|that|this|"
                           r"it|my|me)\b", re.IGNORECASE)
TOPIC_WORDS = 4

_OWNER_ZH = r"(?:你们|贵司|贵店|咱们)?(?:的)?"
_KIND_ZH = r"(?:政策|规定|规则|制度|计划|条款|流程)"
_BROAD_ZH = [re.compile(p) for p in (
    rf"^(?:请|麻烦)?(?:简单)?(?:介绍一下|介绍下|介绍|说说|说一下|讲讲|讲一下|解释一下|概括一下)"
    rf"{_OWNER_ZH}(?P<t>.+)$",
    rf"^{_OWNER_ZH}(?P<t>.+?)(?:的)?{_KIND_ZH}"
    r"(?:是什么|是怎样的|是怎么样的|是啥|有哪些|怎么样|如何|是如何的|是什么样的)(?:呢|啊|呀)?$",
    rf"^{_OWNER_ZH}(?P<t>.+?)(?:是怎么回事|是怎么一回事|怎么运作|是怎么运作的|是怎么规定的)"
    r"(?:呢|啊|呀)?$",
)]
# "退货政策？" alone; "按照三包规定，签收 15 天内…" asks about something particular
_BARE_ZH = re.compile(rf"^{_OWNER_ZH}(?P<t>.+?)(?:的)?{_KIND_ZH}(?:呢|啊|呀)?$")
_CLAUSE_ZH = re.compile(r"[，,。？?！!；;]")
TOPIC_HAN = 10


def topic(question: str) -> str:
    """The topic a broad question asks about as a whole ("return" for "What is your return
    policy?", "积分会员计划" for "介绍一下积分会员计划"), or "" when it asks for something
    particular."""
    q = " ".join(question.split()).strip()
    if detect_language(q) == "zh":
        clauses = [c for c in _CLAUSE_ZH.split(q.replace(" ", "")) if c]
        for clause in clauses:
            for p in _BROAD_ZH + ([_BARE_ZH] if len(clauses) == 1 else []):
                m = p.match(clause)
                if m and 1 <= _han(m.group("t")) <= TOPIC_HAN:
                    return m.group("t")
        return ""
    q = re.sub(r"[?!.\s]+$", "", q).replace("what's", "what is").replace("What's", "what is")
    q = re.sub(r"\s*,\s*", " ", q.replace("\u2019", "'"))  # "returns policy, in short"
    for p in _BROAD_EN:
        m = p.match(q)
        if m:
            t = m.group("t").strip()
            if t and len(t.split()) <= TOPIC_WORDS and not _NOT_TOPIC_EN.match(t):
                return t
    return ""


def _han(text: str) -> int:
    return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")


# a sentence about the page itself says nothing of the topic
_ABOUT_PAGE = re.compile(r"^(?:this (?:page|document|guide|section|article)\b|本(?:页面|页|文|指南|说明))",
                         re.IGNORECASE)


@dataclass(frozen=True)
class Point:
    """One main point of a document: ``passage`` indexes its passages, ``section`` is the
    section it opens ("" for the document's opening), ``text`` the sentence as shown."""

    passage: int
    section: str
    text: str


def main_points(passages: Sequence[Mapping[str, Any]], max_points: int = 4
                ) -> tuple[list[Point], list[str]]:
    """A document's main points from its passages (chunk dicts with ``text`` and
    ``heading``, in the document's order): its opening sentence (none when the opening is
    about the page itself: "This page explains…"), then the first sentence of each
    top-level section, at most ``max_points`` in all; and the names of the sections left
    out. A document without sections (a PDF's numbered headings are not known) has no main
    points: ``([], [])``."""
    if not any(len(_path(p)) > 1 for p in passages):
        return [], []
    points: list[Point] = []
    left: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for i, p in enumerate(passages):
        path = _path(p)
        key = path[:2]
        if key in seen:
            continue
        seen.add(key)
        names = {h.casefold() for h in path} | {str(p.get("title") or "").strip().casefold()}
        units = [u for u in ev.units_of(i, p.get("text") or "", p.get("heading") or "")
                 if u.lead.startswith("|") or not _label(u.body, names)]  # a row is data
        # a sentence announcing a list ("Each refund shows one of these statuses:") is no
        # point; its first item, shown with it, is
        units = [u for u in units if not ev.quote_body(u.shown).endswith((":", "："))]
        section = " \u2013 ".join(path[1:3])
        if len(path) <= 1 and units and _ABOUT_PAGE.match(units[0].body.strip()):
            continue  # an opening about the page: the sections say more
        if not units:
            continue
        if len(points) >= max_points:
            if section:
                left.append(section)
            continue
        points.append(Point(i, section, ev.quote_body(units[0].shown)))
    return points, left


def _label(body: str, names: set[str]) -> bool:
    """Whether a unit is a heading or a page label, not a sentence: a heading of its
    passage repeated as text (an HTML page's "Opening hours"), or a few words without
    punctuation ("亮购帮助中心")."""
    text = ev.quote_body(body)
    if text.casefold() in names:
        return True
    if re.search(r"[.!?;:。！？；：,，]", text):
        return False
    return _han(text) <= LABEL_HAN if detect_language(text) == "zh" else (
        len(text.split()) <= LABEL_WORDS)


LABEL_WORDS = 5
LABEL_HAN = 12


def preferred(topic_phrase: str, titles: Sequence[str]) -> int:
    """The index of the first title naming the topic ("Refunds" for "refund", "换货政策"
    for "换货"), or -1: a broad question is about the document of that name when the
    evidence found one, not about the document whose sentence scored best ("What is your
    refund policy?" scored the returns policy's 30-day window highest)."""
    if detect_language(topic_phrase) == "zh":
        want = topic_phrase.replace("的", "")
        return next((i for i, t in enumerate(titles) if want and want in t.replace("的", "")),
                    -1)
    words = [_stem(w) for w in re.findall(r"[a-z0-9]+", topic_phrase.casefold())
             if w not in _STOP_EN]
    for i, t in enumerate(titles):
        have = {_stem(w) for w in re.findall(r"[a-z0-9]+", t.casefold())}
        if words and all(w in have for w in words):
            return i
    return -1


_STOP_EN = frozenset({"a", "an", "the", "your", "our", "my", "of", "on", "for", "to", "and",
                      "in", "about", "with"})


def _stem(word: str) -> str:
    """A crude fold of plurals and -ing forms ("refunds" -> "refund", "cancelling" ->
    "cancell", as "cancelling" in a title folds too)."""
    for suffix in ("ing", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _path(passage: Mapping[str, Any]) -> tuple[str, ...]:
    heading = (passage.get("heading") or "").strip()
    return tuple(h.strip() for h in heading.split(" > ")) if heading else ()


_OPENING = {"en": "The main points of {label}:", "zh": "《{label}》的要点："}
_OPENING_ANON = {"en": "The main points:", "zh": "要点："}
_MORE = {"en": "It also covers: {sections}. Ask about any of them for the details.",
         "zh": "其中还讲到：{sections}。可以就其中任何一项继续提问。"}
_RENDERED = {"en": " (roughly, in English: \u201c{text}\u201d)", "zh": "（中文大意：\u201c{text}\u201d）"}


def reply(points: Sequence[Point], numbers: Sequence[int], label: str, left: Sequence[str],
          lang: str, translations: Sequence[str] = ()) -> str:
    """The overview reply: an opening line naming the document (``label``), one line per
    point with its section and citation ``numbers``, a rendering in the question's language
    where ``translations`` has one, and the sections left out."""
    lang = lang if lang in _OPENING else "en"
    head = _OPENING[lang].format(label=label) if label else _OPENING_ANON[lang]
    colon = "：" if lang == "zh" else ": "
    lines = [head]
    for i, (p, n) in enumerate(zip(points, numbers, strict=True)):
        text = f"{p.section}{colon}{p.text}" if p.section else p.text
        rendered = translations[i] if i < len(translations) else ""
        if rendered:
            text += _RENDERED[lang].format(text=" ".join(rendered.split()))
        lines.append(f"- {text} [{n}]")
    if left:  # a paragraph of its own: right after a list item, Markdown runs it on
        lines.append("\n" + _MORE[lang].format(sections=("、" if lang == "zh" else "; ").join(left)))
    return "\n".join(lines)
