"""bench/generation_report.py: medians over interleaved rounds, like-for-like row first.

Pure functions over hand-written per-round results (what the workers write), so each
property is checked on numbers whose median, spread and within-round ratios are known.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report_mod() -> Any:
    spec = importlib.util.spec_from_file_location("generation_report",
                                                  ROOT / "bench" / "generation_report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(rates: dict[str, float], load: float = 1.0) -> dict[str, Any]:
    return {"decode": {p: [{"decode_tok_s": r, "completion_tokens": 32, "draft": {}}]
                       for p, r in rates.items()},
            "load_s": load, "rss_after_load_mb": 500.0, "peak_rss_mb": 600.0}


def _turns(ttft: float) -> list[dict[str, Any]]:
    return [{"ttft_s": 9.0, "prompt_tokens": 100, "cached_tokens": 0},
            {"ttft_s": ttft, "prompt_tokens": 200, "cached_tokens": 150}]


RAW = {  # three rounds, in the order the script plans them (the like-for-like pair is not first)
    "ragkit_int4": [_run({"free": 30.0}), _run({"free": 10.0}), _run({"free": 33.0})],
    "llama_cpp": [_run({"free": 40.0}), {"error": "boom"}, {"error": "skipped", "skipped": True}],
    "transformers_bf16": [_run({"free": 10.0}), _run({"free": 4.0}), _run({"free": 11.0})],
    "ragkit_none_plain": [_run({"free": 9.0}), _run({"free": 5.0}), _run({"free": 12.0})],
    "ragkit_conversation_reuse": [{"turns": _turns(0.5)}, {"turns": _turns(1.0)},
                                  {"turns": _turns(0.25)}],
    "ragkit_conversation_no_reuse": [{"turns": _turns(10.0)}, {"turns": _turns(10.0)},
                                     {"turns": _turns(10.0)}],
}
ARGS = {"model": "m", "quick": True, "note": "", "threads": 1, "ttft_quantization": "none",
        "llama_lookup_tokens": 2}
WORK = {"decode": {"free": []}, "decode_tokens": 32, "turns": ["a", "b"]}


@pytest.fixture(scope="module")
def report(report_mod: Any) -> dict[str, Any]:
    machine = {"cpu": "test", "threads": 1, "date": "2026-12-04T00:00:00Z"}
    return report_mod.summarize(RAW, {}, WORK, machine, ARGS, 3, list(RAW))


def test_rows_lead_with_the_like_for_like_pair_then_ragkit_best(report: dict[str, Any]) -> None:
    assert [r["engine"] for r in report["decode"]] == [
        "ragkit_none_plain", "transformers_bf16", "ragkit_int4", "llama_cpp"]
    assert [r["group"] for r in report["decode"]] == [
        "like_for_like", "like_for_like", "ragkit_best", "peer"]
    assert report["comparisons"][0]["name"] == "like_for_like"
    assert report["headline"]["like_for_like"] == report["comparisons"][0]
    assert report["headline"]["ragkit_best"] == "ragkit_int4"


def test_cells_are_the_median_with_min_and_max_over_rounds(report: dict[str, Any]) -> None:
    row = {r["engine"]: r for r in report["decode"]}["ragkit_int4"]
    assert (row["decode_tok_s"]["free"], row["decode_tok_s_min"]["free"],
            row["decode_tok_s_max"]["free"]) == (30.0, 10.0, 33.0)
    llama = {r["engine"]: r for r in report["decode"]}["llama_cpp"]
    assert llama["decode_runs"]["free"] == [40.0, None, None]  # failed rounds are not values
    assert llama["decode_tok_s"]["free"] == 40.0


def test_ratios_are_paired_within_a_round(report: dict[str, Any]) -> None:
    comps = {c["name"]: c for c in report["comparisons"]}
    # int4 / transformers per round: 3.0, 2.5, 3.0 -> median 3.0 (a ratio of medians, 30/10,
    # would hide that the slow second round slowed both engines alike)
    vs_tf = comps["ragkit_best_vs_transformers_bf16"]["ratio"]["free"]
    assert vs_tf["rounds"] == [3.0, 2.5, 3.0]
    assert vs_tf["median"] == 3.0
    like = comps["like_for_like"]["ratio"]["free"]
    assert like["rounds"] == [0.9, 1.25, 1.09]
    assert comps["ragkit_best_vs_llama_cpp"]["ratio"]["free"]["n"] == 1  # only round 1 ran both


def test_errors_name_the_first_real_failure_and_ttft_pairs_rounds(report: dict[str, Any]) -> None:
    assert report["errors"] == {"llama_cpp": "boom"}
    t = report["ttft_last_turn"]["ragkit"]
    assert [r["speedup"] for r in t["rounds"]] == [20.0, 10.0, 40.0]
    assert t["speedup"]["median"] == 20.0
    json.dumps(report)  # the report is written as JSON


def test_table_prints_groups_in_order(report_mod: Any, report: dict[str, Any],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    report_mod.print_table({**report, "machine": {**report["machine"]}})
    out = capsys.readouterr().out
    assert out.index("like-for-like") < out.index("ragkit's fastest") < out.index("peers")
    assert "30.00 (10.0-33.0)" in out
