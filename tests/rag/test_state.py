"""The RAG graph's typed state: the per-turn reset, and a conversation's state on its way to
disk and back (LangGraph's serializer, the PII-scrubbing one, a thread saved by the earlier
dict-state graph)."""

from __future__ import annotations

from dataclasses import MISSING, asdict, fields

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ragkit.kb import KnowledgeBase
from ragkit.pii import RedactingSerializer
from ragkit.rag import RagPipeline
from ragkit.rag.state import RagState, add_usage, from_values, new_turn, no_usage
from ragkit.types import Usage
from tests.rag.conftest import ROUTING

REFUND = "Refunds are paid back to the original payment method within five business days."
HIT = {"chunk_id": "c1", "source": "policies/returns.md", "title": "Returns",
       "heading": "Refunds", "page": None, "start": 0, "end": 80, "text": REFUND,
       "score": 0.5, "dense_rank": 1, "keyword_rank": None}


def _populated() -> RagState:
    return RagState(
        question="How long do refunds take?", language="en", standalone="Refund time?",
        history=[{"role": "user", "content": "Hi, I am jane.private@example.org"},
                 {"role": "assistant", "content": "Hello."}],
        hits=[HIT], confidence=0.5,
        context=[{"n": 1, **{k: HIT[k] for k in ("chunk_id", "source", "title", "heading",
                                                  "page", "start", "end", "text")}}],
        draft=REFUND + " [1].", answer_text=REFUND + " [1].",
        citations=[{"n": 1, "chunk_id": "c1", "source": "policies/returns.md",
                    "title": "Returns", "heading": "Refunds", "page": None, "start": 0,
                    "end": 80, "snippet": REFUND, "support": 0.9}],
        verdict={"sentences": 1, "supported": 1, "removed": 0, "invented": 0}, attempts=1,
        next="respond", answerable=-2.5,
        usage=add_usage(no_usage(), Usage(prompt_tokens=40, cached_tokens=8,
                                          completion_tokens=12, tokens_per_second=3.0),
                        answer=True))


def test_new_turn_resets_every_field_but_the_history() -> None:
    turn = new_turn("退款要多久？")
    assert set(turn) == {f.name for f in fields(RagState)} - {"history"}
    assert turn["question"] == turn["standalone"] == "退款要多久？" and turn["language"] == "zh"
    for f in fields(RagState):
        if f.name not in ("history", "question", "standalone", "language"):
            default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
            assert turn[f.name] == default, f.name


def test_state_round_trips_through_the_checkpoint_serializers() -> None:
    state = _populated()
    values = asdict(state)
    plain = JsonPlusSerializer()
    assert from_values(plain.loads_typed(plain.dumps_typed(values))) == state
    redacting = RedactingSerializer()
    back = from_values(redacting.loads_typed(redacting.dumps_typed(values)))
    assert "jane.private@example.org" not in back.history[0]["content"]
    assert back.history[1] == state.history[1]
    assert back.hits[0]["chunk_id"] == "c1" and back.citations == state.citations
    assert back.usage == state.usage and back.verdict == state.verdict


def test_a_thread_saved_by_the_dict_state_graph_continues(tiny_kb: KnowledgeBase,
                                                          scripted_generator) -> None:
    """Checkpoints written before the state was typed (usage ``{}``, no ``next``) load."""
    def reply(messages):
        return f"{REFUND} [1]."

    pipe = RagPipeline(tiny_kb, scripted_generator(reply), ROUTING)
    config = {"configurable": {"thread_id": "old"}}
    old = {"question": "How long do refunds take?", "standalone": "How long do refunds take?",
           "language": "en", "hits": [HIT], "confidence": 0.5, "context": [], "draft": "",
           "answer_text": REFUND, "citations": [], "verdict": {}, "attempts": 1,
           "refused": False, "refusal_reason": "", "answerable": 0.0, "usage": {},
           "cache_hit": False,
           "history": [{"role": "user", "content": "How long do refunds take?"},
                       {"role": "assistant", "content": REFUND}]}
    pipe._graph(True).update_state(config, old, as_node="respond")
    second = pipe.conversation("old").ask("And in China?")
    assert second.standalone_question == "How long do refunds take? And in China?"
    assert [h["content"] for h in pipe.history("old")] == [
        "How long do refunds take?", REFUND, "And in China?", second.text]
    pipe.close()
