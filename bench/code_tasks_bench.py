"""The code agent on sentence-style programming tasks, scored by hidden tests it never sees.

Reads a JSONL task set (``bench/data/code_tuning.jsonl``, the tuning set; or
``knowledge/eval/code_blind.jsonl``, the blind set, run once and never tuned on): each row has
``id``, ``lang``, ``task``, ``entry_point`` and ``hidden_tests`` (a script of asserts). The agent
gets only the task text, with the settings a new user gets unless ``--no-budget``/``--no-tidy``
are given (the agent as it was before the time budget and tidying, for a like-for-like run).

Per task: whether the returned code passes the hidden tests (run in ragkit's sandbox), the
agent's own verdict (it vouches for the code when the verdict is "passes your tests" or
"passes the tests it trusts"), seconds, rounds, why it stopped,
what tidying removed. Summary: hidden pass rate, verdict agreement (the agent says passed
exactly when the hidden tests pass), passed-on-wrong-code and failed-on-right-code counts,
median and p90 seconds. Writes JSON (``--out``), rewritten after every task.

    python bench/code_tasks_bench.py --set bench/data/code_tuning.jsonl \
        --out bench/results/code_tasks_tuning.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import textwrap
import time
from pathlib import Path

from ragkit import sdk
from ragkit.codeagent import AgentConfig
from ragkit.sandbox import run_tests


def hidden_suite(row: dict) -> str:
    return "def test_hidden():\n" + textwrap.indent(row["hidden_tests"].strip("\n") + "\n", "    ")


def summary(per: list[dict]) -> dict:
    n = len(per)
    if not n:
        return {"tasks": 0}
    secs = sorted(r["seconds"] for r in per)
    agree = sum(r["agent_passed"] == r["hidden_passed"] for r in per)
    return {
        "tasks": n,
        "hidden_pass_rate": round(sum(r["hidden_passed"] for r in per) / n, 3),
        "verdict_agreement": round(agree / n, 3),
        "passed_on_wrong_code": sum(r["agent_passed"] and not r["hidden_passed"] for r in per),
        "failed_on_right_code": sum(r["hidden_passed"] and not r["agent_passed"] for r in per),
        "median_s": round(statistics.median(secs), 1),
        "p90_s": round(secs[min(n - 1, int(0.9 * n))], 1),
        "stopped": {k: sum(r["stopped"] == k for r in per) for k in {r["stopped"] for r in per}},
        "tidied": sum(bool(r["removed"]) for r in per),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--set", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--ids", default="", help="comma-separated task ids to run (default: all)")
    ap.add_argument("--no-budget", action="store_true", help="no time budget (the old agent)")
    ap.add_argument("--no-tidy", action="store_true", help="no tidying (the old agent)")
    ap.add_argument("--single", action="store_true",
                    help="the peer: one candidate straight from the task, no tests, no repair")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines()
            if line.strip()][: args.limit]
    if args.ids:
        wanted = set(args.ids.split(","))
        rows = [r for r in rows if r["id"] in wanted]
    defaults = AgentConfig()
    config = AgentConfig(time_budget_s=None if args.no_budget else defaults.time_budget_s,
                         tidy=not args.no_tidy)
    if args.single:
        config = AgentConfig(plan=False, feedback=False, max_rounds=1, self_tests=0)
    gen = sdk.load_generator()
    agent = sdk.code_agent(gen, config)
    per: list[dict] = []
    t_all = time.perf_counter()
    for i, row in enumerate(rows, 1):
        t0 = time.perf_counter()
        result = agent.solve(row["task"])
        seconds = time.perf_counter() - t0
        hidden = run_tests(result.code, hidden_suite(row))
        per.append({
            "id": row["id"], "lang": row["lang"], "hidden_passed": hidden.status == "passed",
            "agent_passed": result.vouched,
            "verdict": result.verdict, "distrusted": result.distrusted,
            "test_source": result.test_source,
            "tests": f"{result.tests_passed}/{result.tests_total}", "stopped": result.stopped,
            "rounds": len(result.rounds), "seconds": round(seconds, 1),
            "removed": result.removed, "code": result.code, "agent_tests": result.tests,
            "round_outcomes": [{"kind": r.kind, "passed": r.passed, "total": r.total,
                                "failed": [t.name for t in (r.tests.tests if r.tests else [])
                                           if t.status != "passed"]} for r in result.rounds],
        })
        print(f"[{i}/{len(rows)}] {row['id']} hidden={'pass' if per[-1]['hidden_passed'] else 'FAIL'}"
              f" agent={result.verdict} {seconds:.0f}s "
              f"{result.stopped}", flush=True)
        record = {
            "benchmark": "code_tasks", "set": str(args.set), "complete": i == len(rows),
            "model": getattr(gen, "info", lambda: {})().get("model", "default"),
            "settings": {"time_budget_s": config.time_budget_s, "tidy": config.tidy,
                         "max_rounds": config.max_rounds, "plan_first": config.plan_first,
                         "self_tests": config.self_tests, "feedback": config.feedback,
                         "defaults": not (args.no_budget or args.no_tidy or args.single)},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "loadavg": os.getloadavg()},
            "wall_s": round(time.perf_counter() - t_all, 1),
            "summary": summary(per), "per_task": per,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(summary(per), indent=2))


if __name__ == "__main__":
    main()
