"""The one interface every generator backend implements.

Owns: the :class:`Generator` protocol, sampling parameters, the result type and the
:class:`TextStream` returned by ``stream()`` (a :class:`~ragkit.streams.Stream`), and the
small protocols of optional features (:class:`CountsTokens`, :class:`HasInfo`,
:class:`HasStats`, :class:`TokenLevel`, :class:`ScoresText`, :class:`Loadable`): callers test
``isinstance(gen, HasStats)`` instead of probing attribute names. Knows nothing about models,
devices or HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ragkit.errors import GenerationError
from ragkit.streams import Stream
from ragkit.types import Message, Usage

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. ``temperature == 0`` means greedy (deterministic)."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = disabled
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # no token that writes a Chinese character (or CJK punctuation): a rendering into
    # English then cannot copy the source's words ("…does not support货到付款."). Local
    # generators and ragkit's own servers honour it; other servers ignore it.
    forbid_han: bool = False

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise GenerationError("max_tokens must be at least 1")
        if self.temperature < 0:
            raise GenerationError("temperature must be >= 0 (use 0 for greedy decoding)")
        if not 0 < self.top_p <= 1:
            raise GenerationError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise GenerationError("top_k must be >= 0 (0 disables it)")


@dataclass
class GenerationResult:
    text: str
    finish_reason: FinishReason
    usage: Usage = field(default_factory=Usage)


# A backend's stream: text deltas, and the GenerationResult its source generator returns
# (``return result``) once exhausted. ``close()`` stops generation early (finish_reason
# ``"cancelled"``). One type for every stream in ragkit: see :mod:`ragkit.streams`.
TextStream = Stream[str, GenerationResult]


@runtime_checkable
class Generator(Protocol):
    """A chat model. Messages in (rendered with the model's chat template), text deltas out."""

    model_id: str

    def stream(self, messages: Sequence[Message], params: SamplingParams | None = None) -> TextStream:
        ...

    def generate(
        self, messages: Sequence[Message], params: SamplingParams | None = None
    ) -> GenerationResult:
        ...

    def choose(self, messages: Sequence[Message], labels: Sequence[str]) -> tuple[str, dict[str, float]]:
        """Pick one label as the assistant's reply by scoring each; returns (label, log-probs)."""
        ...

    def generate_json(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        params: SamplingParams | None = None,
    ) -> Any:
        """Return a value that validates against the JSON ``schema`` or raise GenerationError."""
        ...


# -- optional features: a backend has them or not; callers check with isinstance ---------------
@runtime_checkable
class CountsTokens(Protocol):
    """Counts tokens with the model's own tokenizer (budgets; otherwise estimate)."""

    def count_tokens(self, text: str) -> int:
        ...


@runtime_checkable
class HasInfo(Protocol):
    """Describes itself (model, device, quantization, ...) as plain data."""

    def info(self) -> dict[str, Any]:
        ...


@runtime_checkable
class HasStats(Protocol):
    """Reports counters (requests, ``prefix_cache`` hits, ``last_usage``) as plain data."""

    def stats(self) -> dict[str, Any]:
        ...


@runtime_checkable
class TokenLevel(Protocol):
    """Works on token ids: renders a chat, continues a rendered prompt, knows its window."""

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        ...

    def encode(self, text: str) -> list[int]:
        ...

    def stream_tokens(self, prompt: list[int], params: SamplingParams | None = None) -> TextStream:
        ...

    def context_window(self) -> int:
        ...


@runtime_checkable
class ScoresText(Protocol):
    """Log-probabilities of a given reply (the server's ``logprobs``)."""

    def logprobs(self, messages: Sequence[Message], text: str, top: int = 0) -> Any:
        ...


@runtime_checkable
class Loadable(Protocol):
    """Loads its weights in an explicit step (constructors stay cheap)."""

    def load(self) -> Any:
        ...
