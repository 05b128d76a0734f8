"""Fixtures for the RAG tests: a small real knowledge base (real SQLite, real FAISS, the tiny
locally built embedder), and for the tests marked ``real_model`` the sample store in
``knowledge/store`` indexed once per session with the real default embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ragkit.config import ChunkingConfig, KnowledgeBaseConfig
from ragkit.kb import KnowledgeBase
from ragkit.rag import RagConfig
from tests.helpers.docs import write_docs

ROOT = Path(__file__).resolve().parents[2]

DOCS = {
    "policies/returns.md": "# Returns\n\n## Window\n\nReturns are accepted within thirty days "
    "if the item is unused and in its box.\n\n## Refunds\n\nRefunds are paid back to the "
    "original payment method within five business days.\n",
    "policies/shipping.md": "# Shipping\n\nShipping is free for orders over fifty euros. "
    "Express delivery takes one day.\n",
    "manuals/kettle.txt": "Kettle manual\n\nThe kettle boils water quickly. Descale it every "
    "month with citric acid.\n",
    "zh/退款.md": "# 退款\n\n退款会在五个工作日内退回原支付方式。退货须在三十天内申请，商品未使用。\n",
}

# Routing tests: the tiny embedder's cosines mean nothing, so never refuse on confidence.
ROUTING = RagConfig(min_confidence=0.0, support_method="lexical", check_answerable=True)


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs", DOCS)


@pytest.fixture()
def tiny_kb(tmp_path: Path, docs: Path, tiny_embedder_dir: Path, tiny_embedder) -> KnowledgeBase:
    config = KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                                 chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
    base = KnowledgeBase.open(tmp_path / "kb", create=True, config=config, embedder=tiny_embedder)
    base.sync([docs])
    yield base
    base.close()


@pytest.fixture(scope="session")
def store_kb_dir(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    """``knowledge/store`` indexed with the real default embedder, once per session."""
    d = tmp_path_factory.mktemp("store-kb") / "kb"
    with KnowledgeBase.open(d, create=True, embedder=real_embedder) as base:
        report = base.sync([ROOT / "knowledge" / "store"])
        assert not report.failed, report.failed
    return d


@pytest.fixture()
def store_kb(store_kb_dir: Path, tmp_path: Path, real_embedder) -> KnowledgeBase:
    """A private copy of the indexed store (tests write caches and conversations into it)."""
    d = tmp_path / "kb"
    shutil.copytree(store_kb_dir, d)
    base = KnowledgeBase.open(d, embedder=real_embedder)
    yield base
    base.close()


def answer_calls(gen) -> list:
    """The scripted generator's calls that generated text (not answerability checks)."""
    return [c for c in gen.calls if "Do the sources above state the answer" not in c[-1].content
            and "上面的资料中写明了" not in c[-1].content]
