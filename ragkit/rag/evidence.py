"""Evidence first: the sentences (list items, table rows) of the retrieved chunks that answer
the question, chosen by a relevance scorer before anything is generated.

Owns, all pure: cutting a chunk into units that can be scored alone (each carries its
heading, and a table row its header row, so "Gold members: 45 days" keeps "Returns"); turning
unit scores into a ranking of chunks; choosing the evidence (the best units, at most a few,
above a threshold); the query a follow-up is scored with (the earlier question kept when the
new one leans on it) and, for such a follow-up, leaving out what the previous answer already
said; the reply that quotes evidence when the generator will not answer from
it; and the "what the knowledge base does cover" line of a refusal.

Does not score (:mod:`ragkit.relevance`), retrieve, prompt or generate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragkit.rag.verify import lexical_support
from ragkit.text import detect_language, query_terms, split_sentences, without_emphasis

_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")
_HEADING_LINE = re.compile(r"^#{1,6}\s+(.*)$")
_BULLET = re.compile(r"^(?:[-*+•]\s+|\d{1,3}[.)]\s+)")
# an FAQ entry's question line ("Q: Can you ship to Hong Kong?") restates what is asked and
# answers nothing: the scorer ranks it first, and quoting it read as a yes. Its answer line
# loses the "A: " label.
_FAQ_QUESTION = re.compile(r"^(?:Q|问|问题)\s*[:：]")
_FAQ_ANSWER = re.compile(r"^(?:A|答|回答)\s*[:：]\s*")
# a short sentence that points back ("Express is not available there.", "该服务不支持。") means
# nothing alone: it is read as part of the sentence before it
_POINTS_BACK_EN = re.compile(r"\b(?:there|it|its|this|that|these|those|they|them|then|such)\b",
                             re.IGNORECASE)
_POINTS_BACK_ZH = re.compile(r"此|该|这|那|其|它")
# a bare yes or no ("A: No. Each regional site delivers only within its own region.") is read
# with the sentence after it: alone it is too short to score, and the reason alone loses the no
_BARE_ANSWER = re.compile(
    r"^(?:(?:yes|no|yeah|nope|sure|of course|not yet|not at the moment|unfortunately not)"
    r"(?:,? (?:it|you|we|they) (?:can|can't|cannot|do|don't|does|doesn't|is|isn't|are|aren't|"
    r"will|won't))?[.!,]?|(?:是|是的|不是|对|可以|不可以|不能|能|会|不会|有|没有|不行|行|支持|"
    r"不支持|暂时不可以|暂不支持)[。！，,]?)$", re.IGNORECASE)
SHORT_UNIT_WORDS = 8
SHORT_UNIT_HAN = 12
MIN_UNIT_CHARS = 4


@dataclass(frozen=True)
class Unit:
    """One scorable piece of a chunk: ``chunk`` indexes the hits, ``body`` is the text as the
    chunk has it, ``text`` what the scorer reads (heading, header row and body); ``lead`` is
    the sentence that introduces a list item ("The warranty does not cover:"), without
    which the item can say the opposite of what the document means."""

    chunk: int
    body: str
    text: str
    lead: str = ""

    @property
    def shown(self) -> str:
        """The unit as a prompt or a quote shows it: its lead-in, then its body."""
        return shown(self.body, self.lead)


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def without_bullet(text: str) -> str:
    """``"- item"`` / ``"2. item"`` -> ``"item"``."""
    return _BULLET.sub("", text.strip())


def points_back(sentence: str) -> bool:
    """Whether ``sentence`` is short and leans on the one before it ("Express is not
    available there.")."""
    if detect_language(sentence) == "zh":
        han = sum(1 for ch in sentence if "\u4e00" <= ch <= "\u9fff")
        return han <= SHORT_UNIT_HAN and bool(_POINTS_BACK_ZH.search(sentence))
    return (len(sentence.split()) <= SHORT_UNIT_WORDS
            and bool(_POINTS_BACK_EN.search(sentence)))


def shown(text: str, lead: str = "") -> str:
    """An evidence unit as a prompt or a quote shows it: its lead-in, then its body; a table
    row under its header row as "header: cell; header: cell" (a model copies raw pipes)."""
    if lead.startswith("|") and "|" in text:
        return row_text(_cells(lead), _cells(text))
    return f"{lead} {without_bullet(text)}" if lead else text


def row_text(header: Sequence[str], cells: Sequence[str]) -> str:
    """One table row read with its header: "Method: Apple Pay; Time: 5 to 10 days"."""
    return "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=False) if c)


def units_of(chunk: int, text: str, heading: str = "") -> list[Unit]:
    """The units of one chunk, in order. Headings inside the chunk become the context of the
    units under them; table rows are read as "header: cell, header: cell"; an FAQ entry's
    question line is left out and its answer line loses its "A:" label; a short sentence
    that points back is joined to the sentence before it in the same line, and a bare yes
    or no to the sentence after it."""
    out: list[Unit] = []
    context = heading.strip()
    header: list[str] | None = None
    lead = ""
    joinable = -1  # where in ``text`` the last unit's body starts, when a sentence may join it
    for s, e in split_sentences(text):
        body = text[s:e].strip()
        if not body:
            continue
        first = body.splitlines()[0].strip()
        m = _HEADING_LINE.match(first)
        if m:
            context = m.group(1).strip()
            header, lead = None, ""
            body = body[len(first):].strip()
            if not body:
                joinable = -1
                continue
        if _FAQ_QUESTION.match(body):
            joinable = -1
            continue
        body = _FAQ_ANSWER.sub("", body)
        start = text.find(body, s)
        lines = body.splitlines()
        # a table: Markdown rows ("| a | b |") one per span; a DOCX or PDF table's rows
        # ("a | b", no outer pipes) come as one span of lines
        if body.startswith("|") or (len(lines) > 1 and all(" | " in ln for ln in lines)):
            joinable = -1
            for row in (lines if not body.startswith("|") else [body]):
                row = row.strip()
                if not row or _TABLE_RULE.match(row):
                    continue
                cells = _cells(row)
                if header is None:
                    header = cells
                    continue
                pairs = [f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=False)]
                scored = ", ".join(pairs)
                if len(scored) >= MIN_UNIT_CHARS:
                    out.append(Unit(chunk, row, f"{context}: {scored}" if context else scored,
                                    "| " + " | ".join(header) + " |"))  # shown with its row
            continue
        header = None
        item = bool(_BULLET.match(body))
        scored = _BULLET.sub("", body)
        if not item:
            if (joinable >= 0 and out and "\n" not in text[joinable:start]
                    and (points_back(body) or _BARE_ANSWER.match(out[-1].body))):
                merged = text[joinable:e].strip()
                prev = out[-1]
                out[-1] = Unit(chunk, merged, f"{prev.text} {scored}", prev.lead)
                continue
            lead = body if body.rstrip().endswith((":", "：")) else ""
            if lead:
                joinable = -1
                continue  # "Not covered:" alone answers nothing; its items carry it
        elif lead:
            scored = f"{lead} {scored}"
        if len(scored) < MIN_UNIT_CHARS and not (not item and _BARE_ANSWER.match(body)):
            joinable = -1
            continue
        out.append(Unit(chunk, body, f"{context}: {scored}" if context else scored,
                        lead if item else ""))
        joinable = start if not item and start >= 0 else -1
    return out


def chunk_units(hits: Sequence[Mapping[str, Any]]) -> list[Unit]:
    """Units of every hit (dicts with ``text`` and ``heading``), hit order kept."""
    return [u for i, h in enumerate(hits)
            for u in units_of(i, h["text"], h.get("heading") or "")]


def chunk_scores(units: Sequence[Unit], scores: np.ndarray, n_chunks: int) -> np.ndarray:
    """Each chunk's relevance: the score of its best unit (0 for a chunk with none)."""
    out = np.zeros(n_chunks)
    for u, s in zip(units, scores, strict=True):
        out[u.chunk] = max(out[u.chunk], float(s))
    return out


@dataclass(frozen=True)
class Chosen:
    unit: Unit
    score: float


def choose(units: Sequence[Unit], scores: np.ndarray, *, threshold: float,
           max_units: int = 3, keep_within: float = 0.5) -> list[Chosen]:
    """The evidence: units scoring at least ``threshold``, best first, at most ``max_units``,
    and none far below the best (``keep_within`` of its score: a weaker sentence dilutes
    the prompt more than it helps). Empty when nothing clears the threshold."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    out: list[Chosen] = []
    seen: set[str] = set()
    for i in order:
        s = float(scores[i])
        if len(out) >= max_units or s < threshold or (out and s < out[0].score * keep_within):
            break
        said = " ".join(units[i].shown.split())
        if said in seen:  # the same sentence in two overlapping chunks is one piece of evidence
            continue
        seen.add(said)
        out.append(Chosen(units[i], s))
    return out


# a sentence this much made of the previous answer's words (and all of its numbers) was said
REPEATED_SHARE = 0.8


def not_yet_said(chosen: Sequence[Chosen], previous_answer: str, *,
                 share: float = REPEATED_SHARE) -> list[Chosen]:
    """A follow-up's evidence without the sentences the previous answer already said: "What
    about Gold members?" after "Most items can be returned within 30 days" is asking for
    something new, and the 0.5B copied the 30-day sentence again when it was still in the
    prompt beside the 45-day one. All of it when every sentence was said ("Are you sure?")."""
    if not previous_answer.strip():
        return list(chosen)
    new = [c for c in chosen if lexical_support(c.unit.body, previous_answer) < share]
    return new or list(chosen)


_OPENING_EN = re.compile(
    r"^\s*(?:and|but|so|also|what about|how about|and what|what if|same for|or)\b", re.IGNORECASE)
_ELLIPTIC_EN = re.compile(
    _OPENING_EN.pattern
    + r"|\b(?:it|its|it's|that|this|those|these|they|them|there|one|ones)\b", re.IGNORECASE)
_OPENING_ZH = re.compile(r"^\s*(?:那|那么|还有|另外|如果是|要是|换成)|呢\s*[？?]?\s*$")
_ELLIPTIC_ZH = re.compile(_OPENING_ZH.pattern + r"|它|这个|那个|这些|那些|这种|那种|上面|刚才")
# A question this short has no topic of its own ("Gold members?", "多久？"). Longer ones
# without a pointer back stand alone: "Do you deliver on Saturdays?" and "可以开电子发票吗？"
# asked after a robot-vacuum question were searched together with it (at 6 words / 12 Han
# characters), and the vacuum's evidence refused them
SHORT_WORDS = 3
SHORT_CHARS = 4


def leans_on_history(question: str) -> bool:
    """Whether a question cannot stand alone: very short, opening with "and"/"what about"/
    "那", ending in "呢", or pointing back with a pronoun ("is it", "这个")."""
    q = question.strip()
    if detect_language(q) == "zh":
        han = sum(1 for ch in q if "\u4e00" <= ch <= "\u9fff")
        return han <= SHORT_CHARS or bool(_ELLIPTIC_ZH.search(q))
    return len(q.split()) <= SHORT_WORDS or bool(_ELLIPTIC_EN.search(q))


def points_back_only(question: str) -> bool:
    """Whether a question leans on the conversation only through a pronoun ("can I pay for it
    with PayPal?", "这个扫地机器人怎么连WiFi？"): long enough to have a topic of its own, with
    no opening "and"/"what about"/"那" and no final "呢". Such a pronoun often points inside
    the question itself, so the question is worth trying alone."""
    q = question.strip()
    if not leans_on_history(q):
        return False
    if detect_language(q) == "zh":
        han = sum(1 for ch in q if "\u4e00" <= ch <= "\u9fff")
        return han > SHORT_CHARS and not _OPENING_ZH.search(q)
    return len(q.split()) > SHORT_WORDS and not _OPENING_EN.search(q)


def followup_query(history: Sequence[Mapping[str, str]], question: str) -> str:
    """The query a follow-up is searched and scored with: the last earlier question, then
    this one, when this one leans on it; else this one alone (a new topic)."""
    earlier = [h["content"] for h in history if h.get("role") == "user"]
    if not earlier or not leans_on_history(question):
        return question
    return f"{earlier[-1].strip()} {question.strip()}"


# a follow-up that swaps the subject of the question before it for another ("What about Gold
# members?", "and for the UK?", "那耳机呢？"): what it swaps in is what its evidence must name
_FOCUS_EN = re.compile(
    r"^\s*(?:and|but|so|ok(?:ay)?)?[\s,]*(?:(?:what|how) about|and (?:for|in|to|with|on))\s+"
    r"(?:(?:the|a|an|my|our|your)\s+)?(?P<x>[^?!.,]{1,40}?)[\s?!.]*$", re.IGNORECASE)
_FOCUS_ZH = re.compile(r"^\s*(?:那如果是|如果是|换成|那么|那)?(?P<x>[^，,。？?！!呢]{1,10})呢\s*[？?]?\s*$")


def focus(question: str) -> str:
    """What a follow-up swaps in for the earlier question's subject ("Gold members" of
    "What about Gold members?", "耳机" of "那耳机呢？"), or ""."""
    m = (_FOCUS_ZH if detect_language(question) == "zh" else _FOCUS_EN).match(question)
    return m.group("x").strip() if m else ""


def names(text: str, thing: str) -> bool:
    """Whether ``text`` names ``thing``: any of its words (of two letters or more: "UK"),
    as a whole word in Latin script, anywhere in Chinese; lightly stemmed ("members")."""
    low = text.lower()
    for term in query_terms(thing):
        if detect_language(term) == "zh":
            if len(term) >= 2 and term in low:
                return True
        elif len(term) >= 2 and re.search(rf"\b{re.escape(term.rstrip('s') or term)}",
                                          low):
            return True
    return False


# "Do you offer gift wrapping?", "可以寄到香港吗？": whether something exists, which only a
# passage about that thing can answer. A one-word subject other than a pronoun (a shop's
# name, never written into the pattern) counts only before a verb of trade ("does acme sell
# X", "acme提供X吗"): "Does the kettle have a timer?" is no such question.
_TRADE_EN = r"(?:offer|sell|provide|accept|ship to|deliver to|stock|carry)"
_EXISTS_EN = re.compile(
    r"^(?:do|does|can|will|would|could)\s+(?:"
    r"(?:you|they|you guys|u guys|you all|y'?all|u|(?:your|the) (?:store|shop|company|site))"
    r"\s+(?:also\s+)?"
    r"(?:offer|have|sell|provide|accept|support|ship to|deliver to|ship|deliver|take|carry|"
    r"stock|allow|do)"
    rf"|\w+\s+(?:also\s+)?{_TRADE_EN})\s+(?P<x>.+?)[\s?!.]*$", re.IGNORECASE)
_EXISTS_ZH = re.compile(
    r"^(?:你们|请问|贵店|贵司|你家|"
    r"(?:[\u4e00-\u9fff]{2,4}|[A-Za-z]\w{1,15})\s*(?=卖|提供|接受|可以寄到|能寄到))?"
    r"(?:有没有|有无|是否有|有|支持|提供|卖|可以寄到|能寄到|寄到|送到|"
    r"接受|可以用|能用)(?P<x>[^？?吗呢]{1,12})(?:吗|没有|嘛|么)?[？?]?$")


def asked_thing(question: str) -> str:
    """What an existence question asks about ("gift wrapping" for "Do you offer gift
    wrapping?", "香港" for "可以寄到香港吗？"), or ""."""
    q = " ".join(question.split())
    m = (_EXISTS_ZH if detect_language(q) == "zh" else _EXISTS_EN).match(q)
    return m.group("x").strip() if m else ""


NAMED_WORDS = 3


def content_terms(thing: str) -> list[str]:
    """The search terms of a thing, in order: its words a search can look for."""
    return [t for t in query_terms(thing) if len(t) >= (2 if detect_language(t) == "zh" else 3)]


def _named(thing: str, mentioned: Callable[[str], bool]) -> bool | None:
    """Whether the knowledge base names ``thing``: its head (last) word ("wrapping" of "gift
    wrapping") and, for a short thing (at most ``NAMED_WORDS`` content words), every word
    ("student discount": discounts are named, students never; the head word alone had let
    the volume discounts answer). None: it has no word a search can look for."""
    terms = content_terms(thing)
    if not terms:
        return None
    checked = terms if len(terms) <= NAMED_WORDS else terms[-1:]
    return all(mentioned(t) for t in checked)


def unnamed(thing: str, other: str, mentioned: Callable[[str], bool]) -> bool:
    """Whether ``thing`` (what a question asks about) is named nowhere in the knowledge
    base (:func:`_named`), it is not a name (capitalised: "Hong Kong", "Klarna" may be
    written only in the other language's documents, as 香港), and ``other`` (the same thing
    as the question's translation asks about it) is not named either."""
    if any(w[:1].isupper() for w in thing.split()):
        return False
    if _named(thing, mentioned) is not False:
        return False
    return not (other and _named(other, mentioned))


def unmentioned(question: str, translation: str, mentioned: Callable[[str], bool]) -> str:
    """The thing an existence question asks about when the knowledge base never names it
    ("gift wrapping" of "Do you offer gift wrapping?": the evidence stage had picked the gift
    cards' "sent … in a gift envelope", and the 0.5B answered from it), else ""
    (:func:`unnamed`)."""
    thing = asked_thing(question)
    other = asked_thing(translation) if translation else ""
    return thing if thing and unnamed(thing, other, mentioned) else ""


_QUOTE = {
    "en": "{where}: \u201c{text}\u201d [{n}]",
    "zh": "{where}：\u201c{text}\u201d [{n}]",
}
_WHERE = {"en": ("From {label}", "The knowledge base says"),
          "zh": ("《{label}》写道", "知识库写道")}
# a quote in the other language than the question's, with the generator's rendering of it
_TRANSLATED = {
    "en": " (roughly, in English: \u201c{translated}\u201d)",
    "zh": "（中文大意：\u201c{translated}\u201d）",
}
_FAQ_LABEL = {"en": "the FAQ", "zh": "常见问题"}
_FILE_STEM = re.compile(r"[\w.-]+")


def quote(texts: Sequence[str], numbers: Sequence[int], lang: str,
          labels: Sequence[str] = (), translations: Sequence[str] = ()) -> str:
    """A reply that quotes the evidence (``texts``, one per source, best first) with citation
    ``numbers``, for when the generator refused or said nothing the sources support although
    the evidence is strong; ``labels`` name the document each quote comes from ("" for
    none), ``translations`` ("" for none) render a quote written in the other language in
    the question's."""
    named, anonymous = _WHERE.get(lang, _WHERE["en"])
    lines = []
    for i, (text, n) in enumerate(zip(texts, numbers, strict=True)):
        label = labels[i] if i < len(labels) else ""
        where = named.format(label=label) if label else anonymous
        line = _QUOTE.get(lang, _QUOTE["en"]).format(where=where, text=quote_body(text), n=n)
        translated = " ".join(translations[i].split()) if i < len(translations) else ""
        if translated:
            marker = f" [{n}]"
            line = (line[: -len(marker)]
                    + _TRANSLATED.get(lang, _TRANSLATED["en"]).format(translated=translated)
                    + marker)
        lines.append(line)
    return "\n".join(lines)


def quote_body(text: str) -> str:
    """An evidence text as a quote shows it: one line, without a list bullet or emphasis."""
    return _BULLET.sub("", without_emphasis(" ".join(text.split()))).strip()


def joined(parts: Sequence[str]) -> str:
    """Quoted pieces of one source as one quote: each ends as a sentence ("… (same as the card
    behind it)" from a table row gets its full stop) before the next begins."""
    out: list[str] = []
    for i, part in enumerate(p.strip() for p in parts):
        if not part:
            continue
        last = i == len(parts) - 1
        if not last and not part.endswith(tuple(".!?;:。！？；：…\u201d\u300d")):
            part += "。" if detect_language(part) == "zh" else "."
        out.append(part)
    return "".join(f"{p}{'' if p.endswith(tuple('。！？；：')) else ' '}" for p in out).strip()


def is_faq(source: str) -> bool:
    """Whether ``source`` is an FAQ file (JSON lines of questions and answers): a list of
    answers, named "the FAQ" and never overviewed as a document with main points."""
    return source.lower().endswith((".json", ".jsonl"))


def source_label(title: str, heading: str, source: str, lang: str) -> str:
    """The document a quote comes from, as a reader names it: its title ("Returns policy");
    "the FAQ" for an FAQ file; the top heading when the title is only a file name; "" when
    there is nothing to go by, else the file name. (Heading paths read as noise in an
    answer.)"""
    if is_faq(source):
        return _FAQ_LABEL.get(lang, _FAQ_LABEL["en"])
    title = without_emphasis(title).strip()
    if title and not (_FILE_STEM.fullmatch(title) and ("_" in title or title.islower())):
        return title
    top = without_emphasis(heading).split(" > ")[0].strip()
    return top or title.replace("_", " ")


def place(title: str, heading: str) -> str:
    """Where a passage is, for people: "title > heading", the heading alone when it already
    starts with the title, the title alone when there is no heading."""
    title, heading = title.strip(), heading.strip()
    return heading if heading.startswith(title) else f"{title} > {heading}" if heading else title


# a chunk named as "nearby" in a refusal must be this relevant (the scorers' calibrated
# scale): "How do I talk to a real person?" found nothing above 0.01, and its refusal offered
# business accounts, closing an account and returning a gift as what the store covers nearby
NEARBY_FLOOR = 0.1


def nearby(hits: Sequence[Mapping[str, Any]], limit: int = 3) -> list[str]:
    """What the knowledge base covers near the question: the retrieved chunks' titles and
    headings, best first, without repeats (the caller passes only related chunks)."""
    out: list[str] = []
    for h in hits:
        label = place(h.get("title") or h.get("source") or "", h.get("heading") or "")
        if label and label not in out:
            out.append(label)
        if len(out) >= limit:
            break
    return out


def evidence_context(hits: Sequence[Mapping[str, Any]], evidence: Sequence[Mapping[str, Any]]
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The prompt's sources when evidence was chosen: one numbered source per chunk holding
    evidence (chunks in ``hits`` order), its text the chosen units in the chunk's own order
    under the chunk's heading; and the evidence records numbered to match. (Tried best
    first: the 0.5B then answered "What about Gold members?" with the 30-day window, which
    it had answered correctly with the sentences in the document's order.)"""
    by_chunk: dict[str, list[Mapping[str, Any]]] = {}
    for e in evidence:
        by_chunk.setdefault(e["chunk_id"], []).append(e)
    context: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for h in hits:
        picked = by_chunk.get(h["chunk_id"])
        if not picked:
            continue
        n = len(context) + 1
        picked = sorted(picked, key=lambda e: max(h["text"].find(e["text"]), 0))
        parts: list[str] = []
        for e in picked:
            lead = e.get("lead", "")
            if lead.startswith("|"):  # a table row, read with its header
                parts.append(" ".join(without_emphasis(shown(e["text"], lead)).split()))
                continue
            if lead and without_emphasis(lead) not in parts:
                parts.append(without_emphasis(lead))
            said = without_bullet(e["text"]) if lead else e["text"]
            parts.append(" ".join(without_emphasis(said).split()))
        body = " ".join(parts)
        heading = (h.get("heading") or "").strip()
        context.append({"n": n, "chunk_id": h["chunk_id"], "source": h["source"],
                        "title": h.get("title", ""), "heading": h.get("heading", ""),
                        "page": h.get("page"), "start": h["start"], "end": h["end"],
                        "text": f"{heading}: {body}" if heading else body})
        records += [{**e, "n": n} for e in picked]
    return context, sorted(records, key=lambda e: -e["score"])
