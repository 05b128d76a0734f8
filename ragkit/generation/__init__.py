"""Text generation: the :class:`Generator` protocol and its backends (local, OpenAI-compatible).

Backends import lazily so ``import ragkit.generation`` does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragkit._lazy import lazy_exports
from ragkit.generation.base import GenerationResult, Generator, SamplingParams, TextStream

__all__ = [
    "GenerationResult",
    "Generator",
    "GeneratorConfig",
    "GeneratorPool",
    "LocalGenerator",
    "OpenAICompatibleGenerator",
    "RopeScaling",
    "SamplingParams",
    "TextStream",
]

_LAZY = {
    "GeneratorConfig": "ragkit.generation.config",
    "RopeScaling": "ragkit.generation.config",
    "LocalGenerator": "ragkit.generation.local",
    "GeneratorPool": "ragkit.generation.pool",
    "OpenAICompatibleGenerator": "ragkit.generation.openai_client",
}

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.generation.config import GeneratorConfig, RopeScaling
    from ragkit.generation.local import LocalGenerator
    from ragkit.generation.openai_client import OpenAICompatibleGenerator
    from ragkit.generation.pool import GeneratorPool

__getattr__ = lazy_exports(__name__, _LAZY)
