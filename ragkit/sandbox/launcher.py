"""The parent side of the sandbox: start the runner, enforce the wall clock, collect results.

Owns :func:`run_tests`. For each call it creates a private temporary work dir (deleted after),
picks two fresh unprivileged uids for the run when running as root (the code's and the
tests'), makes the run's cgroup
(``cgroup.py``; removed after), starts ``python -I -S -c <runner source>`` in its own session
with a scrubbed environment, moves it into the cgroup, sends the job on stdin and reads three pipes: stdout, stderr (kept up to ``max_output_bytes`` each) and a
private result pipe carrying the runner's events. Code and tests are compiled here first: a
syntax error is reported without starting any process. When the wall clock runs out it kills the
whole process group and every process left with the run's uids. It uses no ``preexec_fn``, so it
is safe to call from threads.

What happens inside the sandbox (namespaces, rlimits, uid drop) is the runner's job
(``runner.py``); turning events into a result is ``result.build_result``.
"""

from __future__ import annotations

import ast
import contextlib
import keyword
import marshal
import os
import random
import selectors
import shutil
import signal
import site
import struct
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from importlib import resources
from typing import IO, Any

from ragkit.sandbox import cgroup
from ragkit.sandbox.confine import make_work_dirs
from ragkit.sandbox.limits import DEVICES, MIB, SandboxLimits, default_hidden_paths, visible_paths
from ragkit.sandbox.result import Isolation, SandboxResult, build_result, trim

#: Seconds the launcher allows on top of ``timeout_s`` for the runner to start and clean up.
GRACE_S = 3.0


#: The files of the runner script, in order; each later one's ``# sandbox: inline`` imports
#: name what an earlier one defines.
RUNNER_FILES = ("confine.py", "wire.py", "remote.py", "report.py", "runner.py")


@lru_cache(maxsize=1)
def runner_source() -> str:
    """One ``-c`` script: :data:`RUNNER_FILES` concatenated (after the first, each file's
    ``# sandbox: inline`` imports, one line or a parenthesised block, and its
    ``from __future__`` line are removed: those names are defined above it)."""
    pkg = resources.files("ragkit.sandbox")
    parts = [pkg.joinpath(RUNNER_FILES[0]).read_text(encoding="utf-8")]
    for name in RUNNER_FILES[1:]:
        kept, skipping = [], False
        for line in pkg.joinpath(name).read_text(encoding="utf-8").splitlines():
            if line.endswith("(  # sandbox: inline"):
                skipping = True
            elif skipping:
                skipping = line != ")"
            elif (not line.endswith("# sandbox: inline")
                  and line != "from __future__ import annotations"):
                kept.append(line)
        parts.append("\n".join(kept))
    return "\n".join(parts) + "\n"


def _uid_range() -> tuple[int, int]:
    """The widest uid range this process may switch to (its user namespace's map)."""
    best = (0, 65536)
    with contextlib.suppress(OSError), open("/proc/self/uid_map", encoding="ascii") as fh:
        for line in fh:
            inside, _outside, count = (int(x) for x in line.split())
            if count > best[1] - best[0]:
                best = (inside, inside + count)
    return best


def pick_uid(other: int | None = None) -> int:
    """A uid no account uses, so its process count, signals and files belong to this run only
    (and not ``other``: the run's candidate and test processes get one each)."""
    lo, hi = _uid_range()
    if hi - lo > 2_000_000_000:
        lo, hi = 1_000_000_000, 2_000_000_000
    else:
        lo = max(lo + (hi - lo) // 2, lo + 1)
        hi = hi - 2  # keep clear of the overflow uid at the top of the range
    while True:
        uid = random.randrange(lo, hi)
        if uid != other:
            return uid


def uid_processes(uid: int) -> list[int]:
    """Live (not zombie) pids whose real uid is ``uid`` (a /proc scan)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with (
            contextlib.suppress(OSError),
            open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh,
        ):
            for line in fh:
                if line.startswith("State:") and line.split()[1] == "Z":
                    break
                if line.startswith("Uid:"):
                    if int(line.split()[1]) == uid:
                        pids.append(int(entry))
                    break
    return pids


def kill_uid(uid: int, rounds: int = 50) -> None:
    """Kill every process of ``uid``, again and again until none is left (fork bombs race)."""
    cgroup.kill_until_gone(lambda: uid_processes(uid), rounds)


def scrubbed_env(workdir: str) -> dict[str, str]:
    """The whole environment the sandbox gets: nothing inherited from the caller."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def find_tests(tests_tree: ast.Module) -> list[str]:
    """Top-level ``test_*`` functions in source order (a redefinition keeps the first place)."""
    names: list[str] = []
    for node in tests_tree.body:
        is_def = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        if is_def and node.name.startswith("test_") and node.name not in names:
            names.append(node.name)
    return names


def check_syntax(code: str, tests: str) -> tuple[list[str], str]:
    """Compile both sources (nothing runs). Returns (test names, "" or the error line)."""
    for what, src, fname in (("code", code, "<solution>"), ("tests", tests, "<tests>")):
        try:
            compile(src, fname, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            if isinstance(exc, SyntaxError):
                return [], f"{what}: SyntaxError: {exc.msg} (line {exc.lineno})"
            return [], f"{what}: {type(exc).__name__}: {exc}"
    return find_tests(ast.parse(tests)), ""


def _job(code: str, tests: str, names: list[str], module: str, limits: SandboxLimits,
         workdir: str,
         uids: tuple[int, int] | None, result_fd: int, group: cgroup.RunGroup | None,
         why_no_group: str) -> dict[str, Any]:
    uid, test_uid = uids or (None, None)
    lim = limits.to_dict()
    nproc_base = 0
    if uid is None:  # not root: RLIMIT_NPROC counts all of this user's processes
        nproc_base = len(uid_processes(os.getuid()))
    notes = []
    if group is None:  # the process cap must keep processes x memory_mb within the budget
        sides = 2 if uid is not None else 1  # with two uids each has its own RLIMIT_NPROC
        lim["max_processes"] = max(1, min(limits.max_processes,
                                          limits.run_memory_mb // limits.memory_mb // sides))
        notes.append(f"{why_no_group}: the run's memory is bounded only by "
                     f"{lim['max_processes'] * sides} processes x {limits.memory_mb} MB")
    return {"code": code, "tests": tests, "names": names, "module": module, "limits": lim,
            "workdir": workdir,
            "uid": uid, "test_uid": test_uid, "root": workdir, "notes": notes,
            "cgroup": group.kind if group is not None else "",
            "result_fd": result_fd, "nproc_base": nproc_base,
            "oom_events": group.events if group is not None else None,
            "isolate_network": limits.isolate_network, "isolate_files": limits.isolate_files,
            "hide": default_hidden_paths(limits.hide_paths), "visible": visible_paths(),
            "devices": list(DEVICES),
            "site_paths": [p for p in site.getsitepackages() if os.path.isdir(p)]}


def _start(limits: SandboxLimits, workdir: str, uids: tuple[int, int] | None, wfd: int,
           job_parts: tuple[str, str, list[str], str]) -> tuple[subprocess.Popen[bytes],
                                                           cgroup.RunGroup | None]:
    """Start the runner inside the run's cgroup (made here) and send it its job."""
    # + the runner's two processes, the test process and a killer it forks
    group, why = cgroup.create(limits.run_memory_mb * MIB, limits.max_processes + 4)
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-I", "-S", "-c", runner_source()],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        pass_fds=(wfd,), start_new_session=True, env=scrubbed_env(workdir), cwd=workdir,
    )
    if group is not None:
        try:  # the runner forks nothing before it has read its job: nothing escapes the group
            group.join(proc.pid)
        except OSError as exc:
            group.remove()
            group, why = None, f"could not join the run's cgroup ({exc})"
    job = _job(*job_parts, limits, workdir, uids, wfd, group, why)
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(marshal.dumps(job))
        proc.stdin.close()
    return proc, group


class _Capture:
    """Bounded reader for one pipe: keeps the first ``limit`` bytes, counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit, self.data, self.dropped = limit, bytearray(), 0

    def feed(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        self.data += chunk[: max(room, 0)]
        self.dropped += max(len(chunk) - max(room, 0), 0)


def _pump(proc: subprocess.Popen[bytes], result: IO[bytes], deadline: float,
          limit: int) -> tuple[list[dict[str, Any]], bool, _Capture, _Capture]:
    """Read the three pipes until the runner is gone or the deadline passes."""
    out, err, res = _Capture(limit), _Capture(limit), _Capture(8 << 20)
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    for f, cap in ((proc.stdout, out), (proc.stderr, err), (result, res)):
        sel.register(f, selectors.EVENT_READ, cap)
    killed = False
    while sel.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            killed = True
            break
        for key, _ in sel.select(timeout=min(left, 0.5)):
            chunk = os.read(key.fd, 65536)
            if chunk:
                key.data.feed(chunk)
            else:
                sel.unregister(key.fileobj)
        if result not in [k.fileobj for k in sel.get_map().values()] and proc.poll() is not None:
            break  # runner gone and its result pipe closed: leftovers cannot be ours to wait for
    sel.close()
    return read_events(bytes(res.data)), killed, out, err


def read_events(data: bytes) -> list[dict[str, Any]]:
    """Length-prefixed marshal frames from the runner; a frame cut short by a kill is dropped."""
    events, pos = [], 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        frame = data[pos + 4 : pos + 4 + size]
        if len(frame) < size:
            break
        ev = marshal.loads(frame)
        if isinstance(ev, dict):
            events.append(ev)
        pos += 4 + size
    return events


def run_tests(code: str, tests: str, *, limits: SandboxLimits | None = None,
              module: str = "solution") -> SandboxResult:
    """Run ``code`` as module ``solution``, then each top-level ``test_*`` of ``tests``.

    ``module`` is a second name the tests may import the code under (``sol`` for a file
    ``sol.py``: ``from sol import add``); one that is not a plain identifier is ignored.

    Every test runs in its own process, so one failure, crash or hang does not stop the next;
    the code (and the tests' top level) therefore runs once per test, and its top-level output
    appears once per test. Never raises for anything the code or tests do: that is all reported
    in the result.
    """
    limits = limits or SandboxLimits()
    start = time.monotonic()
    names, bad = check_syntax(code, tests)
    if bad:
        return SandboxResult(status="error", last_error=bad, duration_s=time.monotonic() - start,
                             isolation=Isolation(notes=("nothing ran: the source does not compile",)))
    workdir = tempfile.mkdtemp(prefix="ragkit-sbx-")
    uid = pick_uid() if os.geteuid() == 0 and limits.drop_privileges else None
    uids = (uid, pick_uid(uid)) if uid is not None else None
    rfd, wfd = os.pipe()
    group: cgroup.RunGroup | None = None
    try:
        make_work_dirs(workdir, uids)
        alias = module if module.isidentifier() and not keyword.iskeyword(module) else "solution"
        proc, group = _start(limits, workdir, uids, wfd, (code, tests, names, alias))
        os.close(wfd)
        wfd = -1
        with open(rfd, "rb", buffering=0, closefd=False) as result:
            deadline = start + limits.timeout_s + GRACE_S
            events, killed, out, err = _pump(proc, result, deadline, limits.max_output_bytes)
        if killed or proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        exit_code = proc.wait()
        clean = exit_code == 0 and any(e.get("event") == "done" for e in events)
        if uids is not None and not clean:  # the runner sweeps after each test when it finishes
            for u in uids:
                kill_uid(u)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
    finally:
        if group is not None:
            group.remove()
        for fd in (rfd, wfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        _remove(workdir)
    return build_result(
        events, killed=killed, exit_code=exit_code, expected=names or ["tests"],
        stdout=trim(bytes(out.data), out.dropped, limits.max_output_bytes),
        stderr=trim(bytes(err.data), err.dropped, limits.max_output_bytes),
        duration_s=time.monotonic() - start,
    )


def _remove(path: str) -> None:
    """Delete the work dir even if the candidate removed permissions inside it."""

    def fix(func: Any, p: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)

    shutil.rmtree(path, onexc=fix) if sys.version_info >= (3, 12) else shutil.rmtree(
        path, onerror=fix
    )
