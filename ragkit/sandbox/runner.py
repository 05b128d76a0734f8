"""The in-child runner: the script the sandbox's fresh interpreter executes (stdlib only).

The launcher starts ``python -I -S -c <this file's source>`` and writes one job on its stdin
(``marshal``; the launcher has already compiled the code and tests and lists the test names).
This script owns everything that happens inside the sandbox process tree; it never runs
candidate code itself. It:

1. makes itself non-dumpable and safe from the OOM killer, then confines itself with
   ``confine.isolate`` (network and mount namespaces, a new read-only root; that file's source
   is prepended to this one by the launcher) and ``confine.pid_namespace``: from there on its
   first child, pid 1 of a new PID namespace with its own /proc, does the rest while the
   first process only waits for it;
2. for each test forks a child that closes every fd but stdio and its report pipe, sets
   rlimits, drops to the run's own unprivileged uid with no-new-privs, runs the code as module
   ``solution``, then the tests source, then the test;
3. reports length-prefixed ``marshal`` events on the result fd the launcher passed in, which
   only root processes of the runner hold. Each test process reports its own outcome on a
   private pipe, and only a report from the direct child's pid is accepted, so a candidate
   can misreport its own test (see the package docs) but no other; a test killed while the
   run's cgroup counted a new OOM kill is reported as a memory error;
4. after each test kills every process of the run's uid (``kill(-1)`` from that uid) and reaps
   them (it is a child subreaper), so nothing a test started outlives it.

It does not enforce the wall-clock limit of the whole run (the launcher does) and knows nothing
about ragkit: it must run from ``-c`` with only the standard library. Start-up cost matters
(one interpreter per run), so it imports little and loads ``traceback``/``ast`` only in a test
process that failed. A test process reports as one line of tab-separated,
``unicode_escape``-encoded fields: the runner never unmarshals what a candidate process wrote.
"""

from __future__ import annotations

import _signal as signal  # the C module: `signal` itself imports enum, which is slow to load
import marshal
import os
import resource
import select
import struct
import sys
import time

from ragkit.sandbox.confine import (  # sandbox: inline
    isolate,
    libc,
    oom_kills,
    open_oom_counter,
    pid_namespace,
    readable_by_others,
    set_oom_score,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
MAX_REPORT = 1 << 20
SRC_FILES = ("<solution>", "<tests>")
#: Fields of a test process's report, in order.
FIELDS = ("pid", "name", "status", "kind", "phase", "message", "last", "traceback")


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
    tb_text = "".join(traceback.format_list(frames)) + "".join(
        traceback.format_exception_only(type(err), err)
    )
    last = traceback.format_exception_only(type(err), err)[-1].strip()
    fname, line, text, frame = _where(err.__traceback__, sources)
    where = f" at {fname.strip('<>')} line {line}: {text}" if fname else ""
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


def _drop(job: dict[str, Any]) -> None:
    """In a fresh child: rlimits, stdin, privileges, cwd. Runs before any candidate code."""
    set_oom_score(0)
    lim = job["limits"]
    mem = min(lim["memory_mb"], lim["run_memory_mb"]) * 1024 * 1024
    nproc = lim["max_processes"] + job.get("nproc_base", 0)
    for res, soft, hard in (
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_CPU, lim["cpu_s"], lim["cpu_s"] + 1),
        (resource.RLIMIT_AS, mem, mem + 64 * 1024 * 1024),
        (resource.RLIMIT_FSIZE, lim["file_size_mb"] * 1024 * 1024, lim["file_size_mb"] * 1024 * 1024),
        (resource.RLIMIT_NOFILE, lim["max_open_files"], lim["max_open_files"]),
        (resource.RLIMIT_NPROC, nproc, nproc),
    ):
        resource.setrlimit(res, (soft, hard))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    uid = job.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    else:
        os.setpgid(0, 0)
    os.chdir(job["workdir"])
    os.umask(0o077)


def _encode(report: dict[str, Any]) -> bytes:
    fields = (str(report.get(f, "")).encode("unicode_escape") for f in FIELDS)
    return b"\t".join(fields) + b"\n"


def _decode(line: bytes) -> dict[str, str] | None:
    parts = line.split(b"\t")
    if len(parts) != len(FIELDS):
        return None
    try:
        return dict(zip(FIELDS, (p.decode("unicode_escape") for p in parts), strict=True))
    except (UnicodeDecodeError, ValueError):
        return None


def _child(job: dict[str, Any], name: str, whole: bool, wfd: int) -> None:
    """Body of one test process. Never returns."""
    outcome: dict[str, Any]
    phase = "setup"
    try:
        _drop(job)
        mod = type(sys)("solution")
        sys.modules["solution"] = mod
        try:
            phase = "solution"
            exec(compile(job["code"], "<solution>", "exec"), mod.__dict__)  # noqa: S102
            phase = "tests"
            ns = dict(mod.__dict__)
            ns["__name__"] = "__tests__"
            exec(compile(job["tests"], "<tests>", "exec"), ns)  # noqa: S102
            if not whole:
                phase = "test"
                ret = ns[name]()
                if hasattr(ret, "__await__"):
                    import asyncio

                    asyncio.run(ret)
            err: BaseException | None = None
        except MemoryError as exc:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
            err = exc
        except BaseException as exc:  # noqa: BLE001 - every failure is data
            err = exc
        outcome = _outcome(name, err, phase, job)
    except BaseException as exc:  # noqa: BLE001
        outcome = {"name": name, "status": "error", "message": f"sandbox setup failed: {exc!r}",
                   "kind": "setup", "phase": phase}
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib would add import time to every run
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed or broken stream is no matter
            pass
    outcome["pid"] = os.getpid()
    try:
        os.write(wfd, _encode(outcome))
    finally:
        os._exit(0)


def _sweep(uid: int | None, pid: int) -> None:
    """Kill every process of the run's uid (or the test's process group when there is none)."""
    if uid is None:
        try:  # noqa: SIM105 - see above
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        return
    killer = os.fork()
    if killer == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(killer, 0)


def _reap(patience_s: float = 2.0) -> None:
    """Collect every child and adopted orphan (we are a subreaper) once they are killed."""
    give_up = time.monotonic() + patience_s
    while time.monotonic() < give_up:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.002)


def run_one(job: dict[str, Any], name: str, whole: bool, deadline: float) -> dict[str, Any]:
    """Fork one test process, wait for its report or its deadline, then clean up after it."""
    rfd, wfd = os.pipe()
    ooms = oom_kills(job.get("oom_fd"))
    pid = os.fork()
    if pid == 0:  # keep only stdio and its own report pipe: the result fd stays with us
        os.closerange(3, wfd)
        os.closerange(wfd + 1, 65536)
        _child(job, name, whole, wfd)
    os.close(wfd)
    pidfd = os.pidfd_open(pid)
    data, status, timed_out = b"", None, False
    while status is None:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
            break
        ready, _, _ = select.select([rfd, pidfd], [], [], left)
        if rfd in ready:
            chunk = os.read(rfd, 65536)
            if chunk and len(data) < MAX_REPORT:
                data += chunk
        if pidfd in ready:
            status = os.waitpid(pid, 0)[1]
    os.set_blocking(rfd, False)
    _sweep(job.get("uid"), pid)
    try:
        while len(data) < MAX_REPORT and (chunk := os.read(rfd, 65536)):
            data += chunk
    except BlockingIOError:
        pass
    os.close(rfd)
    os.close(pidfd)
    _reap()
    oom = oom_kills(job.get("oom_fd")) > ooms
    return _judge(name, data, status, timed_out, pid, job["limits"], oom)


def _signame(sig: int) -> str:
    for name in ("SIGSEGV", "SIGKILL", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGTERM",
                 "SIGXFSZ", "SIGPIPE", "SIGALRM", "SIGINT", "SIGHUP", "SIGSYS", "SIGTRAP"):
        if getattr(signal, name, None) == sig:
            return name
    return str(sig)


def _judge(name: str, data: bytes, status: int, timed_out: bool, pid: int, lim: dict,
           oom: bool = False) -> dict:
    if timed_out:
        return {"name": name, "status": "error", "kind": "timeout", "phase": "test",
                "message": "TimeoutError: the test did not finish within its time limit"}
    for line in data.split(b"\n"):
        rep = _decode(line)
        if rep is not None and rep["pid"] == str(pid) and rep["name"] == name:
            rep.pop("pid")
            return rep
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL and oom:
            return {"name": name, "status": "error", "kind": "memory", "phase": "test",
                    "message": f"MemoryError: the run's memory limit ({lim['run_memory_mb']} MB) "
                               "was reached and the test process was killed"}
        if sig == signal.SIGXCPU:
            return {"name": name, "status": "error", "kind": "timeout", "phase": "test",
                    "message": f"CPU time limit ({lim['cpu_s']} s) exceeded"}
        return {"name": name, "status": "error", "kind": "crash", "phase": "test",
                "message": f"the test process was killed by signal {_signame(sig)}"}
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return {"name": name, "status": "error", "kind": "crash", "phase": "test",
            "message": f"the test process exited with code {code} without reporting a result"}


def main() -> None:
    job = marshal.loads(sys.stdin.buffer.read())
    out = job["result_fd"]

    def emit(event: dict[str, Any]) -> None:
        data = marshal.dumps(event)
        os.write(out, struct.pack("<I", len(data)) + data)

    start = time.monotonic()
    sys.dont_write_bytecode = True
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # our /proc files (fds!) stay root's, no ptrace
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come back to us to be reaped
    set_oom_score(-1000)  # when the run's cgroup is full, a candidate process is killed, not us
    job["oom_fd"] = open_oom_counter(job)
    sys.path.extend(p for p in job["site_paths"] if p not in sys.path)  # no .pth files run
    info = isolate(job)
    if info["files"]:
        pid_namespace(info, out)
    info["uid"] = job.get("uid")
    info["cgroup"] = job.get("cgroup", "")
    info["notes"].extend(job.get("notes", []))
    "".encode("unicode_escape").decode("unicode_escape")  # load the report codec now
    if info["uid"] is not None and not info["files"]:
        # Without the mount namespace the interpreter's own files may be unreadable for the
        # sandbox uid (e.g. under a 0700 home): load what failure reports need while we can.
        import ast  # noqa: F401
        import linecache  # noqa: F401
        import traceback  # noqa: F401

        if not readable_by_others(os.path.dirname(os.__file__)):
            info["notes"].append("the standard library is not readable by the sandbox uid: "
                                 "only modules already loaded can be imported")
    emit({"event": "isolation", **info})
    names = job["names"]
    whole = not names
    deadline_all = start + job["limits"]["timeout_s"]
    per_test = job["limits"]["test_timeout_s"]
    for name in names or ["tests"]:
        now = time.monotonic()
        if now >= deadline_all:
            break
        deadline = min(deadline_all, now + per_test) if per_test else deadline_all
        emit({"event": "start", "name": name})
        rep = run_one(job, name, whole, deadline)
        emit({"event": "end", **rep})
        if rep.get("phase") == "solution":
            break
    emit({"event": "done"})


if __name__ == "__main__":
    main()
