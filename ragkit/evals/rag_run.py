"""Running the answer-level evaluation: ask every question, record, score, report.

Owns: choosing the questions (a ``start``/``limit`` window or a stratified sample), calling an
``ask`` function once per question (a fresh turn, no conversation), turning each
:class:`~ragkit.rag.Answer` into a JSON-friendly :class:`AnswerRecord`, and assembling the
report (summary per language, failures, wall time). Scoring itself is in
:mod:`ragkit.evals.rag`; the CLI (``ragkit eval rag``) only parses options and prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from ragkit.errors import RagkitError
from ragkit.evals.rag import AnswerRecord, RagQuestion, failures, score, summarise

AskFn = Callable[..., Any]  # (question, history=[...]?) -> ragkit.rag.Answer
ProgressFn = Callable[[dict[str, Any]], None]


def window(questions: Sequence[RagQuestion], start: int = 0,
           limit: int | None = None) -> list[RagQuestion]:
    end = None if limit is None else start + limit
    return list(questions[start:end])


def stratified(questions: Sequence[RagQuestion], answerable: int,
               unanswerable: int) -> list[RagQuestion]:
    """A deterministic sample that keeps the mix: answerable questions are taken round-robin
    over (language, type) groups, unanswerable ones alternately by language. The result is
    interleaved (answerable and unanswerable spread evenly), so any prefix of it, such as the
    part a long run finished, is itself a balanced sample."""

    def round_robin(pool: list[RagQuestion], key: Callable[[RagQuestion], str],
                    n: int) -> list[RagQuestion]:
        groups: dict[str, list[RagQuestion]] = {}
        for q in pool:
            groups.setdefault(key(q), []).append(q)
        order = sorted(groups)
        picked: list[RagQuestion] = []
        i = 0
        while len(picked) < min(n, len(pool)):
            g = groups[order[i % len(order)]]
            if g:
                # spread picks through each group rather than taking its first rows
                picked.append(g.pop(len(g) // 2))
            i += 1
        return picked

    ans = round_robin([q for q in questions if q.answerable],
                      lambda q: f"{q.lang}/{q.type}", answerable)
    una = round_robin([q for q in questions if not q.answerable], lambda q: q.lang,
                      unanswerable)
    # place item j of each list at its proportional position (j + 0.5) / len
    keyed = [((j + 0.5) / len(ans), 0, q) for j, q in enumerate(ans)]
    keyed += [((j + 0.5) / len(una), 1, q) for j, q in enumerate(una)]
    return [q for _, _, q in sorted(keyed, key=lambda t: (t[0], t[1]))]


def ask_one(ask: AskFn, q: RagQuestion) -> tuple[AnswerRecord, float]:
    """Answer one question; a ragkit error becomes a recorded failure, not an abort."""
    t0 = time.perf_counter()
    try:
        answer = ask(q.question, history=q.messages) if q.history else ask(q.question)
        record = AnswerRecord.from_answer(answer)
    except RagkitError as e:
        record = AnswerRecord(text="", refused=False, error=str(e))
    return record, time.perf_counter() - t0


def run(questions: Sequence[RagQuestion], ask: AskFn,
        progress: ProgressFn | None = None) -> list[dict[str, Any]]:
    """One result row per question: ``{id, question, lang, type, seconds, answer, score}``."""
    rows = []
    for q in questions:
        record, seconds = ask_one(ask, q)
        s = score(q, record)
        row = {"id": q.id, "question": q.question, "lang": q.lang, "type": q.type,
               "seconds": round(seconds, 3), "answer": record.to_dict(), "score": asdict(s)}
        rows.append(row)
        if progress:
            progress(row)
    return rows


def rescore(questions: Sequence[RagQuestion], rows: Sequence[dict[str, Any]]) -> list:
    """Scores for recorded rows (e.g. after the gold facts changed), without asking again."""
    by_id = {q.id: q for q in questions}
    return [score(by_id[r["id"]], AnswerRecord.from_dict(r["answer"])) for r in rows
            if r["id"] in by_id]


def report(questions: Sequence[RagQuestion], rows: Sequence[dict[str, Any]],
           meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON written by ``ragkit eval rag --out``: settings, summary, failures, rows."""
    scores = rescore(questions, rows)
    seconds = [r["seconds"] for r in rows]
    usage = [r["answer"].get("usage", {}) for r in rows]
    answered = [u for u in usage if u.get("completion_tokens")]
    timing = {
        "wall_s": round(sum(seconds), 1),
        "mean_s_per_question": round(sum(seconds) / len(seconds), 2) if seconds else None,
        "max_s": round(max(seconds), 1) if seconds else None,
        "mean_tokens_per_second": round(
            sum(u.get("tokens_per_second", 0.0) for u in answered) / len(answered), 2)
        if answered else None,
        "mean_kv_cache_hit_rate": round(
            sum(u.get("kv_cache_hit_rate", 0.0) for u in answered) / len(answered), 3)
        if answered else None,
        "errors": sum(bool(r["answer"].get("error")) for r in rows),
    }
    return {**meta, "questions": len(rows), "timing": timing,
            "summary": summarise(scores), "failures": failures(questions, scores),
            "results": list(rows)}
