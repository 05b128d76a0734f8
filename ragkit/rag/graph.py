"""The RAG graph: condense -> (answer cache) -> retrieve -> select -> check -> generate ->
verify -> respond, built by :func:`build_graph` from its dependencies.

Owns: the typed state, the nodes (each ``state -> partial state``) and the routing between
them. Run-scoped values (the cancel flag) come through LangGraph's runtime context; answer text
is streamed with LangGraph's stream writer, sentence by sentence after verification.

Routing, in words: a follow-up (history present) is condensed into a standalone question and
never served from the answer cache; a first question is looked up in the cache. Low retrieval
confidence refuses without generating, and so does a clear "no" from the answerability check
(the generator scores "do the sources state the answer? yes/no" over the same prompt prefix
the answer then reuses). An answer with no supported sentence is regenerated
once with a stricter instruction, then refused. Pure pieces (prompts, verification, context
selection) live in their own modules.
"""

from __future__ import annotations

import operator
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

import numpy as np
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from ragkit.generation.base import Generator, SamplingParams
from ragkit.rag import prompts
from ragkit.rag.cache import AnswerCache
from ragkit.rag.config import RagConfig
from ragkit.rag.context import hit_to_dict, retrieve, select_context
from ragkit.rag.verify import CitationGate, Scorer, Similarity
from ragkit.retriever import Retriever
from ragkit.types import Message, Usage


class RagState(TypedDict, total=False):
    question: str
    history: Annotated[list[dict[str, str]], operator.add]  # append-only across turns
    language: Literal["en", "zh"]
    standalone: str
    translation: str  # the question in the other language, searched too ("" when off)
    hits: list[dict[str, Any]]
    confidence: float
    context: list[dict[str, Any]]
    draft: str
    answer_text: str
    citations: list[dict[str, Any]]
    verdict: dict[str, int]
    attempts: int
    refused: bool
    refusal_reason: str
    next: str
    answerable: float  # log p(no) - log p(yes) of the answerability check (0 when skipped)
    usage: dict[str, Any]
    cache_hit: bool


@dataclass
class RunContext:
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class RagDeps:
    retriever: Retriever
    generator: Generator
    config: RagConfig
    embed_query: Callable[[str], np.ndarray]
    kb_version: Callable[[], int]
    count_tokens: Callable[[str], int]
    similarity: Similarity | None = None
    cache: AnswerCache | None = None
    cache_scope: str = ""
    # the languages the knowledge base is written in (translate_query="auto" reads it)
    kb_languages: Callable[[], frozenset[str]] = lambda: frozenset()


def new_turn(question: str) -> dict[str, Any]:
    """Graph input for one turn: every per-turn field reset (history is kept)."""
    return {"question": question, "standalone": question, "translation": "", "hits": [],
            "confidence": 0.0, "context": [], "draft": "", "answer_text": "", "citations": [],
            "verdict": {}, "attempts": 0, "answerable": 0.0, "refused": False,
            "refusal_reason": "", "next": "", "usage": {}, "cache_hit": False,
            "language": prompts.language_of(question)}


def _add_usage(usage: dict[str, Any], u: Usage | None, answer: bool = False) -> dict[str, Any]:
    out = dict(usage)
    if u is None:
        return out
    for key in ("prompt_tokens", "cached_tokens", "completion_tokens"):
        out[key] = out.get(key, 0) + getattr(u, key)
    if answer:
        out["time_to_first_token_s"] = u.time_to_first_token_s
        out["tokens_per_second"] = u.tokens_per_second
    return out


_LEAD = re.compile(r"^\s*(standalone question|question|rewritten question|问题|改写后的问题)\s*[:：]\s*",
                   re.IGNORECASE)


def build_graph(deps: RagDeps, checkpointer: Any = None) -> Any:
    """Compile the RAG graph over ``deps``; ``checkpointer`` persists threads when given."""
    cfg = deps.config
    gen = deps.generator
    scorer = Scorer(cfg, deps.similarity)

    def route_start(state: RagState) -> str:
        if state.get("history"):
            return "condense"
        return "cache" if deps.cache is not None and cfg.answer_cache else "retrieve"

    def condense(state: RagState) -> dict[str, Any]:
        msgs = prompts.condense_messages(state["language"], state["history"], cfg.history_turns,
                                         state["question"])
        res = gen.generate(msgs, SamplingParams(max_tokens=cfg.condense_max_tokens,
                                                stop=("\n",)))
        text = _LEAD.sub("", res.text.strip()).strip().strip('"“”')
        return {"standalone": text or state["question"],
                "usage": _add_usage(state.get("usage", {}), res.usage)}

    def cache(state: RagState) -> dict[str, Any]:
        assert deps.cache is not None
        found = deps.cache.lookup(deps.embed_query(state["question"]),
                                  kb_version=deps.kb_version(), scope=deps.cache_scope,
                                  threshold=cfg.answer_cache_threshold)
        if found is None:
            return {"cache_hit": False}
        stored, _sim = found
        return {"cache_hit": True, "answer_text": stored["text"],
                "citations": stored["citations"], "refused": stored["refused"],
                "standalone": stored["standalone_question"],
                "confidence": stored["confidence"], "hits": stored["hits"]}

    def wants_translation(question: str) -> bool:
        if cfg.translation_chunks == 0 or cfg.translate_query is False:
            return False
        if cfg.translate_query == "auto":
            return bool(deps.kb_languages() - {prompts.language_of(question)})
        return True

    def retrieve_node(state: RagState) -> dict[str, Any]:
        usage = dict(state.get("usage", {}))
        translation = ""
        if wants_translation(state["standalone"]):
            res = gen.generate(prompts.translate_messages(
                prompts.language_of(state["standalone"]), state["standalone"]),
                SamplingParams(max_tokens=cfg.condense_max_tokens, stop=("\n",)))
            usage = _add_usage(usage, res.usage)
            translation = res.text.strip()
        got = retrieve(deps.retriever, state["standalone"], cfg.k, cfg.search_mode,
                       translation, cfg.translation_chunks)
        usage["retrieval_ms"] = got.ms
        out: dict[str, Any] = {"hits": [hit_to_dict(h) for h in got.hits],
                               "confidence": got.confidence, "usage": usage,
                               "translation": translation}
        if not got.hits:
            out.update(refused=True, refusal_reason="no_hits")
        elif cfg.search_mode != "keyword" and got.confidence < cfg.min_confidence:
            out.update(refused=True, refusal_reason="low_confidence")
        return out

    def select(state: RagState) -> dict[str, Any]:
        return {"context": select_context(state["hits"], deps.count_tokens, cfg.context_tokens,
                                          cfg.min_chunk_tokens)}

    def check(state: RagState) -> dict[str, Any]:
        if not cfg.check_answerable or not state["context"]:
            return {}
        lang = state["language"]
        yes, no = prompts.CHECK_LABELS[lang]
        msgs = prompts.check_messages(lang, state.get("history", []), cfg.history_turns,
                                      state["context"], state["standalone"])
        _, scores = gen.choose(msgs, [yes, no])
        margin = float(scores[no] - scores[yes])
        out: dict[str, Any] = {"answerable": margin}
        if margin > cfg.answerable_margin:
            out.update(refused=True, refusal_reason="not_answerable")
        return out

    def generate(state: RagState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        cancel = runtime.context.cancel if runtime.context else threading.Event()
        lang = state["language"]
        attempts = state.get("attempts", 0) + 1
        if cancel.is_set():  # stopped while retrieving: do not start reading the prompt
            return {"attempts": attempts, "draft": "", "answer_text": "", "citations": [],
                    "verdict": {}}
        msgs = prompts.answer_messages(lang, state.get("history", []), cfg.history_turns,
                                       state["context"], state["standalone"])
        if attempts > 1:
            last = msgs[-1]
            msgs[-1] = Message("user", last.content + "\n\n" + prompts.render("retry", lang))
        write = get_stream_writer()
        gate = CitationGate(state["context"], scorer, state["standalone"],
                            instructions=prompts.instruction_texts(lang),
                            layout_labels=prompts.layout_labels(lang))
        stream = gen.stream(msgs, SamplingParams(max_tokens=cfg.max_answer_tokens))
        draft: list[str] = []
        try:
            for delta in stream:
                draft.append(delta)
                released = gate.feed(delta)
                if released:
                    write(released)
                if cancel.is_set():
                    break
        finally:
            stream.close()
        if not cancel.is_set():
            tail = gate.finish()
            if tail:
                write(tail)
        citations = [{**{k: c[k] for k in ("chunk_id", "source", "title", "heading", "page",
                                            "start", "end")},
                      "n": shown, "snippet": c["text"][:300], "support": round(s, 4)}
                     for shown, c, s in gate.citations()]
        return {"attempts": attempts, "draft": "".join(draft), "answer_text": gate.text,
                "citations": citations, "verdict": gate.counts(),
                "usage": _add_usage(state.get("usage", {}), stream.result.usage
                                    if stream.result else None, answer=True)}

    def verify(state: RagState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        cancelled = runtime.context is not None and runtime.context.cancel.is_set()
        if state["verdict"].get("supported", 0) > 0 or cancelled:
            return {"next": "respond"}
        if prompts.is_refusal(state["draft"], state["language"]):
            return {"next": "respond", "refused": True, "refusal_reason": "model"}
        if cfg.regenerate and state["attempts"] < 2:
            return {"next": "generate"}
        return {"next": "respond", "refused": True, "refusal_reason": "unsupported"}

    def respond(state: RagState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        if runtime.context is not None and runtime.context.cancel.is_set():
            return {}  # a closed stream: record nothing
        write = get_stream_writer()
        lang = state["language"]
        text = state.get("answer_text", "")
        out: dict[str, Any] = {}
        if state.get("refused") and not state.get("cache_hit"):
            text = prompts.refusal_text(lang)
            out = {"answer_text": text, "citations": []}
            write(text)
        elif state.get("cache_hit"):
            write(text)
        if (deps.cache is not None and cfg.answer_cache and not state.get("history")
                and not state.get("cache_hit")):
            deps.cache.put(deps.embed_query(state["question"]), state["question"], {
                "text": text, "citations": out.get("citations", state.get("citations", [])),
                "refused": bool(state.get("refused")), "language": lang,
                "standalone_question": state["standalone"],
                "confidence": state.get("confidence", 0.0), "hits": state.get("hits", []),
            }, kb_version=deps.kb_version(), scope=deps.cache_scope)
        out["history"] = [{"role": "user", "content": state["question"]},
                          {"role": "assistant", "content": text}]
        return out

    g = StateGraph(RagState, context_schema=RunContext)
    g.add_node("condense", condense)
    g.add_node("cache", cache)
    g.add_node("retrieve", retrieve_node)
    g.add_node("select", select)
    g.add_node("check", check)
    g.add_node("generate", generate)
    g.add_node("verify", verify)
    g.add_node("respond", respond)
    g.add_conditional_edges(START, route_start, ["condense", "cache", "retrieve"])
    g.add_edge("condense", "retrieve")
    g.add_conditional_edges("cache", lambda s: "respond" if s.get("cache_hit") else "retrieve",
                            ["respond", "retrieve"])
    g.add_conditional_edges("retrieve", lambda s: "respond" if s.get("refused") else "select",
                            ["respond", "select"])
    g.add_edge("select", "check")
    g.add_conditional_edges("check", lambda s: "respond" if s.get("refused") else "generate",
                            ["respond", "generate"])
    g.add_edge("generate", "verify")
    g.add_conditional_edges("verify", lambda s: s["next"], ["generate", "respond"])
    g.add_edge("respond", END)
    return g.compile(checkpointer=checkpointer)
