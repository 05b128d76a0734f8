"""The support assistant's LangGraph: understand -> (act | answer | handoff).

Owns: the graph (nodes, routing, the handoff ``interrupt()``), its typed state
(:class:`SupportState`), the per-turn policy that turns the tracked state into an action (ask
for a slot, ask for identity, look up, propose and confirm, execute, answer from the knowledge
base, hand over), and the ``Answerer`` protocol the question node calls (a RAG pipeline in
production).

Nodes are module-level functions ``(state, runtime) -> partial state``; the dependencies
(:class:`SupportDeps`) come through LangGraph's runtime context (``context=deps`` on every
run and resume). Text reaches the caller through the custom stream (``{"delta": ...}`` and one
``{"reply": ...}`` per turn). The handoff node is idempotent: it finds the ticket it created on
an earlier run of the same turn instead of creating a second one when the graph resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypedDict, cast

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from ragkit.guard import Guard, Verdict
from ragkit.support import replies as R
from ragkit.support import slots as S
from ragkit.support import state as ST
from ragkit.support.domain import Domain
from ragkit.support.nlu import Understanding
from ragkit.support.sentiment import negative_score
from ragkit.support.state import DialogueState
from ragkit.support.tools import LOOKUPS, SupportTools
from ragkit.text import detect_language

log = logging.getLogger(__name__)
MAX_INPUT_CHARS = 4000  # longer messages are cut before they reach the models
_CLOSED = ("aborted", "declined", "declined_offer")  # events answered with their own reply
CHOICES = "_order_choices"  # memory key: the orders one message named, "BC-1 BC-2"


class Answerer(Protocol):
    """Answers a policy/product question; ``stream`` yields text deltas and then has
    ``.answer`` (text, citations, confidence, refused) set."""

    def stream(self, question: str, *, thread_id: str | None = None) -> Any: ...


class DialogueRecord(TypedDict):
    """:meth:`DialogueState.to_dict`, the form the dialogue is checkpointed in: plain values
    whose keys name the slots, so :class:`ragkit.pii.RedactingSerializer` seals the
    identity and address slots by name, and threads saved earlier load unchanged."""

    intent: str | None
    slots: dict[str, str]
    intent_stack: list[dict[str, Any]]
    pending_confirmation: dict[str, Any] | None
    handoff: bool
    ticket_id: str | None
    customer_id: str | None
    memory: dict[str, str]
    failed_turns: int
    refused_answers: int
    language: str
    turn: int
    confirmed: bool
    last_event: str


class ReplyRecord(TypedDict, total=False):
    """One turn's reply as the assistant reads it back (``SupportAssistant._reply``)."""

    text: str
    citations: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    handoff: bool
    ticket_id: str | None
    confidence: float
    offer_human: bool  # the reply offers to pass the conversation to a person
    agent: bool  # written by a human agent after a handoff
    # how a knowledge answer was found (what the Knowledge mode's panel shows): the query it
    # was searched with, its confidence and relevance, the evidence, whether it was quoted,
    # each stage's milliseconds
    knowledge: dict[str, Any]


Route = Literal["", "empty", "guard", "act", "answer", "answered", "handoff"]


@dataclass
class SupportState:
    """The graph's state for one conversation thread (checkpointed between turns)."""

    thread_id: str = ""
    input: str = ""  # the customer's message this turn
    dialogue: DialogueRecord | None = None  # the tracked dialogue (None before the first turn)
    reply: ReplyRecord = field(default_factory=lambda: ReplyRecord())
    route: Route = ""
    handoff_reason: str = ""

    @property
    def tracked(self) -> DialogueState:
        return DialogueState.from_dict(dict(self.dialogue or {}))

    @property
    def text(self) -> str:
        """The message as the models see it (cut to ``MAX_INPUT_CHARS``)."""
        return (self.input or "")[:MAX_INPUT_CHARS]


@dataclass
class SupportDeps:
    """The runtime context of the graph: ``graph.stream(..., context=deps)``."""

    domain: Domain
    understanding: Understanding
    tools: SupportTools
    answerer: Answerer | None
    transcript: Callable[[str], list[dict[str, str]]] = lambda _tid: []
    # screens each message (ragkit.guard); None: no guardrails
    guard: Guard | None = None
    # records the guard's findings: (verdict, conversation id)
    audit: Callable[[Verdict, str], Any] = lambda _verdict, _tid: None


Update = dict[str, Any]  # a node's partial state: SupportState field names to new values


def record(state: DialogueState) -> DialogueRecord:
    return cast(DialogueRecord, state.to_dict())


def _emit(text: str) -> None:
    get_stream_writer()({"delta": text})


def _reply(text: str, dialogue: DialogueState, **kw: Any) -> ReplyRecord:
    out = ReplyRecord(text=text, citations=[], tool_calls=[], handoff=False,
                      ticket_id=dialogue.ticket_id)
    out.update(kw)  # type: ignore[typeddict-item]
    return out


def _knowledge(answer: Any, citations: list[dict[str, Any]]) -> dict[str, Any]:
    """What the side panel shows of how a knowledge answer was found (plain values)."""
    diag = dict(getattr(answer, "diagnostics", {}) or {})
    keys = ("relevance", "quoted", "evidence", "stages_ms")
    return {"standalone_question": str(getattr(answer, "standalone_question", "")),
            "confidence": float(getattr(answer, "confidence", 0.0)),
            "citations": citations, **{k: diag[k] for k in keys if k in diag}}


FOLLOW_ON_BELOW = 0.8  # an "and …?" follow-up repeats the last lookup unless the classifier
# is at least this sure it asks for something else


# -- nodes ----------------------------------------------------------------------------------
def understand(st: SupportState, runtime: Runtime[SupportDeps]) -> Update:
    deps = runtime.context
    domain = deps.domain
    text = st.text
    state = st.tracked
    if not text.strip():
        return {"route": "empty", "dialogue": record(state)}
    if deps.guard is not None:
        v = deps.guard.check_input(text)
        deps.audit(v, st.thread_id)
        if v.stops:  # an injection attempt or a blocked term: a safe reply, nothing else
            state = replace(state, language="zh" if detect_language(text) == "zh" else "en")
            if v.action != "handoff":
                return {"route": "guard", "dialogue": record(state)}
            care = R.t("guard_handoff", state.language) + " "
            _emit(care)  # a customer who may be at risk gets a person, with care first
            return {"route": "handoff", "dialogue": record(state),
                    "reply": _reply(care, state), "handoff_reason": "the customer may be at risk"}
        # masked terms are recorded, not removed: anger is what the sentiment rule reads
    pre = ST.begin_turn(state)
    turn = deps.understanding.understand(text, ST.expected_slot(pre, domain),
                                         pending=pre.pending is not None, active=pre.intent)
    last = state.top  # the frame of the previous turn, possibly finished
    base = (last.slots.get("order_id") if last else None) or state.memory.get("order_id")
    unknown_other = False  # "my other order" and no way to tell which: ask, never reuse base
    read = turn.text or text  # typos repaired: "my ohter order"
    if "order_id" not in turn.values and base and S.mentions_other(read):
        other = deps.tools.other_order(base, state.customer_id)
        if other:
            turn = replace(turn, values={**turn.values, "order_id": other}, correction=True)
        else:
            unknown_other = True
    # "return BC-291108 and BC-233467": which one is asked, never guessed (the last mention
    # used to win); "the first one" then picks from those
    named = S.listed_values(read, domain, "order_id")
    choices = state.memory.get(CHOICES, "").split()
    if len(named) > 1 and not turn.correction:
        turn = replace(turn, values={k: v for k, v in turn.values.items() if k != "order_id"})
        choices = named
    elif choices and "order_id" not in turn.values and (pick := S.ordinal(read)) is not None:
        turn = replace(turn, values={**turn.values, "order_id": choices[pick]})
    elif "order_id" in turn.values:
        choices = []
    if (turn.correction and last is not None and last.done and turn.values
            and any(k in domain.spec.intents[last.intent].slots for k in turn.values)
            and domain.spec.intents[last.intent].kind in ("lookup", "task")):
        turn = replace(turn, intent=last.intent, confidence=1.0)  # redo it with the fix
    elif (last is not None and last.done and turn.values and S.follows_on(read)
          and turn.intent != last.intent and turn.confidence < FOLLOW_ON_BELOW
          and any(k in domain.spec.intents[last.intent].slots for k in turn.values)
          and domain.spec.intents[last.intent].kind == "lookup"):
        # "and order BC-…? my email is …" after a status check, the classifier unsure
        turn = replace(turn, intent=last.intent, confidence=1.0)
    new = ST.update(state, turn, domain)
    memory = {k: v for k, v in new.memory.items() if k != CHOICES}
    if choices and not (new.top is not None and new.top.slots.get("order_id")):
        memory[CHOICES] = " ".join(choices)
    new = replace(new, memory=memory)
    if unknown_other and new.top is not None and new.top.slots.get("order_id") == base and (
            new.last_event in ("pushed", "started")
            or new.last_event.startswith("replaced:")):
        new = ST.forget(new, "order_id")
    reason = ""
    if turn.intent == "human_agent" and new.intent == "human_agent":
        reason = "customer asked for a person"
    elif ST.offers_person(new) and new.confirmed:
        reason = "customer accepted the offer of a person"
    elif negative_score(read, domain) >= domain.spec.handoff.negative_sentiment_threshold:
        reason = "strong negative sentiment"
    elif new.failed_turns >= domain.spec.handoff.max_failed_turns:
        reason = "the assistant did not understand repeatedly"
    top = new.top
    route: Route
    if reason:
        route = "handoff"
    elif top is not None and not top.done and domain.spec.intents[top.intent].kind == "question":
        route = "answer"
    else:
        route = "act"
    log.info("turn %s intent=%s conf=%.2f values=%s route=%s", new.turn, turn.intent,
             turn.confidence, sorted(turn.values), route)
    return {"route": route, "dialogue": record(new), "handoff_reason": reason}


def act(st: SupportState, runtime: Runtime[SupportDeps]) -> Update:
    deps = runtime.context
    domain, tools = deps.domain, deps.tools
    state = st.tracked
    lang = state.language
    ident = domain.spec.identity.slots
    calls: list[dict[str, Any]] = []
    prefix = ""
    top = state.top
    bound = {"_customer": state.customer_id} if state.customer_id else {}
    if st.route in ("empty", "guard"):
        text = R.t("empty" if st.route == "empty" else "guard_block", lang)
    elif top is None or state.last_event in _CLOSED:
        text = R.t(state.last_event if state.last_event in _CLOSED else "fallback", lang)
    elif top.done:
        text = R.t("declined" if state.last_event == "declined" else "fallback", lang)
    else:
        if state.last_event == "resumed":
            prefix = R.resume_prefix(top.intent, lang)
        elif (state.last_event == "pushed" and len(state.stack) > 1
              and not state.stack[-2].done and state.stack[-2].intent != top.intent):
            prefix = R.switch_prefix(top.intent, state.stack[-2].intent, lang)
        elif state.last_event.startswith("replaced:"):
            prefix = R.switch_prefix(top.intent, state.last_event.split(":", 1)[1], lang,
                                     dropped=True)
        spec = domain.spec.intents[top.intent]
        need = ST.expected_slot(state, domain)
        if spec.kind == "chitchat":
            text = spec.reply.get(lang) if spec.reply else R.t("fallback", lang)
            state = ST.finish(state)
        elif need == "order_id" and state.memory.get(CHOICES):
            text = R.t("which_order", lang, orders=R.joined(state.memory[CHOICES].split(), lang))
        elif need is not None:
            text = R.ask_slot(domain, need, lang, st.text)
        elif spec.tool in LOOKUPS:
            out = tools.lookup(spec.tool, top.slots | bound, ident)
            if out.ok:
                calls.append(out.call())
                text = (R.order_status(out, lang) if spec.tool == "lookup_order"
                        else R.refund_status(out, lang))
                state = ST.finish(state)
            else:
                text = R.refused(out, lang)
        elif spec.tool is not None:
            tool_spec = domain.spec.tools[spec.tool]
            if state.pending is not None and state.confirmed or not tool_spec.needs_confirmation:
                out = tools.execute(spec.tool, top.slots | bound, ident,
                                    thread_id=st.thread_id,
                                    transcript=[*deps.transcript(st.thread_id),
                                                {"role": "user", "content": st.input}],
                                    state=state.to_dict())
                calls.append(out.call())
                text = R.done(out, lang)
                if out.ok and out.name == "create_ticket":
                    state = replace(state, ticket_id=out.data.get("ticket_id"))
                state = ST.finish(state)
            else:
                check = tools.check(spec.tool, top.slots | bound, ident)
                if check.ok:
                    state = ST.propose(state, spec.tool, check.args)
                    text = R.confirm(domain, spec.tool, check.args, lang)
                elif check.code == "not_verified":
                    text = R.refused(check, lang)
                else:
                    text = R.refused(check, lang)
                    state = ST.finish(state)
        else:
            text = R.t("fallback", lang)
            state = ST.finish(state)
    if top is not None and state.customer_id is None and any(c["ok"] for c in calls) or (
            top is not None and state.pending is not None and state.customer_id is None):
        owner = tools.owner(top.slots)
        if owner:
            state = replace(state, customer_id=owner)
    text = prefix + text
    _emit(text)
    reply = _reply(text, state, tool_calls=calls)
    get_stream_writer()({"reply": reply})
    return {"dialogue": record(state), "reply": reply}


def answer(st: SupportState, runtime: Runtime[SupportDeps]) -> Update:
    deps = runtime.context
    domain = deps.domain
    state = st.tracked
    lang = state.language
    if deps.answerer is None:
        return {"route": "handoff", "handoff_reason": "no knowledge base to answer from"}
    stream = deps.answerer.stream(st.text, thread_id=st.thread_id or None)
    parts: list[str] = []
    for delta in stream:  # streamed live; the checked text below replaces it in the Reply
        parts.append(delta)
        _emit(delta)
    ans = stream.answer
    text = str(getattr(ans, "text", "".join(parts)))
    confidence = float(getattr(ans, "confidence", 1.0))
    policy = domain.spec.handoff
    if getattr(ans, "refused", False) or confidence < policy.min_retrieval_confidence:
        # not answered: offer a person; hand over by itself only when it keeps failing
        unanswered = state.refused_answers + 1
        state = replace(ST.finish(state), refused_answers=unanswered)
        if unanswered >= policy.max_unanswered:
            _emit("\n\n")
            return {"route": "handoff", "dialogue": record(state),
                    "handoff_reason": f"{unanswered} questions in a row went unanswered",
                    "reply": ReplyRecord(text=text + "\n\n")}
        offer = "\n\n" + R.t("offer_person", lang)
        _emit(offer)
        state = ST.propose(state, ST.OFFER_PERSON, {})
        reply = _reply(text + offer, state, confidence=confidence, offer_human=True,
                       knowledge=_knowledge(ans, []))  # why it found nothing
        get_stream_writer()({"reply": reply})
        return {"route": "answered", "dialogue": record(state), "reply": reply}
    state = replace(ST.finish(state), refused_answers=0)
    below = state.stack[-2] if len(state.stack) > 1 else None
    if below is not None and not below.done:
        # back to the task the question interrupted: its next slot, or its confirmation
        need = ST.expected_slot(replace(state, stack=state.stack[:-1]), domain)
        tool = domain.spec.intents[below.intent].tool
        follow = ""
        if need:
            follow = R.ask_slot(domain, need, lang)
        elif tool in domain.spec.tools and tool not in LOOKUPS and (
                domain.spec.tools[tool].needs_confirmation):
            bound = {"_customer": state.customer_id} if state.customer_id else {}
            check = deps.tools.check(tool, below.slots | bound, domain.spec.identity.slots)
            if check.ok:
                state = ST.propose(state, tool, check.args)
                follow = R.confirm(domain, tool, check.args, lang)
        if follow:
            follow = "\n\n" + R.resume_prefix(below.intent, lang) + follow
            _emit(follow)
            text += follow
    cites = [c.to_dict() if hasattr(c, "to_dict") else dict(c)
             for c in getattr(ans, "citations", [])]
    reply = _reply(text, state, citations=cites, confidence=confidence,
                   knowledge=_knowledge(ans, cites))
    get_stream_writer()({"reply": reply})
    return {"route": "answered", "dialogue": record(state), "reply": reply}


def handoff(st: SupportState, runtime: Runtime[SupportDeps]) -> Update:
    deps = runtime.context
    state = st.tracked
    thread_id = st.thread_id
    reason = st.handoff_reason or "handoff"
    subject = f"Handoff (turn {state.turn}): {reason}"
    ticket_id = deps.tools.find_ticket(thread_id, subject)  # resume re-runs this node
    if ticket_id is None:
        transcript = [*deps.transcript(thread_id), {"role": "user", "content": st.input}]
        bound = {"_customer": state.customer_id} if state.customer_id else {}
        ticket_id = deps.tools.ticket(subject, state.slots | state.memory | bound,
                                      thread_id=thread_id,
                                      transcript=transcript, state=state.to_dict(),
                                      priority=deps.domain.spec.handoff.ticket_priority)
    state = replace(state, handoff=True, ticket_id=ticket_id)
    text = R.t("handoff", state.language, ticket=ticket_id)
    before = st.reply.get("text", "") if st.route == "handoff" else ""
    reply = _reply(before + text, state, handoff=True, ticket_id=ticket_id)
    writer = get_stream_writer()
    writer({"delta": text})
    writer({"reply": reply, "dialogue": state.to_dict()})
    agent_text = interrupt({"ticket_id": ticket_id, "reason": reason, "thread_id": thread_id,
                            "state": state.to_dict()})
    after = replace(state, handoff=False, stack=(), pending=None, failed_turns=0,
                    refused_answers=0)
    reply = _reply(str(agent_text), after, ticket_id=ticket_id, agent=True)
    return {"dialogue": record(after), "reply": reply}


# -- building -----------------------------------------------------------------------------
def after_understand(st: SupportState) -> Literal["act", "answer", "handoff"]:
    return "handoff" if st.route == "handoff" else "answer" if st.route == "answer" else "act"


def after_answer(st: SupportState) -> str:
    return "handoff" if st.route == "handoff" else END


def build_graph(checkpointer: Any = None) -> CompiledStateGraph:
    """The compiled graph; run and resume it with ``context=SupportDeps(...)``."""
    g = StateGraph(SupportState, context_schema=SupportDeps)
    g.add_node("understand", understand)
    g.add_node("act", act)
    g.add_node("answer", answer)
    g.add_node("handoff", handoff)
    g.add_edge(START, "understand")
    g.add_conditional_edges("understand", after_understand, ["act", "answer", "handoff"])
    g.add_edge("act", END)
    g.add_conditional_edges("answer", after_answer, ["handoff", END])
    g.add_edge("handoff", END)
    return g.compile(checkpointer=checkpointer)


def iter_events(stream: Iterator[Any]) -> Iterator[dict[str, Any]]:
    """Custom-stream payloads from ``graph.stream(..., stream_mode="custom")``."""
    for item in stream:
        if isinstance(item, dict):
            yield item
