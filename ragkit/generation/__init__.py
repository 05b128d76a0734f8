"""Text generation: the :class:`Generator` protocol and its backends (local, OpenAI-compatible)."""

from ragkit.generation.base import GenerationResult, Generator, SamplingParams, TextStream

__all__ = ["GenerationResult", "Generator", "SamplingParams", "TextStream"]
