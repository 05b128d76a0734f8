"""The code agent as a LangGraph graph: plan -> code -> (write tests) -> run -> repair or finish.

Owns the nodes (each ``state -> partial state``), the routing function after a test run, and
the graph's assembly. The generator, the settings and the test runner arrive through the
runtime context (:class:`AgentContext`), never as globals; each node reports what it did as an
:class:`~ragkit.codeagent.types.AgentEvent` on LangGraph's custom stream.

Routing after a round: stop when every test passed; stop after one round when feedback is off;
stop at ``max_rounds``; stop when nothing can be checked (no tests and the code compiles);
otherwise send the failure (or the syntax error) back to the model for a repair round.
Does not: load models, execute code itself (the sandbox does) or format output for people.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from ragkit.codeagent import prompts
from ragkit.codeagent.extract import (
    Stub,
    assemble_program,
    check_program,
    extract_code,
    signature_of,
    split_tests,
    stub_is_empty,
)
from ragkit.codeagent.selection import choose
from ragkit.codeagent.testgen import parse_asserts, render_tests
from ragkit.codeagent.types import AgentConfig, AgentEvent, Round, StopReason, TestSource
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


class AgentState(TypedDict, total=False):
    task: str
    stub: Stub | None
    user_tests: str | None
    plan: str | None
    history: list[Message]  # the messages of the last code request
    tests: str | None
    test_source: TestSource
    rounds: Annotated[list[Round], operator.add]
    best: int
    stopped: StopReason


def _emit(runtime: Runtime[AgentContext], kind: str, round_: int, **data: Any) -> None:
    writer = runtime.stream_writer
    if writer is not None:
        writer(AgentEvent(kind, round_, data))  # type: ignore[arg-type]


def _generate(ctx: AgentContext, messages: list[Message], max_tokens: int,
              stop: tuple[str, ...], prefix: str = "") -> tuple[str, Any]:
    """Greedy reply to ``messages``; with ``prefix`` the reply is made to start with it.

    Starting the reply with the code fence and the task's stub means a small model only writes
    the body instead of copying a long docstring (slow, and where greedy copies degenerate).
    That needs a generator that can continue a rendered prompt (``render`` + ``encode`` +
    ``stream_tokens``, as :class:`~ragkit.generation.local.LocalGenerator` has); any other
    generator gets the plain messages. The returned text includes the prefix.
    """
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, stop=stop)
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
    text, _ = _generate(ctx, prompts.plan_messages(state["task"]), ctx.config.plan_tokens, PLAN_STOP)
    plan = text.strip()
    _emit(runtime, "plan", 0, plan=plan)
    return {"plan": plan}


def code_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    rounds = state.get("rounds", [])
    stub = state.get("stub")
    if not rounds:
        messages = prompts.code_messages(state["task"], stub, state.get("plan"))
    else:
        last = rounds[-1]
        messages = prompts.repair_messages(state["history"], last.reply, last.feedback or "")
    t0 = time.perf_counter()
    reply, usage = _generate(ctx, messages, ctx.config.code_tokens, CODE_STOP, code_prefix(stub))
    entry = stub.entry_point if stub else None
    program = assemble_program(extract_code(reply, entry), stub)
    error = check_program(program, entry)
    rnd = Round(
        index=len(rounds) + 1,
        reply=reply,
        code=program,
        syntax_error=error,
        prompt_tokens=usage.prompt_tokens,
        cached_tokens=usage.cached_tokens,
        completion_tokens=usage.completion_tokens,
        seconds=time.perf_counter() - t0,
    )
    _emit(runtime, "code", rnd.index, code=program, reply=reply, syntax_error=error)
    return {"history": messages, "rounds": [rnd]}


def write_tests_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Fix the test suite once: the user's tests, else a few the model writes itself."""
    ctx = runtime.context
    if state.get("user_tests"):
        tests, source = state["user_tests"], "user"
    else:
        stub = state.get("stub")
        entry = stub.entry_point if stub else None
        latest = state["rounds"][-1].code
        signature = stub.signature if stub else signature_of(latest)
        tests, source = None, "none"
        if signature:
            name = entry or signature.split("def ", 1)[-1].split("(", 1)[0].strip()
            messages = prompts.self_test_messages(state["task"], signature, name, ctx.config.self_tests)
            reply, _ = _generate(ctx, messages, ctx.config.test_tokens, CODE_STOP,
                                 f"```python\nassert {name}(")
            checks = parse_asserts(reply, name, ctx.config.self_tests)
            if checks:
                tests, source = render_tests(checks, "self"), "self"
    _emit(runtime, "tests", 0, phase="written", source=source, tests=tests)
    return {"tests": tests, "test_source": source}


def run_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    rounds = state["rounds"]
    rnd = rounds[-1]
    tests = state.get("tests")
    if rnd.syntax_error is not None:
        rnd.feedback = prompts.syntax_feedback(rnd.syntax_error)
    elif tests:
        result = ctx.run_tests(rnd.code, tests, limits=ctx.config.limits)
        rnd.tests = result
        _emit(runtime, "tests", rnd.index, phase="run", result=result.to_dict())
        if result.status != "passed":
            rnd.feedback = prompts.test_feedback(result, split_tests(tests))
    best = choose(rounds, trusted=state.get("test_source") == "user")
    for r in rounds:
        r.best = r.index == best
    _emit(runtime, "round", rnd.index, **rnd.to_dict(), best_round=best)
    return {"best": best, "stopped": route_reason(state, ctx.config)}


def route_reason(state: AgentState, config: AgentConfig) -> StopReason | None:
    """Why the agent stops after the latest round, or None to repair (pure)."""
    rnd = state["rounds"][-1]
    if rnd.tests is not None and rnd.tests.status == "passed":
        return "passed"
    if not config.feedback:
        return "no_feedback"
    if rnd.index >= config.max_rounds:
        return "max_rounds"
    if rnd.syntax_error is None and not state.get("tests"):
        return "no_tests"
    return None


# -- routing ------------------------------------------------------------------------------------
def after_start(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    return "plan" if runtime.context.config.plan else "code"


def after_code(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    """Fix the test suite once, before the first run that can use it."""
    if "test_source" in state:
        return "run"
    if state.get("user_tests"):
        return "write_tests"
    cfg = runtime.context.config
    compiles = state["rounds"][-1].syntax_error is None
    return "write_tests" if cfg.feedback and cfg.self_tests > 0 and compiles else "run"


def after_run(state: AgentState) -> str:
    return END if state.get("stopped") else "code"


def build_graph() -> Any:
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
    g.add_conditional_edges("run", after_run, ["code", END])
    return g.compile()
