"""``ragkit code test`` and ``ragkit code`` run as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CODE = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
TESTS = "def test_one():\n    assert add(1, 2) == 3\n\ndef test_zero():\n    assert add(0, 0) == 0\n"


def _ragkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "ragkit", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def _files(tmp_path: Path, code: str) -> tuple[str, str]:
    (tmp_path / "code.py").write_text(code)
    (tmp_path / "tests.py").write_text(TESTS)
    return str(tmp_path / "code.py"), str(tmp_path / "tests.py")


def test_code_test_passes_and_prints_json(tmp_path: Path) -> None:
    code, tests = _files(tmp_path, CODE)
    proc = _ragkit("code", "test", "--code", code, "--tests", tests, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["result"]["status"] == "passed"
    assert [t["name"] for t in data["result"]["tests"]] == ["test_one", "test_zero"]
    assert data["report"]["passed"] == 2


def test_code_test_failure_names_the_test_and_exits_non_zero(tmp_path: Path) -> None:
    code, tests = _files(tmp_path, WRONG)
    proc = _ragkit("code", "test", "--code", code, "--tests", tests)
    assert proc.returncode == 1
    assert "test_one" in proc.stdout and "got -1, expected 3" in proc.stdout
    assert "failed: 1/2 tests" in proc.stdout


def test_code_test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = _ragkit("code", "test", "--code", str(tmp_path / "nope.py"), "--tests",
                   str(tmp_path / "nope.py"))
    assert proc.returncode != 0
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_code_test_refuses_a_path_that_is_not_a_file(tmp_path: Path) -> None:
    proc = _ragkit("code", "test", "--code", str(tmp_path), "--tests", str(tmp_path))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "is not a regular file" in proc.stderr


@pytest.mark.real_model
def test_code_solves_a_task_with_the_default_model(tmp_path: Path, real_generator) -> None:
    """One full ``ragkit code TASK --tests FILE`` run (the fixture makes sure weights exist)."""
    _, tests = _files(tmp_path, CODE)
    task = "def add(a, b):\n    \"\"\"Return the sum of the two numbers a and b.\"\"\"\n"
    proc = _ragkit("code", task, "--tests", tests, "--json", "--rounds", "2", timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["passed"] and data["tests_passed"] == 2 and data["test_source"] == "user"
    assert data["plan"] is None  # the first candidate passed: no plan was needed
    assert data["rounds"][0]["code"].count("def add") == 1
    assert data["verdict"] == "passes_your_tests"


def test_a_bare_task_is_routed_to_solve() -> None:
    """``ragkit code "TASK"`` reaches ``solve`` (its option checks run before any model loads)."""
    proc = _ragkit("code", "write a function add(a, b)", "--rounds", "0")
    assert proc.returncode != 0
    assert "max_rounds=0" in proc.stderr and "Traceback" not in proc.stderr
    helped = _ragkit("code", "--help")
    assert "solve" in helped.stdout and "test" in helped.stdout


def test_code_test_imports_the_code_under_its_own_file_name(tmp_path: Path) -> None:
    """Tests written for a file import it by its name (`from sol import add` for sol.py),
    as pytest would; `solution` still works."""
    (tmp_path / "sol.py").write_text(CODE)
    (tmp_path / "test_sol.py").write_text(
        "from sol import add\nimport sol\nimport solution\n\n"
        "def test_from():\n    assert add(1, 2) == 3\n\n"
        "def test_module():\n    assert sol.add(2, 2) == 4 and solution.add(1, 1) == 2\n")
    proc = _ragkit("code", "test", "--code", str(tmp_path / "sol.py"), "--tests",
                   str(tmp_path / "test_sol.py"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["result"]["passed"] == 2
