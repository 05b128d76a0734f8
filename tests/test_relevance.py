"""Relevance scorers (ragkit/relevance.py) on real models and small inputs: the INT8 ms-marco
cross-encoder, the knowledge base's embedder through a curve, and the language router; plus a
broken model folder giving a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ragkit import sdk
from ragkit.errors import ConfigError, ModelError
from ragkit.relevance import (
    Cascade,
    CrossEncoder,
    EmbeddingRelevance,
    LanguageRouted,
    Relevance,
    embedding_curve,
    logistic,
)

RETURNS = [
    "Returns: You can return most items within 30 days of delivery.",
    "Returns: Gold members of Brightcart Points have a 45-day return window.",
    "Shipping: Orders placed before 2 pm ship the same day.",
    "Account: Choose a new password of at least 10 characters.",
]


def test_logistic_is_monotone_and_centred_on_its_shift() -> None:
    got = logistic(np.array([-10.0, 0.5, 11.0]), shift=0.5, scale=2.0)
    assert got[0] < got[1] < got[2]
    assert got[1] == pytest.approx(0.5)
    assert logistic(np.array([1e9]), 0, 1e-9)[0] == 1.0  # clipped, no overflow


def test_embedding_curves_are_per_model_with_a_default() -> None:
    assert embedding_curve("embeddinggemma-300m") != embedding_curve("multilingual-e5-small")
    assert embedding_curve("my-own-model") == embedding_curve("multilingual-e5-small")


def test_a_translation_is_read_only_against_texts_in_the_other_language(real_embedder) -> None:
    scorer = EmbeddingRelevance(real_embedder, **embedding_curve(real_embedder.id))
    texts = ["Returns: You can return most items within 30 days of delivery.",
             "退货：商品签收后30天内可以申请退货。"]
    question, noise = "How many days do I have to return an item?", "账户密码至少需要10个字符。"
    alone = scorer.score(question, texts)
    mixed = scorer.score(question, texts, translation=noise)
    assert mixed[0] == pytest.approx(alone[0])  # the English text: the question as asked
    other = logistic(np.maximum(scorer.cosines(question, texts[1:]),
                                scorer.cosines(noise, texts[1:])), scorer.shift, scorer.scale)
    assert mixed[1] == pytest.approx(other[0], rel=1e-4)  # the Chinese one: the better of the two forms


@pytest.mark.real_model
def test_cross_encoder_puts_the_answering_sentence_first(cross_encoder: CrossEncoder) -> None:
    assert isinstance(cross_encoder, Relevance)
    scores = cross_encoder.score("How many days do I have to return an item?", RETURNS)
    assert scores.shape == (4,) and ((scores >= 0) & (scores <= 1)).all()
    assert int(np.argmax(scores)) == 0
    assert scores[0] > 0.5 > scores[2] and scores[3] < 0.5
    # batches of any size agree with one call per text
    one_by_one = [cross_encoder.score("How many days do I have to return an item?", [t])[0]
                  for t in RETURNS]
    assert np.allclose(scores, one_by_one, atol=1e-4)
    assert cross_encoder.score("anything", []).shape == (0,)


@pytest.mark.real_model
def test_cross_encoder_reads_the_translation_of_a_chinese_question(
        cross_encoder: CrossEncoder) -> None:
    zh = "买的东西多少天内可以退货？"
    plain = cross_encoder.score(zh, RETURNS)
    translated = cross_encoder.score(zh, RETURNS,
                                     translation="Within how many days can I return an item?")
    assert int(np.argmax(translated)) == 0
    assert translated[0] > plain[0]  # on Chinese text the English model sees little


@pytest.mark.real_model
def test_embedding_relevance_ranks_a_chinese_answer_first(real_embedder) -> None:
    scorer = EmbeddingRelevance(real_embedder, **embedding_curve(real_embedder.id))
    texts = ["退货：商品签收后30天内可以申请退货。", "配送：下午两点前的订单当天发货。",
             "账户：新密码至少需要10个字符。"]
    scores = scorer.score("收到货以后多久之内能退？", texts)
    assert int(np.argmax(scores)) == 0
    again = scorer.score("收到货以后多久之内能退？", texts)  # passage vectors from the LRU
    assert np.allclose(scores, again)
    assert set(scorer._vectors) == set(texts)


@pytest.mark.real_model
def test_router_sends_english_pairs_to_the_cross_encoder(cross_encoder: CrossEncoder,
                                                         real_embedder) -> None:
    other = EmbeddingRelevance(real_embedder, **embedding_curve(real_embedder.id))
    routed = LanguageRouted(cross_encoder, other)
    texts = [RETURNS[0], "退货：商品签收后30天内可以申请退货。"]
    got = routed.score("How many days do I have to return an item?", texts)
    assert got[0] == pytest.approx(
        cross_encoder.score("How many days do I have to return an item?", texts[:1])[0])
    assert got[1] == pytest.approx(
        other.score("How many days do I have to return an item?", texts[1:])[0])
    # a Chinese question with no translation: every pair goes to the embedder
    zh = routed.score("多少天内可以退货？", texts)
    assert np.allclose(zh, other.score("多少天内可以退货？", texts))


def test_a_cross_encoder_folder_without_its_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="ragkit models pull ms-marco-minilm-l12-int8"):
        CrossEncoder(tmp_path)


@pytest.mark.real_model
def test_a_corrupt_cross_encoder_file_gives_a_clear_error(cross_encoder: CrossEncoder,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "ce"
    shutil.copytree(cross_encoder.folder, bad)
    data = (bad / "model.onnx").read_bytes()
    (bad / "model.onnx").write_bytes(data[: len(data) // 3])  # a truncated download
    scorer = CrossEncoder(bad)
    with pytest.raises(ModelError, match="Pull the model again"):
        scorer.score("q", ["t"])


def test_relevance_modes_are_checked() -> None:
    assert sdk.load_relevance("off") is None
    with pytest.raises(ConfigError, match="unknown relevance mode"):
        sdk.load_relevance("fastest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="embedder=kb.embedder"):
        sdk.load_relevance("auto")


# Same-topic pairs: one sentence answers, the other is about the same thing and does not.
HARD = [
    ("How heavy is the blender?", "The blender weighs 1.2 kg without its jug.",
     "The blender has a 1.5 litre glass jug."),
    ("When was the company founded?", "The company was founded in 2017 in Venlo.",
     "The company sells kitchen appliances and outdoor gear."),
    ("空气炸锅的容量是多少？", "这款空气炸锅的容量为 4.5 升。", "这款空气炸锅有六种预设烹饪模式。"),
    ("会员退货期限是多久？", "金卡会员的退货期限为 45 天。", "会员可以在账户页面查看积分。"),
]


@pytest.mark.real_model
@pytest.mark.parametrize("question,answer,same_topic", HARD)
def test_embeddinggemma_prefers_the_answer_over_the_same_topic(
        gemma_embedder, question: str, answer: str, same_topic: str) -> None:
    scorer = EmbeddingRelevance(gemma_embedder, **embedding_curve(gemma_embedder.id))
    ans, other = scorer.score(question, [answer, same_topic])
    assert ans > other


@pytest.mark.real_model
def test_cascade_rereads_only_the_first_stage_best(cross_encoder, gemma_embedder) -> None:
    second = EmbeddingRelevance(gemma_embedder, **embedding_curve(gemma_embedder.id))
    cascade = Cascade(cross_encoder, second, keep=2)
    texts = RETURNS + ["Orders placed before 2 pm ship the same day, Monday to Friday."]
    got = cascade.score("How many days do I have to return an item?", texts)
    first = cross_encoder.score("How many days do I have to return an item?", texts)
    kept = set(np.argsort(-first)[:2].tolist())
    assert {i for i, s in enumerate(got) if s > 0} <= kept
    assert all(got[i] == 0 for i in range(len(texts)) if i not in kept)
    assert int(np.argmax(got)) == 0
    assert got[0] == pytest.approx(second.score("How many days do I have to return an item?",
                                                texts[:1])[0])

