"""Retrieval evaluation on a labelled question set: hit@k and MRR per search mode.

Owns: reading labelled questions (``knowledge/eval/retrieval.jsonl``), deciding whether a
retrieved chunk answers a question, and the metrics. Relevance is judged on text, not on chunk
ids, so the same labels work for any chunking and for other frameworks' retrievers (the
LlamaIndex peer in ``bench/`` uses :func:`is_relevant` too): a chunk is relevant when it comes
from the labelled document and contains the labelled evidence span, or at least half of it
(the span may straddle a chunk boundary).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from ragkit.errors import ConfigError
from ragkit.evals.jsonl import read_jsonl

_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class LabelledQuestion:
    id: str
    question: str
    lang: str
    type: str
    doc: str
    evidence: str


def load_questions(path: str | Path) -> list[LabelledQuestion]:
    """Read a JSONL file of ``{id, question, lang, type, doc, evidence}`` objects."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no labelled question set at {p}; pass --set FILE.jsonl")
    return read_jsonl(p, lambda obj: LabelledQuestion(
        id=str(obj["id"]), question=obj["question"], lang=obj.get("lang", ""),
        type=obj.get("type", ""), doc=obj["doc"], evidence=obj["evidence"]),
        bad="not a labelled question", needs="each line needs id, question, doc and evidence")


def _norm(s: str) -> str:
    return _WS.sub(" ", s).strip().lower()


def same_doc(source: str, doc: str) -> bool:
    """``source`` (a citation path) names the labelled ``doc`` (relative to knowledge/)."""
    s, d = source.replace("\\", "/"), doc.replace("\\", "/")
    return s == d or s.endswith("/" + d) or d.endswith("/" + s)


def is_relevant(source: str, text: str, doc: str, evidence: str) -> bool:
    if not same_doc(source, doc):
        return False
    t, ev = _norm(text), _norm(evidence)
    if ev in t:
        return True
    m = SequenceMatcher(None, t, ev, autojunk=False).find_longest_match(0, len(t), 0, len(ev))
    return m.size >= max(8, len(ev) // 2)


@dataclass
class ModeResult:
    mode: str
    n: int = 0
    hit1: float = 0.0
    hit5: float = 0.0
    mrr: float = 0.0
    ms_per_query: float = 0.0
    by_group: dict[str, dict[str, float]] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)


# search(question, k) -> [(source, text), ...] best first
SearchFn = Callable[[str, int], Sequence[tuple[str, str]]]


def first_relevant_rank(results: Sequence[tuple[str, str]], q: LabelledQuestion) -> int | None:
    for rank, (source, text) in enumerate(results, start=1):
        if is_relevant(source, text, q.doc, q.evidence):
            return rank
    return None


def evaluate(search: SearchFn, questions: Iterable[LabelledQuestion], mode: str,
             k: int = 10) -> ModeResult:
    """Run every question through ``search`` and score the rankings."""
    res = ModeResult(mode=mode)
    groups: dict[str, list[int | None]] = {}
    t0 = time.perf_counter()
    for q in questions:
        rank = first_relevant_rank(search(q.question, k), q)
        res.n += 1
        res.hit1 += rank == 1
        res.hit5 += rank is not None and rank <= 5
        res.mrr += 1.0 / rank if rank else 0.0
        if rank is None or rank > 5:
            res.misses.append(q.id)
        for g in (f"lang:{q.lang}", f"type:{q.type}"):
            groups.setdefault(g, []).append(rank)
    if res.n:
        res.ms_per_query = 1000 * (time.perf_counter() - t0) / res.n
        res.hit1, res.hit5, res.mrr = res.hit1 / res.n, res.hit5 / res.n, res.mrr / res.n
    res.by_group = {
        g: {"n": len(r), "hit5": sum(1 for x in r if x and x <= 5) / len(r),
            "mrr": sum(1.0 / x for x in r if x) / len(r)}
        for g, r in sorted(groups.items())
    }
    return res


def evaluate_kb(kb, questions: Sequence[LabelledQuestion],
                modes: Sequence[str] = ("dense", "keyword", "hybrid"),
                k: int = 10) -> list[ModeResult]:
    """Evaluate a :class:`~ragkit.kb.KnowledgeBase` in each search mode."""
    results = []
    for mode in modes:
        def search(question: str, kk: int, mode: str = mode) -> list[tuple[str, str]]:
            return [(h.source, h.text) for h in kb.search(question, k=kk, mode=mode)]

        results.append(evaluate(search, questions, mode, k))
    return results
