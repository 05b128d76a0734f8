"""Settings: closed value sets, refused combinations, and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ragkit.errors import ConfigError, ModelError
from ragkit.generation.config import DYNAMIC_REUSE_MESSAGE, GeneratorConfig, resolve_runtime
from ragkit.generation.local import LocalGenerator


def test_dynamic_rope_with_prefix_cache_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        GeneratorConfig.parse({"rope_scaling": {"type": "dynamic", "factor": 2}})
    assert DYNAMIC_REUSE_MESSAGE in str(err.value)
    ok = GeneratorConfig.parse(
        {"rope_scaling": {"type": "dynamic", "factor": 2}, "kv_cache_budget_mb": 0}
    )
    assert ok.rope_scaling is not None and ok.rope_scaling.type == "dynamic"


@pytest.mark.parametrize(
    "data",
    [
        {"quantization": "int3"},
        {"device": "tpu"},
        {"unknown_key": 1},
        {"rope_scaling": {"type": "ntk", "factor": 2}},
        {"rope_scaling": {"type": "yarn", "factor": 0.5}},
        {"kv_cache_dir": "/tmp/x", "kv_cache_budget_mb": 0},
    ],
)
def test_invalid_settings_raise_config_error(data: dict) -> None:
    with pytest.raises(ConfigError):
        GeneratorConfig.parse(data)


def test_cuda_requested_without_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="device='auto' or 'cpu'"):
        resolve_runtime(GeneratorConfig(device="cuda"))


def test_quantization_needs_bfloat16() -> None:
    with pytest.raises(ConfigError, match="bfloat16"):
        resolve_runtime(GeneratorConfig(quantization="int4", dtype="float32"))


def test_auto_picks_bfloat16_on_cpu() -> None:
    device, dtype = resolve_runtime(GeneratorConfig(device="cpu"))
    assert device.type == "cpu" and dtype == torch.bfloat16


def test_constructor_is_cheap_and_missing_model_is_clear(tmp_path: Path) -> None:
    gen = LocalGenerator(GeneratorConfig(model=str(tmp_path / "nope")))
    assert gen.stats()["loaded"] is False
    with pytest.raises(ModelError, match="does not exist"):
        gen.load()


def test_context_beyond_native_needs_rope_scaling(tiny_qwen_dir: Path) -> None:
    gen = LocalGenerator(GeneratorConfig(model=str(tiny_qwen_dir), max_context=4096))
    with pytest.raises(ConfigError, match="rope_scaling"):
        gen.load()
