"""The HTML evaluation report: built from a real report the evaluator wrote (the committed
tuning-sample run), self-contained, escaped, and written by `ragkit eval rag --rescore --html`
without running a model."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ragkit.evals.report import bars, histogram, rag_html

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "bench" / "results" / "rag_eval_tuning_sample_now.json"


def test_the_page_holds_every_section_and_every_failure() -> None:
    result = json.loads(REPORT.read_text(encoding="utf-8"))
    page = rag_html(result)
    for heading in ("Summary", "Correct answers by question type", "Correct answers by language",
                    "Refusals", "Seconds per question", "Share of each stage"):
        assert f"<h2>{heading}</h2>" in page or f"<h3>{heading}</h3>" in page, heading
    assert page.count('<div class="fail">') == len(result["failures"])
    n_answerable = sum(r["score"]["answerable"] for r in result["results"])
    refused = sum(r["score"]["answerable"] and r["score"]["refused"] for r in result["results"])
    assert f"<td>answerable</td><td>{n_answerable - refused}</td><td>{refused}</td>" in page
    # self-contained: nothing fetched, no script
    assert not re.search(r"""(src|href)=["']?https?:""", page) and "<script" not in page


def test_text_from_the_report_is_escaped() -> None:
    result = json.loads(REPORT.read_text(encoding="utf-8"))
    hostile = copy.deepcopy(result)
    failed = hostile["failures"][0]["id"]
    row = next(r for r in hostile["results"] if r["id"] == failed)
    row["question"] = "<script>alert(1)</script>"
    row["answer"]["text"] = "<img src=x onerror=alert(2)>"
    page = rag_html(hostile)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_charts_scale_and_say_their_numbers() -> None:
    chart = bars([("direct", 0.5, "(1/2)"), ("faq", 1.0, "(2/2)")])
    assert chart.count("<rect") == 2 and "0.50 (1/2)" in chart
    assert "no timings" in histogram([])
    assert histogram([1.0, 1.1, 5.0], bins=4).count("<rect") == 4


def test_cli_writes_the_page_from_an_earlier_report_without_a_model(tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    p = subprocess.run([sys.executable, "-m", "ragkit", "eval", "rag", "--rescore", str(REPORT),
                        "--set", str(ROOT / "knowledge" / "eval" / "rag.jsonl"), "--html",
                        str(out), "--json"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NO_COLOR": "1"}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert json.loads(p.stdout)["questions"] == 80
