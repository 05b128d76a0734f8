"""quality_report: ruff findings from the real ruff executable, complexity from the ast visitor."""

from __future__ import annotations

import textwrap

from ragkit.codequality import complexity, formatted, quality_report
from ragkit.sandbox import run_tests

CODE = textwrap.dedent('''
    import os


    def straight(x):
        return x + 1


    def branches(x):
        if x > 0:
            return 1
        elif x < 0 and x != -1:
            return -1
        else:
            return 0


    def loops(items):
        total = 0
        for i in items:
            while i > 0:
                i -= 1
        try:
            total += 1
        except ValueError:
            pass
        return [i for i in items if i if i > 2]


    class Box:
        def get(self, key):
            def inner(k):
                return k or key
            return inner(key)
''').lstrip()


def test_complexity_per_function() -> None:
    found = {f.name: f.complexity for f in complexity(CODE)}
    # straight: 1; branches: 1 + if + elif + `and`; loops: 1 + for + while + except +
    # comprehension with two ifs (1 + 2); inner: 1 + `or`.
    assert found == {"straight": 1, "branches": 4, "loops": 7, "Box.get": 1,
                     "Box.get.inner": 2}
    assert [f.line for f in complexity(CODE)] == sorted(f.line for f in complexity(CODE))


def test_ruff_findings_come_with_lines() -> None:
    report = quality_report(CODE)
    codes = {(f.code, f.line) for f in report.ruff}
    assert ("F401", 1) in codes  # unused import os
    assert report.notes == []


def test_clean_code_has_no_findings() -> None:
    report = quality_report("def add(a: int, b: int) -> int:\n    return a + b\n")
    assert report.ruff == []
    assert report.max_complexity == 1


def test_syntax_error_is_a_finding_and_a_note() -> None:
    report = quality_report("def f(:\n    pass\n")
    assert report.ruff and report.ruff[0].code == "invalid-syntax"
    assert report.complexity == []
    assert "SyntaxError" in report.notes[0]


def test_correctness_from_a_sandbox_result_and_rendering() -> None:
    code = "def add(a, b):\n    return a + b\n"
    result = run_tests(code, "def test_a():\n    assert add(1, 1) == 2\n\n"
                             "def test_b():\n    assert add(1, 1) == 3\n")
    report = quality_report(code, result=result)
    assert (report.passed, report.total) == (1, 2)
    d = report.to_dict()
    assert d["passed"] == 1 and d["total"] == 2 and d["max_complexity"] == 1
    md = report.to_markdown()
    assert "1/2 passed" in md
    assert "| `add` | 1 | 1 |" in md
    assert "```python\ndef add(a, b):" in md
    assert "```python" not in report.to_markdown(include_code=False)


def test_formatted_lays_code_out_and_refuses_broken_code() -> None:
    assert formatted("def f( a,b ):\n  return a+b\n") == "def f(a, b):\n    return a + b\n"
    assert formatted("def f(a:\n") is None
