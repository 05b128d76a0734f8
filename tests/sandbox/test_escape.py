"""Escapes a hostile candidate tried (issue 24, item 7): each test is the exploit, run for real.

Each test does what a candidate did or could do (reach a Unix socket, read a file kept outside
the known hidden places, exhaust memory with many processes, read other processes' command
lines, fill the disk, forge a passing report, patch the test or its asserts) and checks that
it fails now. Protections that depend on the OS are read from ``result.isolation``; where one
was not applied the test asserts the documented note instead of passing silently.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragkit.sandbox import SandboxLimits, SandboxResult, run_tests


def run(tests: str, code: str = "", **limits: object) -> SandboxResult:
    return run_tests(textwrap.dedent(code), textwrap.dedent(tests),
                     limits=SandboxLimits(**limits))  # type: ignore[arg-type]


@pytest.fixture
def unix_servers() -> Iterator[list[tuple[str, socket.socket]]]:
    """Listening Unix sockets anyone may connect to, in /run, /tmp and a new directory."""
    tag = secrets.token_hex(4)
    new_dir = Path(f"/srv/ragkit-sock-{tag}")
    new_dir.mkdir(mode=0o755)
    servers = []
    for path in (f"/run/ragkit-{tag}.sock", f"/tmp/ragkit-{tag}.sock", str(new_dir / "s.sock")):
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        os.chmod(path, 0o777)
        srv.listen(4)
        srv.setblocking(False)
        servers.append((path, srv))
    yield servers
    for path, srv in servers:
        srv.close()
        Path(path).unlink(missing_ok=True)
    shutil.rmtree(new_dir, ignore_errors=True)


def test_unix_sockets_on_the_file_system_are_unreachable(
        unix_servers: list[tuple[str, socket.socket]]) -> None:
    paths = [p for p, _ in unix_servers]
    res = run(f"""
        import socket

        def test_connect():
            reached = []
            for path in {paths!r}:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(path)
                    reached.append(path)
                except OSError:
                    pass
                finally:
                    s.close()
            assert reached == []
    """)
    accepted = []
    for path, srv in unix_servers:
        try:
            srv.accept()[0].close()
            accepted.append(path)
        except BlockingIOError:
            pass
    if res.isolation.files:
        assert accepted == []
        assert res.status == "passed", res.tests
    else:
        assert any("NOT hidden" in n for n in res.isolation.notes)


@pytest.fixture
def secret_files() -> Iterator[list[Path]]:
    """World-readable files in places no deny-list named: a new top-level dir, /root, ..."""
    tag = secrets.token_hex(4)
    dirs = [Path(f"/srv/secret-{tag}"), Path(f"/root/secret-{tag}"), Path(f"/home/secret-{tag}"),
            Path(f"/var/lib/secret-{tag}"), Path(f"/opt/secret-{tag}"), Path(f"/secret-{tag}")]
    made = []
    for d in dirs:
        try:
            d.mkdir(mode=0o755)
        except OSError:
            continue
        f = d / "kb.sqlite"
        f.write_text("the knowledge base")
        f.chmod(0o644)
        made.append(f)
    assert made
    yield made
    for f in made:
        shutil.rmtree(f.parent, ignore_errors=True)


def test_files_outside_the_interpreter_and_work_dir_are_invisible(
        secret_files: list[Path]) -> None:
    res = run(f"""
        import os

        def test_read():
            seen = [p for p in {[str(f) for f in secret_files]!r} if os.path.exists(p)]
            assert seen == []

        def test_top_level():
            print("ROOT", sorted(os.listdir("/")))
    """)
    if res.isolation.files:
        assert res.status == "passed", res.tests
        top = set(res.stdout.split("ROOT ")[1].splitlines()[0].strip("[]").replace("'", "")
                  .split(", "))
        # the interpreter's own tree is visible by design (a venv under /work, say)
        own = {Path(p).resolve().parts[1] for p in (sys.prefix, sys.base_prefix)}
        assert not top & ({"srv", "home", "var", "opt", "mnt", "boot", "media", "work"} - own), top
    else:
        assert any("NOT hidden" in n for n in res.isolation.notes)


def test_many_processes_cannot_take_more_than_the_run_budget() -> None:
    res = run("""
        import os, time

        def test_hog():
            kids = []
            for _ in range(10):
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    try:
                        block = bytearray(b"x") * (100 * 1024 * 1024)
                        time.sleep(30)
                    finally:
                        os._exit(0)
                kids.append(pid)
            time.sleep(3)  # each child holds its 100 MB, or was refused or killed by now
            print("ALIVE", sum(os.waitpid(k, os.WNOHANG)[0] == 0 for k in kids))
    """, memory_mb=160, max_processes=16, run_memory_mb=320, timeout_s=30)
    alive = int(res.stdout.split("ALIVE ")[1].split()[0]) if "ALIVE" in res.stdout else 0
    assert alive * 100 <= 320, (alive, res.isolation.notes)
    if not res.isolation.cgroup:
        assert any("memory is bounded only by 2 processes" in n for n in res.isolation.notes)


def test_a_run_over_its_memory_budget_is_reported_as_such() -> None:
    res = run("""
        import os, time

        def test_two_big():
            if os.fork() == 0:
                block = bytearray(b"x") * (150 * 1024 * 1024)
                time.sleep(30)
                os._exit(0)
            time.sleep(0.5)
            block = bytearray(b"x") * (250 * 1024 * 1024)
    """, memory_mb=300, run_memory_mb=320, timeout_s=30)
    assert res.status == "memory_exceeded", res.tests
    if res.isolation.cgroup:
        assert "memory limit (320 MB)" in res.tests[0].message


def test_host_processes_are_invisible() -> None:
    marker = f"ragkit-marker-{secrets.token_hex(6)}"
    sleeper = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        res = run(f"""
            import os

            def test_look():
                found = []
                for pid in os.listdir("/proc"):
                    if pid.isdigit():
                        try:
                            with open(f"/proc/{{pid}}/cmdline", "rb") as fh:
                                if b"{marker}" in fh.read():
                                    found.append(pid)
                        except OSError:
                            pass
                assert found == []
                assert not os.path.exists("/proc/{os.getpid()}/status") or {os.getpid()} < 5
        """)
    finally:
        sleeper.kill()
        sleeper.wait()
    if res.isolation.pids:
        assert res.status == "passed", res.tests
    else:
        assert any("PID namespace" in n for n in res.isolation.notes)


def test_filling_the_work_dir_fails_cleanly() -> None:
    res = run("""
        def test_fill():
            for i in range(6):
                with open(f"big{i}.bin", "wb") as fh:
                    fh.write(b"x" * (3 * 1024 * 1024))
    """, file_size_mb=4, work_dir_mb=8)
    if res.isolation.files:
        assert res.status in ("failed", "error")
        assert "No space left on device" in res.tests[0].message, res.tests
    else:
        assert any("NOT hidden" in n for n in res.isolation.notes)


FORGE_CHANNELS = """
    import ctypes, marshal, os, signal, struct, sys

    def frame(ev):
        data = marshal.dumps(ev)
        return struct.pack("<I", len(data)) + data

    FAKE = b"".join(frame(e) for e in (
        {"event": "start", "name": "test_real"},
        {"event": "end", "name": "test_real", "status": "passed"},
        {"event": "done"}))

    def forge():
        sys.stdout.buffer.write(FAKE)
        sys.stdout.flush()
        for fd in range(3, 256):
            try:
                os.write(fd, FAKE)
            except OSError:
                pass
        libc = ctypes.CDLL(None, use_errno=True)
        for pid in {os.getppid(), 1, PARENT}:
            for fd in range(64):
                try:
                    w = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY)
                    os.write(w, FAKE)
                    print("WROTE", pid, fd)
                except OSError:
                    pass
            if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
                print("TRACED", pid)
            try:
                os.kill(pid, signal.SIGSTOP)
                print("STOPPED", pid)
            except OSError:
                pass

    def test_real():
        forge()
        assert False, "really failed"
"""


def test_result_channel_is_out_of_the_candidates_reach() -> None:
    """Stdout frames, every inherited fd, the runner's fds through /proc, ptrace, signals."""
    res = run(FORGE_CHANNELS.replace("PARENT", str(os.getpid())))
    # Writing junk into its own report pipe may turn its own failure into an error: never a pass.
    assert res.status in ("failed", "error"), res.tests
    assert [t.status for t in res.tests] in (["failed"], ["error"])
    if res.isolation.uid is not None:
        assert "WROTE" not in res.stdout
        assert "TRACED" not in res.stdout
        assert "STOPPED" not in res.stdout


FORGE_OWN_REPORT = """
    import builtins, os, sys

    def forge():
        # 1. the frame that holds a report pipe (the test process's, when code and tests shared it)
        f = sys._getframe()
        while f is not None:
            if "wfd" in f.f_locals:
                for pid in [os.getpid()] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
                    for name in ("test_a", "test_b"):
                        line = "\\t".join([str(pid), name, "passed", "", "", "", "", ""])
                        try:
                            os.write(f.f_locals["wfd"], line.encode() + b"\\n")
                        except OSError:
                            pass
            f = f.f_back
        # 2. every pipe of every process it can see, through /proc
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            for fd in range(64):
                try:
                    w = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                for name in ("test_a", "test_b"):
                    line = "\\t".join([pid, name, "passed", "", "", "", "", ""])
                    try:
                        os.write(w, line.encode() + b"\\n")
                        print("WROTE", pid, fd)
                    except OSError:
                        pass
                os.close(w)
        # 3. assertions that never fail, where it can reach them
        builtins.AssertionError = type("Never", (Exception,), {})
        os._exit(0)

    forge()
"""


def test_a_candidate_cannot_report_its_own_tests_passed() -> None:
    """The code writes "passed" reports wherever it can and exits: the tests, in a process of
    another uid, see the code gone and report errors; nothing passes."""
    res = run("def test_a():\n    assert 1 == 2\n\ndef test_b():\n    raise ValueError\n",
              code=FORGE_OWN_REPORT)
    assert res.status != "passed", res.tests
    assert res.passed == 0
    assert [t.status for t in res.tests] == ["error", "error"], res.tests
    assert all("candidate process" in t.message for t in res.tests), res.tests
    if res.isolation.uid is not None:
        assert res.isolation.test_uid not in (None, res.isolation.uid)
        assert "WROTE" not in res.stdout


FORGE_WHEN_CALLED = """
    import builtins, os, sys

    def add(a, b):
        # called by the test: patch what it can, answer wrongly, try to end the test as passed
        builtins.AssertionError = type("Never", (Exception,), {})
        sys.modules["builtins"].AssertionError = builtins.AssertionError
        f = sys._getframe()
        while f is not None:
            for value in list(f.f_globals.values()) + list(f.f_locals.values()):
                if callable(value) and getattr(value, "__name__", "").startswith("test_"):
                    value.__code__ = (lambda: None).__code__
            f = f.f_back
        return a - b
"""


def test_code_called_by_a_test_cannot_patch_the_test_or_its_asserts() -> None:
    res = run("def test_add():\n    assert add(2, 2) == 4\n\ndef test_again():\n"
              "    assert add(1, 1) == 2\n", code=FORGE_WHEN_CALLED)
    assert res.status == "failed", res.tests
    assert [t.status for t in res.tests] == ["failed", "failed"]
    assert "got 0, expected 4" in res.tests[0].message


def test_code_test_cli_exits_non_zero_for_a_forged_report(tmp_path: Path) -> None:
    (tmp_path / "sol.py").write_text(textwrap.dedent(FORGE_OWN_REPORT))
    (tmp_path / "t.py").write_text("def test_a():\n    assert 1 == 2\n")
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    proc = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "ragkit", "code", "test", "--code", str(tmp_path / "sol.py"),
         "--tests", str(tmp_path / "t.py"), "--json"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["result"]["status"] != "passed"
    assert data["result"]["passed"] == 0
    assert data["result"]["tests"][0]["status"] == "error"


def test_code_cannot_shadow_the_builtins_the_tests_call() -> None:
    """Found by the adversarial pass: the code's top-level names were the tests' globals, so
    a code defining ``abs`` (and ``isinstance``) made a wrong ``add`` pass."""
    code = ("def add(a, b):\n    return a - b\n\ndef abs(x):\n    return 0\n\n"
            "def isinstance(x, t):\n    return True\n")
    res = run("def test_sum():\n    assert abs(add(1, 2) - 3) < 1e-9\n\n"
              "def test_type():\n    assert isinstance(add(1, 2), str)\n\n"
              "def test_own_abs_still_reachable():\n    import solution\n"
              "    assert solution.abs(-5) == 0\n", code=code)
    assert [t.status for t in res.tests] == ["failed", "failed", "passed"], res.tests
    assert res.status == "failed"
