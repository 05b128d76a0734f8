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
2. for each test forks two children, each closing every fd but stdio and its own pipes,
   setting rlimits and dropping to its own unprivileged uid with no-new-privs, non-dumpable,
   in its own half of the work dir: the candidate process C (run's ``uid``, ``code/``) runs the
   code as module ``solution`` and serves calls (``remote.serve``); the test process T
   (``test_uid``, ``tests/``) runs the tests source and the test against proxies of the code
   (``remote.connect``);
3. reports length-prefixed ``marshal`` events on the result fd the launcher passed in, which
   only root processes of the runner hold. Only T reports a test, on its private pipe, and only
   a report from T's pid is accepted: C holds neither that pipe nor the result fd, cannot
   signal, trace or open T's fds (another uid, non-dumpable), so the code cannot report a test
   as passed. When T saw C end, the runner names how C ended (signal, exit, memory kill); a
   test killed while the run's cgroup counted a new OOM kill is reported as a memory error;
4. after each test kills every process of both uids (``kill(-1)`` from each uid) and reaps
   them (it is a child subreaper), so nothing a test started outlives it.

It does not enforce the wall-clock limit of the whole run (the launcher does) and knows nothing
about ragkit: it must run from ``-c`` with only the standard library. Start-up cost matters
(one interpreter per run), so it imports little and loads ``traceback``/``ast`` only in a test
process that failed. A test process reports as one line of tab-separated,
``unicode_escape``-encoded fields: the runner never unmarshals what a sandboxed process wrote.
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
from ragkit.sandbox.remote import _flush, channel_gone, connect, serve  # sandbox: inline
from ragkit.sandbox.report import _outcome  # sandbox: inline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
MAX_REPORT = 1 << 20
#: Fields of a test process's report, in order.
FIELDS = ("pid", "name", "status", "kind", "phase", "message", "last", "traceback")


def _drop(job: dict[str, Any], uid: int | None, side: str) -> None:
    """In a fresh child: rlimits, stdin, privileges (``uid``, non-dumpable), its own dir
    ``side`` of the work dir as cwd, HOME and TMPDIR. Runs before any code or tests."""
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
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    else:
        os.setpgid(0, 0)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # after setuid, which resets it: no ptrace, no fds
    home = job["workdir"] + "/" + side
    os.environ["HOME"] = os.environ["TMPDIR"] = home
    os.chdir(home)
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


def _keep_fds(keep: tuple[int, ...]) -> None:
    """Close every fd but stdio and ``keep`` (a fresh child's first step)."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _candidate(job: dict[str, Any], rfd: int, wfd: int) -> None:
    """Body of the candidate process C: the code, serving the test process. Never returns."""
    try:
        _drop(job, job.get("uid"), "code")
        serve(job["code"], rfd, wfd)
    finally:
        os._exit(0)


def _child(job: dict[str, Any], name: str, whole: bool, wfd: int, chan: tuple[int, int]) -> None:
    """Body of the test process T: the tests, calling C through ``remote``. Never returns."""
    outcome: dict[str, Any]
    phase = "setup"
    try:
        _drop(job, job.get("test_uid"), "tests")
        try:
            phase = "solution"
            ns = connect(*chan, job.get("module", "solution"))
            phase = "tests"
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
        if channel_gone():  # even when the test caught it: C is gone, the test did not pass
            outcome = {"name": name, "status": "error", "kind": "candidate", "phase": "test",
                       "message": f"CandidateError: {channel_gone()}"}
    except BaseException as exc:  # noqa: BLE001
        outcome = {"name": name, "status": "error", "message": f"sandbox setup failed: {exc!r}",
                   "kind": "setup", "phase": phase}
    _flush()
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
    """Fork the candidate process C and the test process T, wait for T's report or the
    deadline, then clean up after both. Only T's report counts."""
    rfd, wfd = os.pipe()
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    ooms = oom_kills(job.get("oom_fd"))
    cpid = os.fork()
    if cpid == 0:  # C keeps stdio and its ends of the channel: no report pipe, no result fd
        _keep_fds((req_r, rep_w))
        _candidate(job, req_r, rep_w)
    pid = os.fork()
    if pid == 0:  # T keeps stdio, its report pipe and its ends of the channel
        _keep_fds((wfd, req_w, rep_r))
        _child(job, name, whole, wfd, (req_w, rep_r))
    for fd in (wfd, req_r, req_w, rep_r, rep_w):
        os.close(fd)
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
    _sweep(job.get("test_uid"), pid)
    _sweep(job.get("uid"), cpid)
    try:
        while len(data) < MAX_REPORT and (chunk := os.read(rfd, 65536)):
            data += chunk
    except BlockingIOError:
        pass
    os.close(rfd)
    os.close(pidfd)
    cstatus = os.waitpid(cpid, 0)[1]
    _reap()
    oom = oom_kills(job.get("oom_fd")) > ooms
    rep = _judge(name, data, status, timed_out, pid, job["limits"], oom)
    swept = os.WIFSIGNALED(cstatus) and os.WTERMSIG(cstatus) == signal.SIGKILL and not oom
    if rep.get("kind") == "candidate" and not swept:  # T saw C end: say how C ended
        rep = _judge(name, b"", cstatus, False, cpid, job["limits"], oom, "candidate process")
    return rep


def _signame(sig: int) -> str:
    for name in ("SIGSEGV", "SIGKILL", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGTERM",
                 "SIGXFSZ", "SIGPIPE", "SIGALRM", "SIGINT", "SIGHUP", "SIGSYS", "SIGTRAP"):
        if getattr(signal, name, None) == sig:
            return name
    return str(sig)


def _judge(name: str, data: bytes, status: int, timed_out: bool, pid: int, lim: dict,
           oom: bool = False, who: str = "test process") -> dict:
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
                               f"was reached and the {who} was killed"}
        if sig == signal.SIGXCPU:
            return {"name": name, "status": "error", "kind": "timeout", "phase": "test",
                    "message": f"CPU time limit ({lim['cpu_s']} s) exceeded"}
        return {"name": name, "status": "error", "kind": "crash", "phase": "test",
                "message": f"the {who} was killed by signal {_signame(sig)}"}
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    why = "without reporting a result" if who == "test process" else "while the test called it"
    return {"name": name, "status": "error", "kind": "crash", "phase": "test",
            "message": f"the {who} exited with code {code} {why}"}


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
    info["test_uid"] = job.get("test_uid")
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
