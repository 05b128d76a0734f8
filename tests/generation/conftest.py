"""Fixtures for the local generator tests: tiny random qwen2/llama models built once per session.

Generators run in float32 with a small prefill chunk, so cached and uncached computations are
exact and chunking is exercised.
The ``real_generator`` fixture lives in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.generation.config import GeneratorConfig
from ragkit.generation.local import LocalGenerator
from tests.helpers.tiny_models import DEFAULT_CORPUS, build_tiny_causal_lm

CORPUS = [
    *DEFAULT_CORPUS,
    "The quick brown fox jumps over the lazy dog. Paris is the capital of France.",
    '{"name": "value", "items": [1, 2, 3], "ok": true}',
    "我们的商店周一到周五营业。中文测试：你好，世界！",
]


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-qwen"), CORPUS, "qwen2")


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"), CORPUS, "llama")


def make_generator(path: Path, **kw: object) -> LocalGenerator:
    settings: dict[str, object] = {"model": str(path), "dtype": "float32", "prefill_chunk": 16}
    settings.update(kw)
    return LocalGenerator(GeneratorConfig.parse(settings)).load()


@pytest.fixture(scope="session")
def tiny_gen(tiny_qwen_dir: Path) -> LocalGenerator:
    return make_generator(tiny_qwen_dir)
