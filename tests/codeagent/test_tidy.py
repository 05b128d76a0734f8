"""Clean final code: demo statements and debugging prints go, everything else stays as written.

``tidy`` is pure (tests below on source text); the agent keeps a tidied candidate only when the
real sandbox gives the same test outcomes, and a time budget stops further rounds.
"""

from __future__ import annotations

import ast

from ragkit.codeagent import AgentConfig, CodeAgent
from ragkit.codeagent.graph import AgentState, route_reason
from ragkit.codeagent.tidy import tidy
from ragkit.codeagent.types import Round

MESSY = '''import math


def second_largest(nums):
    """The second largest distinct value."""
    # debug: show the input
    print("nums", nums)
    distinct = sorted(set(nums), reverse=True)  # largest first
    if len(distinct) < 2:
        print("too few")
        return None
    return distinct[1]


# Example usage
print(second_largest([3, 1, 4]))  # prints 3
second_largest([1])
assert second_largest([1, 2]) == 1

if __name__ == "__main__":
    print(second_largest([5, 5]))
'''


def test_demo_statements_and_debug_prints_are_removed_with_their_comments() -> None:
    out = tidy(MESSY, "Write second_largest(nums) returning the second largest value.")
    assert out.changed
    assert "print" not in out.code and "__main__" not in out.code and "assert" not in out.code
    assert "# debug" not in out.code and "# Example usage" not in out.code
    assert "import math" in out.code and '"""The second largest distinct value."""' in out.code
    assert "# largest first" in out.code  # comments on kept lines stay
    assert len(out.removed) == 6 and 'print("too few")' in out.removed
    namespace: dict = {}
    exec(compile(out.code, "tidied", "exec"), namespace)  # noqa: S102 - our own test source
    assert namespace["second_largest"]([3, 1, 4]) == 3


def test_prints_stay_when_the_task_asks_for_printing() -> None:
    out = tidy(MESSY, "Write a function that prints the second largest value")
    assert 'print("too few")' not in out.removed and 'print("nums", nums)' in out.code
    assert "__main__" not in out.code  # demo statements go all the same


def test_other_module_level_calls_and_constants_stay() -> None:
    code = "import sys\nsys.setrecursionlimit(10000)\nLIMIT = 3\n\n\ndef f(x):\n    return x\n"
    assert not tidy(code).changed and tidy(code).code == code


def test_a_body_left_empty_gets_pass_and_broken_code_is_untouched() -> None:
    code = "def f(x):\n    if x:\n        print(x)\n    return x\n"
    out = tidy(code)
    ast.parse(out.code)
    assert "pass" in out.code and "print" not in out.code
    broken = "def f(x)\n    print(x)\n"
    assert tidy(broken).code == broken and not tidy(broken).changed


TASK = 'def total(xs: list) -> int:\n    """Sum of xs."""\n'
TESTS = "def test_sum():\n    assert total([1, 2]) == 3\n"


def test_the_agent_returns_tidied_code_that_still_passes(scripted_generator) -> None:
    reply = ("```python\ndef total(xs: list) -> int:\n    print('debug', xs)\n    return sum(xs)\n"
             "\n\ntotal([1, 2])\n```")
    result = CodeAgent(scripted_generator([reply]),
                       AgentConfig(plan=False, quality=False)).solve(TASK, TESTS)
    assert result.passed and "print" not in result.code
    assert result.removed == ["print('debug', xs)", "total([1, 2])"]
    assert "print" in result.rounds[0].code  # the round keeps what the model wrote


def test_tidying_that_changes_test_outcomes_is_not_kept(scripted_generator) -> None:
    # the module-level call fills a table the function reads: removing it breaks the test
    reply = ("```python\nTABLE = {}\n\n\ndef setup():\n    TABLE['k'] = 1\n\n\n"
             "def total(xs: list) -> int:\n    return sum(xs) + TABLE['k'] - 1\n\n\nsetup()\n```")
    result = CodeAgent(scripted_generator([reply]),
                       AgentConfig(plan=False, quality=False)).solve(TASK, TESTS)
    assert result.passed and "setup()\n" in result.code and result.removed == []


def _round(i: int, seconds: float) -> Round:
    return Round(index=i, reply="", code="def f():\n    return 1\n", seconds=seconds)


def test_no_round_starts_that_would_pass_the_time_budget() -> None:
    state = AgentState(tests="def test_x():\n    assert False\n", rounds=[_round(1, 20.0)])
    config = AgentConfig(time_budget_s=60)
    assert route_reason(state, config, elapsed=30.0) is None  # 30 + 20 <= 60: one more
    assert route_reason(state, config, elapsed=45.0) == "time_budget"
    assert route_reason(state, AgentConfig(time_budget_s=None), elapsed=1e6) is None
    assert route_reason(state, AgentConfig(max_rounds=1), elapsed=45.0) == "max_rounds"


def test_the_agent_returns_formatted_code_unless_told_not_to(scripted_generator) -> None:
    reply = "```python\ndef total( xs:list )->int:\n    return sum( xs )\n```"
    agent = CodeAgent(scripted_generator([reply]), AgentConfig(plan=False, quality=False))
    assert agent.solve(TASK, TESTS).code == "def total(xs: list) -> int:\n    return sum(xs)\n"
    plain = CodeAgent(scripted_generator([reply]),
                      AgentConfig(plan=False, quality=False, format=False)).solve(TASK, TESTS)
    assert plain.code == "def total( xs:list )->int:\n    return sum( xs )\n"


SCAFFOLDED = '''def to_roman(n):
    return "I" * n


# Check function to verify the solution
def check_solution():
    assert to_roman(1) == "I"


check_solution()
'''


def test_unused_scaffolding_functions_go_unless_the_task_names_them() -> None:
    out = tidy(SCAFFOLDED, "Write to_roman(n).")
    assert out.code == 'def to_roman(n):\n    return "I" * n\n'
    assert out.removed == ["def check_solution():", "check_solution()"]
    kept = tidy(SCAFFOLDED, "Write to_roman(n) and check_solution().")
    assert "def check_solution" in kept.code and kept.removed == ["check_solution()"]
    used = "def check(x):\n    return x > 0\n\n\ndef positives(xs):\n    return [x for x in xs if check(x)]\n"
    assert not tidy(used, "Write positives(xs).").changed


def test_the_function_under_test_is_the_one_the_task_names() -> None:
    from ragkit.codeagent.extract import signature_of

    assert signature_of(SCAFFOLDED, task="Write to_roman(n).") == "def to_roman(n):"
    assert signature_of(SCAFFOLDED) == "def to_roman(n):"  # scaffolding is skipped anyway


def test_demo_stops_follow_what_the_task_asks() -> None:
    from ragkit.codeagent.tidy import demo_stops

    assert "\nprint(" in demo_stops("Write f(x).") and "\ndef check" in demo_stops("Write f(x).")
    assert demo_stops("Write f(x) that prints the table.") == ()
    assert "\ndef test_" not in demo_stops("Write pytest tests for f.")
