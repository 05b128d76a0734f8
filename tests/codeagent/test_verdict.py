"""The agent's verdict and the self-written tests it sets aside, on the real sandbox.

A scripted generator decides the replies; every test runs in ragkit's sandbox, and the rules
of ``selection.py`` are checked on what it really reports.
"""

from __future__ import annotations

from ragkit.codeagent import AgentConfig, CodeAgent
from ragkit.codeagent.extract import split_tests
from ragkit.codeagent.selection import distrusted_tests
from ragkit.codeagent.testgen import parse_asserts, render_tests
from ragkit.codeagent.types import Round
from ragkit.sandbox import run_tests

PROSE = "Write a function double(x) that returns x times two."
DOUBLE = "```python\ndef double(x):\n    return x * 2\n```"
DOUBLE_AGAIN = "```python\ndef double(x):\n    return x + x\n```"
PLAN_TEXT = "1. return x times two"
# the agent's own tests: one of them wrong (double(3) is not 7)
SELF_TESTS = "assert double(1) == 2\nassert double(3) == 7\nassert double(0) == 0\n```"


def test_a_self_test_two_different_candidates_outvote_is_distrusted(scripted_generator) -> None:
    # direct code, its tests (one wrong), then the plan and a different candidate from it
    gen = scripted_generator([DOUBLE, SELF_TESTS, PLAN_TEXT, DOUBLE_AGAIN, DOUBLE_AGAIN])
    config = AgentConfig(plan_first=False, max_rounds=2, quality=False, time_budget_s=None)
    result = CodeAgent(gen, config).solve(PROSE)
    assert result.test_source == "self" and not result.passed
    assert list(result.distrusted) == ["test_self_2"]
    assert "return 6" in result.distrusted["test_self_2"]
    assert "expects 7" in result.distrusted["test_self_2"]
    assert result.verdict == "passes_trusted_tests"


def test_one_candidate_against_a_test_is_uncertain_not_distrust(scripted_generator) -> None:
    gen = scripted_generator([DOUBLE, SELF_TESTS])
    config = AgentConfig(plan=False, max_rounds=1, quality=False, time_budget_s=None)
    result = CodeAgent(gen, config).solve(PROSE)
    assert result.distrusted == {} and result.verdict == "uncertain"


def test_the_callers_tests_are_never_distrusted(scripted_generator) -> None:
    wrong = "def test_a():\n    assert double(3) == 7\n"
    gen = scripted_generator([DOUBLE, DOUBLE_AGAIN])
    config = AgentConfig(plan=False, max_rounds=2, quality=False, time_budget_s=None)
    result = CodeAgent(gen, config).solve(PROSE, wrong)
    assert result.distrusted == {} and result.verdict == "fails_your_tests"
    assert not result.vouched
    ok = CodeAgent(scripted_generator([DOUBLE]), config).solve(
        PROSE, "def test_a():\n    assert double(3) == 6\n")
    assert ok.verdict == "passes_your_tests" and ok.vouched



def _ran(index: int, code: str, tests: str) -> Round:
    return Round(index=index, reply="", code=code, tests=run_tests(code, tests))


PALINDROME_TESTS = render_tests(parse_asserts(
    "assert is_palindrome(12321) == True\nassert is_palindrome('Abba') == True\n"
    "assert is_palindrome('ab') == False\n", "is_palindrome", 4), "self")
REGEX = "import re\n\ndef is_palindrome(s):\n    t = re.sub(r'[^a-z]', '', s.lower())\n    return t == t[::-1]\n"
LOOP = "def is_palindrome(s):\n    t = ''.join(c for c in s.lower() if c.isalnum())\n    return t == t[::-1]\n"


def test_an_input_of_a_type_the_task_does_not_describe_is_set_aside() -> None:
    rounds = [_ran(1, REGEX, PALINDROME_TESTS), _ran(2, LOOP, PALINDROME_TESTS)]
    assert [t.status for t in rounds[0].tests.tests] == ["error", "passed", "passed"]
    out = distrusted_tests(rounds, PALINDROME_TESTS)
    assert list(out) == ["test_self_1"] and "input's type" in out["test_self_1"]
    # one candidate is no agreement; and without the suite's source the types are unknown
    assert distrusted_tests(rounds[:1], PALINDROME_TESTS) == {}
    assert distrusted_tests(rounds, None) == {}


def test_a_shared_type_bug_on_valid_input_is_not_excused() -> None:
    # both candidates crash on every (valid) input the same way: no test of other types
    # passes, so nothing is set aside and the verdict stays honest
    tests = render_tests(parse_asserts("assert digit_sum(12) == 3\nassert digit_sum(5) == 5\n",
                                       "digit_sum", 4), "self")
    bad1 = "def digit_sum(n):\n    return sum(int(d) for d in n)\n"
    bad2 = "def digit_sum(n):\n    return sum(map(int, n))\n"
    assert distrusted_tests([_ran(1, bad1, tests), _ran(2, bad2, tests)], tests) == {}


def test_expecting_an_exception_class_means_it_should_raise() -> None:
    checks = parse_asserts("assert chunk([1], 0) == ValueError\n", "chunk", 4)
    assert checks[0].raises == "ValueError"
    tests = render_tests(checks, "self")
    raising = "def chunk(items, size):\n    if size < 1:\n        raise ValueError('size')\n    return [items]\n"
    assert run_tests(raising, tests).status == "passed"
    silent = "def chunk(items, size):\n    return []\n"
    result = run_tests(silent, tests)
    assert result.status == "failed"
    assert "returned [], expected it to raise ValueError" in result.tests[0].message
    assert list(split_tests(tests)) == ["test_self_1"]


def test_a_passing_raises_check_counts_as_evidence_of_the_input_types() -> None:
    tests = render_tests(parse_asserts(
        "assert chunk(5, 2) == [5]\nassert chunk([1], 0) == ValueError\n", "chunk", 4), "self")
    slicing = ("def chunk(items, size):\n    if size < 1:\n        raise ValueError('size')\n"
               "    return [items[i:i + size] for i in range(0, len(items), size)]\n")
    looping = ("def chunk(items, size):\n    if size < 1:\n        raise ValueError('size')\n"
               "    out = []\n    for i in range(0, len(items), size):\n"
               "        out.append(items[i:i + size])\n    return out\n")
    out = distrusted_tests([_ran(1, slicing, tests), _ran(2, looping, tests)], tests)
    assert list(out) == ["test_self_1"]  # an int where the passing test gives a list


GOOD_TESTS = "assert double(1) == 2\nassert double(3) == 6\nassert double(0) == 0\n```"


def test_one_candidate_passing_its_own_tests_waits_for_a_second_opinion(scripted_generator
                                                                         ) -> None:
    # the direct code passes the tests the same model wrote; a different candidate from the
    # plan passes them too, and only then does the agent vouch
    gen = scripted_generator([DOUBLE, GOOD_TESTS, PLAN_TEXT, DOUBLE_AGAIN])
    config = AgentConfig(quality=False, time_budget_s=None)
    result = CodeAgent(gen, config).solve(PROSE)
    assert [r.kind for r in result.rounds] == ["direct", "plan"]
    assert result.stopped == "passed" and result.best_round == 1
    assert result.verdict == "passes_trusted_tests" and result.vouched


def test_a_second_candidate_that_disagrees_leaves_the_verdict_uncertain(scripted_generator
                                                                        ) -> None:
    triple = "```python\ndef double(x):\n    return x * 3\n```"
    gen = scripted_generator([DOUBLE, GOOD_TESTS, PLAN_TEXT, triple])
    config = AgentConfig(quality=False, time_budget_s=None, max_rounds=2)
    result = CodeAgent(gen, config).solve(PROSE)
    assert result.best_round == 1 and "x * 2" in result.code and result.passed
    assert result.stopped == "max_rounds"
    assert result.verdict == "uncertain" and not result.vouched


def test_a_pass_on_the_tasks_own_example_needs_no_second_candidate(scripted_generator) -> None:
    task = PROSE + " For example double(4) -> 8."
    gen = scripted_generator([DOUBLE, GOOD_TESTS])
    result = CodeAgent(gen, AgentConfig(quality=False, time_budget_s=None)).solve(task)
    assert len(result.rounds) == 1 and result.verdict == "passes_trusted_tests"


def test_one_trusted_test_is_too_little_to_vouch_on() -> None:
    from ragkit.codeagent.selection import verdict

    names = ["test_self_1", "test_self_2"]
    assert verdict("self", frozenset(names), names, {}) == "passes_trusted_tests"
    assert verdict("self", frozenset(names), names, {"test_self_2": "outvoted"}) == "uncertain"
    assert verdict("self", frozenset(names), names, {}, corroborated_=False) == "uncertain"
    with_example = ["test_example_1", "test_self_1"]
    assert verdict("self", frozenset(with_example), with_example,
                   {"test_self_1": "outvoted"}) == "passes_trusted_tests"
