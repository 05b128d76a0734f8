"""RoPE scaling: written into the model config, and short inputs unchanged where promised."""

from __future__ import annotations

import math

import pytest
import torch

from ragkit.generation.config import RopeScaling
from ragkit.generation.rope import RotaryTables, apply_scaling, inv_freq
from tests.generation.conftest import make_generator


@pytest.fixture(scope="module")
def hf_config(tiny_llama_dir):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(tiny_llama_dir))


def test_scaling_written_into_config(hf_config) -> None:
    scaled = apply_scaling(hf_config, RopeScaling(type="yarn", factor=4))
    assert scaled.rope_parameters["rope_type"] == "yarn"
    assert scaled.rope_parameters["factor"] == 4
    assert scaled.rope_parameters["original_max_position_embeddings"] == 2048
    assert scaled.max_position_embeddings == 8192
    assert hf_config.max_position_embeddings == 2048  # the original is not modified


def test_linear_divides_every_frequency(hf_config) -> None:
    base, _ = inv_freq(hf_config)
    lin, attn = inv_freq(apply_scaling(hf_config, RopeScaling(type="linear", factor=4)))
    assert torch.allclose(lin, base / 4) and attn == 1.0


def test_yarn_keeps_high_frequencies(hf_config) -> None:
    base, _ = inv_freq(hf_config)
    s = RopeScaling(type="yarn", factor=4)
    yarn, attn = inv_freq(apply_scaling(hf_config, s))
    wavelen = 2 * math.pi / base
    high = wavelen < 2048 / s.beta_fast
    low = wavelen > 2048 / s.beta_slow
    assert high.any() and low.any()
    assert torch.allclose(yarn[high], base[high])
    assert torch.allclose(yarn[low], base[low] / 4)
    assert attn > 1.0  # yarn scales cos/sin by its attention factor


def test_llama3_keeps_high_frequencies(hf_config) -> None:
    base, _ = inv_freq(hf_config)
    s = RopeScaling(type="llama3", factor=8, original_max_position_embeddings=256)
    l3, _ = inv_freq(apply_scaling(hf_config, s))
    wavelen = 2 * math.pi / base
    high = wavelen < 256 / s.high_freq_factor
    low = wavelen > 256 / s.low_freq_factor
    assert high.any() and low.any()
    assert torch.equal(l3[high], base[high])
    assert torch.allclose(l3[low], base[low] / 8)


def test_dynamic_unchanged_within_original_length(hf_config) -> None:
    plain = RotaryTables(hf_config, torch.float32, torch.device("cpu"))
    dyn = RotaryTables(
        apply_scaling(hf_config, RopeScaling(type="dynamic", factor=4)),
        torch.float32,
        torch.device("cpu"),
    )
    assert dyn.dynamic
    for a, b in zip(plain.rows(0, 2048), dyn.rows(0, 2048), strict=True):
        assert torch.equal(a, b)
    cos_long, _ = dyn.rows(0, 4096)  # beyond the original length the frequencies change
    assert not torch.allclose(cos_long[:2048], plain.rows(0, 2048)[0])


def test_dynamic_model_output_unchanged_on_short_prompt(tiny_llama_dir) -> None:
    from ragkit.types import Message

    msgs = [Message("user", "Refunds are issued within 14 days?")]
    plain = make_generator(tiny_llama_dir, kv_cache_budget_mb=0)
    dyn = make_generator(
        tiny_llama_dir, kv_cache_budget_mb=0, rope_scaling={"type": "dynamic", "factor": 2}
    )
    ids = plain.render(msgs)
    a = plain._engine.prepare(ids).logits
    b = dyn._engine.prepare(ids).logits
    assert torch.equal(a, b)
    yarn = make_generator(tiny_llama_dir, rope_scaling={"type": "yarn", "factor": 2})
    assert yarn.info()["context_length"] == 4096
    assert not torch.allclose(yarn._engine.prepare(ids).logits, a)  # yarn does change them
