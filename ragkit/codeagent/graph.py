"""The code agent as a LangGraph graph: plan -> code -> (write tests) -> run -> repair or finish.

Owns the nodes (each ``state -> partial state``), the routing function after a test run, and
the graph's assembly. The generator, the settings and the test runner arrive through the
runtime context (:class:`AgentContext`), never as globals; each node reports what it did as an
:class:`~ragkit.codeagent.types.AgentEvent` on LangGraph's custom stream.

Routing after a round: stop when every test passed (or every one the candidates did not
outvote as wrong, :func:`~ragkit.codeagent.selection.distrusted_tests`) and, with tests the
agent wrote itself, the pass is corroborated (a worked example of the task, or a second,
different candidate passing them too; until then the next round is an independent attempt);
stop after one round when feedback is off;
stop at ``max_rounds``; stop when nothing can be checked (no tests and the code compiles);
otherwise write the plan if it was put off (``plan_first=False``) and code from it, or send the
failure (or the syntax error) back to the model for a repair round. A repair that gives back
an earlier candidate is replaced by a different attempt (:func:`next_kind` says which).
Does not: load models, execute code itself (the sandbox does) or format output for people.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from ragkit.codeagent import prompts
from ragkit.codeagent.extract import (
    Stub,
    assemble_program,
    check_program,
    extract_code,
    named_as_task,
    normalized,
    signature_of,
    split_tests,
    stub_is_empty,
)
from ragkit.codeagent.selection import (
    choose,
    corroborated,
    distrusted_tests,
    passed_names,
    passes_trusted,
)
from ragkit.codeagent.testgen import docstring_examples, parse_asserts, render_tests
from ragkit.codeagent.tidy import demo_stops
from ragkit.codeagent.types import (
    AgentConfig,
    AgentEvent,
    Round,
    RoundKind,
    StopReason,
    TestSource,
)
from ragkit.generation.base import Generator, SamplingParams
from ragkit.types import Message

CODE_STOP = ("\n```",)
PLAN_STOP = ("```",)

RunTests = Callable[..., Any]  # ragkit.sandbox.run_tests(code, tests, limits=...)


@dataclass(frozen=True)
class AgentContext:
    generator: Generator
    config: AgentConfig
    run_tests: RunTests


@dataclass
class AgentState:
    """Everything one run reads and writes (never checkpointed: one run, one task)."""

    task: str = ""
    stub: Stub | None = None
    user_tests: str | None = None
    plan: str | None = None  # None until written (or never, with plan=False)
    history: list[Message] = field(default_factory=list)  # the last code request's messages
    tests: str | None = None
    test_source: TestSource | None = None  # None until the test suite is fixed
    rounds: Annotated[list[Round], operator.add] = field(default_factory=list)
    best: int = 1
    stopped: StopReason | None = None
    started: float = 0.0  # time.perf_counter() when the run began (for the time budget)
    distrusted: dict[str, str] = field(default_factory=dict)  # self tests outvoted -> why


def _emit(runtime: Runtime[AgentContext], kind: str, round_: int, /, **data: Any) -> None:
    writer = runtime.stream_writer
    if writer is not None:
        writer(AgentEvent(kind, round_, data))  # type: ignore[arg-type]


def _generate(ctx: AgentContext, messages: list[Message], max_tokens: int,
              stop: tuple[str, ...], prefix: str = "", seed: int | None = None) -> tuple[str, Any]:
    """Greedy reply to ``messages`` (sampled with ``seed`` when one is given); with ``prefix``
    the reply is made to start with it.

    Starting the reply with the code fence and the task's stub means a small model only writes
    the body instead of copying a long docstring (slow, and where greedy copies degenerate).
    That needs a generator that can continue a rendered prompt (``render`` + ``encode`` +
    ``stream_tokens``, as :class:`~ragkit.generation.local.LocalGenerator` has); any other
    generator gets the plain messages. The returned text includes the prefix.
    """
    if seed is None:
        params = SamplingParams(max_tokens=max_tokens, temperature=0.0, stop=stop)
    else:
        params = SamplingParams(max_tokens=max_tokens, temperature=ctx.config.sample_temperature,
                                top_p=0.95, seed=seed, stop=stop)
    gen: Any = ctx.generator
    if prefix and all(hasattr(gen, a) for a in ("render", "encode", "stream_tokens")):
        result = gen.stream_tokens(gen.render(messages) + gen.encode(prefix), params).collect()
        return prefix + result.text, result.usage
    result = ctx.generator.generate(messages, params)
    return result.text, result.usage


def code_prefix(stub: Stub | None) -> str:
    """How a code reply starts: the fence, then the stub when its function is still empty."""
    if stub is None or not stub_is_empty(stub):
        return "```python\n"
    return "```python\n" + stub.source.strip("\n") + "\n"


# -- nodes --------------------------------------------------------------------------------------
def plan_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    text, _ = _generate(ctx, prompts.plan_messages(state.task), ctx.config.plan_tokens, PLAN_STOP)
    plan = text.strip()
    _emit(runtime, "plan", len(state.rounds), plan=plan)
    return {"plan": plan}


def _passes(rnd: Round, distrusted: dict[str, str]) -> bool:
    """Every test passed, or every one the candidates did not outvote."""
    if rnd.tests is None:
        return False
    return rnd.tests.status == "passed" or (bool(distrusted) and passes_trusted(
        passed_names(rnd), [t.name for t in rnd.tests.tests], distrusted))


def first_kind(state: AgentState) -> RoundKind:
    """The kind of the next round: code from the plan once there is one; when the best
    candidate already passes its tests (it waits for a second opinion), an independent
    attempt rather than a repair of code that fails nothing; else a repair."""
    rounds = state.rounds
    if state.plan is not None and not any(r.kind == "plan" for r in rounds):
        return "plan"
    if not rounds:
        return "direct"
    if _passes(rounds[state.best - 1], state.distrusted):
        return next_kind(rounds)
    return "repair"


def next_kind(rounds: list[Round]) -> RoundKind:
    """What replaces a repair that reproduced an earlier candidate (pure).

    A direct attempt from the task alone when none was made yet (the plan's code and the
    repairs all saw more than the task), else a sampled direct attempt.
    """
    return "sampled" if any(r.kind == "direct" for r in rounds) else "direct"


def _request(state: AgentState, config: AgentConfig, kind: RoundKind) -> list[Message]:
    task, stub = state.task, state.stub
    if kind == "plan":
        return prompts.code_messages(task, stub, state.plan)
    if kind in ("direct", "sampled"):
        return prompts.code_messages(task, stub, None)
    rounds = state.rounds
    last = rounds[-1]
    if config.repair == "conversation":
        return prompts.repair_messages(state.history, last.reply, last.feedback or "")
    # fresh: repair the best candidate so far, unless the last one does not even compile;
    # the failures shown leave out the tests the candidates outvoted
    target = last if last.syntax_error is not None else rounds[state.best - 1]
    feedback = target.feedback or ""
    if target.tests is not None and state.tests and state.distrusted:
        feedback = prompts.test_feedback(target.tests, split_tests(state.tests),
                                         skip=state.distrusted)
    return prompts.fresh_repair_messages(task, stub, target.code, feedback)


def code_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    rounds = state.rounds
    stub = state.stub
    entry = stub.entry_point if stub else None
    index = len(rounds) + 1
    t0 = time.perf_counter()
    kind = first_kind(state)
    repeated: int | None = None
    tokens = [0, 0, 0]
    stop = CODE_STOP + demo_stops(state.task)
    for _attempt in range(2):  # a repair, then at most one replacement
        messages = _request(state, ctx.config, kind)
        seed = ctx.config.seed + index if kind == "sampled" else None
        reply, usage = _generate(ctx, messages, ctx.config.code_tokens, stop,
                                 code_prefix(stub), seed=seed)
        tokens = [tokens[0] + usage.prompt_tokens, tokens[1] + usage.cached_tokens,
                  tokens[2] + usage.completion_tokens]
        program = assemble_program(extract_code(reply, entry), stub)
        if stub is None:
            program = named_as_task(program, state.task)
        key = normalized(program)
        same = next((r.index for r in rounds if normalized(r.code) == key), None)
        if kind != "repair" or same is None:
            break
        repeated, kind = same, next_kind(rounds)
    error = check_program(program, entry)
    rnd = Round(
        index=index,
        reply=reply,
        code=program,
        kind=kind,
        repeated=repeated,
        syntax_error=error,
        prompt_tokens=tokens[0],
        cached_tokens=tokens[1],
        completion_tokens=tokens[2],
        seconds=time.perf_counter() - t0,
    )
    _emit(runtime, "code", rnd.index, code=program, reply=reply, syntax_error=error, kind=kind,
          repeated=repeated)
    return {"history": messages, "rounds": [rnd]}


def write_tests_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Fix the test suite once: the user's tests, else the worked examples the task shows
    (``test_example_*``) and a few asserts the model writes itself (``test_self_*``)."""
    ctx = runtime.context
    tests: str | None
    source: TestSource
    if state.user_tests:
        tests, source = state.user_tests, "user"
    else:
        stub = state.stub
        entry = stub.entry_point if stub else None
        latest = state.rounds[-1].code
        signature = stub.signature if stub else signature_of(latest, task=state.task)
        tests, source = None, "none"
        if signature:
            name = entry or signature.split("def ", 1)[-1].split("(", 1)[0].strip()
            examples = docstring_examples(state.task, name)
            messages = prompts.self_test_messages(state.task, signature, name, ctx.config.self_tests)
            reply, _ = _generate(ctx, messages, ctx.config.test_tokens, CODE_STOP,
                                 f"```python\nassert {name}(")
            shown = {(c.call, c.expected) for c in examples}
            checks = [c for c in parse_asserts(reply, name, ctx.config.self_tests)
                      if (c.call, c.expected) not in shown]
            parts = [render_tests(examples, "example")] if examples else []
            parts += [render_tests(checks, "self")] if checks else []
            if parts:
                tests, source = "\n\n".join(parts), "self"
    _emit(runtime, "tests", 0, phase="written", source=source, tests=tests)
    return {"tests": tests, "test_source": source}


def run_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    rounds = state.rounds
    rnd = rounds[-1]
    tests = state.tests
    if rnd.syntax_error is not None:
        rnd.feedback = prompts.syntax_feedback(rnd.syntax_error)
    elif tests:
        result = ctx.run_tests(rnd.code, tests, limits=ctx.config.limits)
        rnd.tests = result
        _emit(runtime, "tests", rnd.index, phase="run", result=result.to_dict())
        if result.status != "passed":
            rnd.feedback = prompts.test_feedback(result, split_tests(tests))
    distrusted = distrusted_tests(rounds, tests) if state.test_source == "self" else {}
    best = choose(rounds, trusted=state.test_source == "user", distrusted=distrusted)
    for r in rounds:
        r.best = r.index == best
    _emit(runtime, "round", rnd.index, **rnd.to_dict(), best_round=best, distrusted=distrusted)
    now = replace(state, distrusted=distrusted)
    return {"best": best, "distrusted": distrusted,
            "stopped": route_reason(now, ctx.config, time.perf_counter() - state.started)}


def route_reason(state: AgentState, config: AgentConfig,
                 elapsed: float = 0.0) -> StopReason | None:
    """Why the agent stops after the latest round, or None to repair (pure).

    ``elapsed``: seconds since the run began; another round is not started when it plus the
    slowest code round so far would pass ``config.time_budget_s``.
    """
    rnd = state.rounds[-1]
    if _passes(rnd, state.distrusted) and (
            state.test_source != "self" or not config.feedback
            or corroborated(state.rounds, rnd, state.distrusted)):
        return "passed"  # every test (the candidates did not outvote), and not on one say-so
    if not config.feedback:
        return "no_feedback"
    if rnd.index >= config.max_rounds:
        return "max_rounds"
    if rnd.syntax_error is None and not state.tests:
        return "no_tests"
    budget = config.time_budget_s
    if budget is not None and elapsed + max(r.seconds for r in state.rounds) > budget:
        return "time_budget"
    return None


# -- routing ------------------------------------------------------------------------------------
def after_start(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    cfg = runtime.context.config
    return "plan" if cfg.plan and cfg.plan_first else "code"


def after_code(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    """Fix the test suite once, before the first run that can use it."""
    if state.test_source is not None:
        return "run"
    if state.user_tests:
        return "write_tests"
    cfg = runtime.context.config
    compiles = state.rounds[-1].syntax_error is None
    return "write_tests" if cfg.feedback and cfg.self_tests > 0 and compiles else "run"


def after_run(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    """Finish, write the plan that was put off, or go back to code (a repair)."""
    if state.stopped:
        return END
    return "plan" if runtime.context.config.plan and state.plan is None else "code"


def build_graph() -> CompiledStateGraph:
    """The compiled graph; run it with ``context=AgentContext(...)``."""
    g = StateGraph(AgentState, context_schema=AgentContext)
    g.add_node("plan", plan_node)
    g.add_node("code", code_node)
    g.add_node("write_tests", write_tests_node)
    g.add_node("run", run_node)
    g.add_conditional_edges(START, after_start, ["plan", "code"])
    g.add_edge("plan", "code")
    g.add_conditional_edges("code", after_code, ["write_tests", "run"])
    g.add_edge("write_tests", "run")
    g.add_conditional_edges("run", after_run, ["plan", "code", END])
    return g.compile()
