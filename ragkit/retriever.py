"""Search over a knowledge base: dense (FAISS), keyword (FTS5 BM25), and their fusion.

Owns: reciprocal rank fusion (a pure function), filters on hits (and their translation into
SQL ``LIKE`` patterns for a store that applies them while ranking: ``Filter.like``), and
turning ranked vector ids into :class:`~ragkit.types.Hit` objects. Does not own embedding, the
index or the database; it receives them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ragkit.config import SearchConfig, SearchMode
from ragkit.errors import ConfigError
from ragkit.store import Store
from ragkit.text import query_terms
from ragkit.types import Hit

FILTER_KEYS = ("source", "kind", "title", "heading", "page")
_LIKE = {"*": "%", "?": "_", "%": "\\%", "_": "\\_", "\\": "\\\\"}  # glob -> LIKE


def rrf_fuse(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = sum over rankings of 1 / (k + rank), rank from 1.

    Ties keep the order in which ids were first seen (earlier rankings first).
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, vid in enumerate(ranking, start=1):
            scores[vid] = scores.get(vid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def hit_from_row(row: dict, score: float, dense_rank: int | None = None,
                 keyword_rank: int | None = None) -> Hit:
    """A :class:`Hit` from a :meth:`Store.chunks_by_vid` row."""
    return Hit(chunk_id=row["id"], source=row["source"], heading=" > ".join(row["heading"]),
               page=row["page"], text=row["text"], score=score, start=row["start"],
               end=row["end"], title=row["title"], dense_rank=dense_rank,
               keyword_rank=keyword_rank)


@dataclass(frozen=True)
class Filter:
    """``key=glob`` on a hit's metadata, e.g. ``source=*.pdf``, ``kind=faq``, ``page=3``."""

    key: str
    pattern: str

    @classmethod
    def parse(cls, spec: str) -> Filter:
        key, sep, pattern = spec.partition("=")
        key = key.strip()
        if not sep or key not in FILTER_KEYS or not pattern:
            raise ConfigError(
                f"bad filter {spec!r}: use KEY=GLOB with KEY one of {', '.join(FILTER_KEYS)}, "
                "e.g. --filter 'source=*.pdf' or --filter kind=faq"
            )
        return cls(key, pattern.strip())

    @property
    def like(self) -> str | None:
        """The glob as an SQL ``LIKE`` pattern (escape character ``\\``), or None when it
        holds a ``[...]`` class, which LIKE cannot say (the filter then runs on the hits)."""
        if "[" in self.pattern:
            return None
        return "".join(_LIKE.get(ch, ch) for ch in self.pattern)

    def matches(self, row: dict) -> bool:
        value = row.get(self.key)
        if self.key == "heading":
            value = " > ".join(value or ())
        return fnmatch.fnmatch(str(value if value is not None else ""), self.pattern)


class Retriever:
    """Ranks chunks of one knowledge base for a query."""

    def __init__(
        self,
        store: Store,
        embed_query: Callable[[str], np.ndarray],
        dense_search: Callable[..., tuple[np.ndarray, np.ndarray]],
        config: SearchConfig | None = None,
        filters_in_store: bool = False,
    ) -> None:
        """``filters_in_store``: ``dense_search(vec, k, filters)`` and
        ``store.keyword_search(terms, k, filters)`` apply filters while ranking (Postgres);
        otherwise both rank everything and the filters run on the hits, looking deeper."""
        self.store = store
        self.embed_query = embed_query
        self.dense_search = dense_search
        self.config = config or SearchConfig()
        self.filters_in_store = filters_in_store

    def dense(self, query: str, depth: int,
              filters: Sequence[Filter] = ()) -> list[tuple[int, float]]:
        vec = self.embed_query(query).reshape(1, -1)
        scores, ids = (self.dense_search(vec, depth, filters) if filters
                       else self.dense_search(vec, depth))
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def keyword(self, query: str, depth: int,
                filters: Sequence[Filter] = ()) -> list[tuple[int, float]]:
        if filters:
            return self.store.keyword_search(query_terms(query), depth, filters)
        return self.store.keyword_search(query_terms(query), depth)

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: SearchMode | None = None,
        filters: Sequence[Filter] = (),
    ) -> list[Hit]:
        cfg = self.config
        k = k or cfg.k
        mode = mode or cfg.mode
        if not query.strip():
            raise ConfigError("the query is empty: pass some text to search for")
        # Filters the store cannot apply while ranking run on the hits: look deeper then.
        pushed = [f for f in filters if self.filters_in_store and f.like is not None]
        after = len(pushed) < len(filters)
        depth = max(cfg.candidates, k) * (4 if after else 1)
        dense = self.dense(query, depth, pushed) if mode in ("dense", "hybrid") else []
        keyword = self.keyword(query, depth, pushed) if mode in ("keyword", "hybrid") else []
        if mode == "dense":
            ranked = dense
        elif mode == "keyword":
            ranked = keyword
        else:
            ranked = rrf_fuse([[v for v, _ in dense], [v for v, _ in keyword]], cfg.rrf_k)
        dense_rank = {v: i for i, (v, _) in enumerate(dense, start=1)}
        kw_rank = {v: i for i, (v, _) in enumerate(keyword, start=1)}
        rows = self.store.chunks_by_vid(v for v, _ in ranked)
        hits: list[Hit] = []
        for vid, score in ranked:
            row = rows.get(vid)
            if row is None:  # index entry for a chunk deleted since: skip, never crash
                continue
            if not all(f.matches(row) for f in filters):
                continue
            hits.append(hit_from_row(row, score, dense_rank.get(vid), kw_rank.get(vid)))
            if len(hits) == k:
                break
        return hits
