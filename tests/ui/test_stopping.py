"""Stopping a blocking reply: a tiny real causal LM behind :class:`Interruptible`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ragkit.generation.base import SamplingParams
from ragkit.types import Message
from ragkit.ui.stopping import Interruptible, Stopped
from tests.conftest import TINY_CORPUS
from tests.helpers.tiny_models import build_tiny_causal_lm

PARAMS = SamplingParams(max_tokens=40, temperature=0.0)
ASK = [Message(role="user", content="Descale the kettle")]


@pytest.fixture(scope="module")
def tiny_gen(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    path: Path = build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), TINY_CORPUS)
    return LocalGenerator(GeneratorConfig.parse({"model": str(path), "dtype": "float32"})).load()


def test_unstopped_wrapper_generates_the_same_text(tiny_gen) -> None:  # type: ignore[no-untyped-def]
    wrapped = Interruptible(tiny_gen, threading.Event())
    assert wrapped.generate(ASK, PARAMS).text == tiny_gen.generate(ASK, PARAMS).text
    assert wrapped.count_tokens("kettle") == tiny_gen.count_tokens("kettle")  # passed through


def test_stop_ends_a_blocking_reply_at_the_next_token(tiny_gen) -> None:  # type: ignore[no-untyped-def]
    stop = threading.Event()
    wrapped = Interruptible(tiny_gen, stop)
    seen: list[str] = []
    with pytest.raises(Stopped):
        for delta in wrapped.stream(ASK, PARAMS):
            seen.append(delta)
            if len(seen) == 3:
                stop.set()
    assert len(seen) == 3
    # The generator is free again: the next reply runs to its end.
    assert tiny_gen.generate(ASK, PARAMS).text
