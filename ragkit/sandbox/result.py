"""What a sandbox run returns, and the pure function that builds it from the runner's events.

Owns :class:`TestOutcome`, :class:`Isolation`, :class:`SandboxResult` and
:func:`build_result`. It does no I/O: the launcher hands it the JSON events the runner wrote on
its private result pipe plus what the launcher saw itself (wall-clock kill, exit status,
captured output).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

RunStatus = Literal["passed", "failed", "error", "timeout", "memory_exceeded"]
TestStatus = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class TestOutcome:
    """One test: ``status`` is passed, failed (an assertion) or error (anything else).

    ``message`` is one line meant for a model or a person: the exception line, where it was
    raised (``tests line 4: assert f(2) == 5``) and, for a failing ``==``-style assert, the value
    the code produced. ``kind`` refines ``error``: exception, memory, timeout, crash, not_run.
    """

    __test__ = False  # not a pytest class

    name: str
    status: TestStatus
    message: str = ""
    kind: str = ""
    traceback: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Isolation:
    """Which protections were really applied to this run (they depend on OS and privileges).

    ``network``: own network namespace (no interfaces up). ``files``: own root file system
    holding only the ``visible`` paths (read-only) and the work dir, with ``hidden`` dirs inside
    visible ones covered. ``read_only``: everything but the work dir is read-only. ``pids``: own
    PID namespace (/proc shows only the run). ``uid``: the run's own unprivileged uid for the
    candidate's code, ``test_uid`` another for the tests (None: the caller's uid). ``cgroup``: cgroup1/cgroup2 when the whole run's memory and process
    count were capped by a cgroup ("" when only the lowered process cap bounds them).
    ``notes``: what was not applied and why.
    """

    network: bool = False
    files: bool = False
    read_only: bool = False
    pids: bool = False
    uid: int | None = None
    test_uid: int | None = None
    cgroup: str = ""
    hidden: tuple[str, ...] = ()
    visible: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "files": self.files, "read_only": self.read_only,
                "pids": self.pids, "uid": self.uid, "test_uid": self.test_uid,
                "cgroup": self.cgroup, "hidden": list(self.hidden),
                "visible": list(self.visible), "notes": list(self.notes)}


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of running code against tests in the sandbox."""

    status: RunStatus
    tests: list[TestOutcome] = field(default_factory=list)
    passed: int = 0
    total: int = 0
    last_error: str = ""
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    isolation: Isolation = field(default_factory=Isolation)

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def failures(self) -> list[TestOutcome]:
        return [t for t in self.tests if t.status != "passed"]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "tests": [t.to_dict() for t in self.tests],
                "passed": self.passed, "total": self.total, "last_error": self.last_error,
                "stdout": self.stdout, "stderr": self.stderr,
                "duration_s": round(self.duration_s, 4), "isolation": self.isolation.to_dict()}


def trim(data: bytes, dropped: int, limit: int) -> str:
    """Decode captured output; say how much was cut so nobody mistakes it for the whole."""
    text = data[:limit].decode("utf-8", "replace")
    extra = dropped + max(0, len(data) - limit)
    return text + (f"\n... [{extra} more bytes not shown]" if extra else "")


def _isolation(ev: dict[str, Any] | None) -> Isolation:
    if ev is None:
        return Isolation(notes=("the runner did not report its isolation",))
    return Isolation(network=bool(ev.get("network")), files=bool(ev.get("files")),
                     read_only=bool(ev.get("read_only")), pids=bool(ev.get("pids")),
                     uid=ev.get("uid"), test_uid=ev.get("test_uid"), cgroup=str(ev.get("cgroup") or ""), hidden=tuple(ev.get("hidden", ())),
                     visible=tuple(ev.get("visible", ())), notes=tuple(ev.get("notes", ())))


def build_result(
    events: list[dict[str, Any]],
    *,
    killed: bool,
    exit_code: int | None,
    stdout: str,
    stderr: str,
    duration_s: float,
    expected: list[str] | None = None,
) -> SandboxResult:
    """Turn runner events into a :class:`SandboxResult`.

    ``killed``: the launcher hit the wall-clock limit and killed the whole process group.
    ``expected``: test names the launcher knows of, so that tests never started are listed.
    """
    iso = next((e for e in events if e.get("event") == "isolation"), None)
    common: dict[str, Any] = {"stdout": stdout, "stderr": stderr, "duration_s": duration_s,
                              "isolation": _isolation(iso)}
    bad = next((e for e in events if e.get("event") == "compile_error"), None)
    if bad is not None:
        which = "code" if bad.get("what") == "code" else "tests"
        return SandboxResult(status="error", last_error=f"{which}: {bad.get('message', '')}",
                             **common)
    outcomes: dict[str, TestOutcome] = {}
    lasts: dict[str, str] = {}
    order: list[str] = []
    running: str | None = None
    solution_failed: dict[str, Any] | None = None
    for ev in events:
        kind = ev.get("event")
        if kind == "start":
            running = str(ev.get("name"))
            order.append(running)
        elif kind == "end":
            name = str(ev.get("name"))
            outcomes[name] = TestOutcome(name=name, status=ev.get("status", "error"),
                                         message=str(ev.get("message", "")),
                                         kind=str(ev.get("kind", "")),
                                         traceback=str(ev.get("traceback", "")))
            lasts[name] = str(ev.get("last") or ev.get("message", ""))
            if ev.get("phase") == "solution" and ev.get("status") != "passed":
                solution_failed = ev
            running = None
    done = any(e.get("event") == "done" for e in events)
    if running is not None:
        why = "the run hit its wall-clock limit" if killed else "the sandbox runner died"
        outcomes[running] = TestOutcome(running, "error", f"TimeoutError: {why}",
                                        kind="timeout" if killed else "crash")
    for name in expected or []:
        if name not in outcomes and solution_failed is None:
            order.append(name)
            outcomes[name] = TestOutcome(name, "error", "not run: no time left", kind="not_run")
    tests = [outcomes[n] for n in order]
    passed = sum(t.status == "passed" for t in tests)
    failing = [t for t in tests if t.status != "passed"]
    last_error = lasts.get(failing[-1].name, failing[-1].message) if failing else ""
    kinds = {t.kind for t in tests}
    if solution_failed is not None and solution_failed.get("kind") not in ("memory", "timeout"):
        status: RunStatus = "error"
        last_error = f"code: {solution_failed.get('last') or solution_failed.get('message')}"
    elif killed or "timeout" in kinds:
        status = "timeout"
    elif "memory" in kinds:
        status = "memory_exceeded"
    elif not done or not tests:
        status = "error"
        last_error = last_error or f"the sandbox runner exited with code {exit_code}"
    else:
        status = "failed" if failing else "passed"
    if status == "timeout" and not last_error:
        last_error = "TimeoutError: the run did not finish within its time limit"
    return SandboxResult(status=status, tests=tests, passed=passed, total=len(tests),
                         last_error=last_error, **common)
