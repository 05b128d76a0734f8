"""The embedders over a tiny real model built from a corpus (no real weights): one
conformance suite run on both runtimes (sentence-transformers and ONNX Runtime), then what
only one of them promises."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ragkit import models
from ragkit.embedder import (
    Embedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    load_embedder,
    local_model_id,
    onnx_pooling,
)
from ragkit.errors import ModelError
from tests.helpers.tiny_models import build_tiny_embedder

CORPUS = [
    "Refunds are paid within five business days.",
    "Reset your password from the account settings page.",
    "退款会在五个工作日内退回。",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("emb"), CORPUS, dim=32, max_tokens=64)


@pytest.fixture(scope="module", params=["torch", "onnx"])
def emb(request: pytest.FixtureRequest, tiny_dir: Path) -> Embedder:
    return load_embedder(str(tiny_dir), runtime=request.param)


@pytest.fixture(scope="module")
def reference(tiny_dir: Path) -> SentenceTransformerEmbedder:
    e = load_embedder(str(tiny_dir), runtime="torch")
    assert isinstance(e, SentenceTransformerEmbedder)
    return e


# -- every runtime ---------------------------------------------------------------------------
def test_is_an_embedder_and_lazy(tiny_dir: Path) -> None:
    for runtime in ("torch", "onnx"):
        e = load_embedder(str(tiny_dir), runtime=runtime)
        assert isinstance(e, Embedder)
        assert (e.dim, e.max_tokens) == (32, 64)
        loaded = e._model if isinstance(e, SentenceTransformerEmbedder) else e._sessions
        assert not loaded, "dim/max_tokens must not load the model"


def test_local_id_is_stable_and_tracks_changes(tiny_dir: Path, tmp_path: Path) -> None:
    e = load_embedder(str(tiny_dir))
    assert e.id == load_embedder(str(tiny_dir), runtime="torch").id, "one id for both runtimes"
    assert e.id.startswith(f"local:{tiny_dir.name}:")
    copy = tmp_path / tiny_dir.name
    shutil.copytree(tiny_dir, copy)
    assert local_model_id(copy) == e.id  # same name, same content
    cfg = json.loads((copy / "config.json").read_text())
    cfg["layer_norm_eps"] = 1e-5
    (copy / "config.json").write_text(json.dumps(cfg))
    assert local_model_id(copy) != e.id


def test_vectors_are_normalised_float32(emb: Embedder) -> None:
    v = emb.embed_passages(CORPUS)
    assert v.shape == (3, 32) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert emb.embed_queries([]).shape == (0, 32)
    assert emb.embed_passages([]).dtype == np.float32


def test_vectors_match_sentence_transformers(emb: Embedder,
                                             reference: SentenceTransformerEmbedder) -> None:
    texts = [*CORPUS, "passage about nothing the tokenizer knows: zebra quux", ""]
    np.testing.assert_allclose(emb.embed_passages(texts), reference.embed_passages(texts),
                               atol=1e-5)
    np.testing.assert_allclose(emb.embed_queries(texts), reference.embed_queries(texts),
                               atol=1e-5)
    direct = reference.model.encode(["passage: " + CORPUS[0]], normalize_embeddings=True)
    np.testing.assert_allclose(emb.embed_passages(CORPUS[:1])[0], direct[0], atol=1e-5)


def test_long_text_is_cut_like_sentence_transformers(
        emb: Embedder, reference: SentenceTransformerEmbedder) -> None:
    long = " ".join(CORPUS * 40)
    assert emb.count_tokens(long) == reference.count_tokens(long) > 64  # counts are not cut
    np.testing.assert_allclose(emb.embed_passages([long]), reference.embed_passages([long]),
                               atol=1e-5)


def test_order_is_kept_and_neighbours_do_not_change_vectors(emb: Embedder) -> None:
    texts = [CORPUS[i % 3] * (1 + i % 4) for i in range(11)]
    a = emb.embed_passages(texts)
    np.testing.assert_allclose(a[5], emb.embed_passages([texts[5]])[0], atol=1e-5)
    np.testing.assert_allclose(a[::-1], emb.embed_passages(texts[::-1]), atol=1e-5)


def test_prompts_distinguish_queries_from_passages(emb: Embedder) -> None:
    q, p = emb.embed_queries(CORPUS[:1]), emb.embed_passages(CORPUS[:1])
    assert not np.allclose(q, p)


def test_count_tokens_includes_prompt_and_specials(
        emb: Embedder, reference: SentenceTransformerEmbedder) -> None:
    words = len(reference.model.tokenizer.tokenize("退款"))
    assert words == 2  # CJK characters are single tokens
    prompt = len(reference.model.tokenizer.tokenize("passage: "))
    assert emb.count_tokens("退款") == words + prompt + 2  # [CLS] ... [SEP]
    assert emb.count_tokens("") == prompt + 2


def test_single_string_is_rejected(emb: Embedder) -> None:
    with pytest.raises(TypeError, match="list of texts"):
        emb.embed_passages("not a list")  # type: ignore[arg-type]


# -- sentence-transformers -------------------------------------------------------------------
def test_batch_size_does_not_change_vectors(tiny_dir: Path) -> None:
    texts = [CORPUS[i % 3] * (1 + i % 4) for i in range(11)]
    small = SentenceTransformerEmbedder(tiny_dir, "t", device="cpu", batch_size=2)
    big = SentenceTransformerEmbedder(tiny_dir, "t", device="cpu", batch_size=64)
    np.testing.assert_allclose(small.embed_passages(texts), big.embed_passages(texts),
                               atol=1e-5)


def test_progress_reports_every_text(tiny_dir: Path) -> None:
    e = SentenceTransformerEmbedder(tiny_dir, "t", device="cpu", batch_size=4)
    seen: list[int] = []
    e.embed_passages(CORPUS * 3, progress=seen.append)
    assert seen == [4, 4, 1]
    o = load_embedder(str(tiny_dir), runtime="onnx")
    seen.clear()
    o.embed_passages(CORPUS * 3, progress=seen.append)
    assert sum(seen) == 9


# -- ONNX Runtime ----------------------------------------------------------------------------
def test_auto_takes_onnx_for_a_plain_folder(tiny_dir: Path) -> None:
    assert onnx_pooling(tiny_dir) == "mean"
    auto = load_embedder(str(tiny_dir))
    assert isinstance(auto, OnnxEmbedder) and not auto.index_int8  # exact vectors by default
    assert isinstance(load_embedder(str(tiny_dir), device="cuda"), SentenceTransformerEmbedder)
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_embedder(str(tiny_dir), runtime="tensorrt")


def test_the_environment_chooses_the_runtime(tiny_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGKIT_EMBEDDER_RUNTIME", "torch")
    assert isinstance(load_embedder(str(tiny_dir)), SentenceTransformerEmbedder)
    assert isinstance(load_embedder(str(tiny_dir), runtime="onnx"), OnnxEmbedder)
    monkeypatch.setenv("RAGKIT_EMBEDDER_RUNTIME", "onnx-int8")
    e = load_embedder(str(tiny_dir))
    assert isinstance(e, OnnxEmbedder) and e.index_int8
    monkeypatch.setenv("RAGKIT_EMBEDDER_RUNTIME", "gpu")
    with pytest.raises(ValueError, match="RAGKIT_EMBEDDER_RUNTIME"):
        load_embedder(str(tiny_dir))


def test_folders_onnx_cannot_run_stay_on_torch(tiny_dir: Path, tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    shutil.copytree(tiny_dir, lower)
    (lower / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 64, "do_lower_case": True}))
    maxpool = tmp_path / "maxpool"
    shutil.copytree(tiny_dir, maxpool)
    cfg = json.loads((maxpool / "1_Pooling" / "config.json").read_text())
    cfg.update(pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)
    (maxpool / "1_Pooling" / "config.json").write_text(json.dumps(cfg))
    for folder in (lower, maxpool):
        assert onnx_pooling(folder) is None
        assert isinstance(load_embedder(str(folder)), SentenceTransformerEmbedder)
        with pytest.raises(ModelError, match="runtime='torch'"):
            load_embedder(str(folder), runtime="onnx")
        with pytest.raises(ModelError, match="runtime='torch'"):
            load_embedder(str(folder), runtime="onnx-int8")


def test_index_vectors_are_int8_close_and_independent_of_neighbours(
        tiny_dir: Path, reference: SentenceTransformerEmbedder) -> None:
    e = load_embedder(str(tiny_dir), runtime="onnx-int8")
    assert isinstance(e, OnnxEmbedder) and e.index_int8
    texts = [CORPUS[i % 3] * (1 + i % 4) for i in range(7)]
    stored = e.embed_for_index(texts)
    cos = (stored * reference.embed_passages(texts)).sum(axis=1)
    assert cos.min() > 0.95 and not np.allclose(cos, 1.0, atol=1e-6)  # the INT8 graph ran
    np.testing.assert_allclose(stored[3], e.embed_for_index([texts[3]])[0], atol=1e-6)
    exact = OnnxEmbedder(tiny_dir, e.id, index_int8=False)
    np.testing.assert_allclose(exact.embed_for_index(texts), reference.embed_passages(texts),
                               atol=1e-5)


def test_export_happens_once_and_again_when_the_weights_change(
        tiny_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dir, copy)
    said: list[str] = []
    first = models.encoder_onnx_dir(copy, log=said.append)
    assert (first / "model.onnx").is_file() and not (first / "model-int8.onnx").exists()
    assert len(said) == 2 and "once" in said[0]
    assert models.encoder_onnx_dir(copy, log=said.append) == first and len(said) == 2
    assert models.encoder_onnx_int8(copy, log=said.append) == first / "model-int8.onnx"
    assert models.encoder_onnx_int8(copy, log=said.append).is_file() and len(said) == 3
    assert not [f for f in first.iterdir() if f.name.startswith(".")], "no temp file left"
    (copy / "config.json").write_text((copy / "config.json").read_text() + "\n")
    second = models.encoder_onnx_dir(copy, log=said.append)
    assert second != first and (second / "model.onnx").is_file()
    assert not first.exists(), "the stale export of the same folder is removed"


def test_a_damaged_export_says_how_to_recover(tiny_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "broken"
    shutil.copytree(tiny_dir, copy)
    folder = models.encoder_onnx_dir(copy, log=lambda _: None)
    (folder / "model.onnx").write_bytes(b"not a graph")
    e = load_embedder(str(copy), runtime="onnx")
    with pytest.raises(ModelError, match="export it again"):
        e.embed_queries(["hello"])
