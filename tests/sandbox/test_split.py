"""Tests and code run in two processes: what the tests can still do with the code's values.

The code runs in the candidate process and the tests in the test process (``remote.py``);
each test checks one thing the tests side does through the proxies, for real, through
:func:`ragkit.sandbox.run_tests`.
"""

from __future__ import annotations

import textwrap

from ragkit.sandbox import SandboxLimits, SandboxResult, run_tests
from ragkit.sandbox.launcher import runner_source

CODE = """
class Node:
    def __init__(self, val, next=None):
        self.val, self.next = val, next

def to_list(node):
    out = []
    while node is not None:
        out.append(node.val)
        node = node.next
    return out

class Bad(Exception):
    pass

def divide(a, b):
    if b == 0:
        raise Bad("no zero")
    return a / b

def lookup(d, k):
    return d[k]

def squares(n):
    for i in range(n):
        yield i * i

SEEN = []

def remember(x):
    SEEN.append(x)
    return len(SEEN)

def inverse(x):
    return 1 / x
"""


def run(tests: str, code: str = CODE, **limits: object) -> SandboxResult:
    return run_tests(textwrap.dedent(code), textwrap.dedent(tests),
                     limits=SandboxLimits(**limits))  # type: ignore[arg-type]


def test_objects_of_the_code_are_handles_the_tests_can_use() -> None:
    res = run("""
        def test_nodes():
            head = Node(1, Node(2, Node(3)))
            assert isinstance(head, Node)
            assert head.next.val == 2
            head.next.next.next = Node(4)
            assert to_list(head) == [1, 2, 3, 4]
            assert "Node object" in repr(head)
    """)
    assert res.status == "passed", res.tests


def test_builtin_exceptions_of_the_code_are_raised_as_such_in_the_tests() -> None:
    res = run("""
        def test_key_error():
            try:
                lookup({"a": 1}, "b")
            except KeyError as exc:
                assert exc.args == ("b",)
            else:
                raise AssertionError("no KeyError")

        def test_zero_division():
            try:
                inverse(0)
            except ZeroDivisionError:
                return
            raise AssertionError("no ZeroDivisionError")

        def test_uncaught():
            lookup([], 3)
    """)
    assert [t.status for t in res.tests] == ["passed", "passed", "error"], res.tests
    assert res.tests[2].message.startswith("IndexError: list index out of range at solution "
                                           "line 22: return d[k]"), res.tests[2].message


def test_an_exception_class_of_the_code_arrives_as_candidate_error() -> None:
    res = run("""
        def test_bad():
            divide(1, 0)
    """)
    assert res.tests[0].status == "error"
    assert res.tests[0].message.startswith(
        "CandidateError: solution.Bad: no zero at solution line 18")


def test_iterating_a_generator_and_live_module_state() -> None:
    res = run("""
        from solution import SEEN as seen

        def test_iter():
            assert list(squares(4)) == [0, 1, 4, 9]
            assert sum(squares(4)) == 14
            assert remember("x") == 1 and remember("y") == 2
            assert SEEN == ["x", "y"] and len(seen) == 2 and "y" in seen
    """)
    assert res.status == "passed", res.tests


def test_a_value_the_tests_made_cannot_be_sent_to_the_code() -> None:
    res = run("""
        def test_lambda():
            remember(lambda: 1)
    """)
    assert res.tests[0].status == "error"
    assert "function value could not be sent to the candidate process" in res.tests[0].message


def test_code_that_exits_while_called_fails_the_test_even_if_caught() -> None:
    res = run("""
        def test_swallow():
            try:
                quit_now()
            except Exception:
                pass
    """, code="import os\n\ndef quit_now():\n    os._exit(0)\n")
    assert res.tests[0].status == "error", res.tests
    assert "candidate process exited with code 0 while the test called it" in res.tests[0].message


def test_code_that_crashes_is_named_in_the_message() -> None:
    res = run("def test_crash():\n    crash()\n",
              code="import ctypes\n\ndef crash():\n    ctypes.string_at(0)\n")
    assert res.tests[0].status == "error"
    assert res.tests[0].message == "the candidate process was killed by signal SIGSEGV"


def test_a_hung_call_is_a_timeout() -> None:
    res = run("def test_hang():\n    spin()\n", code="def spin():\n    while True:\n        pass\n",
              timeout_s=2)
    assert res.status == "timeout"
    assert res.tests[0].kind == "timeout"


def test_code_and_tests_run_as_two_uids_in_two_dirs() -> None:
    res = run("""
        import os

        def test_sides():
            me = (os.getuid(), os.getcwd())
            them = where()
            assert me[1].endswith("/tests") and them[1].endswith("/code")
            if os.geteuid() != 0:
                assert me[0] != them[0] or me[0] == os.getuid()
            print("SIDES", me[0], them[0])
    """, code="import os\n\ndef where():\n    return (os.getuid(), os.getcwd())\n")
    assert res.status == "passed", res.tests
    tests_uid, code_uid = (int(x) for x in res.stdout.split("SIDES ")[1].split()[:2])
    if res.isolation.uid is not None:
        assert (code_uid, tests_uid) == (res.isolation.uid, res.isolation.test_uid)
        assert code_uid != tests_uid


def test_the_runner_script_defines_each_name_once() -> None:
    import ast

    seen: dict[str, int] = {}
    for node in ast.parse(runner_source()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            seen[node.name] = seen.get(node.name, 0) + 1
    assert {n for n, c in seen.items() if c > 1} == set()
