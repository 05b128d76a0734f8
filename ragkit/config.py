"""Typed settings, validated once at the edge and passed down.

Every setting with a closed set of values is a ``Literal``; unknown keys are rejected
(``extra="forbid"``) so a typo fails loudly instead of being ignored. Paths that depend on the
environment (``RAGKIT_HOME``) are resolved by functions here, not read ad hoc elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragkit.errors import ConfigError

DEFAULT_EMBEDDER = "multilingual-e5-small"
DEFAULT_GENERATOR = "qwen2.5-coder-0.5b-instruct"


def ragkit_home() -> Path:
    """Cache root for models and converted weights: ``$RAGKIT_HOME`` or the user cache dir."""
    env = os.environ.get("RAGKIT_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ragkit"))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Closed sets, declared once: the config models below and in generation/config.py and
# rag/config.py use them, and the CLI's options and the UI's choices are derived from them.
IndexType = Literal["flat", "hnsw", "ivf", "ivfpq"]
Metric = Literal["ip"]  # embeddings are L2-normalised; inner product == cosine
GpuUse = Literal["auto", "never", "always"]
SearchMode = Literal["dense", "keyword", "hybrid"]
Device = Literal["auto", "cpu", "cuda"]
DType = Literal["auto", "float32", "bfloat16", "float16"]
Quantization = Literal["none", "int8", "int4"]
RopeType = Literal["linear", "dynamic", "yarn", "llama3"]
TranslateMode = Literal["off", "on", "auto"]  # RagConfig.translate_query, as ask --translate
# who judges which retrieved sentences answer a question (ragkit.rag.config.RagConfig.relevance)
RelevanceMode = Literal["auto", "fast", "embeddinggemma", "off"]
DEFAULT_RELEVANCE: RelevanceMode = "auto"


class IndexConfig(_Frozen):
    """FAISS index settings, chosen from bench/results/faiss.json (384-d, clustered data).

    ``flat`` (exact) is the default: knowledge bases of up to ~100k chunks search in tens of
    milliseconds. Above that use ``hnsw`` (M=32, efConstruction=200, efSearch=128: recall@10
    0.9999 at 100k, 0.6 ms/query; at 1M it drops to 0.961, so raise ``hnsw_ef_search`` to 256
    for 0.985 at 1.5 ms). ``ivf`` (nprobe=32; 64 gives 0.9965 at 1M, 4 ms) builds from a
    k-means that took 22 minutes at 1M on 2 cores; ``ivfpq`` is only for collections that do
    not fit in memory (recall@10 0.82 at 100k with pq_m=96).
    """

    type: IndexType = "flat"
    metric: Metric = "ip"
    hnsw_m: int = Field(32, ge=4, le=128)
    hnsw_ef_construction: int = Field(200, ge=8)
    hnsw_ef_search: int = Field(128, ge=1)
    ivf_nlist: int | None = Field(None, ge=1, description="None: about 4*sqrt(n) at build time")
    ivf_nprobe: int = Field(32, ge=1)
    pq_m: int = Field(96, ge=1, description="IVF-PQ sub-quantizers; must divide the dimension")
    use_gpu: GpuUse = "auto"


class ChunkingConfig(_Frozen):
    """Token-aware chunking. Lengths are measured with the embedder's tokenizer."""

    max_tokens: int = Field(256, ge=16, le=8192)
    overlap_tokens: int = Field(32, ge=0)

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkingConfig:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("overlap_tokens must be smaller than max_tokens")
        return self


class IngestConfig(_Frozen):
    max_file_mb: float = Field(50.0, gt=0)
    ignore: tuple[str, ...] = (".*", "__pycache__", "*.pyc", "node_modules")
    follow_links: bool = Field(
        False, description="follow symlinks out of the indexed folders (off: reported, skipped)")
    quarantine: bool = Field(
        True, description="a document that gives the assistant instructions (prompt injection, "
        "also hidden in a page) is reported and not indexed unless allowed for one sync")


class KnowledgeBaseConfig(_Frozen):
    """Settings fixed when a knowledge base is created; stored in ``DIR/ragkit.json``."""

    embedder: str = DEFAULT_EMBEDDER
    chunking: ChunkingConfig = ChunkingConfig()
    index: IndexConfig = IndexConfig()
    ingest: IngestConfig = IngestConfig()

    def chunker_hash(self) -> str:
        """Changes whenever a setting that affects chunk boundaries changes."""
        blob = json.dumps(
            {"embedder": self.embedder, "chunking": self.chunking.model_dump()}, sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class SearchConfig(_Frozen):
    k: int = Field(5, ge=1, le=1000)
    mode: SearchMode = "hybrid"
    rrf_k: int = Field(60, ge=1)
    candidates: int = Field(50, ge=1, description="per-ranker depth before fusion")


def parse(model: type[_Frozen], data: dict, what: str) -> _Frozen:
    """Validate ``data`` into ``model``, turning pydantic's error into a ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        lines = [f"  {'.'.join(map(str, err['loc'])) or what}: {err['msg']}" for err in e.errors()]
        raise ConfigError(f"invalid {what}:\n" + "\n".join(lines)) from None
