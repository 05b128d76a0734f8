"""Pure decoding helpers: choosing the next token, streaming text safely, cutting at stop strings.

Owns:
- :func:`sample`: next token from a logits row (greedy at temperature 0; temperature, top-k,
  top-p, seeded ``torch.Generator`` for reproducibility); :func:`han_mask`, the tokens
  ``forbid_han`` rules out.
- :class:`IncrementalDecoder`: token ids in, complete text out; never emits half of a
  multi-byte UTF-8 character (a Chinese character split over byte tokens waits until whole).
- :class:`StopFilter`: text deltas in, text out; holds back any tail that could be the start
  of a stop string, so a stop string is never emitted, even in part, even when it spans tokens.
Nothing here touches the model or the KV cache.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ragkit.generation.base import SamplingParams


def make_generator(params: SamplingParams) -> torch.Generator | None:
    """A seeded CPU generator when ``params.seed`` is set, else None (fresh randomness)."""
    if params.temperature == 0:
        return None
    gen = torch.Generator()
    if params.seed is not None:
        gen.manual_seed(params.seed)
    else:
        gen.seed()
    return gen


def filter_logits(logits: Tensor, params: SamplingParams) -> Tensor:
    """Temperature, top-k and top-p applied to a float32 [V] row; removed entries are -inf."""
    x = logits.float() / max(params.temperature, 1e-5)
    if params.top_k and params.top_k < x.shape[-1]:
        kth = torch.topk(x, params.top_k).values[-1]
        x = x.masked_fill(x < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_x, order = torch.sort(x, descending=True)
        probs = torch.softmax(sorted_x, dim=-1)
        # drop a token when the mass before it already reaches top_p (the first always stays)
        drop = (torch.cumsum(probs, dim=-1) - probs) >= params.top_p
        sorted_x = sorted_x.masked_fill(drop, float("-inf"))
        x = torch.empty_like(x).scatter_(0, order, sorted_x)
    return x


def _writes_han(piece: str) -> bool:
    """Whether a token's text holds a Chinese character, CJK or full-width punctuation, or
    part of a multi-byte character (U+FFFD: byte tokens that spell Chinese together)."""
    return any("\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"
               or "\uff00" <= ch <= "\uffef" or ch == "\ufffd" for ch in piece)


def han_mask(tokenizer: Any, vocab_size: int) -> Tensor:
    """A [vocab_size] bool row, True for the tokens :attr:`SamplingParams.forbid_han` rules
    out (ids past the tokenizer's vocabulary, padding rows of the embedding, are left)."""
    n = min(vocab_size, len(tokenizer))
    pieces = tokenizer.batch_decode([[i] for i in range(n)])
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    mask[:n] = torch.tensor([_writes_han(p) for p in pieces], dtype=torch.bool)
    return mask


def sample(logits: Tensor, params: SamplingParams, gen: torch.Generator | None = None) -> int:
    """Next token id from a [V] logits row."""
    if params.temperature == 0:
        return int(torch.argmax(logits).item())
    probs = torch.softmax(filter_logits(logits.cpu(), params), dim=-1)
    return int(torch.multinomial(probs, 1, generator=gen).item())


class IncrementalDecoder:
    """Decode a growing list of token ids into text deltas that are always complete characters."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix = 0  # start of the window re-decoded for context
        self._read = 0  # end of the text already emitted

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, token: int) -> str:
        self.ids.append(token)
        before = self._decode(self.ids[self._prefix : self._read])
        now = self._decode(self.ids[self._prefix :])
        if len(now) > len(before) and not now.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self.ids)
            return now[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held (an incomplete character at the very end stays dropped)."""
        before = self._decode(self.ids[self._prefix : self._read])
        now = self._decode(self.ids[self._prefix :]).rstrip("\ufffd")
        self._prefix = self._read = len(self.ids)
        return now[len(before) :] if len(now) > len(before) else ""


class StopFilter:
    """Cut the text at the first stop string; never emit any part of one."""

    def __init__(self, stops: tuple[str, ...] | list[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False

    def _hold_length(self, text: str) -> int:
        """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
        best = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:n]):
                    best = n
                    break
        return best

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        text = self._held + delta
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        hold = self._hold_length(text)
        self._held = text[len(text) - hold :] if hold else ""
        return text[: len(text) - hold]

    def flush(self) -> str:
        out, self._held = self._held, ""
        return "" if self.stopped else out
