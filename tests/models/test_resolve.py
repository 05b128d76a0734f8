"""resolve(): catalogue names, local folders, .gguf paths, and the errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit import models
from ragkit.errors import ModelError
from tests.helpers.tiny_models import build_tiny_causal_lm, build_tiny_embedder


def test_local_folders_are_returned_as_is(home: Path, tmp_path: Path) -> None:
    emb = build_tiny_embedder(tmp_path / "emb", ["hello world"])
    lm = build_tiny_causal_lm(tmp_path / "lm", ["hello world"])
    assert models.resolve(str(emb), "embedder") == emb
    assert models.resolve(lm, "generator") == lm
    assert not (home / "models").exists(), "a local folder must not be copied or converted"


def test_missing_path(home: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        models.resolve(str(tmp_path / "nope" / "model"), "generator")
    with pytest.raises(ModelError, match="does not exist"):
        models.resolve(tmp_path / "missing.gguf", "generator")


def test_unknown_bare_name_lists_the_catalogue(home: Path) -> None:
    with pytest.raises(ModelError, match="Known models: .*multilingual-e5-small"):
        models.resolve("qwen-coder-0.5b", "generator")


def test_folder_that_is_not_a_model(home: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelError, match="not a model folder"):
        models.resolve(str(tmp_path), "embedder")
    with pytest.raises(ModelError, match="not a .gguf"):
        models.resolve(str(tmp_path / "notes.txt"), "generator")


def test_gguf_file_is_for_generators_only(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="generators only"):
        models.resolve(str(f), "embedder")


def test_catalogue_name_of_the_wrong_kind(home: Path) -> None:
    with pytest.raises(ModelError, match="is a generator, not an embedder"):
        models.resolve("smollm2-135m-instruct", "embedder")
    with pytest.raises(ModelError, match="is an embedder, not a generator"):
        models.resolve("all-minilm-l6-v2", "generator")


def test_fresh_home_has_nothing_pulled(home: Path) -> None:
    assert not models.is_pulled("all-minilm-l6-v2")


def test_broken_gguf_file_gives_a_model_error(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "broken.gguf"
    f.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelError, match="could not convert"):
        models.resolve(str(f), "generator", log=lambda m: None)
    assert not [p for p in (home / "models").iterdir() if not p.name.endswith(".lock")]
