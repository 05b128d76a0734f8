"""Scoring grounded answers against a labelled set: correctness, citations, refusals.

Owns: the answer-level evaluation set (``knowledge/eval/rag.jsonl`` joined with the retrieval
labels and the unanswerable questions), matching gold facts in an answer text (normalising
case, whitespace, full-width forms, thousands separators and Chinese numerals), and the
metrics: retrieval hit@k, answer correctness, citation precision and refusal accuracy, broken
down by language and cross-lingual. Pure: it scores :class:`AnswerRecord` values and never runs
a model or opens a knowledge base (running lives in :mod:`ragkit.evals.rag_run`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragkit.errors import ConfigError
from ragkit.evals.jsonl import read_jsonl
from ragkit.evals.retrieval import is_relevant, load_questions

Alternatives = tuple[str, ...]


@dataclass(frozen=True)
class RagQuestion:
    """One question of the answer-level set; ``doc``/``evidence``/``facts`` are empty when
    the knowledge base cannot answer it."""

    id: str
    question: str
    lang: str
    type: str
    answerable: bool
    doc: str = ""
    evidence: str = ""
    facts: tuple[Alternatives, ...] = ()  # every group must appear; any alternative of a group
    negative: bool = False  # the correct answer says no (a negation must appear)
    # earlier turns of the conversation a follow-up belongs to, as {"role", "content"} dicts
    history: tuple[tuple[str, str], ...] = ()

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.history]

    @property
    def groups(self) -> tuple[str, ...]:
        """Breakdown groups this question counts in."""
        out = ["all", f"lang:{self.lang}"]
        if self.answerable:
            out.append("cross_lingual" if self.type == "cross_lingual" else "same_language")
        else:
            out.append("unanswerable")
        return tuple(out)


def _alternatives(item: Any, where: str) -> Alternatives:
    alts = (item,) if isinstance(item, str) else tuple(item) if isinstance(item, list) else ()
    if not alts or not all(isinstance(a, str) and normalise(a) for a in alts):
        raise ConfigError(f"{where}: a fact must be a non-empty string or a list of them")
    return alts


def _history(row: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    turns = row.get("history") or []
    if not isinstance(turns, list) or not all(
            isinstance(t, dict) and isinstance(t.get("user"), str)
            and isinstance(t.get("assistant"), str) for t in turns):
        raise ConfigError(f"{where}: history must be a list of {{\"user\", \"assistant\"}} turns")
    return tuple(m for t in turns for m in (("user", t["user"]), ("assistant", t["assistant"])))


def load_merged_set(path: str | Path) -> list[RagQuestion]:
    """Read a set whose rows carry everything (``rag_blind.jsonl``, a second corpus's
    ``questions.jsonl``): ``id``, ``question``, ``lang``, ``type`` (``unanswerable`` for a
    question the documents do not answer), ``doc``, ``evidence``, ``facts``, ``negative``?,
    ``history``? (a follow-up's earlier turns, ``{"user", "assistant"}`` each)."""
    p = Path(path)
    out = []
    for row in read_jsonl(p):
        where = f"{p} {row.get('id', '?')}"
        if not isinstance(row.get("question"), str) or "id" not in row:
            raise ConfigError(f"{where}: every line needs an id and a question")
        answerable = row.get("type") != "unanswerable"
        facts = tuple(_alternatives(f, where) for f in row.get("facts") or [])
        negative = bool(row.get("negative", False))
        if answerable and not facts and not negative:
            raise ConfigError(f"{where}: give at least one fact or \"negative\": true")
        out.append(RagQuestion(str(row["id"]), row["question"], row.get("lang", ""),
                               str(row.get("type", "")), answerable,
                               row.get("doc", "") if answerable else "",
                               row.get("evidence", "") if answerable else "", facts,
                               negative, _history(row, where)))
    return out


def load_rag_set(path: str | Path, retrieval: str | Path | None = None,
                 unanswerable: str | Path | None = None) -> list[RagQuestion]:
    """Read ``rag.jsonl`` (``{"id", "facts", "negative"?}`` per answerable question) and join
    it with ``retrieval.jsonl`` and ``unanswerable.jsonl`` (default: next to ``path``); a set
    whose rows carry their questions is read by :func:`load_merged_set`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no answer set at {p}; pass --set knowledge/eval/rag.jsonl")
    first = next(iter(read_jsonl(p)), {})
    if "question" in first:
        return load_merged_set(p)
    retrieval = Path(retrieval) if retrieval else p.with_name("retrieval.jsonl")
    unanswerable = Path(unanswerable) if unanswerable else p.with_name("unanswerable.jsonl")
    gold: dict[str, dict[str, Any]] = {}
    for row in read_jsonl(p):
        if "id" not in row or "facts" not in row or not isinstance(row["facts"], list):
            raise ConfigError(f"{p}: every line needs an id and a list of facts: {row}")
        gold[str(row["id"])] = row
    labelled = {q.id: q for q in load_questions(retrieval)}
    unknown = sorted(set(gold) - set(labelled))
    missing = sorted(set(labelled) - set(gold))
    if unknown or missing:
        raise ConfigError(f"{p} and {retrieval} disagree: facts for unknown ids {unknown[:5]}, "
                          f"no facts for {missing[:5]}; give every labelled question one row")
    out = []
    for qid, q in labelled.items():
        row = gold[qid]
        facts = tuple(_alternatives(f, f"{p} {qid}") for f in row["facts"])
        negative = bool(row.get("negative", False))
        if not facts and not negative:
            raise ConfigError(f"{p} {qid}: give at least one fact or \"negative\": true")
        out.append(RagQuestion(qid, q.question, q.lang, q.type, True, q.doc, q.evidence,
                               facts, negative))
    if unanswerable.is_file():
        for row in read_jsonl(unanswerable):
            out.append(RagQuestion(str(row["id"]), row["question"], row.get("lang", ""),
                                   "unanswerable", False))
    return out


# --- matching ----------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_CN_RUN = re.compile("[零〇一二两三四五六七八九十百千万]+")
_MARKER = re.compile(r"\[\d+(?:\s*[,，]\s*\d+)*\]")
_DASHES = re.compile("[\u2010-\u2015\u2212~]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DROP = re.compile(r"[\s*`_]+")


def chinese_number(run: str) -> str:
    """``"三十"`` -> ``"30"``, ``"二〇一七"`` -> ``"2017"``, ``"一万二千"`` -> ``"12000"``."""
    if not any(c in _CN_UNITS for c in run):
        return "".join(str(_CN_DIGITS[c]) for c in run)
    total, section, digit = 0, 0, None
    for c in run:
        if c in _CN_DIGITS:
            digit = _CN_DIGITS[c]
        elif c == "万":
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
        else:
            section += (1 if digit is None else digit) * _CN_UNITS[c]
            digit = None
    return str(total + section + (digit or 0))


def normalise(text: str) -> str:
    """Fold an answer or a fact to the form facts are matched in."""
    t = _MARKER.sub(" ", unicodedata.normalize("NFKC", text)).lower()
    t = _CN_RUN.sub(lambda m: chinese_number(m.group()), t)
    t = _THOUSANDS.sub("", _DASHES.sub("-", t))
    return _DROP.sub("", t)


def _pattern(fact: str) -> re.Pattern[str]:
    body = re.escape(normalise(fact))
    if fact[:1].isdigit() or normalise(fact)[:1].isdigit():
        body = r"(?<![\d.])" + body
    if normalise(fact)[-1:].isdigit():
        body += r"(?!\.?\d)"
    return re.compile(body)


def has_fact(normalised_text: str, alternatives: Alternatives) -> bool:
    """Any alternative occurs in an already :func:`normalise`-d text (numbers whole)."""
    return any(_pattern(a).search(normalised_text) for a in alternatives)


_NEG_EN = re.compile(r"\b(no|not|cannot|never|unable|none)\b|n't|n’t")
_NEG_ZH = re.compile("不|无法|没有|未|勿|禁止|非")


def says_no(text: str) -> bool:
    low = unicodedata.normalize("NFKC", text).lower()
    return bool(_NEG_EN.search(low) or _NEG_ZH.search(low))


# --- one answer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    source: str
    text: str


@dataclass(frozen=True)
class AnswerRecord:
    """What scoring needs from an :class:`ragkit.rag.Answer`, JSON-friendly for re-scoring."""

    text: str
    refused: bool
    citations: tuple[Passage, ...] = ()  # text: the full chunk when it was retrieved
    hits: tuple[Passage, ...] = ()
    language: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    diagnostics: dict[str, Any] = field(default_factory=dict)  # e.g. refusal_reason

    @classmethod
    def from_answer(cls, answer: Any) -> AnswerRecord:
        hits = tuple(Passage(h.chunk_id, h.source, h.text) for h in answer.hits)
        by_id = {h.chunk_id: h for h in hits}
        cites = tuple(
            by_id.get(c.chunk_id) or Passage(c.chunk_id, c.source, c.snippet)
            for c in answer.citations)
        usage = answer.usage.to_dict() if hasattr(answer.usage, "to_dict") else {}
        diag = dict(getattr(answer, "diagnostics", None) or {})
        return cls(answer.text, bool(answer.refused), cites, hits, answer.language, usage,
                   diagnostics=diag)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnswerRecord:
        return cls(d["text"], d["refused"], tuple(Passage(**c) for c in d["citations"]),
                   tuple(Passage(**h) for h in d["hits"]), d.get("language", ""),
                   d.get("usage", {}), d.get("error", ""), d.get("diagnostics", {}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QuestionScore:
    id: str
    lang: str
    type: str
    answerable: bool
    groups: tuple[str, ...]
    refused: bool
    refusal_ok: bool
    hit_rank: int | None  # first relevant retrieved chunk (1-based), answerable only
    correct: bool | None  # answerable only
    facts_found: int
    facts_total: int
    citations: int
    supported: int
    invented: int  # cited chunk ids that were not retrieved
    generated: bool = True  # False: refused (or served) without the generator answering
    refusal_reason: str = ""  # as the pipeline reports it, when it does


def supports(q: RagQuestion, p: Passage) -> bool:
    """A cited passage supports the answer when it is the labelled evidence or states every
    gold fact (:func:`score` also requires it to be one of the retrieved chunks)."""
    if not q.answerable:
        return False
    if is_relevant(p.source, p.text, q.doc, q.evidence):
        return True
    norm = normalise(p.text)
    return bool(q.facts) and all(has_fact(norm, g) for g in q.facts)


def score(q: RagQuestion, a: AnswerRecord) -> QuestionScore:
    norm = normalise(a.text)
    found = sum(has_fact(norm, g) for g in q.facts) if q.answerable else 0
    correct: bool | None = None
    rank: int | None = None
    if q.answerable:
        correct = (not a.refused and found == len(q.facts)
                   and (not q.negative or says_no(a.text)))
        rank = next((i for i, h in enumerate(a.hits, start=1)
                     if is_relevant(h.source, h.text, q.doc, q.evidence)), None)
    hit_ids = {h.chunk_id for h in a.hits}
    return QuestionScore(
        q.id, q.lang, q.type, q.answerable, q.groups, a.refused,
        refusal_ok=a.refused != q.answerable, hit_rank=rank, correct=correct,
        facts_found=found, facts_total=len(q.facts), citations=len(a.citations),
        supported=sum(c.chunk_id in hit_ids and supports(q, c) for c in a.citations),
        invented=sum(c.chunk_id not in hit_ids for c in a.citations),
        generated=bool(a.usage.get("completion_tokens", 1)),
        refusal_reason=str(a.diagnostics.get("refusal_reason", "")) if a.refused else "")


# --- aggregates --------------------------------------------------------------------------------


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def summarise(scores: Sequence[QuestionScore], k: int | None = None) -> dict[str, Any]:
    """Metrics per group (``all``, ``lang:en``, ``lang:zh``, ``cross_lingual``,
    ``same_language``, ``unanswerable``). Citation precision counts citations on answerable
    questions; citations attached to answers of unanswerable questions are reported apart."""
    groups: dict[str, list[QuestionScore]] = {}
    for s in scores:
        for g in s.groups:
            groups.setdefault(g, []).append(s)
    out: dict[str, Any] = {}
    for g in sorted(groups, key=lambda x: (x != "all", x)):
        ss = groups[g]
        ans = [s for s in ss if s.answerable]
        una = [s for s in ss if not s.answerable]
        cites = sum(s.citations for s in ans)
        out[g] = {
            "n": len(ss), "answerable": len(ans), "unanswerable": len(una),
            "hit@1": _ratio(sum(s.hit_rank == 1 for s in ans), len(ans)),
            "hit@k": _ratio(sum(s.hit_rank is not None and (k is None or s.hit_rank <= k)
                                for s in ans), len(ans)),
            "correct": _ratio(sum(bool(s.correct) for s in ans), len(ans)),
            "correct_if_answered": _ratio(sum(bool(s.correct) for s in ans),
                                          sum(not s.refused for s in ans)),
            "citations": cites,
            "citation_precision": _ratio(sum(s.supported for s in ans), cites),
            "invented_citations": sum(s.invented for s in ss),
            "answers_with_citations": _ratio(sum(s.citations > 0 for s in ans
                                                 if not s.refused),
                                             sum(not s.refused for s in ans)),
            "citations_on_unanswerable": sum(s.citations for s in una if not s.refused),
            "refusal_accuracy": _ratio(sum(s.refusal_ok for s in ss), len(ss)),
            "refused_unanswerable": _ratio(sum(s.refused for s in una), len(una)),
            "answered_answerable": _ratio(sum(not s.refused for s in ans), len(ans)),
            "refused_before_generating": sum(s.refused and not s.generated for s in ss),
            "refusal_reasons": dict(sorted(Counter(
                s.refusal_reason or "unknown" for s in ss if s.refused).items())),
        }
    return out


def failures(questions: Iterable[RagQuestion], scores: Iterable[QuestionScore]) -> list[dict]:
    """One line per question that was scored wrong, for reading what went wrong."""
    by_id = {q.id: q for q in questions}
    out = []
    for s in scores:
        why = []
        if not s.refusal_ok:
            if s.answerable:
                why.append("refused an answerable question" + (
                    f" ({s.refusal_reason})" if s.refusal_reason else
                    "" if s.generated else " before generating (low retrieval confidence)"))
            else:
                why.append("answered an unanswerable question")
        elif s.answerable and not s.correct:
            why.append(f"facts {s.facts_found}/{s.facts_total}")
        if s.citations > s.supported and s.answerable:
            why.append(f"{s.citations - s.supported} unsupported citation(s)")
        if s.answerable and s.hit_rank is None:
            why.append("evidence not retrieved")
        if why:
            out.append({"id": s.id, "question": by_id[s.id].question, "why": why})
    return out
