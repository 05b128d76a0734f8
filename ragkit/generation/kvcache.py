"""Key/value caches: the working cache of one sequence and a prefix cache shared across requests.

Owns:
- :class:`KVCache`: per-layer keys and values of the sequence being decoded, grown on
  demand up to the context limit; ``update(layer, start, k, v)`` writes positions and
  returns the valid prefix for attention.
- :class:`PrefixCache`: a radix tree keyed by token ids whose edges hold KV segments. A new
  request copies the longest cached prefix into the working cache and prefills only the
  rest. Bounded by a byte budget with least-recently-used eviction of leaves; statistics in
  :meth:`PrefixCache.stats`; :meth:`save`/:meth:`load` persist it as one safetensors file
  written to a temporary name and renamed (crash-safe).
Does not: run the model or decide what to insert (``engine.py`` does).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ragkit.errors import GenerationError, ModelError


class KVCache:
    """Keys/values shaped [layers, batch, kv_heads, capacity, head_dim], grown by doubling."""

    def __init__(
        self,
        n_layers: int,
        n_kv_heads: int,
        head_dim: int,
        max_len: int,
        dtype: torch.dtype,
        device: torch.device,
        initial: int = 256,
    ) -> None:
        self.max_len = max_len
        self.shape = (n_layers, 1, n_kv_heads, 0, head_dim)
        self.dtype, self.device = dtype, device
        self.k = torch.empty(0)
        self.v = torch.empty(0)
        self.capacity = 0
        self.reserve(min(initial, max_len))

    def reserve(self, n: int) -> None:
        """Make room for ``n`` positions (never beyond ``max_len``), keeping the contents."""
        if n <= self.capacity:
            return
        cap = min(self.max_len, max(n, 2 * self.capacity))
        n_layers, b, h, _, d = self.shape
        k = torch.zeros(n_layers, b, h, cap, d, dtype=self.dtype, device=self.device)
        v = torch.zeros_like(k)
        if self.capacity:
            k[:, :, :, : self.capacity] = self.k
            v[:, :, :, : self.capacity] = self.v
        self.k, self.v, self.capacity = k, v, cap

    def update(self, layer: int, start: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        end = start + k.shape[2]
        if end > self.capacity:  # a slice past the end would silently drop the write
            raise GenerationError(
                f"KV cache write to positions {start}..{end} past its capacity {self.capacity}; "
                "this is a ragkit bug: please report it")
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def segment(self, start: int, end: int) -> tuple[Tensor, Tensor]:
        """A copy of positions [start, end) as [layers, kv_heads, n, head_dim]."""
        return (self.k[:, 0, :, start:end].clone(), self.v[:, 0, :, start:end].clone())

    def write(self, start: int, k: Tensor, v: Tensor) -> None:
        end = start + k.shape[2]
        self.reserve(end)
        self.k[:, 0, :, start:end] = k
        self.v[:, 0, :, start:end] = v


@dataclass(eq=False)
class _Node:
    tokens: tuple[int, ...]
    k: Tensor | None
    v: Tensor | None
    parent: _Node | None
    children: dict[int, _Node] = field(default_factory=dict)
    last_used: int = 0

    @property
    def nbytes(self) -> int:
        if self.k is None or self.v is None:
            return 0
        return self.k.nbytes + self.v.nbytes


def _common(a: tuple[int, ...], b: list[int], offset: int) -> int:
    n = 0
    limit = min(len(a), len(b) - offset)
    while n < limit and a[n] == b[offset + n]:
        n += 1
    return n


class PrefixCache:
    """Radix tree of token-id prefixes with KV segments on the edges."""

    FORMAT = "ragkit-prefix-cache-1"

    def __init__(self, budget_bytes: int, fingerprint: str) -> None:
        self.budget = budget_bytes
        self.fingerprint = fingerprint
        self.root = _Node((), None, None, None)
        self._clock = itertools.count(1)
        self.bytes = 0
        self.cached_tokens = 0
        self.requests = self.hits = self.tokens_saved = self.evictions = 0

    # -- lookup -------------------------------------------------------------------------
    def match(self, tokens: list[int]) -> tuple[int, list[tuple[Tensor, Tensor]]]:
        """Longest cached prefix of ``tokens``: its length and its KV segments in order."""
        node, pos, segments = self.root, 0, []
        now = next(self._clock)
        while pos < len(tokens):
            child = node.children.get(tokens[pos])
            if child is None or child.k is None or child.v is None:
                break
            n = _common(child.tokens, tokens, pos)
            child.last_used = now
            segments.append((child.k[:, :, :n], child.v[:, :, :n]))
            pos += n
            if n < len(child.tokens):
                break
            node = child
        return pos, segments

    def record(self, prompt_tokens: int, reused: int) -> None:
        self.requests += 1
        if reused:
            self.hits += 1
            self.tokens_saved += reused
        del prompt_tokens

    # -- insertion ------------------------------------------------------------------------
    def insert(self, tokens: list[int], kv: KVCache) -> None:
        """Store KV for ``tokens`` (positions 0..len-1 of ``kv``); shared prefixes stored once."""
        if self.budget <= 0 or not tokens:
            return
        node, pos = self.root, 0
        now = next(self._clock)
        while pos < len(tokens):
            child = node.children.get(tokens[pos])
            if child is None:
                k, v = kv.segment(pos, len(tokens))
                new = _Node(tuple(tokens[pos:]), k, v, node, last_used=now)
                node.children[tokens[pos]] = new
                self._account(new, +1)
                break
            n = _common(child.tokens, tokens, pos)
            child.last_used = now
            if n < len(child.tokens):
                self._split(child, n)
            pos += n
            node = child
        self._evict()

    def _split(self, node: _Node, n: int) -> None:
        """Cut ``node``'s edge after ``n`` tokens; the tail becomes its only child."""
        assert node.k is not None and node.v is not None
        tail = _Node(
            node.tokens[n:],
            node.k[:, :, n:].clone(),
            node.v[:, :, n:].clone(),
            node,
            node.children,
            node.last_used,
        )
        for c in tail.children.values():
            c.parent = tail
        self.bytes -= node.nbytes
        node.tokens = node.tokens[:n]
        node.k, node.v = node.k[:, :, :n].clone(), node.v[:, :, :n].clone()
        node.children = {tail.tokens[0]: tail}
        self.bytes += node.nbytes + tail.nbytes

    def _account(self, node: _Node, sign: int) -> None:
        self.bytes += sign * node.nbytes
        self.cached_tokens += sign * len(node.tokens)

    def _leaves(self) -> list[_Node]:
        out, stack = [], [self.root]
        while stack:
            n = stack.pop()
            if n.children:
                stack.extend(n.children.values())
            elif n is not self.root:
                out.append(n)
        return out

    def _evict(self) -> None:
        while self.bytes > self.budget:
            leaves = self._leaves()
            if not leaves:
                break
            victim = min(leaves, key=lambda n: n.last_used)
            assert victim.parent is not None
            del victim.parent.children[victim.tokens[0]]
            self._account(victim, -1)
            self.evictions += 1

    def clear(self) -> None:
        self.root = _Node((), None, None, None)
        self.bytes = self.cached_tokens = 0

    def stats(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "hits": self.hits,
            "hit_rate": self.hits / self.requests if self.requests else 0.0,
            "cached_tokens": self.cached_tokens,
            "tokens_saved": self.tokens_saved,
            "evictions": self.evictions,
            "bytes": self.bytes,
            "budget_bytes": self.budget,
        }

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the tree to ``path`` atomically (temporary file, fsync, rename)."""
        from safetensors.torch import save_file

        tensors: dict[str, Tensor] = {}
        nodes: list[dict] = []
        index: dict[int, int] = {id(self.root): -1}
        stack = list(self.root.children.values())
        while stack:
            n = stack.pop()
            i = len(nodes)
            index[id(n)] = i
            assert n.parent is not None and n.k is not None and n.v is not None
            nodes.append({"parent": index[id(n.parent)], "tokens": list(n.tokens)})
            tensors[f"{i}.k"], tensors[f"{i}.v"] = n.k.contiguous().cpu(), n.v.contiguous().cpu()
            stack.extend(n.children.values())
        meta = {"format": self.FORMAT, "fingerprint": self.fingerprint, "nodes": json.dumps(nodes)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def load(self, path: Path, device: torch.device) -> bool:
        """Replace the tree with the one in ``path``; False when absent or for another model."""
        from safetensors import safe_open

        if not path.exists():
            return False
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as fh:
                meta = fh.metadata() or {}
                if meta.get("format") != self.FORMAT or meta.get("fingerprint") != self.fingerprint:
                    return False
                nodes = json.loads(meta["nodes"])
                self.clear()
                built: list[_Node] = []
                for i, spec in enumerate(nodes):
                    parent = self.root if spec["parent"] < 0 else built[spec["parent"]]
                    node = _Node(
                        tuple(spec["tokens"]),
                        fh.get_tensor(f"{i}.k"),
                        fh.get_tensor(f"{i}.v"),
                        parent,
                    )
                    parent.children[node.tokens[0]] = node
                    built.append(node)
                    self._account(node, +1)
        except (OSError, ValueError, KeyError) as err:
            raise ModelError(
                f"the prefix-cache file {path} is unreadable ({err}); delete it and retry"
            ) from err
        self._evict()
        return True
