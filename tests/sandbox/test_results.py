"""What run_tests reports: statuses, per-test outcomes, messages, isolation between tests."""

from __future__ import annotations

import textwrap

from ragkit.sandbox import SandboxLimits, SandboxResult, run_tests
from ragkit.sandbox.result import build_result

CODE = """
def add(a, b):
    return a + b

COUNTER = []
"""


def run(tests: str, code: str = CODE, **limits: object) -> SandboxResult:
    return run_tests(textwrap.dedent(code), textwrap.dedent(tests),
                     limits=SandboxLimits(**limits))  # type: ignore[arg-type]


def test_pass_fail_error_each_reported_in_order() -> None:
    res = run("""
        def test_ok():
            assert add(1, 2) == 3

        def test_wrong():
            assert add(1, 2) == 4

        def test_raises():
            {}["missing"]
    """)
    assert res.status == "failed"
    assert [(t.name, t.status) for t in res.tests] == [
        ("test_ok", "passed"), ("test_wrong", "failed"), ("test_raises", "error")]
    assert (res.passed, res.total) == (1, 3)
    assert "got 3, expected 4" in res.tests[1].message
    assert "tests line 6" in res.tests[1].message
    assert res.last_error == "KeyError: 'missing'"
    assert "KeyError" in res.tests[2].traceback


def test_all_passing_and_to_dict() -> None:
    res = run("def test_ok():\n    assert add(2, 2) == 4\n")
    assert res.status == "passed" and res.ok
    d = res.to_dict()
    assert d["status"] == "passed" and d["passed"] == d["total"] == 1
    assert set(d) >= {"tests", "last_error", "stdout", "stderr", "duration_s", "isolation"}


def test_syntax_error_in_code_runs_nothing() -> None:
    res = run("def test_ok():\n    assert True\n", code="def broken(:\n    pass\n")
    assert res.status == "error"
    assert res.last_error.startswith("code: SyntaxError")
    assert res.tests == []


def test_syntax_error_in_tests() -> None:
    res = run("def test_x(:\n    pass\n")
    assert res.status == "error"
    assert res.last_error.startswith("tests: SyntaxError")


def test_code_that_raises_on_import_is_an_error() -> None:
    res = run("def test_ok():\n    assert True\n\ndef test_two():\n    pass\n",
              code="x = undefined_name\n")
    assert res.status == "error"
    assert res.last_error == "code: NameError: name 'undefined_name' is not defined"
    assert len(res.tests) == 1  # stopped after the first: every test would fail the same way


def test_without_test_functions_the_whole_source_is_one_test() -> None:
    res = run("assert add(1, 1) == 2\nprint('checked')\n")
    assert res.status == "passed"
    assert [t.name for t in res.tests] == ["tests"]
    assert "checked" in res.stdout


def test_from_solution_import_star_works() -> None:
    res = run("from solution import add as plus\n\ndef test_ok():\n    assert plus(1, 1) == 2\n")
    assert res.status == "passed", res.tests


def test_each_test_starts_from_fresh_state() -> None:
    res = run("""
        def test_first():
            COUNTER.append(1)
            assert COUNTER == [1]

        def test_second():
            COUNTER.append(2)
            assert COUNTER == [2]
    """)
    assert res.status == "passed", res.tests


def test_a_crashing_test_does_not_stop_the_next() -> None:
    res = run("""
        import ctypes, os

        def test_exit():
            os._exit(0)

        def test_segfault():
            ctypes.string_at(0)

        def test_system_exit():
            raise SystemExit(3)

        def test_still_runs():
            assert add(2, 3) == 5
    """)
    assert [t.status for t in res.tests] == ["error", "error", "error", "passed"]
    assert "without reporting" in res.tests[0].message
    assert "SIGSEGV" in res.tests[1].message
    assert "SystemExit" in res.tests[2].message
    assert res.status == "failed"


def test_stdin_is_empty_and_stderr_is_captured() -> None:
    res = run("""
        import sys

        def test_input():
            print("to stderr", file=sys.stderr)
            try:
                input()
            except EOFError:
                return
            raise AssertionError("read something")
    """)
    assert res.status == "passed", res.tests
    assert "to stderr" in res.stderr


def test_async_test_functions_are_awaited() -> None:
    res = run("async def test_async():\n    assert add(1, 1) == 3\n")
    assert res.status == "failed"


def test_build_result_when_the_runner_died_mid_test() -> None:
    events: list[dict[str, object]] = [
        {"event": "isolation", "network": True, "files": True, "uid": 5},
              {"event": "start", "name": "test_a"}]
    res = build_result(events, killed=False, exit_code=-9, stdout="", stderr="",
                       duration_s=0.1, expected=["test_a", "test_b"])
    assert res.status == "error"
    assert [t.kind for t in res.tests] == ["crash", "not_run"]


def test_reports_stay_correct_without_namespaces() -> None:
    res = run("""
        def test_ok():
            assert add(1, 1) == 2

        def test_wrong():
            assert add(1, 1) == 3
    """, isolate_files=False, isolate_network=False)
    assert [t.status for t in res.tests] == ["passed", "failed"]
    assert "got 2, expected 3" in res.tests[1].message
    assert not res.isolation.files and not res.isolation.network
    assert any("NOT hidden" in n for n in res.isolation.notes)


def test_slow_failing_assert_still_reports_the_failure() -> None:
    res = run("""
        import time

        def slow():
            time.sleep(2)
            return 1

        def test_slow():
            assert slow() == 2
    """, test_timeout_s=8)
    assert res.status == "failed"
    assert res.tests[0].message.startswith("AssertionError at tests line 9")
    assert "got" not in res.tests[0].message  # re-evaluation ran out of its budget
