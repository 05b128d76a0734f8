"""GGUF -> Hugging Face conversion, on a tiny real Qwen2 GGUF written from a tiny HF model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ragkit import models
from ragkit.convert import gguf_to_hf
from tests.helpers.tiny_models import DEFAULT_CORPUS, build_tiny_causal_lm, build_tiny_gguf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("gguf")
    hf = build_tiny_causal_lm(d / "hf", DEFAULT_CORPUS)
    return hf, build_tiny_gguf(hf, d / "tiny-qwen2.gguf")


def test_round_trip_keeps_weights_tokenizer_and_template(tiny, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf, gguf_file = tiny
    out = tmp_path / "converted"
    gguf_to_hf(gguf_file, out, dtype=torch.float32)
    assert (out / "model.safetensors").is_file()
    a = AutoModelForCausalLM.from_pretrained(str(hf))
    b = AutoModelForCausalLM.from_pretrained(str(out))
    assert "quantization_config" not in b.config.to_dict()
    ta, tb = AutoTokenizer.from_pretrained(str(hf)), AutoTokenizer.from_pretrained(str(out))
    text = "Refunds are issued within 14 days of purchase."
    assert ta(text)["input_ids"] == tb(text)["input_ids"]
    msgs = [{"role": "user", "content": "hi"}]
    kw = {"add_generation_prompt": True, "tokenize": False}
    assert ta.apply_chat_template(msgs, **kw) == tb.apply_chat_template(msgs, **kw)
    assert tb.eos_token == "<|im_end|>"
    ids = torch.tensor([ta(text)["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(a(ids).logits, b(ids).logits)


def test_resolve_gguf_converts_once_into_the_cache(tiny, home: Path) -> None:
    _, gguf_file = tiny
    logs: list[str] = []
    folder = models.resolve(str(gguf_file), "generator", log=logs.append)
    assert folder.parent == home / "models" and folder.name.startswith("gguf-")
    assert any("converting tiny-qwen2.gguf" in m for m in logs)
    marker = models.read_marker(folder)
    assert marker["gguf_path"] == str(gguf_file) and marker["kind"] == "generator"
    assert not list((home / "models").glob(".*tmp*"))
    logs.clear()
    assert models.resolve(gguf_file, "generator", log=logs.append) == folder
    assert logs == []
