"""The default catalogued model (Qwen2.5-Coder-0.5B-Instruct): reuse exactness, quantization
closeness, agreement with transformers. Skips cleanly when the weights cannot be obtained."""

from __future__ import annotations

import pytest
import torch

from ragkit.generation.base import SamplingParams
from ragkit.generation.local import LocalGenerator
from ragkit.types import Message

pytestmark = pytest.mark.real_model

SYSTEM = Message(
    "system",
    "You are a concise assistant. Refunds take five business days. "
    "退款会在五个工作日内退回。 Shipping is free over fifty euros.",
)


def test_reuse_equals_no_reuse_real(real_generator: LocalGenerator) -> None:
    from ragkit.generation.config import GeneratorConfig

    cold = LocalGenerator(
        GeneratorConfig(model=real_generator.config.model, kv_cache_budget_mb=0)
    ).load()
    msgs = [SYSTEM]
    params = SamplingParams(max_tokens=16)
    for q in ["How long do refunds take?", "运费怎么算？", "Thanks!"]:
        msgs.append(Message("user", q))
        warm_res = real_generator.generate(msgs, params)
        cold_ids = cold.render(msgs)
        cold._engine.held = []  # force a full prefill of the whole conversation
        cold_res = cold.stream_tokens(cold_ids, params).collect()
        assert warm_res.text == cold_res.text
        assert cold_res.usage.cached_tokens == 0
        msgs.append(Message("assistant", warm_res.text))
    assert real_generator.stats()["prefix_cache"]["tokens_saved"] > 0
    assert "5" in msgs[2].content or "five" in msgs[2].content.lower()


def test_matches_transformers_real(real_generator: LocalGenerator) -> None:
    from transformers import AutoModelForCausalLM

    ids = real_generator.render([Message("user", "def fibonacci(n):")])
    hf = AutoModelForCausalLM.from_pretrained(
        str(real_generator._bundle.path), dtype=torch.bfloat16
    )
    with torch.no_grad():
        ref = hf(torch.tensor([ids])).logits[0, -1].float()
    real_generator._engine.held = []
    ours = real_generator._engine.prepare(ids).logits
    assert int(ours.argmax()) == int(ref.argmax())
    assert float((ours - ref).abs().max()) < 0.05 * float(ref.abs().max())


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_close_real(real_generator: LocalGenerator, mode: str) -> None:
    from ragkit.generation.config import GeneratorConfig

    quant = LocalGenerator(
        GeneratorConfig(model=real_generator.config.model, quantization=mode, kv_cache_budget_mb=0)
    ).load()
    prompts = ["def fibonacci(n):", "The capital of France is", "请解释什么是缓存。"]
    agree = 0
    for p in prompts:
        ids = real_generator.render([Message("user", p)])
        real_generator._engine.held = []
        a = real_generator._engine.prepare(ids).logits
        b = quant._engine.prepare(ids).logits
        tol = 0.1 if mode == "int8" else 0.3
        assert float((a - b).abs().max()) < tol * float(a.abs().max())
        agree += int(a.argmax() == b.argmax())
    assert agree >= len(prompts) - (0 if mode == "int8" else 1)
