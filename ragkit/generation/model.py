"""A compact decoder-only transformer for the qwen2 and llama architectures (gpt-fast style).

Owns: :class:`ModelArgs` (derived from a Hugging Face config), the modules (fused QKV,
fused gate/up MLP, RMSNorm, grouped-query SDPA attention over a preallocated
:class:`~ragkit.generation.kvcache.KVCache`) and :meth:`Transformer.spans`, which runs a
ragged batch: :class:`Span` slices of several sequences (a prefill chunk of one, a decode
step or a checked draft of others), each against its own cache. The linear layers see every
token of every span at once (one read of the weights per step, which is what batching buys on
a memory-bound CPU); attention runs per span, so each sequence attends to its own keys only
and its numbers are those of running it alone. Rotary tables come from
:mod:`ragkit.generation.rope`.
Does not: read files (see ``load.py``), quantize (``quant.py``), sample or tokenize.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ragkit.errors import ModelError
from ragkit.generation.kvcache import KVCache

SUPPORTED_ARCHS = ("qwen2", "llama")


@dataclass(frozen=True)
class Span:
    """``length`` consecutive tokens of one sequence, at positions ``start..``, in ``cache``."""

    cache: KVCache
    start: int
    length: int


@dataclass(frozen=True)
class ModelArgs:
    arch: str
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate_size: int
    norm_eps: float
    qkv_bias: bool
    tie_embeddings: bool
    native_context: int

    @classmethod
    def from_hf(cls, config: Any) -> ModelArgs:
        arch = getattr(config, "model_type", "")
        if arch not in SUPPORTED_ARCHS:
            raise ModelError(
                f"model type {arch!r} is not supported by the local engine (supported: "
                f"{', '.join(SUPPORTED_ARCHS)}); convert a qwen2 or llama model, or serve it "
                "elsewhere and use the OpenAI-compatible client"
            )
        n_heads = config.num_attention_heads
        return cls(
            arch=arch,
            vocab_size=config.vocab_size,
            dim=config.hidden_size,
            n_layers=config.num_hidden_layers,
            n_heads=n_heads,
            n_kv_heads=getattr(config, "num_key_value_heads", None) or n_heads,
            head_dim=getattr(config, "head_dim", None) or config.hidden_size // n_heads,
            intermediate_size=config.intermediate_size,
            norm_eps=config.rms_norm_eps,
            qkv_bias=arch == "qwen2" or bool(getattr(config, "attention_bias", False)),
            tie_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
            native_context=config.max_position_embeddings,
        )


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate-half RoPE (the Hugging Face layout). x: [B, H, L, D]; cos/sin: [L, D]."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, a: ModelArgs) -> None:
        super().__init__()
        self.a = a
        qkv_out = (a.n_heads + 2 * a.n_kv_heads) * a.head_dim
        self.wqkv = nn.Linear(a.dim, qkv_out, bias=a.qkv_bias)
        self.wo = nn.Linear(a.n_heads * a.head_dim, a.dim, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, spans: list[Span], layer: int
                ) -> Tensor:
        """``x``: [1, N, dim], the tokens of ``spans`` in order; ``cos``/``sin``: [N, head_dim]."""
        a = self.a
        n = x.shape[1]
        q_size, kv_size = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
        q, k, v = self.wqkv(x).split((q_size, kv_size, kv_size), dim=-1)
        q = apply_rotary(q.view(n, a.n_heads, a.head_dim).transpose(0, 1), cos, sin)
        k = apply_rotary(k.view(n, a.n_kv_heads, a.head_dim).transpose(0, 1), cos, sin)
        v = v.view(n, a.n_kv_heads, a.head_dim).transpose(0, 1)
        outs, off = [], 0
        for s in spans:
            end = off + s.length
            outs.append(self._attend(q[None, :, off:end], k[None, :, off:end],
                                     v[None, :, off:end], s, layer))
            off = end
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        return self.wo(out)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, s: Span, layer: int) -> Tensor:
        """One span's attention over its own cache: [1, L, heads * head_dim]."""
        a = self.a
        length = s.length
        keys, values = s.cache.update(layer, s.start, k, v)
        group = a.n_heads // a.n_kv_heads
        # Fold the query heads that share a kv head into the sequence axis: plain SDPA over
        # [1, kv_heads, group*L, D] without copying the cache (exact for grouped-query attention).
        qg = q.reshape(1, a.n_kv_heads, group * length, a.head_dim)
        if length == 1:
            out = F.scaled_dot_product_attention(qg, keys, values)
        else:
            pos_q = torch.arange(s.start, s.start + length, device=q.device)
            pos_k = torch.arange(0, s.start + length, device=q.device)
            mask = (pos_k[None, :] <= pos_q[:, None]).repeat(group, 1)
            out = F.scaled_dot_product_attention(qg, keys, values, attn_mask=mask)
        return out.reshape(1, a.n_heads, length, a.head_dim).transpose(1, 2).reshape(
            1, length, a.n_heads * a.head_dim)


class FeedForward(nn.Module):
    def __init__(self, a: ModelArgs) -> None:
        super().__init__()
        self.inter = a.intermediate_size
        self.w13 = nn.Linear(a.dim, 2 * a.intermediate_size, bias=False)
        self.w2 = nn.Linear(a.intermediate_size, a.dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.w13(x).split((self.inter, self.inter), dim=-1)
        return self.w2(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, a: ModelArgs) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(a.dim, a.norm_eps)
        self.attention = Attention(a)
        self.ffn_norm = RMSNorm(a.dim, a.norm_eps)
        self.feed_forward = FeedForward(a)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, spans: list[Span], layer: int
                ) -> Tensor:
        h = x + self.attention(self.attention_norm(x), cos, sin, spans, layer)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    """Token ids in, logits out; the KV cache is passed in so one model serves many caches."""

    def __init__(self, a: ModelArgs) -> None:
        super().__init__()
        self.args = a
        self.tok_embeddings = nn.Embedding(a.vocab_size, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.n_layers))
        self.norm = RMSNorm(a.dim, a.norm_eps)
        self.output = nn.Linear(a.dim, a.vocab_size, bias=False)

    def hidden(self, ids: Tensor, start: int, cache: KVCache, cos: Tensor, sin: Tensor) -> Tensor:
        """Final-norm hidden states for ``ids`` ([1, L]) at ``start..start+L``; fills the cache.

        ``cos``/``sin`` are the rotary rows for exactly these positions ([L, head_dim]).
        """
        return self.spans(ids[0], [Span(cache, start, ids.shape[1])], cos, sin)[None]

    def spans(self, ids: Tensor, spans: list[Span], cos: Tensor, sin: Tensor) -> Tensor:
        """Final-norm hidden states [N, dim] for a ragged batch: ``ids`` ([N]) are the tokens of
        ``spans`` in order, ``cos``/``sin`` ([N, head_dim]) the rotary rows of their positions."""
        x = self.tok_embeddings(ids)[None]
        for i, block in enumerate(self.layers):
            x = block(x, cos, sin, spans, i)
        return self.norm(x)[0]

    def logits(self, h: Tensor) -> Tensor:
        return self.output(h).float()
