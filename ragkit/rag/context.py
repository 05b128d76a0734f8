"""Retrieval for a turn and the context that fits the generator's token budget.

Owns: searching with the question and optionally its translation (whose other-language chunks
are added after the question's own), the languages a knowledge base is written in, the
retrieval confidence (the best dense cosine between a query and a retrieved chunk), and
choosing which chunks go into the prompt: in rank order, whole while they fit
``context_tokens`` (counted with the generator's tokenizer), the last one cut at a sentence
boundary when at least ``min_chunk_tokens`` still fit.

Does not own the index, the ranking functions (``ragkit.retriever``) or prompting.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ragkit.retriever import Retriever
from ragkit.text import detect_language, split_sentences
from ragkit.types import Hit

CountTokens = Callable[[str], int]


@dataclass
class Retrieved:
    hits: list[Hit]
    confidence: float
    ms: float


def retrieve(retriever: Retriever, question: str, k: int, mode: str, translation: str = "",
             translation_chunks: int = 0) -> Retrieved:
    """The question's top ``k``, then up to ``translation_chunks`` chunks in the translation's
    language found by searching the translation, and the retrieval confidence."""
    t0 = time.perf_counter()
    hits = retriever.search(question, k=k, mode=mode)  # type: ignore[arg-type]
    confidence = _top_dense(retriever, question, mode)
    lang = detect_language(translation)
    # a "translation" in the question's own language (the model echoed it) adds nothing
    if translation.strip() and translation_chunks > 0 and lang != detect_language(question):
        seen = {h.chunk_id for h in hits}
        extra = [h for h in retriever.search(translation, k=k + translation_chunks,
                                             mode=mode)  # type: ignore[arg-type]
                 if h.chunk_id not in seen and detect_language(h.text) == lang]
        hits += extra[:translation_chunks]
        confidence = max(confidence, _top_dense(retriever, translation, mode))
    return Retrieved(hits, min(1.0, max(0.0, confidence)), 1000 * (time.perf_counter() - t0))


def _top_dense(retriever: Retriever, query: str, mode: str) -> float:
    """The best dense cosine between ``query`` and a chunk (0 in keyword mode)."""
    if mode == "keyword":
        return 0.0
    top = retriever.dense(query, 1)
    return top[0][1] if top else 0.0


def languages(texts: Sequence[str], min_share: float = 0.05) -> frozenset[str]:
    """The languages of at least ``min_share`` of ``texts`` (a sample of chunks)."""
    counts = Counter(detect_language(t) for t in texts)
    return frozenset(lang for lang, n in counts.items() if n / len(texts) >= min_share)


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
