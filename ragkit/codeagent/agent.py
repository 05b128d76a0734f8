"""The public face of the code agent: :class:`CodeAgent` with ``solve()`` and ``stream()``.

Owns: validating the caller's input, running the graph of ``graph.py`` with a generator, the
settings and the sandbox (its runtime context), turning the final state into a
:class:`SolveResult` (the chosen code tidied and formatted when its tests still give the same
results, with its code quality report), and streaming
:class:`AgentEvent`s as the graph works (a :class:`~ragkit.streams.Stream` whose result is the
:class:`SolveResult`).
The constructor only stores its arguments; nothing loads until the first call.
Does not: decide routing (``graph.py``), build prompts (``prompts.py``) or execute code.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Iterator
from typing import Any

from ragkit.codeagent.extract import find_stub
from ragkit.codeagent.graph import AgentContext, AgentState, RunTests, build_graph
from ragkit.codeagent.selection import corroborated, passed_names, verdict
from ragkit.codeagent.types import AgentConfig, AgentEvent, Round, SolveResult
from ragkit.errors import ConfigError
from ragkit.generation.base import Generator
from ragkit.guard import Guard, Verdict
from ragkit.streams import Stream


def _default_runner() -> RunTests:
    from ragkit.sandbox import run_tests

    return run_tests


class CodeAgent:
    """Plan, write, test and repair Python code with a (small) local model.

    ``run_tests`` defaults to :func:`ragkit.sandbox.run_tests`; pass another function with the
    same signature to run tests elsewhere.
    """

    def __init__(self, generator: Generator, config: AgentConfig | None = None, *,
                 run_tests: RunTests | None = None, guard: Guard | None = None,
                 on_verdict: Callable[[Verdict], Any] | None = None) -> None:
        self.generator = generator
        self.config = config or AgentConfig()
        self._run_tests = run_tests
        self._graph: Any = None
        self.guard = guard  # screens the task; a stopped one is refused before any model call
        self._record = on_verdict or (lambda v: None)

    def _compiled(self) -> Any:
        if self._graph is None:
            self._graph = build_graph()
        return self._graph

    def stream(self, task: str, tests: str | None = None) -> Stream[AgentEvent, SolveResult]:
        """Events of every step; the last one is ``done`` with ``data["result"]``, which is
        also the stream's ``result`` once it is exhausted."""

        def run() -> Iterator[AgentEvent]:
            task_, tests_ = _validate(task, tests)
            self._screen(task_)
            t0 = time.perf_counter()
            ctx = AgentContext(self.generator, self.config, self._run_tests or _default_runner())
            start = {"task": task_, "stub": find_stub(task_), "user_tests": tests_, "started": t0}
            final: dict[str, Any] = {}
            for mode, item in self._compiled().stream(start, context=ctx,
                                                      stream_mode=["custom", "values"]):
                if mode == "custom":
                    yield item
                else:
                    final = item
            result = self._result(AgentState(**final), time.perf_counter() - t0)
            yield AgentEvent("done", len(result.rounds), {"result": result})
            return result

        return Stream(run())

    def _screen(self, task: str) -> None:
        """An injection attempt or a blocked term in the task is refused with the rule that
        stopped it. Masked and warned terms only go to the audit trail: a task may need the
        very word ("strip the word 'shit' from a string")."""
        if self.guard is None:
            return
        v = self.guard.check_input(task)
        self._record(v)
        if v.stops:
            f = v.findings[0]
            raise ConfigError(f"the task was stopped by the guard ({f.category}: «{f.excerpt}»);"
                              " describe the code you want without instructions to the "
                              "assistant, or turn the guard off (GuardConfig(enabled=False))")

    def solve(self, task: str, tests: str | None = None) -> SolveResult:
        """Run to the end and return the chosen code, every round and the quality report."""
        return self.stream(task, tests).collect()

    def _result(self, state: AgentState, seconds: float) -> SolveResult:
        rounds = state.rounds
        best = state.best
        chosen = rounds[best - 1]
        passed = chosen.tests is not None and chosen.tests.status == "passed"
        code, removed = chosen.code, []
        if chosen.syntax_error is None:
            code, removed = self._cleaned(chosen, state.task, state.tests)
        report = None
        if self.config.quality and chosen.syntax_error is None:
            from ragkit.codequality import quality_report

            run = chosen.tests is not None
            report = quality_report(code, passed=chosen.passed if run else None,
                                    total=chosen.total if run else None)
        source = state.test_source or "none"
        distrusted = state.distrusted
        names = [t.name for t in chosen.tests.tests] if chosen.tests is not None else []
        stub = state.stub
        return SolveResult(
            task=state.task,
            code=code,
            passed=passed,
            best_round=best,
            rounds=rounds,
            plan=state.plan,
            tests=state.tests,
            test_source=source,
            stopped=state.stopped or "max_rounds",
            report=report,
            seconds=seconds,
            entry_point=stub.entry_point if stub else None,
            removed=removed,
            verdict=verdict(source, passed_names(chosen), names, distrusted,
                            corroborated(rounds, chosen, distrusted)),
            distrusted=distrusted,
        )

    def _cleaned(self, chosen: Round, task: str, tests: str | None) -> tuple[str, list[str]]:
        """The chosen code tidied and formatted (as the config says), when its test outcomes
        stay the same; else as it was. Also what tidying removed."""
        from ragkit.codeagent.tidy import tidy
        from ragkit.codequality import formatted

        code, removed = chosen.code, []
        if self.config.tidy:
            cleaned = tidy(code, task)
            code, removed = cleaned.code, cleaned.removed
        if self.config.format:
            code = formatted(code) or code
        if code == chosen.code:
            return code, []
        if chosen.tests is not None and tests:
            run = self._run_tests or _default_runner()
            again = run(code, tests, limits=self.config.limits)
            before = [(t.name, t.status) for t in chosen.tests.tests]
            if [(t.name, t.status) for t in again.tests] != before:
                return chosen.code, []
        return code, removed


def _validate(task: str, tests: str | None) -> tuple[str, str | None]:
    if not isinstance(task, str) or not task.strip():
        raise ConfigError("the task is empty: describe the function to write, or give its stub.")
    if tests is not None:
        if not tests.strip():
            tests = None
        else:
            try:
                ast.parse(tests)
            except SyntaxError as err:
                raise ConfigError(
                    f"the tests do not compile (line {err.lineno}: {err.msg}); fix the test file "
                    "or leave the tests out to let the agent write its own."
                ) from None
    return task.strip("\n"), tests
