"""Text embedders: the :class:`Embedder` protocol and the sentence-transformers backend.

Owns: turning text into L2-normalised float32 vectors, counting tokens with the embedder's own
tokenizer, and the query/passage prompt convention. Does not own fetching weights (see
``ragkit.models``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragkit import convert
from ragkit._lazy import hf
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

    # Optional: ``embed_for_index(texts)``, passage vectors a knowledge base stores, where a
    # backend has a faster graph for them than for query-time passages (OnnxEmbedder's INT8).


ProgressFn = Callable[[int], None]


def index_vectors(embedder: Embedder) -> Callable[[Sequence[str]], np.ndarray]:
    """How ``embedder`` makes the passage vectors an index stores: its optional
    ``embed_for_index`` where it has one, else ``embed_passages``."""
    return getattr(embedder, "embed_for_index", None) or embedder.embed_passages


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
        self._lock = threading.Lock()

    def load(self) -> SentenceTransformerEmbedder:
        if self._model is None:
            SentenceTransformer = hf("sentence_transformers").SentenceTransformer  # noqa: N806

            with self._lock:  # a warm-up thread and the first question may arrive together
                if self._model is None:
                    try:
                        model = SentenceTransformer(str(self.path), device=self.device)
                    except (OSError, ValueError) as err:
                        raise ModelError(
                            f"could not load the embedder at {self.path}: {err}. Check that "
                            "it is a sentence-transformers folder, or re-pull it with `ragkit "
                            "models pull NAME --force`.") from err
                    self._model = model.eval()
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
        return _first_prompt(self.model.prompts or {}, names)

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


class OnnxEmbedder:
    """An :class:`Embedder` over a plain sentence-transformers folder (encoder -> mean or CLS
    pooling -> normalise) run with ONNX Runtime and the ``tokenizers`` library: no PyTorch at
    run time, so a process that only searches starts in about a second instead of five.

    Everything goes through the float32 graph: the same vectors as
    :class:`SentenceTransformerEmbedder` (to 1e-6), so stored vectors, relevance curves and
    classifiers fitted on those still hold. With ``index_int8``, :meth:`embed_for_index` (the
    vectors a knowledge base stores) goes through a per-channel INT8 graph instead: about 1.9x
    faster to index, at a measured cost in dense retrieval (``bench/results/embed.json``), so
    it is not the default. Each text runs alone, unpadded, so its vector never depends on its
    neighbours; texts run in parallel, one per core (``threads``, default: the usable cores),
    which on 2 cores beat padded batches of 32 and one text spread over both cores. The
    graphs are exported once per model (:func:`ragkit.models.encoder_onnx_dir`); loads on
    first use; thread-safe."""

    def __init__(self, path: Path, id: str, *, pooling: str = "mean", index_int8: bool = False,
                 threads: int | None = None) -> None:
        if pooling not in ("mean", "cls"):
            raise ValueError("pooling must be 'mean' or 'cls'")
        info = _folder_info(Path(path))
        if info is None:
            raise ModelError(f"{path} is not a plain sentence-transformers folder; load it "
                             "with runtime='torch'")
        self.path, self.id, self.pooling = Path(path), id, pooling
        self.index_int8 = index_int8
        # Texts run in parallel, one per worker, each on one core (see _embed).
        usable = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count() or 1)
        self.workers = max(1, threads or usable)
        self.dim, self.max_tokens = info
        prompts = _folder_prompts(self.path)
        self._query_prompt = _first_prompt(prompts, QUERY_PROMPTS)
        self._passage_prompt = _first_prompt(prompts, PASSAGE_PROMPTS)
        self._tokenizer: Any = None
        self._tail = 0  # special tokens the template puts after the text
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def load(self) -> OnnxEmbedder:
        self._session(convert.ONNX_FP32)
        return self

    def _tok(self) -> Any:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            with self._lock:
                if self._tokenizer is None:
                    tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                    tok.no_truncation()
                    tok.no_padding()
                    mask = tok.encode("a").special_tokens_mask
                    self._tail = next((i for i, m in enumerate(reversed(mask)) if not m), 0)
                    self._tokenizer = tok
        return self._tokenizer

    def _session(self, name: str) -> Any:
        if name not in self._sessions:
            import onnxruntime as ort

            from ragkit import models

            with self._lock:
                if name not in self._sessions:
                    graph = (models.encoder_onnx_int8(self.path) if name == convert.ONNX_INT8
                             else models.encoder_onnx_dir(self.path) / name)
                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = 1  # parallel across texts instead
                    opts.inter_op_num_threads = 1
                    try:
                        self._sessions[name] = ort.InferenceSession(
                            str(graph), opts, providers=["CPUExecutionProvider"])
                    except Exception as exc:  # onnxruntime raises its own types
                        raise ModelError(
                            f"could not load {graph}: {exc}. Delete {graph.parent} to "
                            "export it again, or set RAGKIT_EMBEDDER_RUNTIME=torch") from exc
        return self._sessions[name]

    def count_tokens(self, text: str) -> int:
        return len(self._tok().encode(self._passage_prompt + text).ids)

    def embed_passages(self, texts: Sequence[str], progress: ProgressFn | None = None
                       ) -> np.ndarray:
        return self._embed(texts, self._passage_prompt, convert.ONNX_FP32, progress)

    def embed_queries(self, texts: Sequence[str], progress: ProgressFn | None = None
                      ) -> np.ndarray:
        return self._embed(texts, self._query_prompt, convert.ONNX_FP32, progress)

    def embed_for_index(self, texts: Sequence[str], progress: ProgressFn | None = None
                        ) -> np.ndarray:
        """Passage vectors to store in an index (the INT8 graph when ``index_int8``)."""
        graph = convert.ONNX_INT8 if self.index_int8 else convert.ONNX_FP32
        return self._embed(texts, self._passage_prompt, graph, progress)

    def _ids(self, text: str) -> list[int]:
        ids = self._tok().encode(text).ids
        if len(ids) > self.max_tokens:  # keep the template's special tokens, as HF does
            tail = self._tail
            ids = ids[: self.max_tokens - tail] + (ids[-tail:] if tail else [])
        return ids

    def _embed(self, texts: Sequence[str], prompt: str, graph: str,
               progress: ProgressFn | None) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        session = self._session(graph)

        def one(text: str) -> np.ndarray:
            ids = np.asarray([self._ids(prompt + text)], dtype=np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                        "token_type_ids": np.zeros_like(ids)})[0][0]
            vec = hidden[0] if self.pooling == "cls" else hidden.mean(axis=0)
            return vec / max(float(np.linalg.norm(vec)), 1e-12)  # type: ignore[no-any-return]

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        workers = min(self.workers, len(texts))
        with contextlib.ExitStack() as stack:
            run = map
            if workers > 1:  # one text per core beat one text over all cores: 6.6 s vs 7.9
                from concurrent.futures import ThreadPoolExecutor

                run = stack.enter_context(ThreadPoolExecutor(workers)).map
            for i, vec in enumerate(run(one, texts)):
                out[i] = vec
                if progress is not None:
                    progress(1)
        return out


def _first_prompt(prompts: dict[str, Any], names: tuple[str, ...]) -> str:
    """The first of ``names`` a folder declares a non-empty prompt for, else "" (pure)."""
    return next((str(prompts[n]) for n in names if prompts.get(n)), "")


def _folder_prompts(folder: Path) -> dict[str, str]:
    import json

    try:
        cfg = json.loads((folder / "config_sentence_transformers.json").read_text("utf-8"))
        return {str(k): str(v) for k, v in (cfg.get("prompts") or {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


# Encoders whose export and tokenizer template the ONNX runtime is tested on.
ONNX_MODEL_TYPES = ("bert", "xlm-roberta")


def onnx_pooling(folder: Path) -> str | None:
    """"mean" or "cls" when ``folder`` can run on :class:`OnnxEmbedder` (Transformer at the
    root -> mean or CLS pooling -> Normalize, a BERT or XLM-R encoder, a ``tokenizer.json``,
    no lower-casing step); None otherwise."""
    import json

    folder = Path(folder)
    try:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        if modules[0].get("path", "") != "" or not (folder / "tokenizer.json").is_file():
            return None
        if json.loads((folder / "config.json").read_text()).get("model_type") not in \
                ONNX_MODEL_TYPES:
            return None
        if json.loads((folder / "sentence_bert_config.json").read_text()).get("do_lower_case"):
            return None
        pool = json.loads((folder / modules[1]["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    modes = {k for k, v in pool.items() if k.startswith("pooling_mode_") and v}
    return {frozenset({"pooling_mode_mean_tokens"}): "mean",
            frozenset({"pooling_mode_cls_token"}): "cls"}.get(frozenset(modes))


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


EMBEDDER_RUNTIMES = ("auto", "onnx", "onnx-int8", "torch")


def load_embedder(name_or_path: str, device: str | None = None, runtime: str | None = None
                  ) -> SentenceTransformerEmbedder | OnnxEmbedder:
    """An embedder for a catalogue name (pulled on first use) or a local folder; loads lazily.

    ``runtime``: "onnx" runs a plain folder with ONNX Runtime (:class:`OnnxEmbedder`),
    "onnx-int8" the same with INT8 vectors for indexing, "torch" with sentence-transformers;
    "auto" (the default) takes "onnx" on the CPU when the folder allows it
    (:func:`onnx_pooling`) and sentence-transformers otherwise. None reads
    ``$RAGKIT_EMBEDDER_RUNTIME`` (default "auto"), so CLI users can choose too."""
    from ragkit import models

    if runtime is None:
        runtime = os.environ.get("RAGKIT_EMBEDDER_RUNTIME", "").strip() or "auto"
    if runtime not in EMBEDDER_RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(EMBEDDER_RUNTIMES)}"
                         f" (got {runtime!r}; check RAGKIT_EMBEDDER_RUNTIME)")
    path = models.resolve(name_or_path, "embedder")
    marker = models.read_marker(path)
    if marker and marker.get("kind") == "embedder" and path == models.ready_dir(marker["name"]):
        model_id = str(marker["name"])
    else:
        model_id = local_model_id(path)
    pooling = onnx_pooling(path) if runtime != "torch" and device in (None, "cpu") else None
    if runtime.startswith("onnx") and pooling is None:
        raise ModelError(f"{path} cannot run on ONNX Runtime (it needs a BERT or XLM-R "
                         "encoder with mean or CLS pooling, a tokenizer.json and a CPU); "
                         "use runtime='torch' (RAGKIT_EMBEDDER_RUNTIME=torch)")
    if pooling is not None:
        return OnnxEmbedder(path, model_id, pooling=pooling, index_int8=runtime == "onnx-int8")
    return SentenceTransformerEmbedder(path, model_id, device=device)
