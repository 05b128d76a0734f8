"""The README is part of the product: its Quickstart matches CI and its examples run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "Quickstart has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_is_exactly_two_commands_and_ci_runs_the_second() -> None:
    cmds = quickstart_commands()
    assert len(cmds) == 2
    assert README.lstrip().startswith("# ragkit")
    assert re.findall(r"^## (.+)$", README, re.M)[0] == "Quickstart"  # the README opens with it
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert cmds[1] in ci


def test_quickstart_makes_and_uses_its_own_virtual_environment() -> None:
    """Each command works on its own on a fresh machine whose Python refuses `pip install`
    outside a venv (Debian's externally-managed-environment): it creates .venv first and then
    runs only programs from it, never a bare pip, ragkit or pytest from the PATH."""
    for cmd in quickstart_commands():
        steps = [step.strip() for step in cmd.split("&&")]
        assert steps[0] == "python3 -m venv .venv", cmd
        assert len(steps) == 3 and all(s.startswith(".venv/bin/") for s in steps[1:]), cmd
        assert "-c constraints.txt" in steps[1], cmd  # the versions ragkit is tested with


def test_ragkit_version_prints_the_package_version() -> None:
    from typer.testing import CliRunner

    import ragkit
    from ragkit.cli import app

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output == f"ragkit {ragkit.__version__}\n"


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


@pytest.mark.real_model
def test_python_example_runs(tmp_path: Path, real_embedder) -> None:
    (tmp_path / "knowledge").symlink_to(ROOT / "knowledge")
    code = python_examples()[0]
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "documents added" in lines[0]
    assert len(lines) == 4 and any("refund" in line.lower() for line in lines[1:])


@pytest.mark.real_model
def test_generation_example_runs(tmp_path: Path) -> None:
    code = next(c for c in python_examples() if "LocalGenerator" in c)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0 and "ModelError" in proc.stderr:
        pytest.skip(f"smollm2-135m-instruct unavailable: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr
    assert "completion_tokens=" in proc.stdout


def test_rag_example_is_the_file_the_rag_tests_run() -> None:
    """The README's kb.ask example is tests/rag/readme_example.py (run by tests/rag)."""
    example = (ROOT / "tests" / "rag" / "readme_example.py").read_text(encoding="utf-8")
    code = example.split("\n", 2)[2]  # minus its two comment lines
    assert code in python_examples()
