"""Rotary position embeddings and RoPE scaling for context extension.

Owns: writing a :class:`~ragkit.generation.config.RopeScaling` into a Hugging Face config
(``rope_parameters`` in transformers 5; ``max_position_embeddings`` becomes the extended
length) and :class:`RotaryTables`, the cos/sin rows the model uses. The inverse frequencies
come from ``transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS`` so they match what
transformers computes for the same config.

What each method promises for inputs within the original context (tested):
- ``dynamic``: identical to no scaling while the sequence is within the original length.
- ``yarn``: the high-frequency dimensions (wavelength below original/beta_fast) keep their
  frequencies; low ones are divided by ``factor``; cos/sin are scaled by the attention factor.
- ``llama3``: dimensions with wavelength below original/high_freq_factor are unchanged.
- ``linear``: every frequency is divided by ``factor`` (no promise for short inputs).
Does not: run attention (``model.py``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from ragkit.generation.config import RopeScaling


def rope_theta(config: Any) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    theta = params.get("rope_theta") if isinstance(params, dict) else None
    return float(theta if theta is not None else getattr(config, "rope_theta", 10000.0))


def apply_scaling(config: Any, scaling: RopeScaling | None) -> Any:
    """A copy of the HF ``config`` with ``scaling`` written into ``rope_parameters``."""
    config = copy.deepcopy(config)
    if scaling is None:
        return config
    original = scaling.original_max_position_embeddings or config.max_position_embeddings
    params: dict[str, Any] = {
        "rope_type": scaling.type,
        "rope_theta": rope_theta(config),
        "factor": scaling.factor,
        "original_max_position_embeddings": original,
    }
    if scaling.type == "yarn":
        params.update(beta_fast=scaling.beta_fast, beta_slow=scaling.beta_slow)
        if scaling.attention_factor is not None:
            params["attention_factor"] = scaling.attention_factor
    if scaling.type == "llama3":
        params.update(
            low_freq_factor=scaling.low_freq_factor, high_freq_factor=scaling.high_freq_factor
        )
    config.rope_parameters = params
    # dynamic NTK reads max_position_embeddings as the *original* length; others the new one.
    config.max_position_embeddings = (
        original if scaling.type == "dynamic" else int(original * scaling.factor)
    )
    return config


def inv_freq(config: Any, seq_len: int | None = None) -> tuple[Tensor, float]:
    """Inverse frequencies (float32, [head_dim/2]) and the cos/sin attention factor."""
    params = getattr(config, "rope_parameters", None) or {}
    kind = params.get("rope_type", "default") if isinstance(params, dict) else "default"
    if kind == "default":
        head_dim = getattr(config, "head_dim", None) or (
            config.hidden_size // config.num_attention_heads
        )
        exps = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
        return 1.0 / (rope_theta(config) ** exps), 1.0
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    freqs, attention = ROPE_INIT_FUNCTIONS[kind](config, torch.device("cpu"), seq_len)
    return freqs.float(), float(attention)


class RotaryTables:
    """cos/sin rows ([L, head_dim], model dtype) for any position range.

    Static methods precompute a table, grown on demand; ``dynamic`` recomputes the
    frequencies from the current sequence end, as transformers does.
    """

    def __init__(self, config: Any, dtype: torch.dtype, device: torch.device) -> None:
        self.config = config
        self.dtype, self.device = dtype, device
        params = getattr(config, "rope_parameters", None) or {}
        self.dynamic = isinstance(params, dict) and params.get("rope_type") == "dynamic"
        self._cos = self._sin = torch.empty(0)
        self._len = 0
        if not self.dynamic:
            self._freq, self._attn = inv_freq(config)

    def _table(self, freq: Tensor, attn: float, start: int, end: int) -> tuple[Tensor, Tensor]:
        pos = torch.arange(start, end, dtype=torch.float32)
        angles = torch.outer(pos, freq)
        emb = torch.cat((angles, angles), dim=-1)
        return (
            (emb.cos() * attn).to(self.device, self.dtype),
            (emb.sin() * attn).to(self.device, self.dtype),
        )

    def rows(self, start: int, end: int) -> tuple[Tensor, Tensor]:
        if self.dynamic:
            freq, attn = inv_freq(self.config, seq_len=end)
            return self._table(freq, attn, start, end)
        if end > self._len:
            new_len = max(end, 2 * self._len, 1024)
            self._cos, self._sin = self._table(self._freq, self._attn, 0, new_len)
            self._len = new_len
        return self._cos[start:end], self._sin[start:end]
