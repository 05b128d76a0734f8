"""Citation checking in plain code: which ``[n]`` markers stand, sentence by sentence.

Owns: parsing markers, the support score of a sentence against a chunk (lexical overlap with
jieba for Chinese, numbers must match; or embedding cosine across languages), and
:class:`CitationGate`, which consumes the generator's text deltas and releases each sentence
once its citations are checked: invented ids (not among the retrieved chunks) and citations
whose chunk does not support the sentence are removed, and so are the markers of a sentence
that refuses ("I don't know [2]"), only restates the question, is a copied heading, or copies
the instructions (the 0.5B model was seen to echo the retry instruction and cite it); an uncited
sentence that one chunk clearly supports gets that chunk's marker. A draft that opens with a
label of the prompt's own layout ("Sources:", "资料：") pastes the prompt instead of answering:
none of it stands. Markers are renumbered 1..m in order of first use, so the released text and
:attr:`CitationGate.citations` agree.

Nothing here retrieves, prompts or generates; the graph decides what to do with the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragkit.rag.config import RagConfig
from ragkit.rag.prompts import is_refusal_sentence
from ragkit.text import (
    detect_language,
    query_terms,
    segment_for_search,
    split_sentences,
    without_emphasis,
)

MARKER_RE = re.compile(r"\s*\[(\d{1,3}(?:\s*[,，]\s*\d{1,3})*)\]")
_LEADING_MARKERS = re.compile(r"(?:\s*\[\d{1,3}(?:\s*[,，]\s*\d{1,3})*\])+")
_PARTIAL_MARKERS = re.compile(r"(?:\s*\[[\d,，\s]*\]?)*\s*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NEGATION = re.compile(r"\b(?:no|not|cannot|never|none|nor|without)\b|n't|n’t|"
                       r"不|没|未|无法|无须|无需|勿|禁止|非(?!常)")
_PLACEHOLDER = re.compile(r"\s*\[[nN]\]")
MIN_CONTENT_WORDS = 2  # a citation needs a sentence that says something ("Returns [2]." does not)
# A sentence that only restates the question has no content word the question lacks, and
# either still asks or drops the question word of a question that wants something named.
# Both were seen from the 0.5B model: "中国大陆订单满多少包邮[1]。", "磨豆机运转一分钟后自己停了[1]。"
_WH = (r"\b(what|how|when|which|who|whom|whose|where|why)(?:s|'s|\u2019s)?\b"  # "whats"
       r"|什么|怎么|怎样|如何|哪|几|谁|为什么|"
       r"多[少久长重大高宽远贵快厚深]")  # 多重 "how heavy", 多久 "how long", ...
_ASKING = re.compile(_WH + r"|吗|呢|[?？]")
_ASKS_FOR = re.compile(_WH)  # a question that wants something named, not a yes or no
_HEADING = re.compile(r"\s*#{1,6}\s")  # a markdown heading copied from a source says nothing
_TERMINAL = "。！？；.!?;:：…"
_NOT_TEXT = re.compile(r"[\W_]+")
SHINGLE = 4  # characters per shingle in :func:`copied_share`
COPY_SHARE = 0.6  # a sentence this much made of instruction text is an echo of them
_ENGLISH_PHRASE = re.compile(r"(?<![A-Za-z])[a-z]{2,}\s+[a-z]{2,}(?![A-Za-z])")
ECHO_NEW_SHARE = 4  # a sentence that still asks and adds at most 1 in 4 words is the question
# words that announce what follows without saying it ("the following", 以下): the question's
# words plus these alone are no answer
_ANNOUNCING = frozenset({"以下", "如下", "下列", "下面", "follow", "below"})

# similarity(sentence, chunk_text) -> cosine in [-1, 1]
Similarity = Callable[[str, str], float]


_LABEL_COLON = re.compile(r"\s*[:：]\s*")
_PATH_LABEL = re.compile(r"^[^:：\n]{0,80}? > ([^:：>\n]{1,80}?)\s*[:：]\s*")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            stem = word[: -len(suffix)]
            # "shipping" -> "ship", "stopped" -> "stop" ("shipp" was a word of its own, and
            # "Shipping > Do you ship to Canada?" passed as more than the question)
            if suffix in ("ing", "ed") and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                stem = stem[:-1]
            return stem
    return word


def _one_edit(a: str, b: str) -> bool:
    """Whether two words of 4+ letters are one word misspelt or stemmed apart: one starts
    with the other ("expr" and "expres", the crude stems of "expres" and "express"), or
    they differ by one inserted, deleted or changed letter."""
    if min(len(a), len(b)) < 4 or not (a.isalpha() and b.isalpha()):
        return False
    if a.startswith(b) or b.startswith(a):
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k in range(len(a)) if a[k] != b[k]), len(a))
    return a[i + (len(a) == len(b)):] == b[i + 1:]


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in segment_for_search(text).split()}


_LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]")


def names(text: str) -> set[str]:
    """The product and brand names in ``text``, lower-cased: Latin words with a capital after
    their first letter or with letters and digits ("HomeKit", "iPhone", "KIT-1006", "USB-C")."""
    return {w.lower() for w in _LATIN_WORD.findall(text)
            if any(c.isupper() for c in w[1:])
            or (any(c.isdigit() for c in w) and any(c.isalpha() for c in w))}


def negated(text: str) -> bool:
    """Whether ``text`` says no ("not", "never", "n't", 不, 没, 未, 无法, 禁止 ...)."""
    return bool(_NEGATION.search(text.lower()))


def polarity_agrees(sentence: str, chunk_text: str) -> bool:
    """False when the chunk's sentence closest to ``sentence`` (most content words shared)
    and ``sentence`` disagree on saying no: "客服会主动添加您的微信" citing "客服不会主动添加
    您的微信" (seen from the 0.5B model, which dropped the 不) shares every word."""
    words = {_stem(w) for w in query_terms(MARKER_RE.sub(" ", sentence))}
    best, overlap = "", 0
    for s, e in split_sentences(chunk_text):
        part = chunk_text[s:e]
        shared = len(words & _terms(part))
        if shared > overlap:
            best, overlap = part, shared
    return not best or negated(best) == negated(MARKER_RE.sub(" ", sentence))


_PII_TOKEN = re.compile(r"\[[A-Z]+(?:_[A-Z]+)*_\d+\]")  # "[EMAIL_1]": ragkit.pii's placeholders


def numbers_in(sentence: str, chunk_text: str) -> bool:
    """Whether every number of ``sentence`` is one of ``chunk_text``'s ("1,000" = "1000");
    the user's data stands in a sentence as "[EMAIL_1]", whose digit is no number."""
    return not numbers_of(sentence) - {n.replace(",", "") for n in _NUMBER.findall(chunk_text)}


def numbers_of(text: str) -> set[str]:
    """The numbers ``text`` states ("1,000" read as "1000"; a "[EMAIL_1]" placeholder's digit
    is none)."""
    return {n.replace(",", "") for n in _NUMBER.findall(_PII_TOKEN.sub(" ", text))}


# the currencies a text names, as codes (a rendering of a quote must name the same ones)
_CURRENCY_NAMES = {
    "EUR": r"€|\beur(?:os?)?\b|欧元", "GBP": r"£|\bgbp\b|\bpounds?\b|英镑",
    "USD": r"\$|\busd\b|\bdollars?\b|美元", "CNY": r"¥|￥|\bcny\b|\brmb\b|\byuan\b|人民币|\d\s*元",
}


def currencies(text: str) -> frozenset[str]:
    """The currencies ``text`` names (pure): "€5.95" and "5.95 欧元" both name EUR."""
    low = text.lower()
    return frozenset(code for code, pattern in _CURRENCY_NAMES.items()
                     if re.search(pattern, low))


def lexical_support(sentence: str, chunk_text: str) -> float:
    """Share of the sentence's content words found in the chunk; 0 if a number is missing
    or the sentence and the chunk's closest sentence disagree on a negation.

    Words are normalised like the keyword index (NFKC, lower case, jieba for Chinese) and
    lightly stemmed; stopwords are ignored. A sentence with no content words scores 0.
    """
    body = MARKER_RE.sub(" ", sentence)
    words = [_stem(w) for w in query_terms(body)]
    if not words:
        return 0.0
    chunk = _terms(chunk_text)
    if not numbers_in(body, chunk_text) or not polarity_agrees(body, chunk_text):
        return 0.0
    return sum(1 for w in words if w in chunk) / len(words)


@dataclass
class Scorer:
    """Support of a sentence by a chunk under ``config.support_method``."""

    config: RagConfig
    similarity: Similarity | None = None

    def support(self, sentence: str, chunk_text: str) -> tuple[float, bool]:
        """(score, passes): the score is on the scale of the threshold it is compared with."""
        cfg = self.config
        method = cfg.support_method
        if method == "auto":
            same = detect_language(MARKER_RE.sub(" ", sentence)) == detect_language(chunk_text)
            method = "lexical" if same or self.similarity is None else "embedding"
        if method == "embedding" and self.similarity is not None:
            body = MARKER_RE.sub(" ", sentence)
            score = float(self.similarity(body, chunk_text))
            # digits read the same in both languages: "Shipping costs $5.99" was passed on
            # a Chinese chunk about ¥10 delivery by cosine alone
            return score, score >= cfg.support_embedding_threshold and numbers_in(body,
                                                                                 chunk_text)
        score = lexical_support(sentence, chunk_text)
        return score, score >= cfg.support_threshold


def _shingles(text: str) -> set[str]:
    flat = _NOT_TEXT.sub(" ", MARKER_RE.sub(" ", text).lower()).strip()
    return {flat[i:i + SHINGLE] for i in range(max(1, len(flat) - SHINGLE + 1))} if flat else set()


def copied_share(sentence: str, source: str) -> float:
    """Share of the sentence's character 4-grams (case, markers and punctuation ignored) that
    occur in ``source``: 1.0 for a verbatim copy, near 0 for unrelated text."""
    own = _shingles(sentence)
    return len(own & _shingles(source)) / len(own) if own else 0.0


def parse_markers(sentence: str) -> list[int]:
    out: list[int] = []
    for m in MARKER_RE.finditer(sentence):
        for part in re.split(r"[,，]", m.group(1)):
            n = int(part)
            if n not in out:
                out.append(n)
    return out


def _place_markers(sentence: str, markers: Sequence[int]) -> str:
    """``sentence`` without markers, then the given ones before its final punctuation."""
    body = MARKER_RE.sub("", sentence)
    stripped = body.rstrip()
    trail = body[len(stripped):]
    if not markers:
        return stripped + trail
    cut = len(stripped)
    while cut > 0 and stripped[cut - 1] in _TERMINAL:
        cut -= 1
    tags = "".join(f"[{n}]" for n in markers)
    sep = "" if cut and not stripped[cut - 1].isascii() else " "
    return f"{stripped[:cut]}{sep}{tags}{stripped[cut:]}{trail}"


@dataclass
class SentenceResult:
    text: str  # as released (renumbered markers)
    cited: list[int]  # context numbers kept
    removed: list[int]  # context numbers cited but unsupported
    invented: list[int]  # numbers that name no retrieved chunk
    support: dict[int, float] = field(default_factory=dict)
    dropped: bool = False  # a claim no source supports: not shown


def _heading_labels(context: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The section labels the prompt shows before each source's text ("Returns policy",
    "About Brightcart > Languages") and each level of them, longest first."""
    labels: set[str] = set()
    for c in context:
        heading = str(c.get("heading") or "").strip()
        if heading:
            labels.add(heading)
            labels.update(part.strip() for part in heading.split(" > ") if part.strip())
    return tuple(sorted(labels, key=len, reverse=True))


# what a model copies from a source's layout into the start of an answer: an FAQ entry's
# "A:" label, the colon left after a heading it copied in the sentence before
_LEFT_LABEL = re.compile(r"^(\s*)(?:[:：]\s*)?(?:(?:A|答)\s*[:：]\s*)?")


def clean_layout(sentence: str) -> str:
    """``sentence`` without the layout a model copies from its sources: ``**`` emphasis, a
    leading "A:" (an FAQ answer's label) or a stray leading colon."""
    return _LEFT_LABEL.sub(r"\1", without_emphasis(sentence), count=1)


def strip_heading_echo(sentence: str, headings: Sequence[str]) -> str:
    """``sentence`` without a section label the model copied from the prompt in front of it
    ("Returns policy: Customers in ..." -> "Customers in ..."): the prompt writes each
    source as "heading: text", and the 0.5B opens answers with that label. Kept when nothing
    would be left."""
    lead = len(sentence) - len(sentence.lstrip())
    body = sentence[lead:]
    for label in headings:
        if not body.startswith(label):
            continue
        rest = body[len(label):]
        m = _LABEL_COLON.match(rest)
        if m and any(ch.isalnum() for ch in rest[m.end():]):
            return sentence[:lead] + rest[m.end():]
    # a path the model reworded before its last level ("Your return policy is > The return
    # window: Gold members …" from "Returns policy > The return window: …", seen in a walk)
    m = _PATH_LABEL.match(body)
    if m and m.group(1).strip() in headings and any(ch.isalnum() for ch in body[m.end():]):
        return sentence[:lead] + body[m.end():]
    return sentence


class CitationGate:
    """Feed text deltas; get back verified text sentence by sentence.

    Nothing is released until the first sentence with a supported citation, so an answer
    that turns out wholly unsupported can be regenerated or replaced by a refusal without the
    user having seen it.
    """

    def __init__(self, context: Sequence[dict[str, Any]], scorer: Scorer,
                 question: str = "", instructions: Sequence[str] = (),
                 layout_labels: Sequence[str] = (),
                 screen: Callable[[str], str] | None = None,
                 certain_numbers: frozenset[str] = frozenset()) -> None:
        self.screen = screen  # the guard on each sentence: the text to show, "" to drop
        # the numbers of near-certain evidence: a sentence stating numbers, none of them
        # these, is not shown (the answer is then quoted from that evidence)
        self.certain_numbers = certain_numbers
        self.by_n = {int(c["n"]): c for c in context}
        self.headings = _heading_labels(context)
        self._heading_set = {h.rstrip(_TERMINAL + "?？").strip() for h in self.headings}
        self.instructions = "\n".join(instructions)
        self.layout_labels = tuple(label.lower() for label in layout_labels)
        self.reproduces_prompt = False  # the draft opened with a layout label
        self.question_terms = {_stem(w) for w in query_terms(question)} if question else set()
        self.asks_for = bool(_ASKS_FOR.search(question.lower()))
        self.language = detect_language(question) if question else ""
        self.scorer = scorer
        self.buffer = ""
        self.pos = 0
        self.held: list[str] = []
        self.sentences: list[SentenceResult] = []
        self.display: dict[int, int] = {}  # context n -> released marker number
        self.min_support: dict[int, float] = {}
        self.supported = 0
        self._first_release = True

    def feed(self, delta: str) -> str:
        self.buffer += delta
        return self._drain(final=False)

    def finish(self) -> str:
        return self._drain(final=True)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.sentences)

    def _drain(self, final: bool) -> str:
        out: list[str] = []
        while True:
            rest = self.buffer[self.pos:]
            if not rest.strip():
                break
            spans = split_sentences(rest)
            if len(spans) >= 2:
                end = spans[0][1]
                m = _LEADING_MARKERS.match(rest, end)
                if m:
                    end = m.end()
                if not final and _PARTIAL_MARKERS.fullmatch(rest, end):
                    break  # markers may still be arriving
            elif final:
                end = len(rest)
            else:
                break
            out.append(self._accept(rest[:end]))
            self.pos += end
        return "".join(out)

    def _accept(self, sentence: str) -> str:
        sentence = clean_layout(_PLACEHOLDER.sub("", sentence))  # "[n]": the instructions'
        unmarked = MARKER_RE.sub("", sentence)
        stripped = strip_heading_echo(unmarked, self.headings)
        if stripped != unmarked:  # a marker may sit inside the copied label: "积分 > 积分[1]："
            sentence = _place_markers(stripped, parse_markers(sentence))
        body = MARKER_RE.sub("", sentence)
        if not any(ch.isalnum() for ch in body) or self.copies_heading(body):
            return ""  # markers, punctuation or a section label alone: nothing to say
        cited = parse_markers(sentence)
        kept, removed, invented, support = [], [], [], {}
        if not self.sentences and self.layout_labels:
            self.reproduces_prompt = body.strip().lower().startswith(self.layout_labels)
        if self.echoes_question(body) or self.echoes_instructions(body):
            # not shown at all: "几期免手续费？" after "花呗分期要满 ¥600 [1]。" and "Cost of
            # express shipping in the EU and for the UK [1]." were shown as answer text
            self.sentences.append(SentenceResult("", [], cited, [], {}, dropped=True))
            return ""
        # "I don't know [2]" and a copied heading cite nothing, whatever the chunk says
        says_nothing = (self.reproduces_prompt or is_refusal_sentence(body)
                        or bool(_HEADING.match(body)))
        substantive = len(query_terms(body)) >= MIN_CONTENT_WORDS and not says_nothing
        for n in cited:
            chunk = self.by_n.get(n)
            if chunk is None:
                invented.append(n)
                continue
            score, ok = self.scorer.support(sentence, chunk["text"])
            if ok and self.affirms_unstated(body, chunk["text"]):
                ok = False
            support[n] = score
            (kept if ok and substantive else removed).append(n)
        if not cited and not says_nothing and MARKER_RE.sub("", sentence).strip():
            best = self._best_chunk(sentence)
            if best is not None and not self.affirms_unstated(body, self.by_n[best[0]]["text"]):
                kept, support = [best[0]], {best[0]: best[1]}
        if kept and (self.untranslated(body) or self.misses_certain_number(body)):
            removed, kept = removed + kept, []
        if not kept and substantive:
            # a claim no source supports is not shown, cited or not: seen from the 0.5B,
            # "Plugwise smart plug does not have a reset button." before the reset steps
            self.sentences.append(SentenceResult("", [], removed, invented, support,
                                                 dropped=True))
            return ""
        for n in kept:
            self.display.setdefault(n, len(self.display) + 1)
            self.min_support[n] = min(self.min_support.get(n, 1.0), support[n])
        text = _place_markers(sentence, [self.display[n] for n in kept])
        if self.screen is not None:
            shown = self.screen(text)
            if not shown.strip():  # blocked by the guard: neither shown nor counted
                return ""
            text = shown
        self.sentences.append(SentenceResult(text, kept, removed, invented, support))
        if kept:
            self.supported += 1
        if self.supported == 0:
            self.held.append(text)
            return ""
        released = "".join(self.held) + text
        self.held = []
        if self._first_release:
            released = released.lstrip()
            self._first_release = False
            # keep the recorded text equal to what was released
            self._trim_leading()
        return released

    def untranslated(self, body: str) -> bool:
        """True when an English answer's sentence is written in Chinese, or a Chinese answer
        carries an English phrase copied from an English source ("东西收到以后，过了 2
        business days 内就不能退了", seen from the 0.5B): the model joined its question to a
        source it did not read. Names (capitalised: "HomeKit", "Echoless Buds Pro") and
        single words ("App") do not count."""
        if self.language == "en":
            # an English question answered in Chinese ("What payment methods do you accept
            # in China?" got "中国站暂不支持 Visa…", seen in a walk): not the asker's language
            return detect_language(body) == "zh"
        return self.language == "zh" and bool(_ENGLISH_PHRASE.search(body))

    def misses_certain_number(self, body: str) -> bool:
        """True when ``body`` states numbers and none is one of the near-certain evidence's
        (the battery's "24 个月" beside the evidence's 12)."""
        said = numbers_of(body)
        return bool(self.certain_numbers) and bool(said) and not said & self.certain_numbers

    def copies_heading(self, body: str) -> bool:
        """True when ``body`` is a section label of the prompt, or the start of one, and
        nothing else ("积分 > 积分什么时候到账？", "Brightcart Business Customer Terms > 2."
        cut at the "2." of "2. Volume pricing": copied from the line a source opens with)."""
        said = body.strip().rstrip(_TERMINAL + "?？").strip()
        if said in self._heading_set:
            return True
        return " > " in said and any(h.startswith(said) for h in self._heading_set)

    def echoes_question(self, body: str) -> bool:
        """True when ``body`` restates the question: every content word of it is one of the
        question's (or only announces what follows: "以下", "the following"), and it still
        asks (a question word or mark) or the question asks for
        something named (what, how long, 多少) that a sentence adding no word cannot give.
        "Refunds go to the original card" still answers "Do refunds go to the original card?"."""
        if not self.question_terms:
            return False
        words = {_stem(w) for w in query_terms(body)}
        # a word the asker misspelt is still theirs ("expres shiping" answered with "express
        # shipping", seen in a walk)
        new = {w for w in words - self.question_terms
               if not any(_one_edit(w, q) for q in self.question_terms)}
        if not new:
            return self.asks_for or bool(_ASKING.search(body.lower()))
        if new <= _ANNOUNCING:  # "花呗分期有以下条件[1]。" and nothing after it (seen in a walk)
            return True
        # a reworded question that still asks ("更换手机收不到两步验证码怎么登录" for "换了手机
        # 收不到两步验证码怎么登录？", seen from the 0.5B) adds a word or so and no number
        return (bool(_ASKING.search(body.lower())) and len(new) * ECHO_NEW_SHARE <= len(words)
                and not any(_NUMBER.search(w) for w in new))

    def affirms_unstated(self, body: str, chunk_text: str) -> bool:
        """True when ``body`` is made only of the question's words ("智插 Mini 支持 HomeKit"
        for "智插 Mini 支持 HomeKit 吗？") and the chunk lacks one of them: such a sentence
        says yes to the question, and stands only on a source that states all of it, else the
        model has affirmed what the source never says. Across languages only the names are
        compared (words with a capital inside or a digit: "HomeKit", "KIT-1006"), which a
        source in the other language writes the same way."""
        if not self.question_terms:
            return False
        words = {_stem(w) for w in query_terms(body)}
        if not words or not words <= self.question_terms:
            return False
        if detect_language(body) != detect_language(chunk_text):
            words = _terms(" ".join(names(body)))
        return not words <= _terms(chunk_text)

    def echoes_instructions(self, body: str) -> bool:
        """True when ``body`` is mostly instruction text (its rules, its worked example) and
        copies the instructions more than it copies any source."""
        if not self.instructions:
            return False
        share = copied_share(body, self.instructions)
        if share < COPY_SHARE:
            return False
        return all(copied_share(body, c["text"]) < share for c in self.by_n.values())

    def _trim_leading(self) -> None:
        for sent in self.sentences:
            stripped = sent.text.lstrip()
            if stripped:
                sent.text = stripped
                return
            sent.text = ""

    def _best_chunk(self, sentence: str) -> tuple[int, float] | None:
        if len(query_terms(MARKER_RE.sub(" ", sentence))) < MIN_CONTENT_WORDS:
            return None  # too short to judge ("Yes." / "Sure!")
        best: tuple[int, float] | None = None
        for n, chunk in self.by_n.items():
            score, ok = self.scorer.support(sentence, chunk["text"])
            if ok and (best is None or score > best[1]):
                best = (n, score)
        return best

    def citations(self) -> list[tuple[int, dict[str, Any], float]]:
        """(released number, context entry, weakest support) in released order."""
        order = sorted(self.display.items(), key=lambda kv: kv[1])
        return [(shown, self.by_n[n], self.min_support[n]) for n, shown in order]

    def counts(self) -> dict[str, int]:
        return {
            "sentences": len(self.sentences),
            "supported": self.supported,
            "removed": sum(len(s.removed) for s in self.sentences),
            "invented": sum(len(s.invented) for s in self.sentences),
            "dropped": sum(s.dropped for s in self.sentences),
        }
