"""Relevance scoring: how well a passage answers a query, on one absolute scale.

Owns: the :class:`Relevance` protocol (``score(query, texts)`` -> a probability-like score
in [0, 1] per text, comparable across queries, so one threshold can decide "nothing here
answers"), and its backends:

- :class:`CrossEncoder`: the ms-marco MiniLM-L-12 cross-encoder as a dynamic-INT8 ONNX
  graph run with onnxruntime (English only: on Chinese every pair scores about the same);
- :class:`EmbeddingRelevance`: an embedder's query/passage cosine mapped through a logistic
  curve (any language the embedder knows; EmbeddingGemma separates answering from
  same-topic passages best among the catalogued embedders), with an LRU of passage vectors;
- :class:`LanguageRouted`: the cross-encoder for English query and English passage, the
  embedder's scorer for every other pair;
- :class:`Cascade`: a fast scorer over every text, a better one over its best few (the
  default: cross-encoder + the knowledge base's embedder first, EmbeddingGemma on the top 8).

Each backend's curve (``shift``/``scale``) is fitted on the tuning sets by
``bench/relevance_bench.py``; the figures are in its results file. Nothing here retrieves or
decides; :mod:`ragkit.rag.evidence` uses the scores.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragkit.embedder import Embedder
from ragkit.errors import ModelError
from ragkit.text import detect_language

# Logistic curves that put each backend's 0.5 at the boundary between sentences that answer
# and same-topic sentences that do not (fitted by bench/relevance_bench.py on the tuning sets).
# Each curve puts 0.5 where about 5% of the tuning set's answerable questions have no sentence
# scoring higher (bench/results/relevance.json): below it a question is refused unanswered.
CROSS_ENCODER_CURVE = {"shift": -8.0, "scale": 2.0}
EMBEDDING_CURVES = {
    "multilingual-e5-small": {"shift": 0.882, "scale": 0.01},
    "embeddinggemma-300m": {"shift": 0.40, "scale": 0.05},
}
DEFAULT_EMBEDDING_CURVE = EMBEDDING_CURVES["multilingual-e5-small"]
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


def embedding_curve(embedder_id: str) -> dict[str, float]:
    """The fitted curve of a catalogued embedder; others get multilingual-e5-small's (cosine
    scales differ between models: fit yours with bench/relevance_bench.py)."""
    return dict(EMBEDDING_CURVES.get(embedder_id, DEFAULT_EMBEDDING_CURVE))


@runtime_checkable
class Relevance(Protocol):
    """Scores how well each text answers ``query``: floats in [0, 1], 0.5 the boundary the
    backend was calibrated to (answers above, same-topic non-answers below)."""

    name: str

    def score(self, query: str, texts: Sequence[str], *, translation: str = ""
              ) -> np.ndarray:
        """``translation``: the query in the other language (en<->zh) when the caller has
        one, for a backend that reads one language only."""
        ...


def logistic(x: np.ndarray, shift: float, scale: float) -> np.ndarray:
    """``1 / (1 + exp(-(x - shift) / scale))`` (pure)."""
    z = np.clip((np.asarray(x, dtype=np.float64) - shift) / scale, -60.0, 60.0)
    return 1.0 / (1.0 + np.exp(-z))


class CrossEncoder:
    """A BERT-style cross-encoder exported to ONNX (inputs ``input_ids``, ``attention_mask``,
    ``token_type_ids``; output logits ``[B, 1]``), read from ``folder`` (``model.onnx`` +
    ``tokenizer.json``). Loads on first use; thread-safe.

    Pairs are scored one at a time by default: the INT8 graph quantizes activations per
    batch, so padding and neighbours moved a pair's logit by up to 0.3 in batches of 4-16,
    which a fixed threshold cannot tolerate, and unpadded single pairs were no slower on
    2 cores (27 pairs: 0.65 s alone, 0.74-0.89 s batched)."""

    def __init__(self, folder: str | Path, *, name: str = "cross-encoder", shift: float = 0.0,
                 scale: float = 1.0, max_length: int = 256, batch_size: int = 1,
                 threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.name = name
        self.shift, self.scale = shift, scale
        self.max_length, self.batch_size, self.threads = max_length, batch_size, threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        for f in (MODEL_FILE, TOKENIZER_FILE):
            if not (self.folder / f).is_file():
                raise ModelError(f"{self.folder} has no {f}: a cross-encoder folder holds "
                                 f"{MODEL_FILE} and {TOKENIZER_FILE} (`ragkit models pull "
                                 "ms-marco-minilm-l12-int8` makes one)")

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads or 0
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(self.folder / MODEL_FILE), opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise ModelError(f"could not load {self.folder / MODEL_FILE}: {exc}. Pull the "
                             "model again (`ragkit models pull --force ...`)") from exc
        tok = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        tok.enable_truncation(self.max_length)
        tok.enable_padding()
        self._tokenizer = tok
        self._inputs = {i.name for i in self._session.get_inputs()}

    def logits(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Raw logits, one per text."""
        if not texts:
            return np.zeros(0)
        with self._lock:
            if self._session is None:
                self._load()
            out: list[np.ndarray] = []
            for i in range(0, len(texts), self.batch_size):
                enc = self._tokenizer.encode_batch([(query, t) for t in texts[i:i + self.batch_size]])
                feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                        "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
                got = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
                out.append(np.asarray(got[0], dtype=np.float64).reshape(-1))
        return np.concatenate(out)

    def score(self, query: str, texts: Sequence[str], *, translation: str = ""
              ) -> np.ndarray:
        english = query if detect_language(query) == "en" or not translation else translation
        return logistic(self.logits(english, texts), self.shift, self.scale)


class EmbeddingRelevance:
    """An embedder's cosine between the query and each text, through a logistic curve.
    Passage vectors are kept in an LRU of ``cache_size`` texts (the same chunks come back)."""

    def __init__(self, embedder: Embedder, *, name: str = "embedding", shift: float = 0.55,
                 scale: float = 0.03, cache_size: int = 4096) -> None:
        self.embedder = embedder
        self.name = name
        self.shift, self.scale = shift, scale
        self.cache_size = cache_size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            vecs = np.asarray(self.embedder.embed_passages(missing), dtype=np.float32)
            with self._lock:
                for t, v in zip(missing, vecs, strict=True):
                    self._vectors[t] = v
                while len(self._vectors) > self.cache_size:
                    self._vectors.popitem(last=False)
        with self._lock:
            got = [self._vectors.get(t) for t in texts]
        if any(v is None for v in got):  # evicted meanwhile by another thread: embed again
            return np.asarray(self.embedder.embed_passages(list(texts)), dtype=np.float32)
        return np.stack(got) if got else np.zeros((0, 1), dtype=np.float32)

    def cosines(self, query: str, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        q = np.asarray(self.embedder.embed_queries([query]), dtype=np.float32)[0]
        return (self.passages(texts) @ q).astype(np.float64)

    def score(self, query: str, texts: Sequence[str], *, translation: str = ""
              ) -> np.ndarray:
        """With a ``translation``, a text in the other language than the query's gets the
        better cosine of the two query forms; a text in the query's own language is read
        against the query as asked. (A machine translation adds noise where none is
        needed: "How many days do I have to return something I bought?" came back as
        "您需要多少天才能返回您购买的东西？", and its cosine put "Refunds to a gift card arrive
        within 24 hours" above the 30-day return window.)"""
        cos = self.cosines(query, texts)
        if translation and len(cos):
            lang = detect_language(query)
            other = np.array([detect_language(t) != lang for t in texts])
            if other.any():
                cos = np.where(other, np.maximum(cos, self.cosines(translation, texts)), cos)
        return logistic(cos, self.shift, self.scale)


class LanguageRouted:
    """``english`` for English texts when the query is English or comes with an English
    translation (the cross-encoder then reads the translation), ``other`` for the rest
    (Chinese texts, and English ones with no English form of the query)."""

    def __init__(self, english: Relevance, other: Relevance) -> None:
        self.english, self.other = english, other
        self.name = f"{english.name}+{other.name}"

    def score(self, query: str, texts: Sequence[str], *, translation: str = ""
              ) -> np.ndarray:
        out = np.zeros(len(texts))
        if not texts:
            return out
        q_en = detect_language(query) == "en" or bool(translation)
        en = [i for i, t in enumerate(texts) if q_en and detect_language(t) == "en"]
        rest = sorted(set(range(len(texts))) - set(en))
        for idx, scorer in ((en, self.english), (rest, self.other)):
            if idx:
                out[idx] = scorer.score(query, [texts[i] for i in idx], translation=translation)
        return out


class Cascade:
    """``first`` scores every text; ``second`` re-scores the ``keep`` best and its scores
    are the result for them. The rest score 0: the fast scorer only chose what the better
    one reads. (On the tuning set EmbeddingGemma picked the answering sentence among the
    cross-encoder's top 8 0.82 of the time against 0.67 for the first stage alone, and its
    score separates answerable from unanswerable questions best; reading every sentence
    with it would cost 4-5x as much.)"""

    def __init__(self, first: Relevance, second: Relevance, keep: int = 8) -> None:
        self.first, self.second, self.keep = first, second, keep
        self.name = f"{first.name}>{second.name}"

    def finest(self) -> Relevance:
        return self.second

    def score(self, query: str, texts: Sequence[str], *, translation: str = ""
              ) -> np.ndarray:
        out = np.zeros(len(texts))
        if not texts:
            return out
        rough = self.first.score(query, texts, translation=translation)
        best = [int(i) for i in np.argsort(-rough, kind="stable")[:self.keep]]
        out[best] = self.second.score(query, [texts[i] for i in best], translation=translation)
        return out


def finest(scorer: Relevance) -> Relevance:
    """The most accurate reader of ``scorer`` (a cascade's second stage; its own
    ``finest()`` where it has one), for a few short texts its first stage cannot rank: a
    document title in the other language than the question ("What is your exchange
    policy?" and "换货政策": the routed first stage never passed that title on)."""
    pick = getattr(scorer, "finest", None)
    return pick() if callable(pick) else scorer
