"""Models that live in the ragkit service: the client side of :mod:`ragkit.service`'s routes.

Owns :class:`RemoteEmbedder` (the :class:`~ragkit.embedder.Embedder` protocol over
``/ragkit/v1/embed`` and ``/ragkit/v1/count_tokens``) and :class:`RemoteRelevance` (the
:class:`~ragkit.relevance.Relevance` protocol over ``/ragkit/v1/relevance``). Both import
neither torch nor onnxruntime, so a command that uses the service starts in a fraction of a
second. A service that stops answering is a :class:`~ragkit.errors.ModelError` naming it and
saying what to do. The generator needs nothing here: the service speaks OpenAI's API, so
:class:`~ragkit.generation.openai_client.OpenAICompatibleGenerator` is its client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from ragkit.errors import ModelError
from ragkit.service import decode_vectors

TIMEOUT_S = 300.0


class _Client:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(TIMEOUT_S, connect=5))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            resp = self._http.request(method, path, json=body)
        except httpx.HTTPError as err:
            raise ModelError(f"the ragkit service at {self.url} did not answer ({err}); start it "
                             "again with `ragkit serve`, or set RAGKIT_SERVER=off to load "
                             "models in this process") from err
        if resp.status_code != 200:
            try:
                message = resp.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = resp.text[:300]
            raise ModelError(f"the ragkit service refused {path}: {message}")
        return resp.json()


class RemoteEmbedder:
    """An embedder loaded in the service, addressed by the name a knowledge base records."""

    def __init__(self, url: str, name: str) -> None:
        self._c = _Client(url)
        self.name = name
        info = self._c.call("POST", "/ragkit/v1/embedder", {"model": name})
        self.id: str = info["id"]
        self.dim: int = int(info["dim"])
        self.max_tokens: int = int(info["max_tokens"])
        self.path = info.get("path") or ""  # the service's folder (the same machine)

    def count_tokens(self, text: str) -> int:
        return int(self._c.call("POST", "/ragkit/v1/count_tokens",
                                {"model": self.name, "texts": [text]})["counts"][0])

    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._c.call("POST", "/ragkit/v1/embed",
                           {"model": self.name, "kind": kind, "texts": list(texts)})
        return decode_vectors(out["vectors"], self.dim)  # type: ignore[no-any-return]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "passage")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "query")

    def embed_for_index(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "index")


class RemoteRelevance:
    """A relevance mode (``auto``, ``fast``, ``embeddinggemma``) scored in the service, with
    the knowledge base's embedder (by name) where the mode reads with it."""

    def __init__(self, url: str, mode: str, embedder: str = "") -> None:
        self._c = _Client(url)
        self.mode, self.embedder = mode, embedder
        self.name: str = self._c.call("POST", "/ragkit/v1/relevance", {
            "mode": mode, "embedder": embedder, "query": "", "texts": []})["name"]

    def finest(self) -> RemoteRelevance:
        """The service's cascade's second reader, EmbeddingGemma (:func:`ragkit.relevance.finest`)."""
        return RemoteRelevance(self._c.url, "embeddinggemma") if self.mode == "auto" else self

    def score(self, query: str, texts: Sequence[str], *, translation: str = "") -> np.ndarray:
        if not texts:
            return np.zeros(0)
        out = self._c.call("POST", "/ragkit/v1/relevance",
                           {"mode": self.mode, "embedder": self.embedder, "query": query,
                            "texts": list(texts), "translation": translation})
        return np.asarray(out["scores"], dtype=np.float64)
