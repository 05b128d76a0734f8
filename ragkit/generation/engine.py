"""Whole-sequence model work: prefix reuse, chunked prefill, label scoring, log-probabilities.

Owns :class:`Engine`, which holds one working :class:`~ragkit.generation.kvcache.KVCache`
(the sequence last processed) and the shared :class:`~ragkit.generation.kvcache.PrefixCache`.
For each call it reuses the longest known prefix (first the working cache, then the prefix
cache), prefills the rest in chunks of ``prefill_chunk`` tokens (so a long prompt never
materialises attention over all of it at once), then scores labels or completions.
Streams are decoded by :mod:`~ragkit.generation.batching`, not here.
Works on token ids only. Not thread-safe by itself: it runs on the batcher's thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ragkit.errors import GenerationError
from ragkit.generation.kvcache import KVCache, PrefixCache
from ragkit.generation.load import ModelBundle


def check_length(n: int, context: int) -> None:
    """A clear error when ``n`` tokens do not fit a context of ``context`` (pure)."""
    if n >= context:
        raise GenerationError(
            f"the prompt has {n} tokens but the context holds {context}; "
            "shorten the conversation or retrieved context, or raise max_context "
            "(with rope_scaling beyond the model's native length)"
        )


def check_prompt(prompt: list[int], context: int) -> None:
    """A rendered prompt must hold a token and leave room for one more (pure)."""
    if not prompt:
        raise GenerationError("the rendered prompt is empty; pass at least one message")
    check_length(len(prompt), context)


@dataclass
class Prepared:
    logits: Tensor  # float32 [V] for the token after the prompt
    prompt_tokens: int
    reused: int


class Engine:
    def __init__(self, bundle: ModelBundle, prefix: PrefixCache | None, prefill_chunk: int
                 ) -> None:
        self.b = bundle
        self.prefix = prefix
        self.chunk = prefill_chunk
        a = bundle.args
        self.kv = KVCache(
            a.n_layers, a.n_kv_heads, a.head_dim, bundle.max_context, bundle.dtype, bundle.device
        )
        self.held: list[int] = []  # token ids whose KV sits in self.kv[0:len(held)]

    # -- forward pieces ------------------------------------------------------------------
    def _hidden(self, ids: list[int], start: int) -> Tensor:
        end = start + len(ids)
        self.kv.reserve(end)
        cos, sin = self.b.rotary.rows(start, end)
        x = torch.tensor([ids], dtype=torch.long, device=self.b.device)
        return self.b.model.hidden(x, start, self.kv, cos, sin)[0]

    def _prefill(self, ids: list[int], start: int) -> Tensor:
        """Run ``ids`` from position ``start`` in chunks; logits of the last position."""
        last = None
        for off in range(0, len(ids), self.chunk):
            last = self._hidden(ids[off : off + self.chunk], start + off)[-1]
        assert last is not None
        return self.b.model.logits(last)

    # -- request lifecycle ---------------------------------------------------------------
    def _check_length(self, n: int) -> None:
        check_length(n, self.b.max_context)

    # Every entry point runs under inference mode: the KV cache is created and grown inside
    # it, and PyTorch forbids in-place writes to inference tensors outside it.
    @torch.inference_mode()
    def prepare(self, prompt: list[int]) -> Prepared:
        """Bring the KV cache to ``prompt[:-1]`` by reuse, prefill the rest."""
        check_prompt(prompt, self.b.max_context)
        limit = len(prompt) - 1  # the last prompt token is always run to get logits
        held = 0  # reuse of the working cache counts as prefix caching: off when it is off
        for a, b in zip(self.held if self.prefix is not None else [], prompt[:limit], strict=False):
            if a != b:
                break
            held += 1
        reused = held
        if self.prefix is not None:
            matched, segments = self.prefix.match(prompt[:limit])
            if matched > held:
                pos = 0
                for k, v in segments:
                    n = min(k.shape[2], matched - pos)
                    self.kv.write(pos, k[:, :, :n], v[:, :, :n])
                    pos += n
                reused = matched
            self.prefix.record(len(prompt), reused)
        self.held = prompt[:reused]
        with torch.inference_mode():
            logits = self._prefill(prompt[reused:], reused)
        self.held = list(prompt)
        return Prepared(logits, len(prompt), reused)

    @torch.inference_mode()
    def remember(self) -> None:
        """Offer the working sequence to the prefix cache (after a request finishes)."""
        if self.prefix is not None and self.held:
            self.prefix.insert(self.held, self.kv)

    @torch.inference_mode()
    def score(self, prompt: list[int], continuations: list[list[int]]) -> list[float]:
        """Summed log-probability of each continuation after ``prompt`` (prompt KV shared)."""
        prepared = self.prepare(prompt)
        first = torch.log_softmax(prepared.logits, dim=-1)
        scores = []
        start = len(prompt)
        for cont in continuations:
            if not cont:
                raise GenerationError("cannot score an empty label; pass non-empty labels")
            self._check_length(start + len(cont))
            total = float(first[cont[0]])
            if len(cont) > 1:
                with torch.inference_mode():
                    h = self._hidden(cont[:-1], start)
                    lp = torch.log_softmax(self.b.model.logits(h), dim=-1)
                idx = torch.tensor(cont[1:], device=lp.device)
                total += float(lp.gather(1, idx[:, None]).sum())
            scores.append(total)
        self.held = list(prompt)  # positions after the prompt were overwritten per label
        return scores

    @torch.inference_mode()
    def completion_logprobs(self, prompt: list[int], completion: list[int], top: int
                            ) -> list[tuple[float, list[tuple[int, float]]]]:
        """For each completion token: its log-probability and the ``top`` best alternatives."""
        if not completion:
            return []
        prepared = self.prepare(prompt)
        self._check_length(len(prompt) + len(completion))
        rows = torch.log_softmax(prepared.logits.float(), dim=-1)[None]
        if len(completion) > 1:
            h = self._hidden(completion[:-1], len(prompt))
            rows = torch.cat([rows, torch.log_softmax(self.b.model.logits(h).float(), dim=-1)])
        self.held = list(prompt) + list(completion[:-1])
        target = torch.tensor(completion, device=rows.device)
        chosen = rows.gather(1, target[:, None])[:, 0].tolist()
        out: list[tuple[float, list[tuple[int, float]]]] = []
        if top > 0:
            values, indices = rows.topk(top, dim=-1)
            for lp, vals, idx in zip(chosen, values.tolist(), indices.tolist(), strict=True):
                out.append((lp, list(zip(idx, vals, strict=True))))
        else:
            out = [(lp, []) for lp in chosen]
        return out

    def token_logprobs(self, ids: list[int]) -> Tensor:
        """log p(ids[i] | ids[:i]) for i >= 1 (float32 [len-1]), computed chunk by chunk."""
        self._check_length(len(ids))
        out = []
        with torch.inference_mode():
            for off in range(0, len(ids) - 1, self.chunk):
                piece = ids[off : min(off + self.chunk, len(ids) - 1)]
                lp = torch.log_softmax(self.b.model.logits(self._hidden(piece, off)), dim=-1)
                target = torch.tensor(ids[off + 1 : off + 1 + len(piece)], device=lp.device)
                out.append(lp.gather(1, target[:, None])[:, 0])
        self.held = list(ids[:-1])
        return torch.cat(out).cpu()
