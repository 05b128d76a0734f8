"""Plain data shared across ragkit: parsed documents, chunks, search hits, chat messages.

Only frozen dataclasses live here; no I/O and no behaviour beyond small derived properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DocKind = Literal["markdown", "text", "html", "pdf", "docx", "faq"]


@dataclass(frozen=True)
class Section:
    """A contiguous span of a parsed document that shares one heading path and page.

    ``start`` is the character offset of ``text`` inside :attr:`ParsedDocument.text`, so that
    ``doc.text[start:start + len(text)] == text``. ``atomic`` sections (FAQ pairs) become
    exactly one chunk each and are never split or merged.
    """

    text: str
    start: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    atomic: bool = False


@dataclass(frozen=True)
class ParsedDocument:
    """One input file after parsing: its full text and the sections that tile it."""

    path: str  # as given to ingestion (knowledge-base relative where possible)
    kind: DocKind
    title: str
    text: str
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class Chunk:
    """A retrievable unit. ``start``/``end`` are character offsets into the document text."""

    id: str  # stable: same document path + same text at the same offset -> same id
    doc_path: str
    ordinal: int
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    title: str = ""

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is the fused score in hybrid mode, else the mode's own."""

    chunk_id: str
    source: str
    heading: str
    page: int | None
    text: str
    score: float
    start: int
    end: int
    title: str = ""
    dense_rank: int | None = None
    keyword_rank: int | None = None

    def to_dict(self) -> dict:
        return {
            "chunk_id": self.chunk_id,
            "source": self.source,
            "title": self.title,
            "heading": self.heading,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": self.score,
            "dense_rank": self.dense_rank,
            "keyword_rank": self.keyword_rank,
        }


Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass
class Usage:
    """Figures reported with every generation."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token_s: float = 0.0
    total_time_s: float = 0.0
    tokens_per_second: float = 0.0
    extra: dict = field(default_factory=dict)
