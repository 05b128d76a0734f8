"""The decode loop: prefix reuse, chunked prefill, token-by-token generation, label scoring.

Owns :class:`Engine`, which holds one working :class:`~ragkit.generation.kvcache.KVCache`
(the sequence last processed) and the shared :class:`~ragkit.generation.kvcache.PrefixCache`.
For each request it reuses the longest known prefix (first the working cache, then the
prefix cache), prefills the rest in chunks of ``prefill_chunk`` tokens (so a long prompt
never materialises attention over all of it at once), then yields token ids one by one.
Greedy decoding can draft ahead by prompt lookup (:mod:`~ragkit.generation.lookup`): the
tokens that followed the latest n-gram's earlier occurrence are checked in one forward pass
and the prefix the model agrees with is kept, so the output is what plain greedy decoding
gives while a quoted span costs one pass instead of one per token.
Works on token ids only: text, chat templates, stop strings and usage figures belong to
``local.py``. Not thread-safe by itself; the caller serialises access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ragkit.errors import GenerationError
from ragkit.generation.base import SamplingParams
from ragkit.generation.kvcache import KVCache, PrefixCache
from ragkit.generation.load import ModelBundle
from ragkit.generation.lookup import NgramDrafter
from ragkit.generation.sampling import make_generator, sample


@dataclass
class Prepared:
    logits: Tensor  # float32 [V] for the token after the prompt
    prompt_tokens: int
    reused: int


@dataclass
class DraftStats:
    """Prompt-lookup figures of the last :meth:`Engine.decode` (all zero when it did not draft)."""

    passes: int = 0  # forward passes that checked a draft
    drafted: int = 0  # tokens proposed
    accepted: int = 0  # of which the model agreed with


class Engine:
    def __init__(self, bundle: ModelBundle, prefix: PrefixCache | None, prefill_chunk: int,
                 draft_tokens: int = 0) -> None:
        self.b = bundle
        self.prefix = prefix
        self.chunk = prefill_chunk
        self.draft_tokens = draft_tokens
        self.draft_stats = DraftStats()
        a = bundle.args
        self.kv = KVCache(
            a.n_layers, a.n_kv_heads, a.head_dim, bundle.max_context, bundle.dtype, bundle.device
        )
        self.held: list[int] = []  # token ids whose KV sits in self.kv[0:len(held)]
        self.step_fn: Callable[[Tensor, int], Tensor] = self._step

    # -- forward pieces ------------------------------------------------------------------
    def _hidden(self, ids: list[int], start: int) -> Tensor:
        end = start + len(ids)
        self.kv.reserve(end)
        cos, sin = self.b.rotary.rows(start, end)
        x = torch.tensor([ids], dtype=torch.long, device=self.b.device)
        return self.b.model.hidden(x, start, self.kv, cos, sin)[0]

    def _step(self, token: Tensor, pos: int) -> Tensor:
        """One decode step: logits (float32 [V]) for the token after ``token`` at ``pos``."""
        self.kv.reserve(pos + 1)
        cos, sin = self.b.rotary.rows(pos, pos + 1)
        h = self.b.model.hidden(token.view(1, 1), pos, self.kv, cos, sin)
        return self.b.model.logits(h[0, -1])

    def _prefill(self, ids: list[int], start: int) -> Tensor:
        """Run ``ids`` from position ``start`` in chunks; logits of the last position."""
        last = None
        for off in range(0, len(ids), self.chunk):
            last = self._hidden(ids[off : off + self.chunk], start + off)[-1]
        assert last is not None
        return self.b.model.logits(last)

    # -- request lifecycle ---------------------------------------------------------------
    def _check_length(self, n: int) -> None:
        if n >= self.b.max_context:
            raise GenerationError(
                f"the prompt has {n} tokens but the context holds {self.b.max_context}; "
                "shorten the conversation or retrieved context, or raise max_context "
                "(with rope_scaling beyond the model's native length)"
            )

    # Every entry point runs under inference mode: the KV cache is created and grown inside
    # it, and PyTorch forbids in-place writes to inference tensors outside it.
    @torch.inference_mode()
    def prepare(self, prompt: list[int]) -> Prepared:
        """Bring the KV cache to ``prompt[:-1]`` by reuse, prefill the rest."""
        if not prompt:
            raise GenerationError("the rendered prompt is empty; pass at least one message")
        self._check_length(len(prompt))
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

    def decode(self, prepared: Prepared, params: SamplingParams, max_new: int) -> Iterator[int]:
        """Yield sampled token ids; stops at EOS (not yielded) or after ``max_new`` tokens."""
        self.draft_stats = DraftStats()
        if params.temperature == 0 and self.draft_tokens > 0:
            yield from self._decode_lookup(prepared, max_new)
            return
        gen = make_generator(params)
        logits = prepared.logits
        pos = prepared.prompt_tokens
        limit = min(max_new, self.b.max_context - pos)
        eos = self.b.eos_ids
        tok_buf = torch.zeros(1, dtype=torch.long, device=self.b.device)
        for i in range(limit):
            tok = sample(logits, params, gen)
            if tok in eos:
                return
            yield tok
            if i == limit - 1:
                return
            logits = self._advance(tok_buf, tok, pos)
            pos += 1

    def _advance(self, tok_buf: Tensor, tok: int, pos: int) -> Tensor:
        """Feed one decoded token at ``pos``; logits for the token after it."""
        tok_buf.fill_(tok)
        with torch.inference_mode():
            logits = self.step_fn(tok_buf, pos)
        self.held.append(tok)
        return logits

    def _decode_lookup(self, prepared: Prepared, max_new: int) -> Iterator[int]:
        """Greedy decoding that checks prompt-lookup drafts: the same tokens, fewer passes.

        After each token, the drafter proposes up to ``draft_tokens`` continuations. The token
        and its draft run as one chunk; row ``i`` of the logits is the model's choice after
        draft token ``i``, so the draft is accepted up to the first disagreement and the row
        there gives the next token for free. Keys/values written for rejected draft tokens lie
        beyond ``held`` and are overwritten by the next pass.
        """
        logits = prepared.logits
        pos = prepared.prompt_tokens  # where the next token goes
        limit = min(max_new, self.b.max_context - pos)
        eos = self.b.eos_ids
        stats = self.draft_stats
        drafter = NgramDrafter(self.held)
        tok_buf = torch.zeros(1, dtype=torch.long, device=self.b.device)
        produced = 0
        room = self.draft_tokens
        while True:
            tok = int(torch.argmax(logits).item())
            if tok in eos:
                return
            yield tok
            produced += 1
            drafter.push(tok)
            if produced >= limit:
                return
            draft = drafter.propose(min(room, limit - produced - 1))
            if not draft:
                logits = self._advance(tok_buf, tok, pos)
                pos += 1
                continue
            with torch.inference_mode():
                rows = self.b.model.logits(self._hidden([tok, *draft], pos))
            choice = rows.argmax(dim=-1).tolist()
            n = 0
            while n < len(draft) and choice[n] == draft[n] and draft[n] not in eos:
                n += 1
            stats.passes += 1
            stats.drafted += len(draft)
            stats.accepted += n
            room = min(self.draft_tokens, n + 1)
            self.held.extend([tok, *draft[:n]])  # their keys/values are now valid
            pos += 1 + n
            for d in draft[:n]:
                yield d
                drafter.push(d)
            produced += n
            logits = rows[n]

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
