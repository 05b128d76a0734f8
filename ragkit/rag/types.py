"""Results of a RAG turn: :class:`Answer`, :class:`Citation`, :class:`AnswerUsage`, and the
:class:`AnswerStream` (a :class:`~ragkit.streams.Stream`) returned by
``RagPipeline.stream`` / ``Conversation.send``.

Plain data plus the stream wrapper; no retrieval, prompting or model code lives here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ragkit.streams import Stream
from ragkit.types import Hit

Language = Literal["en", "zh"]


@dataclass(frozen=True)
class Citation:
    """Source ``n`` of an answer (its ``[n]`` marker) and how well it supports the sentences
    that cite it (``support`` in [0, 1], the weakest cited sentence)."""

    n: int
    chunk_id: str
    source: str
    title: str
    heading: str
    page: int | None
    start: int
    end: int
    snippet: str
    support: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnswerUsage:
    """Figures for one turn. ``kv_cache_hit_rate`` is cached / prompt tokens over every
    generator call of the turn (condense, translate, answer); 0 when nothing was generated."""

    retrieval_ms: float = 0.0
    time_to_first_token_s: float = 0.0
    tokens_per_second: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    kv_cache_hit_rate: float = 0.0
    answer_cache_hit: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    question: str
    standalone_question: str
    text: str  # with [n] markers that index ``citations``
    language: Language
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    confidence: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    usage: AnswerUsage = field(default_factory=AnswerUsage)
    # why it was refused ("low_confidence", "not_answerable", "model", "unsupported", ...),
    # sentence/citation counts from verification, generation attempts, the check's margin
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "refused": self.refused,
            "usage": self.usage.to_dict(),
            "language": self.language,
            "standalone_question": self.standalone_question,
            "translation": self.diagnostics.get("translation", ""),  # also searched, if any
            "confidence": self.confidence,
            "relevance": self.diagnostics.get("relevance", -1.0),
            "evidence": self.diagnostics.get("evidence", []),
            "quoted": self.diagnostics.get("quoted", False),
            "refusal_reason": self.diagnostics.get("refusal_reason", ""),
            "stages_ms": self.diagnostics.get("stages_ms", {}),
        }


class AnswerStream(Stream[str, Answer]):
    """Text deltas of an answer as it is verified; :attr:`answer` (= ``result``) is set once
    exhausted.

    Deltas are released sentence by sentence after each sentence's citations were checked, so
    the concatenated deltas equal ``answer.text``. ``close()`` stops generation early (from
    any thread); a closed stream ends without an answer and the turn is not recorded.
    """

    def __init__(self, source: Iterator[str], finish: Callable[[], Answer],
                 cancel: threading.Event | None = None) -> None:
        super().__init__(source, finish, cancel or threading.Event(),
                         unfinished="the answer stream was closed before it finished; "
                         "ask again")

    @property
    def answer(self) -> Answer | None:
        return self.result
