"""Feedback on answers: the store (a real SQLite file), the rows it exports (pure), the
exported set read by the RAG evaluator's loader, and `ragkit feedback` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragkit.errors import ConfigError
from ragkit.evals.rag import load_merged_set
from ragkit.feedback import Feedback, FeedbackStore, figures, labelled_rows

ROOT = Path(__file__).resolve().parents[1]
RETURNS = {"source": "store/policies/returns.md", "heading": "Returns",
           "snippet": "You can return most items within 30 days of delivery."}


def test_figures_are_amounts_durations_and_percentages() -> None:
    assert figures("Within 30 days, for €5.95 (40% off); 15 个工作日; opens 10:00.") == [
        "30 days", "€5.95", "40%", "15 个工作日", "10:00"]


def test_a_verdict_is_kept_across_processes_and_bad_ones_are_refused(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path)
    store.add(Feedback("How long do I have to return it?", "Within 30 days [1].", "up",
                       citations=[RETURNS], language="en", thread="t1"))
    store.close()
    again = FeedbackStore(tmp_path)
    [fb] = again.all()
    assert fb.rating == "up" and fb.citations == [RETURNS] and fb.at > 0
    with pytest.raises(ConfigError, match="reason"):
        Feedback("q", "a", "down", reason="boring")
    with pytest.raises(ConfigError, match="up.*down"):
        Feedback("q", "a", "meh")  # type: ignore[arg-type]
    assert len(again.all()) == 1  # nothing stored by the refused ones


def test_rows_follow_what_each_verdict_says(tmp_path: Path) -> None:
    items = [
        # approved answer with a figure its source states: a ready question
        Feedback("How long do I have to return it?", "Within 30 days [1].", "up",
                 citations=[RETURNS], language="en"),
        # approved refusal, and an answer that should have been a refusal: unanswerable
        Feedback("Who founded Brightcart?", "I don't know.", "up", refused=True, language="en"),
        Feedback("亮购明年出什么新品？", "亮购销售家电[1]。", "down", reason="should not answer",
                 citations=[RETURNS], language="zh"),
        # approved but nothing to check automatically; a wrong answer: both to review
        Feedback("Can I return opened earbuds?", "No, not once the seal is broken [1].", "up",
                 citations=[RETURNS], language="en"),
        Feedback("How much is express delivery?", "It is free [1].", "down",
                 reason="wrong answer", language="en"),
        # a support reply is not a Q&A answer: left out
        Feedback("where is my order?", "It ships today.", "up", mode="support"),
    ]
    ready, review = labelled_rows(items)
    assert [(r["question"], r["type"]) for r in ready] == [
        ("How long do I have to return it?", "feedback"),
        ("Who founded Brightcart?", "unanswerable"),
        ("亮购明年出什么新品？", "unanswerable")]
    assert ready[0]["doc"] == RETURNS["source"] and ready[0]["facts"] == [["30 days"]]
    assert [r["question"] for r in review] == ["Can I return opened earbuds?",
                                               "How much is express delivery?"]
    assert all(r["needs"] for r in review) and review[1]["reason"] == "wrong answer"
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ready))
    loaded = load_merged_set(path)  # what `ragkit eval rag --set` reads
    assert [q.answerable for q in loaded] == [True, False, False]
    # the latest verdict on a question wins
    later = Feedback("How long do I have to return it?", "Within 30 days [1].", "down",
                     reason="should not answer")
    assert labelled_rows([*items, later])[0][0]["type"] == "unanswerable"


def test_cli_lists_and_exports(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    store = FeedbackStore(kb)
    store.add(Feedback("How long do I have to return it?", "Within 30 days [1].", "up",
                       citations=[RETURNS], language="en"))
    store.add(Feedback("How much is express delivery?", "It is free [1].", "down",
                       reason="wrong answer", language="en"))
    store.close()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}

    def ragkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ragkit", *args], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=120)

    listed = ragkit("feedback", "list", "--kb", str(kb))
    assert listed.returncode == 0 and "down (wrong answer)" in listed.stdout
    target = tmp_path / "out" / "fb.jsonl"
    target.parent.mkdir()
    done = ragkit("feedback", "export", "--kb", str(kb), "--out", str(target), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"set": str(target), "questions": 1,
                                       "review": str(tmp_path / "out" / "fb.review.jsonl"),
                                       "to_review": 1}
    assert len(load_merged_set(target)) == 1
    empty = ragkit("feedback", "list", "--kb", str(tmp_path / "other"))
    assert "no feedback yet" in empty.stderr
