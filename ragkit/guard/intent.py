"""A learned screen for what users type: does a message try to steer the assistant or to get
other people's data?

The injection rules (:mod:`ragkit.guard.injection`) recognise the wordings they were written
from; on a red-team set written later they caught 0.58 of the attacks. This screen scores the
intent instead: a logistic model over the message's sentence embedding (multilingual-e5-small,
the knowledge base's default embedder), trained by ``bench/guard_intent_train.py`` on the
committed red-team tuning sets (attacks that override or reveal the assistant's instructions,
role-play to shed its rules, or ask for another person's data) against their benign
look-alikes and 800 ordinary customer messages and questions. It flags a message when its
probability reaches the threshold; the rules still decide everything they recognise.

Owns: the weights file (``ragkit/data/guard/intent.npz``: coefficients, intercept, the embedder
it was trained with), loading it with clear errors, and :class:`IntentScreen`, which embeds
lazily (nothing loads until the first message).
Does not: decide the action (:class:`ragkit.guard.Guard` does) or train (the bench script).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from ragkit.errors import ConfigError

WEIGHTS = "guard/intent.npz"
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class IntentWeights:
    embedder: str  # the embedding model the coefficients belong to
    coef: np.ndarray  # (dim,)
    intercept: float

    def probability(self, vectors: np.ndarray) -> np.ndarray:
        z = vectors @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


def default_weights_path() -> Path:
    return Path(str(files("ragkit.data") / WEIGHTS))


def save_weights(weights: IntentWeights, path: Path) -> None:
    """Write ``weights`` (through a temporary file, so a crash leaves the old file whole)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, coef=weights.coef.astype(np.float32),
                 intercept=np.float32(weights.intercept), embedder=np.str_(weights.embedder))
    tmp.replace(path)


def load_weights(path: Path | None = None) -> IntentWeights:
    path = path or default_weights_path()
    try:
        with np.load(path, allow_pickle=False) as z:
            coef = np.asarray(z["coef"], dtype=np.float32)
            intercept = float(z["intercept"])
            embedder = str(z["embedder"])
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"cannot read the guard's intent model {path}: {e}; reinstall ragkit "
                          "or turn the screen off (GuardConfig(intent_model=False))") from None
    if coef.ndim != 1 or not coef.size or not np.isfinite(coef).all():
        raise ConfigError(f"the guard's intent model {path} is damaged (coefficients of shape "
                          f"{coef.shape}); reinstall ragkit or set intent_model=False")
    return IntentWeights(embedder, coef, intercept)


class IntentScreen:
    """``score(text)``: the probability that a message is an attack on the assistant's
    instructions or on other people's data. ``embed`` maps texts to query vectors with the
    weights' embedder; by default that embedder is loaded (through :func:`ragkit.sdk.
    load_embedder`, shared with a knowledge base that uses it) on the first call."""

    def __init__(self, weights: IntentWeights | None = None, embed: Embed | None = None) -> None:
        self._weights = weights
        self._embed = embed
        self._lock = threading.Lock()

    @property
    def weights(self) -> IntentWeights:
        if self._weights is None:
            self._weights = load_weights()
        return self._weights

    def _embedder(self) -> Embed:
        with self._lock:
            if self._embed is None:
                from ragkit import sdk

                self._embed = sdk.load_embedder(self.weights.embedder).embed_queries
            return self._embed

    def load(self) -> IntentScreen:
        """Read the weights and load the embedder now (not on the first message)."""
        self.score("hello")  # the embedder itself loads on its first text
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(self._embedder()(list(texts)), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.weights.coef.shape[0]:
            raise ConfigError(f"the guard's intent model expects {self.weights.coef.shape[0]}-"
                              f"dimensional vectors from {self.weights.embedder}, got "
                              f"{vectors.shape[1:]}")
        return self.weights.probability(vectors)

    def score(self, text: str) -> float:
        return float(self.scores([text])[0])
