"""Pure decoding helpers: sampling, stop strings, UTF-8 safe incremental decoding."""

from __future__ import annotations

import pytest
import torch

from ragkit.generation.base import SamplingParams
from ragkit.generation.sampling import (
    IncrementalDecoder,
    StopFilter,
    filter_logits,
    make_generator,
    sample,
)


def test_greedy_is_argmax() -> None:
    logits = torch.tensor([0.1, 3.0, -1.0, 2.9])
    assert sample(logits, SamplingParams()) == 1


def test_seed_reproducible_and_seeds_differ() -> None:
    logits = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    p = SamplingParams(temperature=1.5, seed=7)
    runs = []
    for _ in range(2):
        gen = make_generator(p)
        runs.append([sample(logits, p, gen) for _ in range(20)])
    assert runs[0] == runs[1]
    other = make_generator(SamplingParams(temperature=1.5, seed=8))
    assert [sample(logits, p, other) for _ in range(20)] != runs[0]


def test_top_k_and_top_p_restrict_support() -> None:
    logits = torch.tensor([5.0, 4.0, 3.0, 0.0, -1.0])
    k2 = filter_logits(logits, SamplingParams(temperature=1.0, top_k=2))
    assert torch.isfinite(k2).tolist() == [True, True, False, False, False]
    # probabilities ~ [0.66, 0.24, 0.09, ...]: top_p=0.8 keeps the first two
    p8 = filter_logits(logits, SamplingParams(temperature=1.0, top_p=0.8))
    assert torch.isfinite(p8).tolist() == [True, True, False, False, False]
    tiny = SamplingParams(temperature=1.0, top_p=0.01, seed=0)
    gen = make_generator(tiny)
    assert {sample(logits, tiny, gen) for _ in range(10)} == {0}


def _run_stop(deltas: list[str], stops: tuple[str, ...]) -> tuple[list[str], bool]:
    f = StopFilter(stops)
    out = []
    for d in deltas:
        piece = f.feed(d)
        if piece:
            out.append(piece)
        if f.stopped:
            break
    tail = f.flush()
    if tail:
        out.append(tail)
    return out, f.stopped


def test_stop_string_spanning_deltas_is_never_emitted() -> None:
    out, stopped = _run_stop(
        ["Hello wor", "ld. EN", "D-", "OF", "-TEXT and more"], ("END-OF-TEXT",)
    )
    assert stopped
    assert "".join(out) == "Hello world. "
    assert not any("E" in piece for piece in out)


def test_partial_stop_prefix_released_when_not_a_stop() -> None:
    out, stopped = _run_stop(["a <", "/ans", "x> b"], ("</answer>",))
    assert not stopped
    assert "".join(out) == "a </ansx> b"


def test_earliest_stop_wins() -> None:
    out, stopped = _run_stop(["one STOP two HALT"], ("HALT", "STOP"))
    assert stopped and "".join(out) == "one "


def test_incremental_decoder_never_splits_chinese(tiny_gen) -> None:
    tok = tiny_gen._bundle.tokenizer
    text = "中文测试：你好，世界！退款 refunds 😀"
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) > len(text) / 2  # byte-level pieces: characters span several tokens
    dec = IncrementalDecoder(tok)
    deltas = [dec.push(i) for i in ids] + [dec.flush()]
    assert all("\ufffd" not in d for d in deltas)
    assert "".join(deltas) == text
    assert any(d == "" for d in deltas)  # some tokens were held back until complete


@pytest.mark.parametrize("bad", [{"max_tokens": 0}, {"temperature": -1}, {"top_p": 0}])
def test_bad_params_rejected(bad: dict) -> None:
    from ragkit.errors import GenerationError

    with pytest.raises(GenerationError):
        SamplingParams(**bad)
