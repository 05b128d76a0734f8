"""The answer-level set (knowledge/eval/rag.jsonl) and the runner/CLI around the scoring."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragkit.errors import ConfigError, GenerationError
from ragkit.evals import rag_run
from ragkit.evals.rag import RagQuestion, has_fact, load_rag_set, normalise, says_no
from ragkit.ingest import parse_file
from ragkit.rag import Answer, Citation
from ragkit.types import Hit

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge"
SET = KNOWLEDGE / "eval" / "rag.jsonl"
QUESTIONS = load_rag_set(SET)
ANSWERABLE = [q for q in QUESTIONS if q.answerable]


@cache
def doc_text(doc: str) -> str:
    return parse_file(KNOWLEDGE / doc, doc, 50 * 2**20).text


def test_every_labelled_question_has_gold_and_enough_are_unanswerable() -> None:
    assert len(ANSWERABLE) == 153
    una = Counter(q.lang for q in QUESTIONS if not q.answerable)
    assert sum(una.values()) >= 30 and una["en"] >= 10 and una["zh"] >= 10


@pytest.mark.parametrize("q", ANSWERABLE, ids=[q.id for q in ANSWERABLE])
def test_gold_facts_are_stated_by_the_labelled_document(q: RagQuestion) -> None:
    text = normalise(doc_text(q.doc))
    for group in q.facts:
        assert has_fact(text, group), f"{q.id}: none of {group} is in {q.doc}"
    if q.negative:
        assert says_no(doc_text(q.doc))


@pytest.mark.parametrize("q", ANSWERABLE, ids=[q.id for q in ANSWERABLE])
def test_repeating_the_question_does_not_state_the_facts(q: RagQuestion) -> None:
    asked = normalise(q.question)
    assert not [g for g in q.facts if has_fact(asked, g)], "a parroting answer would pass"


def test_stratified_sample_keeps_languages_and_types() -> None:
    picked = rag_run.stratified(QUESTIONS, 40, 15)
    assert picked == rag_run.stratified(QUESTIONS, 40, 15)  # deterministic
    ans = [q for q in picked if q.answerable]
    assert len(ans) == 40 and len(picked) == 55
    assert {q.lang for q in ans} == {"en", "zh"}
    assert {q.type for q in ans} == {q.type for q in ANSWERABLE}
    assert {q.lang for q in picked if not q.answerable} == {"en", "zh"}


def _answer(q: RagQuestion) -> Answer:
    """A hand-written reply: cites the labelled chunk and states the first alternative of
    each fact (or refuses, for unanswerable questions)."""
    if not q.answerable:
        return Answer(q.question, q.question, "I don't know.", "en", refused=True)
    chunk = Hit(chunk_id="c1", source=q.doc, heading="", page=None, text=q.evidence,
                score=1.0, start=0, end=len(q.evidence))
    words = " and ".join(g[0] for g in q.facts) or "No."
    cite = Citation(1, "c1", q.doc, "", "", None, 0, 1, q.evidence[:20], 1.0)
    return Answer(q.question, q.question, f"{words} not [1].", q.lang, [cite], hits=[chunk])


def test_run_scores_every_question_and_records_errors() -> None:
    qs = [QUESTIONS[0], QUESTIONS[1], QUESTIONS[-1]]

    def ask(text: str) -> Answer:
        if text == qs[1].question:
            raise GenerationError("model crashed; try again")
        return _answer(next(q for q in qs if q.question == text))

    rows = rag_run.run(qs, ask)
    assert [r["id"] for r in rows] == [q.id for q in qs]
    assert rows[0]["score"]["correct"] and rows[0]["score"]["supported"] == 1
    assert rows[1]["answer"]["error"] == "model crashed; try again"
    assert not rows[1]["score"]["correct"]
    assert rows[2]["score"]["refusal_ok"]
    rep = rag_run.report(qs, rows, {"model": "hand"})
    assert rep["summary"]["all"]["correct"] == 0.5  # the failed question counts as wrong
    assert rep["timing"]["errors"] == 1 and [f["id"] for f in rep["failures"]] == [qs[1].id]


def test_cli_rescores_a_written_report(tmp_path: Path) -> None:
    from ragkit.cli import app

    qs = rag_run.window(QUESTIONS, 0, 4) + [q for q in QUESTIONS if not q.answerable][:2]
    rows = rag_run.run(qs, lambda text: _answer(next(q for q in qs if q.question == text)))
    path = tmp_path / "old.json"
    path.write_text(json.dumps(rag_run.report(qs, rows, {"model": "hand"})), encoding="utf-8")
    res = CliRunner().invoke(app, ["eval", "rag", "--set", str(SET), "--rescore", str(path),
                                   "--json", "--out", str(tmp_path / "new.json")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)["summary"]
    assert summary["all"]["n"] == 6 and summary["all"]["correct"] == 1.0
    assert summary["all"]["refusal_accuracy"] == 1.0
    assert json.loads((tmp_path / "new.json").read_text())["questions"] == 6


def test_cli_rejects_a_bad_sample() -> None:
    from ragkit.cli import app

    res = CliRunner().invoke(app, ["eval", "rag", "--set", str(SET), "--sample", "forty"])
    assert res.exit_code != 0 and "ANSWERABLE,UNANSWERABLE" in str(res.exception)


def test_ids_select_questions_from_a_list_or_a_report(tmp_path: Path) -> None:
    from ragkit.cli.eval_rag import _select_ids

    picked = _select_ids(QUESTIONS, "u005,q027")
    assert [q.id for q in picked] == ["u005", "q027"]  # in the order given
    many = ",".join([q.id for q in QUESTIONS] * 3)  # longer than a file name may be
    assert len(_select_ids(QUESTIONS, many)) == 3 * len(QUESTIONS)
    report = tmp_path / "run.json"
    report.write_text(json.dumps({"sample_ids": ["q035", "u006"], "results": []}))
    assert [q.id for q in _select_ids(QUESTIONS, str(report))] == ["q035", "u006"]
    report.write_text(json.dumps({"results": [{"id": "q036"}]}))  # no sample_ids: answered ids
    assert [q.id for q in _select_ids(QUESTIONS, str(report))] == ["q036"]
    report.write_text("[1, 2]")  # valid JSON, but no report
    with pytest.raises(ConfigError, match="not a report"):
        _select_ids(QUESTIONS, str(report))
    report.write_text("{broken")
    with pytest.raises(ConfigError, match="cannot read it as a report"):
        _select_ids(QUESTIONS, str(report))


def test_cli_rejects_unknown_ids_before_loading_a_model() -> None:
    from ragkit.cli import app

    res = CliRunner().invoke(app, ["eval", "rag", "--set", str(SET), "--ids", "q027,nope"])
    assert res.exit_code != 0 and "unknown question ids nope" in str(res.exception)


def test_rag_settings_are_parsed_and_validated_before_loading_a_model() -> None:
    from ragkit.cli import app
    from ragkit.cli.eval_rag import _rag_settings

    assert _rag_settings(["check_answerable=true", " answerable_margin = 0.5"]) == {
        "check_answerable": "true", "answerable_margin": "0.5"}
    res = CliRunner().invoke(app, ["eval", "rag", "--set", str(SET), "--limit", "1",
                                   "--rag", "check_answerable"])
    assert res.exit_code != 0 and "KEY=VALUE" in str(res.exception)
    res = CliRunner().invoke(app, ["eval", "rag", "--set", str(SET), "--limit", "1",
                                   "--rag", "no_such_setting=1"])
    assert res.exit_code != 0 and "no_such_setting" in str(res.exception)
