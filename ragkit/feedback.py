"""People's verdicts on answers, kept with what they judged, and turned into evaluation rows.

Owns: :class:`Feedback` (one verdict: the question, the answer as shown, its citations, whether
it was a refusal, the settings that produced it, thumbs up or down and an optional reason),
:class:`FeedbackStore` (``feedback.sqlite`` in a knowledge base's folder: one row per verdict,
each written in its own transaction, so a crash loses at most the verdict being written) and
:func:`labelled_rows` (pure: verdicts -> rows of the merged evaluation format that
``ragkit eval rag --set`` reads, plus the rows a person must finish).

What a verdict says about the question, and so which row it becomes:

* an answer marked good: the question is answerable from the cited document; the figures the
  answer shares with its cited passage (amounts, durations, percentages, times) are the facts
  a later answer must state. An answer with no such figure cannot be checked automatically and
  goes to the review rows (a person writes its facts).
* a refusal marked good, or an answer marked "should not answer": the question is
  unanswerable, and a later answer must refuse.
* anything else marked bad (a wrong answer, a wrong source, a refusal that should have
  answered): the right answer is not known here, so the row goes to review with the reason.

Does not: show buttons (``ragkit.ui``) or run evaluations (``ragkit.evals.rag``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ragkit import sqlite_file
from ragkit.errors import ConfigError

FILE = "feedback.sqlite"
Rating = Literal["up", "down"]
# the reasons a person can give with a thumbs-down (also what the UI offers)
REASONS = ("wrong answer", "wrong source", "should have answered", "should not answer")
MAX_TEXT = 20_000  # characters kept of a question or an answer


@dataclass(frozen=True)
class Feedback:
    """One verdict on one reply."""

    question: str
    answer: str
    rating: Rating
    reason: str = ""  # one of REASONS, or "" (a plain thumbs up or down)
    refused: bool = False
    language: str = ""
    mode: str = "qa"  # "qa" (grounded Q&A) or "support"
    thread: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)  # source, heading, snippet
    settings: dict[str, Any] = field(default_factory=dict)  # model, knowledge base, ...
    at: float = 0.0

    def __post_init__(self) -> None:
        if self.rating not in ("up", "down"):
            raise ConfigError(f"a rating is 'up' or 'down', not {self.rating!r}")
        if self.reason and self.reason not in REASONS:
            raise ConfigError(f"unknown feedback reason {self.reason!r}; use one of "
                              + ", ".join(REASONS))
        if not self.question.strip():
            raise ConfigError("feedback needs the question it judges")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FeedbackStore:
    """The verdicts given on one knowledge base's answers, in ``folder/feedback.sqlite``."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / FILE
        sqlite_file.check_file(self.path, create=True)
        self._conn = sqlite_file.open_read_write(self.path)
        with self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY, at REAL NOT NULL, "
                "rating TEXT NOT NULL, reason TEXT NOT NULL, question TEXT NOT NULL, "
                "answer TEXT NOT NULL, refused INTEGER NOT NULL, language TEXT NOT NULL, "
                "mode TEXT NOT NULL, thread TEXT NOT NULL, citations TEXT NOT NULL, "
                "settings TEXT NOT NULL)")

    def add(self, fb: Feedback) -> int:
        """Store one verdict (committed before this returns); its id."""
        row = fb.to_dict()
        row["at"] = row["at"] or time.time()
        row["question"], row["answer"] = row["question"][:MAX_TEXT], row["answer"][:MAX_TEXT]
        row["citations"] = json.dumps(row["citations"], ensure_ascii=False, default=str)
        row["settings"] = json.dumps(row["settings"], ensure_ascii=False, default=str)
        row["refused"] = int(row["refused"])
        cols = list(row)
        try:
            with self._conn:
                cur = self._conn.execute(
                    f"INSERT INTO feedback ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})", [row[c] for c in cols])
        except sqlite3.Error as e:
            raise sqlite_file.storage_error(self.path, e) or e from e
        return int(cur.lastrowid or 0)

    def all(self) -> list[Feedback]:
        """Every verdict, oldest first."""
        rows = self._conn.execute(
            "SELECT question, answer, rating, reason, refused, language, mode, thread, "
            "citations, settings, at FROM feedback ORDER BY id").fetchall()
        return [Feedback(q, a, r, why, bool(ref), lang, mode, thread, json.loads(cites),
                         json.loads(settings), at)
                for q, a, r, why, ref, lang, mode, thread, cites, settings, at in rows]

    def close(self) -> None:
        self._conn.close()


# A figure worth checking: an amount, a duration, a percentage, a time or a plain number with a
# unit after it ("30 days", "€5.95", "15 个工作日", "10:00").
_FIGURE = re.compile(
    r"[€£$¥￥]\s?\d[\d.,]*|\d[\d.,]*\s?%|\d{1,2}:\d{2}"
    r"|\d[\d.,]*\s?(?:[a-zA-Z]+|个?[\u4e00-\u9fff]{1,3})", re.UNICODE)


def figures(text: str) -> list[str]:
    """The figures of ``text`` ("30 days", "€5.95", "15 个工作日"), in order, without repeats."""
    out: dict[str, None] = {}
    for m in _FIGURE.finditer(text):
        out.setdefault(" ".join(m.group(0).split()), None)
    return list(out)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def labelled_rows(items: Iterable[Feedback]) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """(rows ``ragkit eval rag --set`` reads as they are, rows a person must finish) for
    ``items``; the latest verdict on a question wins. Ids are ``f001``...; a review row says
    in ``needs`` what is missing and keeps the answer and reason that were judged."""
    latest: dict[str, Feedback] = {}
    for fb in items:
        if fb.mode != "qa":  # a support reply is judged on the dialogue, not on one answer
            continue
        latest[_norm(fb.question)] = fb
    ready: list[dict[str, Any]] = []
    review: list[dict[str, Any]] = []
    for i, fb in enumerate(latest.values(), start=1):
        base = {"id": f"f{i:03d}", "question": fb.question, "lang": fb.language}
        if (fb.rating == "up" and fb.refused) or fb.reason == "should not answer":
            ready.append({**base, "type": "unanswerable"})
            continue
        if fb.rating == "up":
            doc = str(fb.citations[0].get("source", "")) if fb.citations else ""
            cited = " ".join(str(c.get("snippet", "")) for c in fb.citations)
            facts = [f for f in figures(fb.answer) if _norm(f) in _norm(cited)]
            if doc and facts:
                ready.append({**base, "type": "feedback", "doc": doc,
                              "facts": [[f] for f in facts]})
                continue
            review.append({**base, "type": "feedback", "doc": doc, "answer": fb.answer,
                           "needs": "facts: the answer states no figure its source also "
                                    "states; write the facts a correct answer must contain"})
            continue
        review.append({**base, "type": "feedback", "answer": fb.answer, "refused": fb.refused,
                       "reason": fb.reason or "thumbs down",
                       "needs": "the correct answer's document and facts, or type "
                                "\"unanswerable\""})
    return ready, review


def write_jsonl(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """``rows`` as JSON lines, written to a temporary file first, then moved into place."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    tmp.replace(p)
