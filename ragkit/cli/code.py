"""``ragkit code``, ``ragkit code test`` and ``ragkit eval humaneval`` (owner: codeagent).

``ragkit code TASK_OR_FILE`` runs the code agent and streams each step (plan, code, test
results per round, then the chosen code with its quality report); ``ragkit code test`` runs a
code file against a test file in the sandbox without any model; ``ragkit eval humaneval``
measures pass@1. ``ragkit code "task"`` is shorthand for ``ragkit code solve "task"``: the
group routes any first word that is not one of its commands to ``solve``.
Only parses options and formats output; the work is in :mod:`ragkit.codeagent`,
:mod:`ragkit.sandbox` and :mod:`ragkit.evals.humaneval`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from typer.core import TyperGroup

from ragkit import sdk
from ragkit.cli.eval import eval_app
from ragkit.cli.kb import JsonOpt
from ragkit.cli.options import QuantOpt
from ragkit.cli.serve import generator_config, local_generator, use_service
from ragkit.config import Quantization
from ragkit.errors import ConfigError

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


class _SolveByDefault(TyperGroup):
    """A group whose unknown first word is a task: ``code "x"`` means ``code solve "x"``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["solve", *args]
        return super().parse_args(ctx, args)


code_app = typer.Typer(cls=_SolveByDefault, no_args_is_help=True,
                       help="Write Python with the code agent (`ragkit code \"TASK\"` = `ragkit code "
                       "solve \"TASK\"`), or run code against tests (`ragkit code test`).")


def register(app: typer.Typer) -> None:
    app.add_typer(code_app, name="code")


ModelOpt = Annotated[str | None, typer.Option("--model", help="Generator: catalogue name, HF folder or .gguf.")]
RoundsOpt = Annotated[int, typer.Option("--rounds", help="Most code rounds (repairs included).")]


def _load_generator(model: str | None, quantization: Quantization,
                    threads: int | None = None) -> Any:
    use_service()
    return local_generator(generator_config(model, quantization, threads=threads))


def _read_text(path: Path, what: str) -> str:
    if not path.exists():
        raise ConfigError(f"{what} file {path} does not exist; give the path of a Python file.")
    if not path.is_file():
        raise ConfigError(f"{what} file {path} is not a regular file; give the path of a Python "
                          "file.")
    return path.read_text(encoding="utf-8")


@code_app.command("solve")
def solve_cmd(
    task: Annotated[str, typer.Argument(metavar="TASK_OR_FILE",
                                        help="The task text, or a file holding it (e.g. a stub).")],
    tests: Annotated[Path | None, typer.Option("--tests", help="Python file of unit tests.")] = None,
    as_json: JsonOpt = False,
    model: ModelOpt = None,
    quantization: QuantOpt = "none",
    rounds: RoundsOpt = 3,
    plan: Annotated[bool, typer.Option("--plan/--no-plan", help="When the first candidate fails, write a pseudocode plan and code from it as a second candidate.")] = True,
    feedback: Annotated[bool, typer.Option("--feedback/--no-feedback", help="Repair from test failures.")] = True,
    self_tests: Annotated[int, typer.Option("--self-tests", help="Asserts to write when no tests are given (0: none).")] = 4,
    budget: Annotated[float, typer.Option(
        "--budget", help="Seconds after which no new round starts and the best code so far is "
        "returned with its status (0: no budget).")] = 60.0,
    tidy: Annotated[bool, typer.Option(
        "--tidy/--no-tidy", help="Remove demo calls and debugging prints from the final code "
        "and format it with ruff (kept only when its tests give the same results).")] = True,
) -> None:
    """Write code for TASK_OR_FILE: code, test in the sandbox, plan and repair; show each round.

    Without --tests the agent tests with the task's own examples plus asserts it writes; when
    different candidates agree against one of its asserts, that assert is set aside. Exit 0 only
    when it can vouch for the code: it passes your tests, or every test it still trusts."""
    from ragkit.codeagent import AgentConfig

    text = _read_text(Path(task), "task") if Path(task).suffix and Path(task).is_file() else task
    test_src = _read_text(tests, "tests") if tests is not None else None
    if budget < 0:
        raise ConfigError(f"--budget {budget} is negative: give seconds, or 0 for no budget.")
    config = AgentConfig(max_rounds=rounds, plan=plan, feedback=feedback, self_tests=self_tests,
                         time_budget_s=budget or None, tidy=tidy, format=tidy)
    agent = sdk.code_agent(_load_generator(model, quantization), config)
    result = None
    for event in agent.stream(text, test_src):
        if event.kind == "done":
            result = event.data["result"]
        elif not as_json:
            _show_event(event.kind, event.round, event.data)
    assert result is not None
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _show_result(result)
    raise typer.Exit(0 if result.vouched else 1)


VERDICTS = {
    "passes_your_tests": "[green]passes your tests[/]",
    "fails_your_tests": "[red]fails your tests[/]",
    "passes_trusted_tests": "[green]passes the tests it trusts[/] (its own; check them)",
    "uncertain": "[yellow]uncertain[/]: its own tests do not vouch for this code",
}


def _show_event(kind: str, rnd: int, data: dict[str, Any]) -> None:
    if kind == "plan":
        out.rule("plan")
        out.print(escape(data["plan"] or "(empty)"))
    elif kind == "code":
        out.rule(f"round {rnd}: code")
        out.print(Syntax(data["code"], "python", line_numbers=False))
        if data.get("syntax_error"):
            out.print(f"[red]does not compile:[/] {escape(data['syntax_error'])}")
    elif kind == "tests" and data.get("phase") == "written":
        if data["source"] == "self":
            from ragkit.codeagent.selection import EXAMPLE_PREFIX

            text = data["tests"] or ""
            examples = text.count(f"def {EXAMPLE_PREFIX}")
            title = "tests written by the agent"
            if examples:
                title = f"tests: {examples} from the task's examples, the rest written by the agent"
            out.rule(title)
            out.print(Syntax(text, "python"))
        elif data["source"] == "none":
            out.print("[yellow]no tests: the agent could not write usable tests[/]")
    elif kind == "tests":
        _show_tests(data["result"])
    elif kind == "round":
        best = f"(best so far: round {data['best_round']})"
        out.print(f"[bold]round {rnd}:[/] {data['status']}, {data['passed']}/{data['total']} "
                  f"tests {best}")
        if data.get("distrusted"):
            out.print("  [yellow]set aside as probably wrong[/] (the candidates agree against "
                      "them): " + ", ".join(escape(n) for n in data["distrusted"]))


def _show_tests(result: dict[str, Any]) -> None:
    for t in result["tests"]:
        mark = "[green]pass[/]" if t["status"] == "passed" else f"[red]{t['status']}[/]"
        line = f"  {mark} {escape(t['name'])}"
        if t["status"] != "passed" and t.get("message"):
            line += f": {escape(t['message'][:300])}"
        out.print(line)
    if result["status"] not in ("passed", "failed"):
        out.print(f"  [red]{result['status']}[/] {escape(result.get('last_error', ''))}")


def _show_result(result: Any) -> None:
    out.rule(f"result: round {result.best_round} of {len(result.rounds)} ({result.stopped})")
    out.print(Syntax(result.code, "python"))
    out.print(f"{VERDICTS[result.verdict]}: {result.tests_passed}/{result.tests_total} "
              f"{result.test_source} tests, {result.seconds:.1f} s")
    for name, why in result.distrusted.items():
        out.print(f"  distrusted [bold]{escape(name)}[/]: {escape(why)}")
    if result.stopped == "time_budget":
        out.print("[yellow]stopped by the time budget[/]: this is the best candidate so far "
                  "(--budget 0 lets it run every round)")
    if result.removed:
        out.print("tidied: removed " + "; ".join(f"`{escape(r)}`" for r in result.removed))
    if result.report is not None:
        out.print(escape(result.report.to_markdown()))


@code_app.command("test")
def test_cmd(
    code: Annotated[Path, typer.Option("--code", help="Python file with the code to test.")],
    tests: Annotated[Path, typer.Option("--tests", help="Python file with the tests.")],
    as_json: JsonOpt = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Wall-clock limit in seconds.")] = 10.0,
) -> None:
    """Run CODE against TESTS in the sandbox (no model); exit 0 only when every test passes."""
    from ragkit.codequality import quality_report
    from ragkit.sandbox import SandboxLimits, run_tests

    src, test_src = _read_text(code, "code"), _read_text(tests, "tests")
    # the tests may import the code as its file names it (`from sol import add` for sol.py)
    result = run_tests(src, test_src, limits=SandboxLimits(timeout_s=timeout), module=code.stem)
    report = quality_report(src, passed=result.passed, total=result.total)
    if as_json:
        print(json.dumps({"result": result.to_dict(), "report": report.to_dict()},
                         ensure_ascii=False, indent=2))
    else:
        _show_tests(result.to_dict())
        out.print(f"[bold]{result.status}[/]: {result.passed}/{result.total} tests, "
                  f"{result.duration_s:.2f} s")
        out.print(escape(report.to_markdown()))
    raise typer.Exit(0 if result.status == "passed" else 1)


@eval_app.command("humaneval")
def humaneval_cmd(
    mode: Annotated[str, typer.Option(
        "--mode", help="single, plan, feedback, a comma-separated list of them, or all.")] = "all",
    start: Annotated[int, typer.Option("--start", help="First problem index (0-163).")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", help="Most problems to run.")] = None,
    stride: Annotated[int, typer.Option("--stride", help="Take every Nth problem.")] = 1,
    rounds: RoundsOpt = 3,
    as_json: JsonOpt = False,
    out_path: Annotated[str | None, typer.Option(
        "--out", help="JSON file per mode; use {mode} in the name when several modes run.")] = None,
    model: ModelOpt = None,
    quantization: QuantOpt = "none",
    threads: Annotated[int | None, typer.Option(
        "--threads", help="CPU threads for the model (default: all cores).")] = None,
    note: Annotated[str | None, typer.Option(
        "--note", help="Text stored as \"note\" in each JSON file (slice, machine load, ...).")] = None,
) -> None:
    """pass@1 on HumanEval of single-shot, plan-then-code and code+test feedback."""
    from ragkit.evals import humaneval as he

    modes = list(he.MODES) if mode == "all" else [m.strip() for m in mode.split(",")]
    if any(m not in he.MODES for m in modes):
        raise ConfigError(f"--mode {mode!r} is unknown; use single, plan, feedback or all.")
    if out_path and len(modes) > 1 and "{mode}" not in out_path:
        raise ConfigError("several modes write several files: put {mode} in --out, e.g. "
                          "bench/results/humaneval_{mode}.json")
    problems = he.load_problems(start, limit, stride)
    gen = _load_generator(model, quantization, threads)
    settings = {"quantization": quantization, "rounds": rounds, "decoding": "greedy",
                "threads": threads,
                "single_derived_from_feedback_round_1": "single" in modes and "feedback" in modes}
    slice_ = {"start": start, "limit": limit, "stride": stride,
              "task_ids": [p["task_id"] for p in problems]}
    t0 = time.perf_counter()

    def save(results: dict[str, Any], complete: bool) -> None:
        if not out_path:
            return
        for m, res in results.items():
            data = he.report(res, model=gen.model_id, settings=settings, slice_=slice_,
                             wall_s=time.perf_counter() - t0, complete=complete)
            if note:
                data = {"note": note, **data}
            he.write_json(Path(out_path.replace("{mode}", m)), data)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("humaneval {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task("", total=len(problems))

        def on_problem(done: int, results: dict[str, Any]) -> None:
            summary = " ".join(f"{m}={r.passed}/{len(r.results)}" for m, r in results.items())
            bar.update(task, completed=done, description=summary)
            if not err.is_terminal:
                err.print(f"[{done}/{len(problems)}] {problems[done - 1]['task_id']}: {summary}")
            save(results, complete=False)

        results = he.evaluate(gen, problems, modes, rounds=rounds, on_problem=on_problem)
    save(results, complete=True)
    wall = time.perf_counter() - t0
    if as_json:
        print(json.dumps({"model": gen.model_id, "settings": settings, "slice": slice_,
                          "wall_s": round(wall, 1),
                          "modes": {m: r.to_dict() for m, r in results.items()}},
                         ensure_ascii=False, indent=2))
        return
    for m, r in results.items():
        out.print(f"{m:<9} pass@1 {r.pass_at_1:.3f} ({r.passed}/{len(r.results)}), "
                  f"{r.seconds:.0f} s of agent time")
    out.print(f"{len(problems)} problems, {wall:.0f} s wall")
