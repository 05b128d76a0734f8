"""Text embedders: the :class:`Embedder` protocol and the sentence-transformers backend.

Owns: turning text into L2-normalised float32 vectors, counting tokens with the embedder's own
tokenizer, and the query/passage prompt convention. Does not own fetching weights (see
``ragkit.models``).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragkit.errors import ModelError


@runtime_checkable
class Embedder(Protocol):
    id: str  # stable identifier written into index manifests, e.g. "multilingual-e5-small"
    dim: int
    max_tokens: int  # longest passage (in tokenizer tokens, prompt included) the model accepts

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes as a passage, special tokens and passage prompt included."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised."""
        ...


ProgressFn = Callable[[int], None]
# Prompt names looked up in a sentence-transformers folder's config, first found wins (the
# names sentence-transformers' own encode_query / encode_document look for).
QUERY_PROMPTS = ("query",)
PASSAGE_PROMPTS = ("passage", "document", "corpus")


class SentenceTransformerEmbedder:
    """An :class:`Embedder` over a local sentence-transformers folder.

    The constructor only stores settings; the model loads on first use (or :meth:`load`).
    Prompts come from the folder's ``config_sentence_transformers.json``: ``query`` for
    queries, and for passages the first of ``passage`` / ``document`` / ``corpus`` it has
    (e5 uses ``passage``, EmbeddingGemma ``document``; MiniLM has none).
    """

    def __init__(
        self, path: Path, id: str, device: str | None = None, batch_size: int = 32
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.path = Path(path)
        self.id = id
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    def load(self) -> SentenceTransformerEmbedder:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(str(self.path), device=self.device)
            except (OSError, ValueError) as err:
                raise ModelError(
                    f"could not load the embedder at {self.path}: {err}. Check that it is a "
                    "sentence-transformers folder, or re-pull it with `ragkit models pull NAME "
                    "--force`."
                ) from err
            self._model.eval()
        return self

    @property
    def model(self) -> Any:
        return self.load()._model

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._model is None and (info := _folder_info(self.path)):
            return info[0]
        model = self.model
        get = getattr(model, "get_embedding_dimension", None)
        return int(get() if get else model.get_sentence_embedding_dimension())

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        if self._model is None and (info := _folder_info(self.path)):
            return info[1]
        return int(self.model.max_seq_length)

    def _prompt(self, names: tuple[str, ...]) -> str:
        prompts = self.model.prompts or {}
        return next((str(prompts[n]) for n in names if prompts.get(n)), "")

    def count_tokens(self, text: str) -> int:
        ids = self.model.tokenizer(
            self._prompt(PASSAGE_PROMPTS) + text, add_special_tokens=True, verbose=False
        )
        return len(ids["input_ids"])

    def embed_passages(
        self, texts: Sequence[str], progress: ProgressFn | None = None
    ) -> np.ndarray:
        return self._embed(texts, self._prompt(PASSAGE_PROMPTS), progress)

    def embed_queries(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        return self._embed(texts, self._prompt(QUERY_PROMPTS), progress)

    def _embed(self, texts: Sequence[str], prompt: str, progress: ProgressFn | None) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        model = self.model
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Longest first, so each batch pads little and memory peaks early.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            vecs = model.encode(
                [texts[i] for i in idx],
                prompt=prompt,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[idx] = np.asarray(vecs, dtype=np.float32)
            if progress is not None:
                progress(len(idx))
        return out


_PLAIN_MODULES = ("Transformer", "Pooling", "Dense", "Normalize")


def _folder_info(folder: Path) -> tuple[int, int] | None:
    """(dim, max_seq_length) read from a plain Transformer -> Pooling [-> Dense...] [->
    Normalize] folder's config files, so asking for them does not load the model; None for
    anything else."""
    import json

    try:
        modules = json.loads((folder / "modules.json").read_text())
        if not all(str(m["type"]).endswith(_PLAIN_MODULES) for m in modules):
            return None
        dense = [m["path"] for m in modules if str(m["type"]).endswith("Dense")]
        if dense:  # the last projection decides the output size
            dim = json.loads((folder / dense[-1] / "config.json").read_text())["out_features"]
        else:
            pooling = next(m["path"] for m in modules if str(m["type"]).endswith("Pooling"))
            pool_cfg = json.loads((folder / pooling / "config.json").read_text())
            dim = pool_cfg.get("word_embedding_dimension") or pool_cfg["embedding_dimension"]
        seq = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        return int(dim), int(seq)
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None


def local_model_id(folder: Path) -> str:
    """A stable id for a local folder: its name plus a hash of its config and weight sizes."""
    folder = Path(folder)
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "config_sentence_transformers.json"):
        with contextlib.suppress(OSError):
            h.update(name.encode() + b"\0" + (folder / name).read_bytes())
    for f in sorted(folder.rglob("*")):
        if f.suffix in {".safetensors", ".bin", ".pt", ".onnx"} and f.is_file():
            h.update(f"{f.relative_to(folder).as_posix()}\0{f.stat().st_size}\n".encode())
    return f"local:{folder.resolve().name}:{h.hexdigest()[:12]}"


def load_embedder(name_or_path: str, device: str | None = None) -> SentenceTransformerEmbedder:
    """An embedder for a catalogue name (pulled on first use) or a local folder; loads lazily."""
    from ragkit import models

    path = models.resolve(name_or_path, "embedder")
    marker = models.read_marker(path)
    if marker and marker.get("kind") == "embedder" and path == models.ready_dir(marker["name"]):
        model_id = str(marker["name"])
    else:
        model_id = local_model_id(path)
    return SentenceTransformerEmbedder(path, model_id, device=device)
