"""Sets whose rows carry their questions (rag_blind.jsonl, a second corpus's questions.jsonl):
loading, follow-up histories, and asking a follow-up with its history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragkit.errors import ConfigError
from ragkit.evals.rag import load_rag_set
from ragkit.evals.rag_run import ask_one

ROWS = [
    {"id": "x1", "question": "how long for refunds?", "lang": "en", "type": "direct",
     "doc": "policies/returns.md", "evidence": "within five business days",
     "facts": [["five business days", "5 business days"]]},
    {"id": "x2", "question": "and in China?", "lang": "en", "type": "followup",
     "doc": "zh/退款.md", "evidence": "五个工作日", "facts": [["五个工作日"]],
     "history": [{"user": "how long for refunds?", "assistant": "Five business days."}]},
    {"id": "x3", "question": "who is the CEO?", "lang": "en", "type": "unanswerable",
     "near_doc": "policies/returns.md"},
]


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    p = tmp_path / "set.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return p


def test_a_merged_set_loads_with_histories(tmp_path: Path) -> None:
    qs = load_rag_set(_write(tmp_path, ROWS))
    assert [q.id for q in qs] == ["x1", "x2", "x3"]
    assert [q.answerable for q in qs] == [True, True, False]
    assert qs[1].messages == [{"role": "user", "content": "how long for refunds?"},
                              {"role": "assistant", "content": "Five business days."}]
    assert qs[2].doc == "" and qs[2].facts == ()


@pytest.mark.parametrize("bad,match", [
    ({"id": "y", "lang": "en", "type": "direct", "facts": [["a"]]}, "needs an id and a question"),
    ({"id": "y", "question": "q", "type": "direct", "facts": []}, "at least one fact"),
    ({"id": "y", "question": "q", "type": "followup", "facts": [["a"]],
      "history": [{"user": "hi"}]}, "history must be"),
])
def test_bad_rows_are_refused(tmp_path: Path, bad: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_rag_set(_write(tmp_path, [ROWS[0], bad]))


def test_a_follow_up_is_asked_with_its_history(tmp_path: Path) -> None:
    qs = load_rag_set(_write(tmp_path, ROWS))
    seen = []

    class Answer:
        text, refused, citations, hits, language, diagnostics = "5", False, [], [], "en", {}
        usage = None

    def ask(question: str, history=()) -> Answer:
        seen.append((question, list(history)))
        return Answer()

    ask_one(ask, qs[0])
    ask_one(ask, qs[1])
    assert seen[0] == ("how long for refunds?", [])
    assert seen[1][1][0]["content"] == "how long for refunds?"


def test_the_shipped_blind_sets_load() -> None:
    root = Path(__file__).resolve().parents[2]
    blind = load_rag_set(root / "knowledge/eval/rag_blind.jsonl")
    assert len(blind) >= 120 and any(q.history for q in blind)
    assert sum(not q.answerable for q in blind) >= 40
    assert load_rag_set(root / "bench/data/corpus_sqlite/questions.jsonl")
