"""Weight-only quantization: swap ``nn.Linear`` for int8 or int4 modules (gpt-fast style).

Owns: :class:`Int8Linear` (per-output-channel symmetric int8, ``aten._weight_int8pack_mm``
on CPU), :class:`Int4Linear` (asymmetric 4-bit with per-group scales and zero points,
``aten._weight_int4pack_mm_for_cpu`` on CPU, ``aten._weight_int4pack_mm`` on CUDA) and
:func:`quantize_model`, which replaces every linear layer of a
:class:`~ragkit.generation.model.Transformer`, the output head included (for a 0.5B model
with tied embeddings the head is a quarter of the bytes read per token). Activations stay
in bfloat16; only weights are compressed, so answers stay close to full precision
(``bench/quant_bench.py`` measures how close).
Does not: load weights or choose the mode (``GeneratorConfig.quantization`` does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ragkit.errors import ConfigError

INT4_GROUP = 32
INT4_INNER_K_TILES = 8  # CUDA tile layout
ROW_BLOCK = 8192  # quantize big matrices (the 151936-row head) in slices to bound peak memory


def _flat(x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    return x.reshape(-1, x.shape[-1]), x.shape[:-1]


class Int8Linear(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach()
        scales = torch.cat([r.float().abs().amax(dim=1) for r in w.split(ROW_BLOCK)])
        scales = scales.clamp(min=1e-8) / 127.0
        q = torch.cat(
            [
                torch.round(r.float() / s[:, None]).clamp(-128, 127).to(torch.int8)
                for r, s in zip(w.split(ROW_BLOCK), scales.split(ROW_BLOCK), strict=True)
            ]
        )
        self.out_features, self.in_features = w.shape
        dtype = linear.weight.dtype if linear.weight.dtype != torch.float32 else torch.bfloat16
        self.register_buffer("weight", q)
        self.register_buffer("scales", scales.to(dtype))
        self.bias = None if linear.bias is None else nn.Parameter(
            linear.bias.detach().to(dtype), requires_grad=False)  # inference only

    def forward(self, x: Tensor) -> Tensor:
        x2, lead = _flat(x.to(self.scales.dtype))
        if x2.device.type == "cpu":
            out = torch._weight_int8pack_mm(x2, self.weight, self.scales)
        else:
            out = F.linear(x2, self.weight.to(x2.dtype)) * self.scales
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*lead, self.out_features)


def int4_quantize(w: Tensor, group: int) -> tuple[Tensor, Tensor, Tensor]:
    """4-bit codes (int32 0..15), per-group scales and zero points: w ~ (q - 8) * s + z."""
    n, k = w.shape
    g = w.float().reshape(n, k // group, group)
    lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
    scale = ((hi - lo) / 15).clamp(min=1e-6)
    q = torch.round((g - lo) / scale).clamp(0, 15).to(torch.int32).reshape(n, k)
    zero = lo + 8 * scale
    return q, scale.reshape(n, -1), zero.reshape(n, -1)


def int4_dequantize(q: Tensor, scale: Tensor, zero: Tensor, group: int) -> Tensor:
    n, k = q.shape
    g = (q.reshape(n, k // group, group).float() - 8) * scale[..., None] + zero[..., None]
    return g.reshape(n, k)


class Int4Linear(nn.Module):
    def __init__(self, linear: nn.Linear, group: int = INT4_GROUP) -> None:
        super().__init__()
        w = linear.weight.detach()
        self.out_features, self.in_features = w.shape
        if self.in_features % group:
            raise ConfigError(
                f"int4 needs input sizes divisible by {group} (got {self.in_features}); "
                "use quantization='int8'"
            )
        self.group = group
        packs, scales, zeros = [], [], []
        for rows in w.split(ROW_BLOCK):
            q, scale, zero = int4_quantize(rows, group)
            if w.device.type == "cpu":  # the CPU layout is row-wise: slices pack independently
                packs.append(torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1))
            else:
                packs.append((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8))
            scales.append(scale.to(torch.bfloat16))
            zeros.append(zero.to(torch.bfloat16))
        packed = torch.cat(packs)
        if w.device.type != "cpu":
            packed = torch.ops.aten._convert_weight_to_int4pack(packed, INT4_INNER_K_TILES)
        scale, zero = torch.cat(scales), torch.cat(zeros)
        scales_and_zeros = torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous()
        self.register_buffer("weight", packed)
        self.register_buffer("scales_and_zeros", scales_and_zeros)
        self.bias = (
            None if linear.bias is None
            else nn.Parameter(linear.bias.detach().to(torch.bfloat16), requires_grad=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        x2, lead = _flat(x.to(torch.bfloat16))
        if x2.device.type == "cpu":
            out = torch.ops.aten._weight_int4pack_mm_for_cpu(
                x2, self.weight, self.group, self.scales_and_zeros
            )
        else:
            out = torch.ops.aten._weight_int4pack_mm(
                x2, self.weight, self.group, self.scales_and_zeros
            )
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*lead, self.out_features)


def quantize_model(model: nn.Module, mode: str) -> nn.Module:
    """Replace every ``nn.Linear`` in ``model`` in place; ``mode`` is 'int8' or 'int4'."""
    if mode == "none":
        return model
    if mode not in ("int8", "int4"):
        raise ConfigError(f"unknown quantization {mode!r}; use 'none', 'int8' or 'int4'")
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                new = Int8Linear(child) if mode == "int8" else Int4Linear(child)
                setattr(parent, name, new)
    return model
