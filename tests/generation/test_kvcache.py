"""Prefix cache: longest-prefix match, shared storage, LRU eviction within budget, persistence."""

from __future__ import annotations

from pathlib import Path

import torch

from ragkit.generation.kvcache import KVCache, PrefixCache

LAYERS, HEADS, DIM = 2, 2, 4
PER_TOKEN = 2 * LAYERS * HEADS * DIM * 4  # k and v, float32


def filled(tokens: list[int]) -> KVCache:
    """A cache whose value at position p is the token id, so segments are recognisable."""
    kv = KVCache(LAYERS, HEADS, DIM, 4096, torch.float32, torch.device("cpu"), initial=8)
    kv.reserve(len(tokens))
    for p, t in enumerate(tokens):
        kv.k[:, :, :, p] = float(t)
        kv.v[:, :, :, p] = -float(t)
    return kv


def matched_values(cache: PrefixCache, tokens: list[int]) -> tuple[int, list[float]]:
    n, segs = cache.match(tokens)
    vals = [float(x) for k, _ in segs for x in k[0, 0, :, 0]]
    return n, vals


def test_longest_prefix_and_split() -> None:
    cache = PrefixCache(10**9, "fp")
    a = [1, 2, 3, 4, 5]
    cache.insert(a, filled(a))
    b = [1, 2, 3, 9, 9, 9]
    cache.insert(b, filled(b))
    assert cache.cached_tokens == 8  # shared prefix [1, 2, 3] stored once
    assert cache.bytes == 8 * PER_TOKEN
    n, vals = matched_values(cache, [1, 2, 3, 9, 7])
    assert n == 4 and vals == [1, 2, 3, 9]
    n, vals = matched_values(cache, [1, 2, 3, 4, 5, 6])
    assert n == 5 and vals == [1, 2, 3, 4, 5]
    assert cache.match([7, 1])[0] == 0


def test_lru_eviction_respects_budget() -> None:
    cache = PrefixCache(10 * PER_TOKEN, "fp")
    seqs = [[100 + i] * 4 for i in range(3)]  # three disjoint 4-token sequences
    cache.insert(seqs[0], filled(seqs[0]))
    cache.insert(seqs[1], filled(seqs[1]))
    cache.match(seqs[0])  # touch the first: the second is now least recently used
    cache.insert(seqs[2], filled(seqs[2]))
    assert cache.bytes <= 10 * PER_TOKEN
    assert cache.match(seqs[1])[0] == 0
    assert cache.match(seqs[0])[0] == 4 and cache.match(seqs[2])[0] == 4
    assert cache.stats()["evictions"] == 1


def test_zero_budget_stores_nothing() -> None:
    cache = PrefixCache(0, "fp")
    cache.insert([1, 2], filled([1, 2]))
    assert cache.cached_tokens == 0 and cache.match([1, 2])[0] == 0


def test_persistence_round_trip(tmp_path: Path) -> None:
    cache = PrefixCache(10**9, "model-a")
    for seq in ([1, 2, 3, 4], [1, 2, 7], [5, 6]):
        cache.insert(seq, filled(seq))
    path = tmp_path / "c.safetensors"
    cache.save(path)
    assert not list(tmp_path.glob("*.tmp*"))
    again = PrefixCache(10**9, "model-a")
    assert again.load(path, torch.device("cpu"))
    assert again.cached_tokens == cache.cached_tokens and again.bytes == cache.bytes
    assert matched_values(again, [1, 2, 7, 8]) == (3, [1.0, 2.0, 7.0])
    assert matched_values(again, [5, 6]) == (2, [5.0, 6.0])
    other = PrefixCache(10**9, "model-b")
    assert not other.load(path, torch.device("cpu"))  # another model's cache is ignored
    assert other.cached_tokens == 0
