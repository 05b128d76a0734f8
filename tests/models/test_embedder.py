"""SentenceTransformerEmbedder over a tiny real model built from a corpus (no real weights)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ragkit.embedder import Embedder, SentenceTransformerEmbedder, load_embedder, local_model_id
from tests.helpers.tiny_models import build_tiny_embedder

CORPUS = [
    "Refunds are paid within five business days.",
    "Reset your password from the account settings page.",
    "退款会在五个工作日内退回。",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("emb"), CORPUS, dim=32, max_tokens=64)


@pytest.fixture(scope="module")
def emb(tiny_dir: Path) -> SentenceTransformerEmbedder:
    return load_embedder(str(tiny_dir), device="cpu")


def test_is_an_embedder_and_lazy(tiny_dir: Path) -> None:
    e = load_embedder(str(tiny_dir))
    assert isinstance(e, Embedder)
    assert (e.dim, e.max_tokens) == (32, 64)
    assert e._model is None, "dim/max_tokens must not load the model"


def test_local_id_is_stable_and_tracks_changes(tiny_dir: Path, tmp_path: Path) -> None:
    e = load_embedder(str(tiny_dir))
    assert e.id == load_embedder(str(tiny_dir)).id
    assert e.id.startswith(f"local:{tiny_dir.name}:")
    copy = tmp_path / tiny_dir.name
    shutil.copytree(tiny_dir, copy)
    assert local_model_id(copy) == e.id  # same name, same content
    cfg = json.loads((copy / "config.json").read_text())
    cfg["layer_norm_eps"] = 1e-5
    (copy / "config.json").write_text(json.dumps(cfg))
    assert local_model_id(copy) != e.id


def test_vectors_are_normalised_float32(emb: SentenceTransformerEmbedder) -> None:
    v = emb.embed_passages(CORPUS)
    assert v.shape == (3, 32) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert emb.embed_queries([]).shape == (0, 32)
    assert emb.embed_passages([]).dtype == np.float32


def test_order_is_kept_and_batching_does_not_change_vectors(tiny_dir: Path) -> None:
    texts = [CORPUS[i % 3] * (1 + i % 4) for i in range(11)]
    small = SentenceTransformerEmbedder(tiny_dir, "t", device="cpu", batch_size=2)
    big = SentenceTransformerEmbedder(tiny_dir, "t", device="cpu", batch_size=64)
    a, b = small.embed_passages(texts), big.embed_passages(texts)
    np.testing.assert_allclose(a, b, atol=1e-5)
    one = big.embed_passages([texts[5]])
    np.testing.assert_allclose(a[5], one[0], atol=1e-5)


def test_prompts_distinguish_queries_from_passages(emb: SentenceTransformerEmbedder) -> None:
    q, p = emb.embed_queries(CORPUS[:1]), emb.embed_passages(CORPUS[:1])
    assert not np.allclose(q, p)
    direct = emb.model.encode(["passage: " + CORPUS[0]], normalize_embeddings=True)
    np.testing.assert_allclose(p[0], direct[0], atol=1e-5)


def test_count_tokens_includes_prompt_and_specials(emb: SentenceTransformerEmbedder) -> None:
    words = len(emb.model.tokenizer.tokenize("退款"))
    assert words == 2  # CJK characters are single tokens
    prompt = len(emb.model.tokenizer.tokenize("passage: "))
    assert emb.count_tokens("退款") == words + prompt + 2  # [CLS] ... [SEP]
    assert emb.count_tokens("") == prompt + 2


def test_progress_reports_every_text(tiny_dir: Path) -> None:
    e = SentenceTransformerEmbedder(tiny_dir, "t", device="cpu", batch_size=4)
    seen: list[int] = []
    e.embed_passages(CORPUS * 3, progress=seen.append)
    assert seen == [4, 4, 1]


def test_single_string_is_rejected(emb: SentenceTransformerEmbedder) -> None:
    with pytest.raises(TypeError, match="list of texts"):
        emb.embed_passages("not a list")  # type: ignore[arg-type]
