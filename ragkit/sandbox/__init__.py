"""Run untrusted Python (model-written code and its tests) in a contained child process.

Public API::

    from ragkit.sandbox import SandboxLimits, SandboxResult, TestOutcome, run_tests
    result = run_tests(code, tests, limits=SandboxLimits(timeout_s=10))
    result.status            # passed | failed | error | timeout | memory_exceeded
    result.tests[0].message  # "AssertionError at tests line 3: assert add(2, 2) == 5 (got 4, ...)"

Modules: ``limits`` (settings, which paths are visible), ``launcher`` (parent: compile check,
cgroup, process, wall clock, pipes, cleanup), ``cgroup`` (the run's memory and process caps),
``confine`` + ``wire`` + ``remote`` + ``report`` + ``runner`` (the stdlib-only script the child
interpreter runs: namespaces and the new root; per test a candidate process running the code
and a test process running the test, rlimits, uid drop, reports), ``result`` (result types,
events -> result).

What is covered, and how
------------------------
Every run: a fresh ``python -I -S`` interpreter (no PYTHONPATH, no user site, no cwd on
sys.path, no ``.pth`` files; the interpreter's site-packages are added as plain paths, so the
editable ``ragkit`` install is not importable) in its own session; a scrubbed environment (PATH,
HOME = TMPDIR = the work dir, locale, one BLAS thread; nothing inherited, so no secrets); a
private temporary work dir, deleted afterwards; per test two forked processes, so a failure,
crash, ``os._exit`` or changed global state does not reach the next test: the candidate
process runs the code (module ``solution``) and the test process runs the tests, which reach
the code only through proxies (``remote.py``: calls, attributes, comparisons, ``len``, ``in``,
indexing, iteration; literals by value, other objects as handles; the code's builtin
exceptions raised as themselves); in both processes RLIMIT_CPU, RLIMIT_AS (memory), RLIMIT_FSIZE, RLIMIT_NOFILE,
RLIMIT_NPROC and RLIMIT_CORE=0, stdin from /dev/null, no fd but stdio and its own report pipe,
no-new-privs (setuid binaries cannot raise privileges) and non-dumpable; a wall-clock limit
per test (runner) and for the whole run (launcher: kills the process group). Only the test
process reports a test; results travel on a private pipe held only by root processes of the
runner (non-dumpable: no /proc/<pid>/fd, no ptrace, even for the same uid); what a candidate
prints, or writes anywhere, cannot forge them. Code and tests are
compiled in the caller first; a syntax error starts no process.

When the caller is root (our machines and CI):
- the candidate process runs as a fresh random uid that no account or other run uses, and
  the test process as a second one (each with its own 0700 half of the work dir), so the code
  cannot signal, trace or write into the process that judges it; and so
  RLIMIT_NPROC is enforced (Linux ignores it for root), the candidate cannot signal or trace the
  caller, the runner or other runs, and every process it leaves behind is killed by uid after
  each test and after the run;
- the whole run sits in its own cgroup (v2, else v1 memory + pids, made under the caller's
  own): ``run_memory_mb`` caps all its processes' memory together and ``max_processes`` their
  number; a test killed by that memory cap is reported as memory_exceeded. Without a cgroup the
  process cap is lowered so that processes x ``memory_mb`` <= ``run_memory_mb`` (noted);
- a new network namespace with no interface up (not even loopback): no TCP, no DNS, and
  abstract Unix sockets are those of this empty namespace only;
- a new mount namespace whose root is a fresh read-only tmpfs holding only read-only binds of
  an allow-list (``limits.visible_paths``: the interpreter's prefix, standard library and
  site-packages, /usr/bin, /usr/lib*, /lib*, zoneinfo, ld.so.cache, localtime), five device
  nodes, an empty /tmp, a fresh /proc and the work dir; ``pivot_root`` detaches the host's
  tree. Anything else (/srv, /home, /root, /var, /opt, /run, /tmp, the checkout,
  RAGKIT_HOME, and Unix sockets anywhere in them) does not exist for the candidate;
  ``hide_paths`` (and the checkout, RAGKIT_HOME, home, cwd) are covered where they lie inside a
  visible path. The work dir is a tmpfs of ``work_dir_mb`` owned by the run's uid: filling it
  fails with ENOSPC, never the host's disk;
- a new PID namespace: /proc lists only the run's own processes (not the caller's or the
  host's command lines), and when the runner dies the kernel kills everything left in it.

Not covered: the kernel is shared (no seccomp filter, no VM): a kernel bug is an escape, and
every system call is open (e.g. ``socketpair``, ``memfd``); what is visible stays readable
(system libraries and tools, site-packages); CPU time is limited per process, not by a cgroup
(a run may use all cores for up to its limits). The code never runs in the test process, so
it cannot write a test's report or patch the tests or their asserts; a test whose calls find
the code gone (it exited, crashed, closed the channel) is an error even if the test caught
that. What the split does not change: a value the code returns is compared by the code's own
``__eq__`` when it is not a plain literal (as in one process), so tests should compare with
literals the code cannot shape. What the split costs: tests cannot pass their own functions
or objects into the code (the test fails saying the value could not be sent), cannot await
the code's coroutines, and see at most 100,000 items of an iteration (``remote.py`` lists
the limits); each call is a round trip between processes. It cannot reach another run, the
caller, or the runner's result channel. Each namespace is applied only where
``unshare`` is permitted; ``SandboxResult.isolation`` says what was applied and ``notes`` what
was not. Not root: no uid change (RLIMIT_NPROC counts all of the caller's processes, so it is
set to their current count plus ``max_processes``: approximate), usually no cgroup and no
namespaces (then the host's files, processes and Unix sockets are visible as far as the
caller's uid allows), cleanup by process group only (a candidate calling ``setsid`` can escape
it), and a candidate of the same uid can signal the runner or the test process (making its run
fail, not pass; both are non-dumpable, so it cannot trace them or open their fds).
``drop_privileges=False`` as root runs candidates as root: for debugging only.
"""

from __future__ import annotations

from ragkit.sandbox.launcher import run_tests
from ragkit.sandbox.limits import SandboxLimits
from ragkit.sandbox.result import Isolation, SandboxResult, TestOutcome

__all__ = ["Isolation", "SandboxLimits", "SandboxResult", "TestOutcome", "run_tests"]
