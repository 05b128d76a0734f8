"""Continuous batching: streams decoded together give what each gives alone, and share fairly.

Runs on the tiny qwen2 model in float32 (see conftest). The equality tests compare every
request's tokens in a batch against the same request run alone on a fresh generator.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ragkit.errors import BusyError, GenerationError
from ragkit.generation.base import SamplingParams
from ragkit.generation.batching import MIN_CHUNK, plan_prefill
from ragkit.generation.local import LocalGenerator
from ragkit.types import Message
from tests.generation.conftest import make_generator

PROMPTS = [
    "The quick brown fox jumps over the lazy dog. Paris is the capital of",
    "我们的商店周一到周五营业。",
    '{"name": "value", "items": [1, 2, 3], "ok": true} ' * 4,
    "Once upon a time",
    "Paris is the capital of France. The quick brown fox " * 3,
]


# -- the plan (pure) -------------------------------------------------------------------------
def test_plan_prefill_shares_the_budget_equally_and_passes_on_what_is_unused() -> None:
    assert plan_prefill([1000, 1000], 128) == [64, 64]
    assert plan_prefill([10, 1000], 128) == [10, 118]  # the short prompt's rest goes on
    assert plan_prefill([0, 50, 7], 128) == [0, 50, 7]
    assert plan_prefill([], 128) == []
    assert plan_prefill([500], 0) == [0]


@pytest.mark.parametrize("remaining,budget", [
    ([300, 5, 80, 1000], 128), ([40] * 20, 128), ([17, 33], 16), ([1, 1, 1], 2)])
def test_plan_prefill_never_overruns_the_budget_or_a_prompt(remaining: list[int], budget: int
                                                            ) -> None:
    out = plan_prefill(remaining, budget)
    assert sum(out) <= max(budget, 0)
    assert all(0 <= o <= r for o, r in zip(out, remaining, strict=True))
    # under a tight budget the oldest prompts go first, at least MIN_CHUNK each
    assert all(o == 0 or o >= min(MIN_CHUNK, r) or sum(out) == budget
               for o, r in zip(out, remaining, strict=True))
    assert sum(out) == min(budget, sum(remaining)) or out[0] > 0


# -- equality with running alone -------------------------------------------------------------
def _alone(path: Path, prompt: list[int], params: SamplingParams, **kw: object) -> list[int]:
    gen = make_generator(path, kv_cache_budget_mb=0, **kw)
    try:
        return list(gen._model().submit(prompt, params).tokens())
    finally:
        gen.close()


def _together(gen: LocalGenerator, prompts: list[list[int]], params: list[SamplingParams]
              ) -> list[list[int]]:
    """Submit all at once (they join one batch) and read each on its own thread."""
    tickets = [gen._model().submit(p, sp) for p, sp in zip(prompts, params, strict=True)]
    out: list[list[int]] = [[] for _ in tickets]

    def read(i: int) -> None:
        out[i] = list(tickets[i].tokens())

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(tickets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


@pytest.mark.parametrize("draft_tokens", [0, 3])
def test_greedy_output_in_a_batch_equals_output_alone(tiny_qwen_dir: Path, draft_tokens: int
                                                      ) -> None:
    gen = make_generator(tiny_qwen_dir, draft_tokens=draft_tokens, batch_tokens=32)
    prompts = [gen.encode(p) for p in PROMPTS]
    # different lengths: requests leave the batch at different steps
    params = [SamplingParams(max_tokens=n, temperature=0.0) for n in (40, 7, 25, 60, 33)]
    together = _together(gen, prompts, params)
    assert gen.stats()["batch"]["peak_batch"] >= 3  # they really were decoded together
    for prompt, sp, got in zip(prompts, params, together, strict=True):
        assert got == _alone(tiny_qwen_dir, prompt, sp, draft_tokens=draft_tokens)
    gen.close()


def test_a_newcomer_joining_mid_stream_changes_no_token(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir, batch_tokens=32)
    long_p, late_p = gen.encode(PROMPTS[0]), gen.encode(PROMPTS[4])
    sp = SamplingParams(max_tokens=50, temperature=0.0)
    first = gen._model().submit(long_p, sp)
    tokens = first.tokens()
    head = [next(tokens) for _ in range(5)]  # the first request is decoding now
    late = gen._model().submit(late_p, sp)
    rest = list(tokens)
    assert head + rest == _alone(tiny_qwen_dir, long_p, sp)
    assert list(late.tokens()) == _alone(tiny_qwen_dir, late_p, sp)
    gen.close()


def test_seeded_sampling_in_a_batch_equals_sampling_alone(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir)
    prompts = [gen.encode(p) for p in PROMPTS[:3]]
    params = [SamplingParams(max_tokens=20, temperature=0.9, top_p=0.95, seed=s) for s in (1, 2, 3)]
    together = _together(gen, prompts, params)
    for prompt, sp, got in zip(prompts, params, together, strict=True):
        assert got == _alone(tiny_qwen_dir, prompt, sp)
    gen.close()


# -- scheduling --------------------------------------------------------------------------------
def test_a_long_prompt_does_not_hold_back_a_short_one(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir, batch_tokens=32, kv_cache_budget_mb=0)
    long_prompt = gen.encode(PROMPTS[4] * 6)
    assert len(long_prompt) > 300  # about ten steps of prefill at 32 tokens a step
    slow = gen._model().submit(long_prompt, SamplingParams(max_tokens=5))
    quick = gen._model().submit(gen.encode(PROMPTS[3]), SamplingParams(max_tokens=3))
    assert len(list(quick.tokens())) == 3
    assert slow._seq.out.empty()  # the long one is still prefilling: no token of it yet
    assert len(list(slow.tokens())) == 5
    gen.close()


def test_a_shared_system_prompt_is_prefilled_once(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir)
    system = Message("system", "You are the support assistant of a kettle shop. " * 8)
    sp = SamplingParams(max_tokens=30, temperature=0.0)
    first = gen.stream([system, Message("user", "When are you open?")], sp)
    next(first)  # its prompt is prefilled (and offered to the prefix cache)
    second = gen.generate([system, Message("user", "Do you ship to Spain?")], sp)
    first.collect()
    assert first.result is not None and first.result.usage.cached_tokens == 0
    assert second.usage.cached_tokens >= len(gen.render([system])) - 8
    gen.close()


def test_a_full_queue_is_refused_as_busy_and_frees_as_requests_end(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir, max_batch=1, max_queue=1)
    prompt = gen.encode(PROMPTS[0])
    sp = SamplingParams(max_tokens=200, temperature=0.0)
    running = gen._model().submit(prompt, sp)
    waiting = gen._model().submit(prompt, sp)
    with pytest.raises(BusyError, match="busy"):
        gen._model().submit(prompt, sp)
    assert gen.stats()["batch"]["refused"] == 1
    running.cancel()
    waiting.cancel()
    list(running.tokens())
    list(waiting.tokens())
    assert len(list(gen._model().submit(prompt, SamplingParams(max_tokens=3)).tokens())) == 3
    gen.close()


def test_closing_a_stream_frees_its_slot_at_once(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir, max_batch=1, max_queue=4)
    msgs = [Message("user", PROMPTS[0])]
    first = gen.stream(msgs, SamplingParams(max_tokens=400))
    next(first)
    first.close()
    result = gen.generate(msgs, SamplingParams(max_tokens=4))  # would wait 400 steps otherwise
    assert result.usage.completion_tokens <= 4
    assert gen.stats()["batch"]["running"] == 0
    gen.close()


def test_a_stop_string_ends_one_stream_and_not_the_others(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir)
    msgs = [Message("user", PROMPTS[0])]
    free = gen.generate(msgs, SamplingParams(max_tokens=30))
    stop = free.text[5:8]
    assert stop.strip()
    other = gen.stream([Message("user", PROMPTS[3])], SamplingParams(max_tokens=30))
    cut = gen.generate(msgs, SamplingParams(max_tokens=30, stop=(stop,)))
    assert cut.finish_reason == "stop" and cut.text == free.text[: free.text.index(stop)]
    assert cut.usage.cached_tokens > 0  # a stream cut short still reports its prompt's reuse
    assert other.collect().usage.completion_tokens > 0
    gen.close()


def test_scoring_runs_between_steps_while_streams_run(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir)
    msgs = [Message("user", "Is Paris the capital of France?")]
    label_alone, scores_alone = gen.choose(msgs, ["yes", "no"])
    stream = gen.stream([Message("user", PROMPTS[0])], SamplingParams(max_tokens=100))
    next(stream)
    label, scores = gen.choose(msgs, ["yes", "no"])
    assert label == label_alone and scores == pytest.approx(scores_alone, abs=1e-5)
    assert stream.collect().usage.completion_tokens > 1
    gen.close()


def test_a_prompt_over_the_context_is_refused_before_it_takes_a_slot(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir, max_context=128)
    with pytest.raises(GenerationError, match="context holds 128"):
        gen.stream_tokens(gen.encode(PROMPTS[4] * 4))
    assert gen.stats()["batch"]["running"] == gen.stats()["batch"]["waiting"] == 0
    gen.close()


# -- lifetime --------------------------------------------------------------------------------
def test_a_generator_nobody_holds_frees_its_model_thread(tiny_qwen_dir: Path) -> None:
    import gc
    import time
    import weakref

    gen = make_generator(tiny_qwen_dir)
    gen.generate([Message("user", PROMPTS[3])], SamplingParams(max_tokens=3))
    thread, batcher = gen._model()._thread, weakref.ref(gen._model())
    del gen
    gc.collect()
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not thread.is_alive() and batcher() is None


def test_exiting_in_the_middle_of_a_stream_is_a_clean_exit(tiny_qwen_dir: Path) -> None:
    """The model thread is stopped before the interpreter tears torch down (a thread still in
    torch at exit aborts with "terminate called without an active exception")."""
    import subprocess
    import sys

    code = (
        "from ragkit.generation.config import GeneratorConfig\n"
        "from ragkit.generation.local import LocalGenerator\n"
        "from ragkit.generation.base import SamplingParams\n"
        "from ragkit.types import Message\n"
        f"gen = LocalGenerator(GeneratorConfig(model={str(tiny_qwen_dir)!r}, dtype='float32'))\n"
        "stream = gen.stream([Message('user', 'Once upon a time')], SamplingParams(max_tokens=500))\n"
        "next(stream)\n"
        "print('streaming', flush=True)\n"
    )
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and "streaming" in proc.stdout, proc.stderr[-1000:]
        assert "terminate called" not in proc.stderr


@pytest.mark.parametrize("draft_tokens", [0, 3])
def test_forbid_han_writes_no_chinese_even_from_drafts_and_leaves_neighbours_alone(
        tiny_qwen_dir: Path, draft_tokens: int) -> None:
    """A rendering into English must not copy the source's Chinese words: with
    ``forbid_han`` no token writes a Chinese character, whether sampled or drafted from the
    prompt (prompt lookup copies it); a request beside it in the batch is unchanged."""
    from ragkit.generation.sampling import _writes_han

    gen = make_generator(tiny_qwen_dir, draft_tokens=draft_tokens, batch_tokens=32)
    prompt = gen.encode("我们的商店周一到周五营业。中文测试：你好，世界！我们的商店")
    free = SamplingParams(max_tokens=30, temperature=0.0)
    assert any(_writes_han(gen._ready()[0].tokenizer.decode([t]))
               for t in _alone(tiny_qwen_dir, prompt, free, draft_tokens=draft_tokens))
    banned = SamplingParams(max_tokens=30, temperature=0.0, forbid_han=True)
    got, beside = _together(gen, [prompt, prompt], [banned, free])
    tok = gen._ready()[0].tokenizer
    assert got and not any(_writes_han(tok.decode([t])) for t in got)
    assert beside == _alone(tiny_qwen_dir, prompt, free, draft_tokens=draft_tokens)
    gen.close()
