"""A test process's outcome: status, one-line message, where it failed (stdlib only; inlined).

Owns :func:`_outcome`, which the test process calls with the exception its test raised (or
None): the message names the deepest line of the code or tests involved (the code's own line
when the exception came from the candidate process, see ``remote.py``) and, for a failing
``assert a == b``, re-evaluates both sides under a short alarm to show what the code returned.
It knows nothing about processes or pipes; the runner sends the outcome.
"""

from __future__ import annotations

import _signal as signal  # the C module: `signal` itself imports enum, which is slow to load

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SRC_FILES = ("<solution>", "<tests>")


def _where(tb: Any, sources: dict[str, list[str]]) -> tuple[str, int, str, Any]:
    """Deepest frame inside the candidate's code or tests: (file, line, text, frame)."""
    found: tuple[str, int, str, Any] = ("", 0, "", None)
    while tb is not None:
        fname = tb.tb_frame.f_code.co_filename
        if fname in sources:
            lines = sources[fname]
            text = lines[tb.tb_lineno - 1].strip() if 0 < tb.tb_lineno <= len(lines) else ""
            found = (fname, tb.tb_lineno, text, tb.tb_frame)
        tb = tb.tb_next
    return found


def _explain_assert(source: str, line: int, frame: Any, budget_s: float = 0.5) -> str:
    """For a failing ``assert a == b`` re-evaluate both sides to show what the code returned.

    The re-evaluation runs candidate code again, so it gets ``budget_s`` (SIGALRM) and any
    failure just means no explanation.
    """
    import ast

    def out_of_time(_sig: int, _frame: Any) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, budget_s)
    try:
        node = next(
            n for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Assert) and n.lineno <= line <= (n.end_lineno or n.lineno)
        )
        test = node.test
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return ""
        env = dict(frame.f_globals)
        env.update(frame.f_locals)
        left = eval(compile(ast.Expression(test.left), "<assert>", "eval"), env)
        right = eval(compile(ast.Expression(test.comparators[0]), "<assert>", "eval"), env)
        if isinstance(test.ops[0], ast.Eq):
            return f" (got {repr(left)[:200]}, expected {repr(right)[:200]})"
        return f" (left side: {repr(left)[:200]}, right side: {repr(right)[:200]})"
    except BaseException:  # noqa: BLE001 - best effort only
        return ""
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _outcome(name: str, err: BaseException | None, phase: str, job: dict) -> dict[str, Any]:
    if err is None:
        return {"name": name, "status": "passed", "message": "", "kind": "", "phase": phase}
    import linecache
    import traceback

    sources = {"<solution>": job["code"].splitlines(), "<tests>": job["tests"].splitlines()}
    for fname, text in (("<solution>", job["code"]), ("<tests>", job["tests"])):
        linecache.cache[fname] = (len(text), None, text.splitlines(True), fname)
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename in SRC_FILES]
    remote = getattr(err, "_sbx_remote", None)  # raised by the code, in the candidate process
    remote = remote if isinstance(remote, tuple) and len(remote) == 2 else None
    tb_text = "".join(traceback.format_list(frames)) + (remote[1] if remote else "") + "".join(
        traceback.format_exception_only(type(err), err)
    )
    last = traceback.format_exception_only(type(err), err)[-1].strip()
    fname, line, text, frame = _where(err.__traceback__, sources)
    where = f" at {fname.strip('<>')} line {line}: {text}" if fname else ""
    if remote:
        where, frame = remote[0] or where, None
    kind = "exception"
    if isinstance(err, AssertionError):
        kind = "assert"
        if frame is not None:
            where += _explain_assert("\n".join(sources[fname]), line, frame)
    elif isinstance(err, MemoryError):
        kind = "memory"
    status = "failed" if kind == "assert" else "error"
    return {"name": name, "status": status, "message": last + where, "kind": kind,
            "phase": phase, "traceback": tb_text[-4000:], "last": last}
