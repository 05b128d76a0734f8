"""The RAG graph's typed state: :class:`RagState` and the records it holds.

Owns: every field a turn reads or writes, declared once with its type and default; the
append-only ``history`` reducer; :func:`new_turn` (the graph input that resets the per-turn
fields from those defaults); and :func:`add_usage` (pure). Does not own the nodes or routing
(``graph.py``) or the :class:`~ragkit.rag.types.Answer` built from the final state.

The records inside the state are ``TypedDict``s (plain JSON values) on purpose: the state of
a conversation is checkpointed to SQLite and scrubbed of personal data on the way
(:class:`ragkit.pii.RedactingSerializer`), and plain values round-trip through LangGraph's
serializer without a class allowlist, in the same shape older checkpoints already hold.
"""

from __future__ import annotations

import operator
from dataclasses import MISSING, dataclass, field, fields
from typing import Annotated, Any, Literal, TypedDict

from ragkit.rag import prompts
from ragkit.types import Usage

Language = Literal["en", "zh"]
RefusalReason = Literal["", "no_hits", "low_confidence", "no_evidence", "answer_type",
                        "not_answerable", "model", "unsupported", "guard_block",
                        "guard_handoff", "not_mentioned"]


class Turn(TypedDict):
    """One message of the conversation's history."""

    role: Literal["user", "assistant"]
    content: str


class ChunkRef(TypedDict):
    """Where a chunk comes from: the keys every record of a chunk below shares."""

    chunk_id: str
    source: str
    title: str
    heading: str
    page: int | None
    start: int
    end: int


class HitRecord(ChunkRef):
    """A retrieved chunk (:meth:`ragkit.types.Hit.to_dict`)."""

    text: str
    score: float
    dense_rank: int | None
    keyword_rank: int | None


class ContextEntry(ChunkRef):
    """A chunk as it goes into the prompt, numbered ``n`` from 1 (possibly cut short)."""

    n: int
    text: str


class EvidenceRecord(TypedDict):
    """A unit of a retrieved chunk chosen as evidence before generation
    (:mod:`ragkit.rag.evidence`): ``n`` is its source number in the prompt."""

    n: int
    chunk_id: str
    text: str  # the unit as the chunk has it
    score: float  # the relevance scorer's, in [0, 1]
    lead: str  # a list item's lead-in sentence ("Not covered:"), else ""


class CitationRecord(ChunkRef):
    """A released citation (the fields of :class:`~ragkit.rag.types.Citation`)."""

    n: int
    snippet: str
    support: float


class UsageRecord(TypedDict):
    """Figures summed over the turn's generator calls (:func:`no_usage` before the first)."""

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    time_to_first_token_s: float
    tokens_per_second: float
    retrieval_ms: float


@dataclass
class RagState:
    """Everything one turn of the RAG graph reads and writes.

    ``history`` persists across the turns of a conversation (append-only); every other field
    is reset by :func:`new_turn`.
    """

    question: str = ""
    history: Annotated[list[Turn], operator.add] = field(default_factory=list)
    language: Language = "en"
    standalone: str = ""  # the question rewritten to stand alone (follow-ups)
    # a follow-up that only points back with a pronoun ("can I pay for it with PayPal?"):
    # the question as asked, tried alone first by the evidence stage ("" otherwise)
    alone: str = ""
    translation: str = ""  # the question in the other language, searched too ("" when off)
    hits: list[HitRecord] = field(default_factory=list)
    # the knowledge base's content version the hits were found in (-1: not searched); the
    # answer is cached under it, so a sync or delete during the turn invalidates it
    kb_version: int = -1
    confidence: float = 0.0
    context: list[ContextEntry] = field(default_factory=list)
    evidence: list[EvidenceRecord] = field(default_factory=list)
    # the best score in [0, 1] of a sentence that can answer (of the asked-for kind when the
    # question asks for one, ragkit.rag.answer_type); -1: no scorer ran
    relevance: float = -1.0
    nearby: list[str] = field(default_factory=list)  # what the KB covers near a refusal
    # what an existence question asks about that the knowledge base never names
    # ("gift wrapping"): refused as not mentioned
    unmentioned: str = ""
    answer_types: list[str] = field(default_factory=list)  # what the question asks for
    quoted: bool = False  # the reply quotes the evidence instead of the generator's answer
    # a broad question ("What is your return policy?") answered with the main points of the
    # document that covers it (ragkit.rag.overview), without generating
    overview: bool = False
    stages: dict[str, float] = field(default_factory=dict)  # milliseconds per graph node
    draft: str = ""  # the model's raw answer, before verification
    answer_text: str = ""  # the verified answer with [n] markers
    citations: list[CitationRecord] = field(default_factory=list)
    verdict: dict[str, int] = field(default_factory=dict)  # CitationGate.counts()
    attempts: int = 0
    refused: bool = False
    refusal_reason: RefusalReason = ""
    next: Literal["", "generate", "respond"] = ""  # where verification sends the turn
    answerable: float = 0.0  # log p(no) - log p(yes) of the answerability check (0: skipped)
    usage: UsageRecord = field(default_factory=lambda: no_usage())
    cache_hit: bool = False
    # placeholder -> value of the personal data redacted from the question before anything
    # read it (the guard); put back in the answer sentences the user sees
    pii: dict[str, str] = field(default_factory=dict)


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(RagState):
        if f.name == "history":
            continue
        out[f.name] = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
    return out


def new_turn(question: str) -> dict[str, Any]:
    """Graph input for one turn: every per-turn field reset to its default (history kept)."""
    return {**_defaults(), "question": question, "standalone": question,
            "language": prompts.language_of(question)}


def no_usage() -> UsageRecord:
    return UsageRecord(prompt_tokens=0, cached_tokens=0, completion_tokens=0,
                       time_to_first_token_s=0.0, tokens_per_second=0.0, retrieval_ms=0.0)


def add_usage(usage: UsageRecord, u: Usage | None, answer: bool = False) -> UsageRecord:
    """``usage`` plus one generator call's figures (the answer's speed when ``answer``)."""
    out = UsageRecord(**usage)
    if u is None:
        return out
    out["prompt_tokens"] += u.prompt_tokens
    out["cached_tokens"] += u.cached_tokens
    out["completion_tokens"] += u.completion_tokens
    if answer:
        out["time_to_first_token_s"] = u.time_to_first_token_s
        out["tokens_per_second"] = u.tokens_per_second
    return out


def from_values(values: dict[str, Any]) -> RagState:
    """The typed state from a checkpoint's or a stream's channel values (unknown keys and
    fields never written are left to their defaults)."""
    names = {f.name for f in fields(RagState)}
    return RagState(**{k: v for k, v in values.items() if k in names})
