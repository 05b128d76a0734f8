"""Typed settings of the local generator engine.

Owns :class:`GeneratorConfig`, :class:`RopeScaling` and :class:`RemoteGeneratorConfig` (an
OpenAI-compatible server to use instead of a local model; the closed sets of values they use
are declared in :mod:`ragkit.config`): every knob of
:class:`ragkit.generation.local.LocalGenerator` (which model, device, dtype, weight
quantization, RoPE scaling, context length, chunked prefill, prefix-cache budget and
persistence, threads, prompt-lookup drafting). Combinations that cannot work are refused
here with a :class:`~ragkit.errors.ConfigError` that names the fix; checks that need the
hardware (CUDA present, int4 kernels present) happen in :func:`resolve_runtime`.
Does not load anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragkit.config import DEFAULT_GENERATOR, Device, DType, Quantization, RopeType
from ragkit.errors import ConfigError

__all__ = ["Device", "DType", "GeneratorConfig", "Quantization", "RemoteGeneratorConfig",
           "RopeScaling", "RopeType", "resolve_runtime"]

DYNAMIC_REUSE_MESSAGE = (
    "dynamic RoPE scaling changes the frequencies as the sequence grows, so cached keys "
    "become stale; use yarn/linear, or disable the prefix cache with kv_cache_budget_mb=0"
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RopeScaling(_Frozen):
    """Context extension by rescaling rotary frequencies.

    ``original_max_position_embeddings`` defaults to the model's native context at load
    time. ``beta_fast``/``beta_slow``/``attention_factor`` apply to yarn;
    ``low_freq_factor``/``high_freq_factor`` to llama3.
    """

    type: RopeType
    factor: float = Field(gt=1.0)
    original_max_position_embeddings: int | None = Field(None, ge=16)
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    attention_factor: float | None = None
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0

    @model_validator(mode="after")
    def _freq_order(self) -> RopeScaling:
        if self.type == "llama3" and self.high_freq_factor <= self.low_freq_factor:
            raise ValueError("llama3 scaling needs high_freq_factor > low_freq_factor")
        if self.type == "yarn" and self.beta_fast <= self.beta_slow:
            raise ValueError("yarn scaling needs beta_fast > beta_slow")
        return self


class GeneratorConfig(_Frozen):
    """Everything :class:`LocalGenerator` needs. ``model`` is a catalogue name, HF folder or GGUF."""

    model: str = DEFAULT_GENERATOR
    device: Device = "auto"
    dtype: DType = "auto"
    quantization: Quantization = "none"
    rope_scaling: RopeScaling | None = None
    max_context: int | None = Field(
        None, ge=64, description="None: the model's native context (times the RoPE factor)"
    )
    prefill_chunk: int = Field(512, ge=16, le=65536)
    kv_cache_budget_mb: float = Field(512.0, ge=0, description="prefix cache; 0 disables it")
    kv_cache_dir: Path | None = Field(None, description="persist the prefix cache here")
    threads: int | None = Field(None, ge=1, le=512, description="None: all physical cores")
    max_batch: int = Field(
        8, ge=1, le=256,
        description="streams decoded together (continuous batching); 1 serves one at a time",
    )
    max_queue: int = Field(
        32, ge=0, le=4096,
        description="requests that may wait for a free stream; past that they are refused as busy",
    )
    batch_tokens: int = Field(
        128, ge=16, le=65536,
        description="tokens one batched step runs: each stream's next token plus chunks of "
        "newcomers' prompts; smaller keeps running streams flowing, larger starts newcomers sooner",
    )
    draft_tokens: int = Field(
        3, ge=0, le=16,
        description="greedy decoding checks up to this many prompt-lookup draft tokens per "
        "forward pass (same output, fewer passes when the reply repeats its context); 0 disables",
    )

    @model_validator(mode="after")
    def _combinations(self) -> GeneratorConfig:
        if (
            self.rope_scaling is not None
            and self.rope_scaling.type == "dynamic"
            and self.kv_cache_budget_mb > 0
        ):
            raise ValueError(DYNAMIC_REUSE_MESSAGE)
        if self.kv_cache_dir is not None and self.kv_cache_budget_mb == 0:
            raise ValueError(
                "kv_cache_dir needs the prefix cache; set kv_cache_budget_mb > 0 or drop kv_cache_dir"
            )
        if self.device == "cpu" and self.dtype == "float16":
            raise ValueError(
                "float16 on CPU is slow and inexact; use dtype='bfloat16' or 'auto' on CPU"
            )
        return self

    @classmethod
    def parse(cls, data: dict[str, Any]) -> GeneratorConfig:
        """Build from plain data; errors become one ConfigError naming each bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'generator'}: {e['msg']}"
                for e in err.errors()
            )
            raise ConfigError(f"invalid generator settings: {problems}") from None


class RemoteGeneratorConfig(_Frozen):
    """A model behind an OpenAI-compatible HTTP server (vLLM, SGLang, llama.cpp, another
    machine's ``ragkit serve-model``). ``base_url`` like ``http://127.0.0.1:8000`` or ``.../v1``;
    several URLs separated by commas make a pool (``ragkit.generation.pool``: least-loaded
    routing, conversations kept on one server, failover), ``weights`` one per URL."""

    base_url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    api_key: str | None = None
    timeout_s: float = Field(300.0, gt=0)
    weights: tuple[float, ...] = ()

    @property
    def urls(self) -> list[str]:
        return [u.strip() for u in self.base_url.split(",") if u.strip()]

    @model_validator(mode="after")
    def _weights_match(self) -> RemoteGeneratorConfig:
        if not self.urls:
            raise ValueError("base_url names no server; give http://HOST:PORT (several "
                             "separated by commas)")
        if self.weights and (len(self.weights) != len(self.urls)
                             or any(w <= 0 for w in self.weights)):
            raise ValueError(f"weights: give one positive number per server ({len(self.urls)})")
        return self


def resolve_runtime(cfg: GeneratorConfig) -> tuple[torch.device, torch.dtype]:
    """Pick the concrete device and dtype; refuse settings the hardware cannot run."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device='cuda' was requested but no CUDA GPU is visible; use device='auto' or 'cpu'"
        )
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    if cfg.dtype == "auto":
        # bf16 halves memory traffic; on CPU it measured ~1.6x faster than fp32 for decode.
        dtype = torch.bfloat16
        if use_cuda and not torch.cuda.is_bf16_supported():
            dtype = torch.float16
    else:
        dtype = getattr(torch, cfg.dtype)
    if device.type == "cpu" and dtype == torch.float16:
        raise ConfigError("float16 on CPU is slow and inexact; use dtype='bfloat16' or 'auto'")
    if (
        cfg.quantization == "int4"
        and device.type == "cpu"
        and not hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")
    ):
        raise ConfigError(
            "int4 on CPU needs torch >= 2.6 (aten._weight_int4pack_mm_for_cpu); "
            "upgrade torch or use quantization='int8'"
        )
    if cfg.quantization != "none" and dtype != torch.bfloat16:
        raise ConfigError(
            f"quantization={cfg.quantization!r} runs its kernels in bfloat16; "
            "use dtype='bfloat16' or 'auto', or quantization='none'"
        )
    return device, dtype
