"""Prompt-lookup drafting: the pure n-gram drafter, and greedy decoding that checks its drafts
gives the same tokens as plain greedy decoding (tiny real qwen2 model, float32)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.errors import ConfigError
from ragkit.generation.base import SamplingParams
from ragkit.generation.config import GeneratorConfig
from ragkit.generation.lookup import NgramDrafter
from ragkit.types import Message
from tests.generation.conftest import make_generator


def test_proposes_what_followed_the_latest_earlier_occurrence() -> None:
    d = NgramDrafter([1, 2, 3, 4, 9, 1, 2, 3, 5, 6, 1, 2, 3])
    # the tail (1, 2, 3) occurred twice before; the latest was followed by 5, 6
    assert d.propose(2) == [5, 6]
    assert d.propose(10) == [5, 6, 1, 2, 3]  # never past the end of the sequence
    assert d.propose(0) == []


def test_prefers_the_longest_matching_ngram() -> None:
    d = NgramDrafter([7, 2, 3, 8, 1, 2, 3, 4, 5, 7, 2, 3], min_ngram=2, max_ngram=3)
    # (2, 3) last led to 4, but the 3-gram (7, 2, 3) led to 8
    assert d.propose(1) == [8]


def test_no_match_no_draft_and_the_tail_never_matches_itself() -> None:
    d = NgramDrafter([1, 2, 3, 4])
    assert d.propose(3) == []
    d.push(5)
    assert d.propose(3) == []
    d.push(1)
    d.push(2)  # (1, 2) occurred at the start, followed by 3
    assert d.propose(2) == [3, 4]


def test_incremental_pushes_equal_building_at_once() -> None:
    seq = [5, 1, 5, 1, 2, 5, 1, 2, 3, 5, 1]
    inc = NgramDrafter()
    for t in seq:
        inc.push(t)
    assert inc.propose(4) == NgramDrafter(seq).propose(4) == [2, 3, 5, 1]


def test_rejects_bad_ngram_range() -> None:
    with pytest.raises(ValueError):
        NgramDrafter(min_ngram=3, max_ngram=2)


def test_draft_tokens_setting_is_validated() -> None:
    with pytest.raises(ConfigError, match="draft_tokens"):
        GeneratorConfig.parse({"draft_tokens": -1})
    assert GeneratorConfig().draft_tokens > 0  # on by default


SYSTEM = Message("system", "Answer from the text below; quote it where you can.\n"
                 "Refunds are paid back to the original payment method within five business "
                 "days. Returns are accepted within thirty days if the item is unused. " * 3)
QUESTIONS = ["How long do refunds take?", "Quote the returns rule.", "退款多久处理？"]


@pytest.mark.parametrize("reuse", [True, False])
def test_drafting_gives_the_same_tokens_as_plain_greedy(tiny_qwen_dir: Path, reuse: bool) -> None:
    budget = 512 if reuse else 0
    plain = make_generator(tiny_qwen_dir, draft_tokens=0, kv_cache_budget_mb=budget)
    drafting = make_generator(tiny_qwen_dir, draft_tokens=3, kv_cache_budget_mb=budget)
    params = SamplingParams(max_tokens=48)
    msgs_a, msgs_b = [SYSTEM], [SYSTEM]
    passes = accepted = rejected = 0
    for q in QUESTIONS:
        msgs_a.append(Message("user", q))
        msgs_b.append(Message("user", q))
        a, b = plain.generate(msgs_a, params), drafting.generate(msgs_b, params)
        assert b.text == a.text
        assert b.usage.completion_tokens == a.usage.completion_tokens
        assert a.usage.extra["draft_passes"] == 0
        # the tokens whose keys/values the engine holds (and offers to the prefix cache)
        assert drafting._engine.held == plain._engine.held
        passes += b.usage.extra["draft_passes"]
        accepted += b.usage.extra["draft_accepted"]
        rejected += b.usage.extra["draft_tokens"] - b.usage.extra["draft_accepted"]
        msgs_a.append(Message("assistant", a.text))
        msgs_b.append(Message("assistant", b.text))
    # the comparison means something only if drafts were both accepted and rejected
    assert passes > 0 and accepted > 0 and rejected > 0


def test_drafting_respects_max_tokens(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir, draft_tokens=3)
    plain = make_generator(tiny_qwen_dir, draft_tokens=0)
    msgs = [SYSTEM, Message("user", QUESTIONS[1])]
    for n in (1, 2, 5, 17):
        res = gen.generate(msgs, SamplingParams(max_tokens=n))
        ref = plain.generate(msgs, SamplingParams(max_tokens=n))
        assert res.usage.completion_tokens == ref.usage.completion_tokens <= n
        assert res.text == ref.text


def test_sampling_does_not_draft(tiny_qwen_dir: Path) -> None:
    gen = make_generator(tiny_qwen_dir, draft_tokens=3)
    res = gen.generate([SYSTEM, Message("user", QUESTIONS[0])],
                       SamplingParams(max_tokens=24, temperature=0.7, seed=1))
    assert res.usage.extra["draft_passes"] == 0
