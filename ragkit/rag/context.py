"""Retrieval for a turn and the context that fits the generator's token budget.

Owns: searching with one or more queries (the question, and optionally its translation) and
fusing the rankings, the retrieval confidence (the best dense cosine between a query and a
retrieved chunk), and choosing which chunks go into the prompt: in rank order, whole while
they fit ``context_tokens`` (counted with the generator's tokenizer), the last one cut at a
sentence boundary when at least ``min_chunk_tokens`` still fit.

Does not own the index, the ranking functions (``ragkit.retriever``) or prompting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ragkit.retriever import Retriever, rrf_fuse
from ragkit.store import vector_id
from ragkit.text import split_sentences
from ragkit.types import Hit

CountTokens = Callable[[str], int]


@dataclass
class Retrieved:
    hits: list[Hit]
    confidence: float
    ms: float


def retrieve(retriever: Retriever, queries: Sequence[str], k: int, mode: str) -> Retrieved:
    """Search with every query, fuse by reciprocal rank, and measure confidence."""
    t0 = time.perf_counter()
    rankings: list[list[Hit]] = []
    confidence = 0.0
    for q in queries:
        if not q.strip():
            continue
        rankings.append(retriever.search(q, k=k, mode=mode))  # type: ignore[arg-type]
        if mode != "keyword":
            top = retriever.dense(q, 1)
            if top:
                confidence = max(confidence, top[0][1])
    if len(rankings) == 1:
        hits = rankings[0]
    else:
        by_vid = {vector_id(h.chunk_id): h for r in rankings for h in r}
        fused = rrf_fuse([[vector_id(h.chunk_id) for h in r] for r in rankings])
        hits = [by_vid[v] for v, _ in fused[:k]]
    return Retrieved(hits, min(1.0, max(0.0, confidence)), 1000 * (time.perf_counter() - t0))


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    return hit.to_dict()


def hit_from_dict(d: dict[str, Any]) -> Hit:
    return Hit(**d)


def _cut(text: str, count: CountTokens, budget: int) -> str:
    """The longest run of whole leading sentences of ``text`` within ``budget`` tokens."""
    out = ""
    for s, e in split_sentences(text):
        if count(out + text[s:e]) > budget:
            break
        out += text[s:e]
    return out.rstrip()


def select_context(hits: Sequence[dict[str, Any]], count: CountTokens, budget: int,
                   min_chunk_tokens: int) -> list[dict[str, Any]]:
    """Numbered context entries (``n`` from 1) for the prompt, within ``budget`` tokens."""
    chosen: list[dict[str, Any]] = []
    used = 0
    for h in hits:
        # the header line "[n] source > heading" costs tokens too
        header = count(f"[{len(chosen) + 1}] {h['source']} > {h.get('heading') or ''}") + 2
        need = count(h["text"]) + header
        left = budget - used
        if need <= left:
            text = h["text"]
        elif left - header >= min_chunk_tokens:
            text = _cut(h["text"], count, left - header)
            if not text:
                break
            need = count(text) + header
        else:
            break
        chosen.append({"n": len(chosen) + 1, "chunk_id": h["chunk_id"], "source": h["source"],
                       "title": h.get("title", ""), "heading": h.get("heading", ""),
                       "page": h.get("page"), "start": h["start"], "end": h["end"],
                       "text": text})
        used += need
    return chosen
