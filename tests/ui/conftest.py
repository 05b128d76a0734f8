"""Fixtures for the UI tests: a real knowledge base on disk using the tiny local embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.docs import write_docs

DOCS = {
    "refunds.md": "# Refunds\n\nRefunds are paid back to the original payment method within "
                  "five business days.\n",
    "kettle.md": "# Kettle\n\nThe kettle boils water quickly. Descale it every month with "
                 "citric acid.\n",
    "退款.md": "# 退款\n\n退款会在五个工作日内退回原支付方式。\n",
}


@pytest.fixture()
def tiny_kb(tmp_path: Path, tiny_embedder_dir: Path) -> Path:
    """An indexed knowledge base under ``tmp_path/kbs/main`` (tiny embedder, 3 documents)."""
    from ragkit.config import KnowledgeBaseConfig
    from ragkit.kb import KnowledgeBase

    kb_dir = tmp_path / "kbs" / "main"
    with KnowledgeBase.open(kb_dir, create=True,
                            config=KnowledgeBaseConfig(embedder=str(tiny_embedder_dir))) as kb:
        kb.add([write_docs(tmp_path / "docs", DOCS)])
    return kb_dir
