"""The code agent's prompts: templates as package data and the pure functions that fill them.

Owns: loading ``ragkit/prompts/codeagent/*.txt``, building the message lists for the plan, the
code, the repair and the self-test calls, and the feedback text a failed round sends back.
Every conversation starts with the same system message and task block, and a repair round
only appends messages, so the generator's prefix cache reuses everything already computed.
Does not: call the model or run anything.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING

from ragkit.codeagent.extract import Stub
from ragkit.types import Message

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.sandbox import SandboxResult

MAX_FAILURES_SHOWN = 3
MAX_OUTPUT_CHARS = 600


@cache
def template(name: str) -> Template:
    text = resources.files("ragkit").joinpath("prompts", "codeagent", f"{name}.txt").read_text(
        encoding="utf-8"
    )
    return Template(text.strip("\n"))


def fill(template_name: str, /, **values: str) -> str:
    return template(template_name).substitute(**values)


def _target(stub: Stub | None) -> str:
    return f"the function `{stub.entry_point}`" if stub else "the requested function"


def task_block(task: str) -> str:
    return fill("task", task=task.strip("\n"))


def start() -> list[Message]:
    """The system message every conversation of the agent starts with."""
    return [Message("system", fill("system"))]


def plan_messages(task: str) -> list[Message]:
    return [*start(), Message("user", fill("plan", task_block=task_block(task)))]


def code_messages(task: str, stub: Stub | None, plan: str | None) -> list[Message]:
    """First code request: after the plan when there is one, else straight from the task."""
    if plan is None:
        text = fill("code_single", task_block=task_block(task), target=_target(stub))
        return [*start(), Message("user", text)]
    return [
        *plan_messages(task),
        Message("assistant", plan),
        Message("user", fill("code_after_plan", target=_target(stub))),
    ]


def repair_messages(history: list[Message], reply: str, feedback: str) -> list[Message]:
    """The conversation so far plus the last reply and the feedback on it."""
    return [*history, Message("assistant", close_fence(reply)), Message("user", fill("repair", feedback=feedback))]


def fresh_repair_messages(task: str, stub: Stub | None, code: str, feedback: str) -> list[Message]:
    """A new conversation: the task, one earlier candidate and what its tests said, no plan.

    A small model shown its own plan and reply tends to write the same code again; seeing
    the candidate as a stranger's attempt with the failing calls (got vs expected) breaks that.
    """
    text = fill("repair_fresh", task_block=task_block(task), target=_target(stub),
                code=code.strip("\n"), feedback=feedback)
    return [*start(), Message("user", text)]


def self_test_messages(task: str, signature: str, name: str, count: int) -> list[Message]:
    text = fill("self_tests", task_block=task_block(task), count=str(count), signature=signature, name=name)
    return [*start(), Message("user", text)]


def close_fence(reply: str) -> str:
    """A reply cut at the stop string ``\\n```\\n`` gets its closing fence back."""
    if reply.count("```") % 2 == 1:
        return reply.rstrip("\n") + "\n```"
    return reply


def syntax_feedback(error: str) -> str:
    return f"Your code cannot run: {error}."


def test_feedback(result: SandboxResult, test_sources: dict[str, str],
                  skip: Collection[str] = ()) -> str:
    """What went wrong in a test run, in a form a small model can act on.

    Names up to three failing tests with their source (when it is short) and the assertion or
    exception message, plus the tail of what the program printed. Tests in ``skip`` (the ones
    the candidates outvoted as wrong) are left out, counts included.
    """
    if result.status == "timeout":
        head = "Running the tests timed out: the code is too slow or never finishes (an endless loop?)."
    elif result.status == "memory_exceeded":
        head = "Running the tests ran out of memory: the code builds something far too large."
    elif result.status == "error":
        head = f"Your code fails before any test runs: {result.last_error or 'it does not import'}."
    else:
        kept = [t for t in result.tests if t.name not in skip]
        passed = sum(t.status == "passed" for t in kept)
        head = f"Your code passed {passed} of {len(kept)} tests."
    parts = [head]
    failing = [t for t in result.tests if t.status != "passed" and t.name not in skip
               and not (t.message or "").startswith("not run")]
    for t in failing[:MAX_FAILURES_SHOWN]:
        src = test_sources.get(t.name, "")
        shown = f"\n```python\n{src.strip()}\n```" if src and len(src) <= 500 and "got = " not in src else ""
        message = (t.message or "").strip() or "failed"
        if "got = " in src and " at tests line " in message:  # our own check: the text says it all
            message = message.split(" at tests line ", 1)[0]
        parts.append(f"Test `{t.name}` failed:{shown}\n{_trim(message)}")
    if len(failing) > MAX_FAILURES_SHOWN:
        parts.append(f"({len(failing) - MAX_FAILURES_SHOWN} more tests failed.)")
    out = (result.stdout or "").strip()
    if out:
        parts.append(f"The program printed:\n{_trim(out)}")
    return "\n\n".join(parts)


def _trim(text: str) -> str:
    text = text.strip()
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return "..." + text[-MAX_OUTPUT_CHARS:]
