"""Checks on the blind programming task sets ``knowledge/eval/code_blind.jsonl`` and
``knowledge/eval/code_blind2.jsonl``.

Owns: validating each set as data. Every row has the agreed fields, the language tag matches the
task text, the task names the function and its parameters exactly as the reference defines them,
the reference uses the standard library only and passes its own hidden tests in a real
subprocess, and the hidden tests are strong enough that stub solutions fail them. It does not run
the code agent: the set is scored once, at the end, by the benchmark that reports it.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.knowledge.test_sample_kb import lang_of

ROOT = Path(__file__).resolve().parents[2]
TASK_FILES = [ROOT / "knowledge" / "eval" / f for f in ("code_blind.jsonl", "code_blind2.jsonl")]
FIELDS = {"id", "lang", "task", "entry_point", "reference", "hidden_tests", "difficulty"}
DIFFICULTIES = ("easy", "medium", "hard")
TIMEOUT_S = 10

SETS = {
    path.name: [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    for path in TASK_FILES
}
TASKS = [t for tasks in SETS.values() for t in tasks]
IDS = [t["id"] for t in TASKS]

# Solutions that know nothing about the task; every task's hidden tests must reject them.
STUBS = {
    "returns None": "def {ep}(*args, **kwargs):\n    return None\n",
    "echoes its first argument": "def {ep}(*args, **kwargs):\n    return args[0] if args else None\n",
}


def _run(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "candidate.py"
    script.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
    )


def _top_level_function(source: str, name: str) -> ast.FunctionDef | None:
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


@pytest.mark.parametrize("name", list(SETS))
def test_size_schema_and_mix(name: str) -> None:
    TASKS = SETS[name]
    IDS = [t["id"] for t in TASKS]
    assert len(TASKS) >= 44
    assert len(set(IDS)) == len(IDS), [i for i, n in Counter(IDS).items() if n > 1]
    for t in TASKS:
        assert set(t) == FIELDS, t.get("id")
        assert re.fullmatch(r"cb\d{3}", t["id"]), t["id"]
        assert t["lang"] in ("en", "zh"), t["id"]
        assert t["difficulty"] in DIFFICULTIES, t["id"]
        assert all(isinstance(t[f], str) and t[f].strip() for f in FIELDS), t["id"]
    langs = Counter(t["lang"] for t in TASKS)
    assert langs["zh"] >= 12, langs
    levels = Counter(t["difficulty"] for t in TASKS)
    assert levels["medium"] / len(TASKS) >= 0.2, levels
    assert levels["hard"] / len(TASKS) >= 0.1, levels
    assert levels["easy"] / len(TASKS) >= 0.4, levels


@pytest.mark.parametrize("name", list(SETS))
def test_tasks_read_like_requests_not_docstrings(name: str) -> None:
    TASKS = SETS[name]
    # Users type a sentence or two; HumanEval's form is a def line plus a docstring with >>> examples.
    for t in TASKS:
        assert "def " not in t["task"] and ">>>" not in t["task"], t["id"]
        assert len(t["task"]) <= 450, t["id"]
    assert len({t["entry_point"] for t in TASKS}) == len(TASKS)


@pytest.mark.parametrize("t", TASKS, ids=IDS)
def test_language_tag_matches_the_task_text(t: dict) -> None:
    assert lang_of(t["task"]) == t["lang"]


@pytest.mark.parametrize("t", TASKS, ids=IDS)
def test_task_names_the_function_the_reference_defines(t: dict) -> None:
    ep = t["entry_point"]
    assert ep.isidentifier(), ep
    named = re.search(rf"\b{re.escape(ep)}\(([^)]*)\)", t["task"])
    assert named, f"{t['id']}: the task text must name {ep}(...)"
    func = _top_level_function(t["reference"], ep)
    assert func is not None, f"{t['id']}: the reference does not define {ep}"
    params = [a.arg for a in func.args.args]
    assert [p.strip() for p in named.group(1).split(",")] == params, (named.group(0), params)


@pytest.mark.parametrize("t", TASKS, ids=IDS)
def test_reference_uses_the_standard_library_only(t: dict) -> None:
    for node in ast.walk(ast.parse(t["reference"])):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            assert module.split(".")[0] in sys.stdlib_module_names, (t["id"], module)


@pytest.mark.parametrize("t", TASKS, ids=IDS)
def test_hidden_tests_are_asserts_on_the_entry_point(t: dict) -> None:
    body = ast.parse(t["hidden_tests"]).body
    assert all(isinstance(node, ast.Assert) for node in body), t["id"]
    assert 5 <= len(body) <= 12, (t["id"], len(body))
    for node in body:
        called = {
            n.func.id
            for n in ast.walk(node)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert t["entry_point"] in called, (t["id"], ast.unparse(node))


@pytest.mark.parametrize("t", TASKS, ids=IDS)
def test_reference_passes_its_hidden_tests(t: dict, tmp_path: Path) -> None:
    done = _run(t["reference"] + "\n\n" + t["hidden_tests"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("stub", list(STUBS), ids=list(STUBS))
@pytest.mark.parametrize("t", TASKS, ids=IDS)
def test_stub_solutions_fail_the_hidden_tests(t: dict, stub: str, tmp_path: Path) -> None:
    source = STUBS[stub].format(ep=t["entry_point"]) + "\n" + t["hidden_tests"]
    done = _run(source, tmp_path)
    assert done.returncode != 0, f"{t['id']}: a stub that {stub} passes every hidden test"
    assert "Traceback" in done.stderr, done.stderr[-500:]
