"""The face of RAG: :class:`RagPipeline` (ask / stream over one knowledge base) and
:class:`Conversation` (a thread whose ``send`` streams). Built by :mod:`ragkit.sdk`, which
also builds the generator.

Owns: wiring a :class:`~ragkit.kb.KnowledgeBase` and a generator into the graph's
dependencies (memoised question embeddings, the answer cache and the conversation store under
the knowledge-base directory), running the graph as a stream, and turning its final state into
an :class:`~ragkit.rag.types.Answer`. Does not own any step of the graph.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from langgraph.types import Overwrite

from ragkit import __version__
from ragkit.config import SearchConfig
from ragkit.errors import ConfigError
from ragkit.generation.base import CountsTokens
from ragkit.guard import Guard, Verdict
from ragkit.guard.audit import AuditLog
from ragkit.rag.cache import AnswerCache, open_cache
from ragkit.rag.config import RagConfig
from ragkit.rag.context import hit_from_dict, languages
from ragkit.rag.evidence import shown
from ragkit.rag.graph import RagDeps, RunContext, build_graph
from ragkit.rag.memory import ConversationStore, open_conversations
from ragkit.rag.state import HitRecord, RagState, from_values, new_turn
from ragkit.rag.types import Answer, AnswerStream, AnswerUsage, Citation
from ragkit.relevance import finest
from ragkit.spelling import Speller, words

if TYPE_CHECKING:
    from ragkit.generation.base import Generator
    from ragkit.kb import KnowledgeBase
    from ragkit.relevance import Relevance

# a question longer than this is refused: it would crowd the evidence out of the prompt (and a
# 100 kB paste is a mistake, not a question)
MAX_QUESTION_CHARS = 4000


class _QueryVectors:
    """Memoised ``embed_queries`` so the cache lookup and retrieval embed a question once."""

    def __init__(self, kb: KnowledgeBase, size: int = 256) -> None:
        self.kb = kb
        self.size = size
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> np.ndarray:
        with self._lock:
            if text in self._memo:
                self._memo.move_to_end(text)
                return self._memo[text]
        vec = np.asarray(self.kb.embedder.embed_queries([text])[0], dtype=np.float32)
        with self._lock:
            self._memo[text] = vec
            while len(self._memo) > self.size:
                self._memo.popitem(last=False)
        return vec


def _similarity(kb: KnowledgeBase, queries: _QueryVectors):
    passages: OrderedDict[str, np.ndarray] = OrderedDict()

    def sim(sentence: str, chunk_text: str) -> float:
        if chunk_text not in passages:
            passages[chunk_text] = np.asarray(kb.embedder.embed_passages([chunk_text])[0])
            if len(passages) > 64:
                passages.popitem(last=False)
        a, b = queries(sentence), passages[chunk_text]
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))

    return sim


def _estimate_tokens(text: str) -> int:
    """About three characters a token, for a generator that cannot count them."""
    return max(1, len(text) // 3)


def check_turn(turn: Mapping[str, str]) -> dict[str, str]:
    """One earlier turn given by a caller, as the graph's history holds it."""
    if (not isinstance(turn, Mapping) or turn.get("role") not in ("user", "assistant")
            or not isinstance(turn.get("content"), str)):
        raise ConfigError(f"a history turn is {{\"role\": \"user\"|\"assistant\", "
                          f"\"content\": text}}, not {turn!r}")
    return {"role": turn["role"], "content": turn["content"]}


def check_question(question: object) -> None:
    """Refuse an empty or oversized question (before any model is loaded, where callers can)."""
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("the question is empty: pass some text to ask")
    if len(question) > MAX_QUESTION_CHARS:
        raise ConfigError(f"the question is {len(question):,} characters; questions are "
                          f"limited to {MAX_QUESTION_CHARS:,}. To ask about a long text, add "
                          "it to the knowledge base (`ragkit index FILE`) and ask a short "
                          "question about it")


class RagPipeline:
    """Grounded answers with checked citations from one knowledge base.

    Cheap to construct; the answer cache and conversation store open on first use.
    """

    def __init__(self, kb: KnowledgeBase, generator: Generator,
                 config: RagConfig | None = None, *, relevance: Relevance | None = None,
                 guard: Guard | None = None) -> None:
        self.kb = kb
        self.generator = generator
        self.config = config or RagConfig()
        self.relevance = relevance
        self.guard = guard
        # the knowledge base's audit trail (AuditLog writes no file until a first finding)
        self._audit = (AuditLog.for_dir(kb.dir, guard.config.audit_retention_days)
                       if guard is not None and guard.config.audit else None)
        self._graphs: dict[bool, Any] = {}
        self._wired: RagDeps | None = None
        self._memory: ConversationStore | None = None
        self._cache: AnswerCache | None = None
        self._languages: tuple[int, frozenset[str]] | None = None
        self._spelling: tuple[int, Speller] | None = None
        self._lock = threading.Lock()

    # -- wiring ------------------------------------------------------------------------------
    @property
    def memory(self) -> ConversationStore:
        if self._memory is None:
            self._memory = open_conversations(
                self.kb, self.config.max_threads, self.config.max_thread_age_days)
        return self._memory

    @property
    def cache(self) -> AnswerCache:
        if self._cache is None:
            self._cache = open_cache(self.kb, self.config.answer_cache_max_entries)
        return self._cache

    def _deps(self) -> RagDeps:
        cfg = self.config
        queries = _QueryVectors(self.kb)
        retriever = self.kb.retriever(SearchConfig(k=cfg.k, mode=cfg.search_mode))
        retriever.embed_query = queries
        gen = self.generator
        count = gen.count_tokens if isinstance(gen, CountsTokens) else _estimate_tokens
        guard = self.guard.config.model_dump_json() if self.guard is not None else "none"
        # answers made by another scorer (the support assistant's pipeline once had none,
        # and its answers were served to the evidence-first one), under other guardrails or
        # by another release are not reused
        scorer = getattr(self.relevance, "name", "none") if self.relevance else "none"
        scope = hashlib.sha256(
            f"{gen.model_id}|{cfg.model_dump_json()}|{guard}|{scorer}|{__version__}".encode()
        ).hexdigest()[:24]
        return RagDeps(
            retriever=retriever, generator=self.generator, config=cfg, embed_query=queries,
            kb_version=lambda: self.kb.store.kb_version, count_tokens=count,
            similarity=_similarity(self.kb, queries),
            cache=self.cache if cfg.answer_cache else None, cache_scope=scope,
            kb_languages=self._kb_languages, relevance=self.relevance,
            passages=lambda source: [HitRecord(**h.to_dict())
                                     for h in self.kb.passages(source)],
            # the store's rows, not kb.documents(), which also reads every file's mtime and
            # each document's language, per broad question
            documents=lambda: sorted((r.source, r.title)
                                     for r in self.kb.store.documents().values()),
            title_relevance=finest(self.relevance) if self.relevance is not None else None,
            mentions=lambda term: bool(self.kb.store.keyword_search([term], 1)),
            spell=lambda text: self._speller(count).correct(text),
            guard=self.guard.load() if self.guard is not None else None, audit=self._record)

    def _record(self, verdict: Verdict, conversation: str) -> None:
        """The guard's findings into the knowledge base's audit trail."""
        if self._audit is not None:
            self._audit.record(verdict, conversation)

    def _kb_languages(self) -> frozenset[str]:
        """Languages of the knowledge base's chunks (a sample), recomputed after a sync."""
        version = self.kb.store.kb_version
        if self._languages is None or self._languages[0] != version:
            self._languages = (version, languages(self.kb.store.sample_texts(2000)))
        return self._languages[1]

    def _speller(self, count: Callable[[str], int]) -> Speller:
        """The knowledge base's own words (a sample of its chunks, recomputed after a sync) as
        a speller; a word the generator's tokenizer reads as one token is a real word and is
        left alone ("bought" is no typo of "brought")."""
        version = self.kb.store.kb_version
        if self._spelling is None or self._spelling[0] != version:
            known = ((lambda w: count(" " + w) == 1) if isinstance(self.generator, CountsTokens)
                     else None)
            self._spelling = (version, Speller(words(self.kb.store.sample_texts(2000)), known))
        return self._spelling[1]

    def _graph(self, threaded: bool) -> Any:
        with self._lock:
            if self._wired is None:
                self._wired = self._deps()
            if threaded not in self._graphs:
                self._graphs[threaded] = build_graph(self.memory.saver if threaded else None)
            return self._graphs[threaded]

    # -- asking ------------------------------------------------------------------------------
    def ask(self, question: str, *, thread_id: str | None = None,
            history: Sequence[Mapping[str, str]] = ()) -> Answer:
        """Answer ``question``: within stored conversation ``thread_id`` when given, or after
        the earlier turns ``history`` (``{"role": "user"|"assistant", "content"}`` dicts, for
        callers that keep their own conversation)."""
        return self.stream(question, thread_id=thread_id, history=history).collect()

    def stream(self, question: str, *, thread_id: str | None = None,
               history: Sequence[Mapping[str, str]] = (), fresh: bool = False) -> AnswerStream:
        """Like :meth:`ask`, streaming the verified answer text as it is produced. ``fresh``:
        past the answer cache, sampled (see :meth:`regenerate`)."""
        check_question(question)
        if history and thread_id is not None:
            raise ConfigError("pass a thread_id (a stored conversation) or a history, not both")
        turns = [check_turn(t) for t in history]
        if self.kb.store.is_empty():
            raise ConfigError(f"the knowledge base at {self.kb.location} holds no documents yet: "
                              f"add some with `ragkit index PATH --kb {self.kb.location}` (or "
                              "kb.add([...])), then ask again")
        graph = self._graph(thread_id is not None)
        run_cfg = {"configurable": {"thread_id": thread_id}} if thread_id else {}
        assert self._wired is not None
        ctx = RunContext(self._wired, conversation=thread_id or "", fresh=fresh)
        final: dict[str, Any] = {}
        extra = {"durability": "exit"} if thread_id else {}

        def run() -> Iterator[str]:
            start = {**new_turn(question), "history": turns}
            for mode, chunk in graph.stream(start, run_cfg, context=ctx,
                                            stream_mode=["custom", "values"], **extra):
                if mode == "custom":
                    if not ctx.cancel.is_set():
                        yield str(chunk)
                else:
                    final.clear()
                    final.update(chunk)
            if thread_id is not None and not ctx.cancel.is_set():
                self.memory.after_turn(thread_id)

        return AnswerStream(run(), lambda: _to_answer(from_values(final), question), ctx.cancel)

    def regenerate(self, thread_id: str, question: str | None = None) -> AnswerStream:
        """Answer a conversation's last question again: its last exchange comes off the stored
        history (when its question is ``question``, or always when ``question`` is None) and
        the question is asked once more past the answer cache, sampled at
        ``regenerate_temperature``. A question stored with personal data masked differs from
        the one shown, so it is asked again as a new turn with the old exchange kept."""
        history = self.history(thread_id)
        users = [i for i, t in enumerate(history) if t.get("role") == "user"]
        if question is None and not users:
            raise ConfigError(f"conversation {thread_id!r} has no question to answer again; "
                              "ask one first")
        last = users[-1] if users else None
        if last is not None and (question is None or history[last]["content"] == question):
            self._graph(True).update_state({"configurable": {"thread_id": thread_id}},
                                           {"history": Overwrite(history[:last])},
                                           as_node="respond")
            question = history[last]["content"] if question is None else question
        assert question is not None
        return self.stream(question, thread_id=thread_id, fresh=True)

    def conversation(self, thread_id: str | None = None) -> Conversation:
        return Conversation(self, thread_id or uuid.uuid4().hex)

    def history(self, thread_id: str) -> list[dict[str, str]]:
        """The stored turns of a conversation ({"role", "content"} dicts), oldest first."""
        state = self._graph(True).get_state({"configurable": {"thread_id": thread_id}})
        return list(state.values.get("history", [])) if state and state.values else []

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        if self._audit is not None:
            self._audit.close()  # reopened by the next record
        self._graphs.clear()
        self._wired = None


class Conversation:
    """One persisted conversation: ``send(text)`` streams the answer of each turn."""

    def __init__(self, pipeline: RagPipeline, thread_id: str) -> None:
        self.pipeline = pipeline
        self.thread_id = thread_id

    def send(self, text: str) -> AnswerStream:
        return self.pipeline.stream(text, thread_id=self.thread_id)

    def ask(self, text: str) -> Answer:
        return self.send(text).collect()

    def regenerate(self, question: str | None = None) -> AnswerStream:
        """The last answer again, sampled (:meth:`RagPipeline.regenerate`)."""
        return self.pipeline.regenerate(self.thread_id, question)

    @property
    def history(self) -> list[dict[str, str]]:
        return self.pipeline.history(self.thread_id)


def _to_answer(state: RagState, question: str) -> Answer:
    u = state.usage
    prompt, cached = u["prompt_tokens"], u["cached_tokens"]
    usage = AnswerUsage(
        retrieval_ms=round(u["retrieval_ms"], 3),
        time_to_first_token_s=round(u["time_to_first_token_s"], 4),
        tokens_per_second=round(u["tokens_per_second"], 3),
        prompt_tokens=prompt, cached_tokens=cached, completion_tokens=u["completion_tokens"],
        kv_cache_hit_rate=round(cached / prompt, 4) if prompt else 0.0,
        answer_cache_hit=state.cache_hit)
    return Answer(
        question=question, standalone_question=state.standalone or question,
        text=state.answer_text, language=state.language,
        citations=[Citation(**c) for c in state.citations],
        refused=state.refused, confidence=float(state.confidence),
        hits=[hit_from_dict(dict(h)) for h in state.hits], usage=usage,
        diagnostics={"refusal_reason": state.refusal_reason, "attempts": state.attempts,
                     "answerable_margin": state.answerable,
                     "translation": "" if state.cache_hit else state.translation,
                     "relevance": round(state.relevance, 4), "quoted": state.quoted,
                     "overview": state.overview,
                     "answer_types": list(state.answer_types),
                     # "shown": as a quote shows it (a table row under its header)
                     "evidence": [{**e, "shown": shown(e["text"], e.get("lead", ""))}
                                  for e in state.evidence],
                     "nearby": list(state.nearby), "stages_ms": dict(state.stages),
                     **state.verdict})
