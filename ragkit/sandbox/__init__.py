"""Run untrusted Python (model-written code and its tests) in a contained child process.

Public API::

    from ragkit.sandbox import SandboxLimits, SandboxResult, TestOutcome, run_tests
    result = run_tests(code, tests, limits=SandboxLimits(timeout_s=10))
    result.status            # passed | failed | error | timeout | memory_exceeded
    result.tests[0].message  # "AssertionError at tests line 3: assert add(2, 2) == 5 (got 4, ...)"

Modules: ``limits`` (settings, which paths to hide), ``launcher`` (parent: compile check,
process, wall clock, pipes, cleanup), ``confine`` + ``runner`` (the stdlib-only script the child
interpreter runs: namespaces and mounts; one process per test, rlimits, uid drop, reports),
``result`` (result types, events -> result).

What is covered, and how
------------------------
Every run: a fresh ``python -I -S`` interpreter (no PYTHONPATH, no user site, no cwd on
sys.path, no ``.pth`` files; the interpreter's site-packages are added as plain paths, so the
editable ``ragkit`` install is not importable) in its own session; a scrubbed environment (PATH,
HOME = TMPDIR = the work dir, locale, one BLAS thread; nothing inherited, so no secrets); a
private temporary work dir (mode 0700), deleted afterwards; one forked process per test, so a
failure, crash, ``os._exit`` or changed global state does not reach the next test; in every
process that runs candidate code RLIMIT_CPU, RLIMIT_AS (memory), RLIMIT_FSIZE, RLIMIT_NOFILE,
RLIMIT_NPROC and RLIMIT_CORE=0, stdin from /dev/null and no-new-privs (setuid binaries cannot
raise privileges); a wall-clock limit per test (runner) and for the whole run (launcher: kills
the process group). Results travel on a private pipe that candidate processes close before
running anything; what a candidate prints cannot forge them. Code and tests are compiled in the
caller first; a syntax error starts no process.

When the caller is root (our machines and CI):
- candidate processes run as a fresh random uid that no account or other run uses, so
  RLIMIT_NPROC is enforced (Linux ignores it for root), the candidate cannot signal the caller,
  the runner or other runs (``os.kill(os.getppid(), 9)`` fails with EPERM), and every process
  it leaves behind is killed by uid after each test and after the run;
- a new network namespace with no interface up (not even loopback): no network at all;
- a new mount namespace: the project checkout, RAGKIT_HOME (knowledge bases, model cache), the
  home directory, the caller's cwd and /tmp, /var/tmp, /dev/shm, /run/lock are covered by empty
  root-owned tmpfs mounts; only the interpreter's prefix, its site-packages and the work dir are
  bound back; every mount but the work dir is then read-only. Writing outside the work dir fails.

Not covered: the rest of the file system (/usr, /etc, site-packages) stays readable; /proc shows
other processes' command lines (not their environments or files: those need the same uid); the
kernel is shared (no seccomp filter, no VM); CPU is limited per process, not by a cgroup, so a
run may use all cores for up to its limits; a candidate may misreport its own test (it runs in
that process) but not another's. Each namespace is applied only where ``unshare`` is permitted;
``SandboxResult.isolation`` says what was applied and ``notes`` what was not. Not root: no uid
change (RLIMIT_NPROC counts all of the caller's processes, so it is set to their current count
plus ``max_processes``: approximate), namespaces refused unless the OS allows them, cleanup by
process group only (a candidate calling ``setsid`` can escape it), and the caller's environment
in /proc and files are readable as far as the caller's uid allows. ``drop_privileges=False`` as
root runs candidates as root: for debugging only.
"""

from __future__ import annotations

from ragkit.sandbox.launcher import run_tests
from ragkit.sandbox.limits import SandboxLimits
from ragkit.sandbox.result import Isolation, SandboxResult, TestOutcome

__all__ = ["Isolation", "SandboxLimits", "SandboxResult", "TestOutcome", "run_tests"]
