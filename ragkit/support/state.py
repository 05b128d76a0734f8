"""Dialogue state and the pure functions that update it, one user turn at a time.

Owns: :class:`DialogueState` (an intent stack of frames, conversation memory, a pending
confirmation, handoff flags) and the tracker rules: finished frames pop at the start of the
next turn; a side question is pushed and the task below resumes; task intents replace the top
frame; conversation-scoped slots carry into new frames; a new value overwrites (correction);
abort pops the frame and forgets its values; yes/no settle a pending confirmation.

Every function returns a new state and never does I/O. The understanding of the utterance
comes in as a :class:`TurnInput`; the graph does lookups and actions and records them with
:func:`finish`, :func:`propose` and friends.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ragkit.support.domain import Domain


@dataclass(frozen=True)
class Frame:
    intent: str
    slots: dict[str, str] = field(default_factory=dict)
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "slots": dict(self.slots), "done": self.done}


@dataclass(frozen=True)
class Pending:
    """An action waiting for the customer's yes/no."""

    tool: str
    args: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": dict(self.args)}


@dataclass(frozen=True)
class TurnInput:
    """What the understanding step found in one utterance."""

    intent: str | None  # None: not understood
    confidence: float = 1.0
    values: dict[str, str] = field(default_factory=dict)
    affirm: bool = False
    deny: bool = False
    abort: bool = False
    correction: bool = False
    language: str = "en"  # "" when the message says nothing of it (an id, an email alone)
    question: bool = False  # phrased as a question ("...?", "吗")
    text: str = ""  # the message as the rules read it (typos of domain words repaired)


@dataclass(frozen=True)
class DialogueState:
    stack: tuple[Frame, ...] = ()
    memory: dict[str, str] = field(default_factory=dict)
    pending: Pending | None = None
    confirmed: bool = False  # the customer said yes to ``pending`` this turn
    failed_turns: int = 0
    handoff: bool = False
    ticket_id: str | None = None
    customer_id: str | None = None  # bound after the first successful identity check
    refused_answers: int = 0  # knowledge questions in a row that found no answer
    language: str = "en"
    turn: int = 0
    last_event: str = ""  # "aborted", "declined", "resumed", "pushed", ... (for wording)

    # -- views -------------------------------------------------------------------------
    @property
    def top(self) -> Frame | None:
        return self.stack[-1] if self.stack else None

    @property
    def intent(self) -> str | None:
        return self.top.intent if self.top else None

    @property
    def slots(self) -> dict[str, str]:
        return dict(self.top.slots) if self.top else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "slots": self.slots,
            "intent_stack": [f.to_dict() for f in self.stack],
            "pending_confirmation": self.pending.to_dict() if self.pending else None,
            "handoff": self.handoff,
            "ticket_id": self.ticket_id,
            "customer_id": self.customer_id,
            "memory": dict(self.memory),
            "failed_turns": self.failed_turns,
            "refused_answers": self.refused_answers,
            "language": self.language,
            "turn": self.turn,
            "confirmed": self.confirmed,
            "last_event": self.last_event,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DialogueState:
        stack = tuple(Frame(f["intent"], dict(f["slots"]), bool(f.get("done")))
                      for f in d.get("intent_stack", ()))
        p = d.get("pending_confirmation")
        return cls(stack=stack, memory=dict(d.get("memory", {})),
                   pending=Pending(p["tool"], dict(p["args"])) if p else None,
                   failed_turns=int(d.get("failed_turns", 0)), handoff=bool(d.get("handoff")),
                   refused_answers=int(d.get("refused_answers", 0)),
                   ticket_id=d.get("ticket_id"), customer_id=d.get("customer_id"),
                   language=d.get("language", "en"),
                   turn=int(d.get("turn", 0)), confirmed=bool(d.get("confirmed")),
                   last_event=str(d.get("last_event", "")))


OFFER_PERSON = "_offer_person"  # the pending "shall I pass you to a person?" (no tool runs)


def offers_person(state: DialogueState) -> bool:
    return state.pending is not None and state.pending.tool == OFFER_PERSON


# -- small pure operations -------------------------------------------------------------------
def _with_top(state: DialogueState, frame: Frame) -> DialogueState:
    return replace(state, stack=(*state.stack[:-1], frame))


def new_frame(state: DialogueState, intent: str, domain: Domain) -> Frame:
    """A frame for ``intent`` seeded with the conversation-scoped values it declares."""
    spec = domain.spec.intents[intent]
    seeded = {s: state.memory[s] for s in spec.slots
              if s in state.memory and domain.spec.slots[s].scope == "conversation"}
    return Frame(intent, seeded)


def push(state: DialogueState, intent: str, domain: Domain) -> DialogueState:
    return replace(state, stack=(*state.stack, new_frame(state, intent, domain)),
                   last_event="pushed")


def replace_top(state: DialogueState, intent: str, domain: Domain) -> DialogueState:
    """``intent`` in place of the active frame; ``last_event`` is "replaced:<intent>" when
    that frame was another request still unfinished (the reply then says it was dropped)."""
    base = state.stack[:-1] if state.stack else ()
    old = state.top
    event = (f"replaced:{old.intent}" if old is not None and not old.done
             and old.intent != intent else "started")
    return replace(state, stack=(*base, new_frame(state, intent, domain)), pending=None,
                   last_event=event)


def fill(state: DialogueState, values: dict[str, str], domain: Domain) -> DialogueState:
    """Write values into memory (conversation scope) and the top frame (declared slots)."""
    if not values:
        return state
    memory = dict(state.memory)
    for k, v in values.items():
        if domain.spec.slots[k].scope == "conversation":
            memory[k] = v
    state = replace(state, memory=memory)
    top = state.top
    if top is None:
        return state
    declared = domain.spec.intents[top.intent].slots
    new = {**top.slots, **{k: v for k, v in values.items() if k in declared}}
    if new == top.slots:
        return state
    changed = any(top.slots.get(k) not in (None, v) for k, v in new.items())
    state = _with_top(state, replace(top, slots=new))
    if changed and state.pending is not None:
        state = replace(state, pending=None)  # a corrected value needs a new confirmation
    return state


def pop(state: DialogueState) -> DialogueState:
    return replace(state, stack=state.stack[:-1], pending=None)


def abort(state: DialogueState, domain: Domain) -> DialogueState:
    """Drop the top frame and forget its values (the customer's identity is kept)."""
    top = state.top
    if top is None:
        return replace(state, pending=None, last_event="aborted")
    keep = set(domain.spec.identity.slots)
    memory = {k: v for k, v in state.memory.items()
              if k in keep or top.slots.get(k) != v}
    return replace(pop(state), memory=memory, last_event="aborted")


def forget(state: DialogueState, slot: str) -> DialogueState:
    """Drop ``slot`` from the top frame and the conversation memory ("my *other* order":
    the order carried so far is not the one meant, so it is asked for)."""
    top = state.top
    memory = {k: v for k, v in state.memory.items() if k != slot}
    if top is None:
        return replace(state, memory=memory)
    slots = {k: v for k, v in top.slots.items() if k != slot}
    return replace(_with_top(state, replace(top, slots=slots)), memory=memory)


def finish(state: DialogueState) -> DialogueState:
    """Mark the top frame done: it stays visible for this turn and pops at the next one."""
    top = state.top
    if top is None or top.done:
        return replace(state, pending=None, confirmed=False)
    return replace(_with_top(state, replace(top, done=True)), pending=None, confirmed=False)


def propose(state: DialogueState, tool: str, args: dict[str, str]) -> DialogueState:
    return replace(state, pending=Pending(tool, dict(args)), confirmed=False)


def begin_turn(state: DialogueState) -> DialogueState:
    """Pop finished frames; a frame underneath becomes active again ("resumed")."""
    stack = list(state.stack)
    popped = False
    while stack and stack[-1].done:
        stack.pop()
        popped = True
    event = "resumed" if popped and stack else ""
    return replace(state, stack=tuple(stack), turn=state.turn + 1, confirmed=False,
                   last_event=event)


def missing(frame: Frame, domain: Domain) -> list[str]:
    """Required slots (first of each any-of group) the frame still lacks."""
    spec = domain.spec.intents[frame.intent]
    return [group[0] for group in spec.required_groups()
            if not any(frame.slots.get(s) for s in group)]


def expected_slot(state: DialogueState, domain: Domain) -> str | None:
    """The slot the assistant is waiting for on the active frame, if any."""
    top = state.top
    if top is None or top.done:
        return None
    need = missing(top, domain)
    if need:
        return need[0]
    tool = domain.spec.intents[top.intent].tool
    ident = domain.spec.identity.slots
    if domain.spec.needs_identity(tool) and not any(top.slots.get(s) for s in ident):
        return ident[0] if ident else None
    return None


def expected_group(state: DialogueState, domain: Domain) -> set[str]:
    """The expected slot together with its alternatives (email or phone; order or return id)."""
    exp = expected_slot(state, domain)
    if exp is None or state.top is None:
        return set()
    if exp in domain.spec.identity.slots:
        return set(domain.spec.identity.slots)
    for group in domain.spec.intents[state.top.intent].required_groups():
        if exp in group:
            return set(group)
    return {exp}


# -- the tracker ---------------------------------------------------------------------------
def _continues(state: DialogueState, turn: TurnInput, domain: Domain) -> bool:
    """Does this utterance answer the active frame rather than start something new?"""
    top = state.top
    if top is None or top.done:
        return False
    if turn.intent == top.intent:
        return True
    declared = domain.spec.intents[top.intent].slots
    useful = [k for k in turn.values if k in declared]
    if not useful:
        return False
    new_kind = domain.spec.intents[turn.intent].kind if turn.intent else None
    if turn.correction or expected_group(state, domain) & set(useful):
        if new_kind == "handoff":  # "phone 138..." is an answer, not a request for a person
            return turn.confidence < 0.8
        return not (new_kind == "question" and turn.question)
    ident = set(domain.spec.identity.slots)
    if set(useful) <= ident and domain.spec.needs_identity(domain.spec.intents[top.intent].tool):
        return new_kind not in ("handoff", "question")  # e.g. a second try after a mismatch
    lacking = [k for k in useful if not top.slots.get(k)]
    if lacking and new_kind not in ("task", "handoff", "question"):
        return True
    return bool(lacking) and turn.confidence < 0.8


def update(state: DialogueState, turn: TurnInput, domain: Domain) -> DialogueState:
    """Apply one understood utterance to the state (the tracker's single entry point)."""
    state = begin_turn(state)
    state = replace(state, language=turn.language or state.language)
    if offers_person(state):
        # only a bare yes/no answers the offer of a person; anything else moves on
        if turn.affirm and not turn.values:
            return replace(state, confirmed=True, failed_turns=0)
        if (turn.deny or turn.abort) and not turn.values:
            return replace(state, pending=None, refused_answers=0, failed_turns=0,
                           last_event="declined_offer")
        state = replace(state, pending=None)
    if state.pending is not None:
        if turn.values and (turn.correction or not turn.affirm):
            return fill(replace(state, failed_turns=0), turn.values, domain)
        if turn.affirm:  # the yes finishes what was proposed: no "back to your return"
            return replace(state, confirmed=True, failed_turns=0, last_event="")
        if turn.deny:  # a plain "no": nothing is executed; the frame is finished as it is
            return replace(finish(state), failed_turns=0, last_event="declined")
        state = replace(state, pending=None)
    if turn.abort and not turn.values:
        return replace(abort(state, domain), failed_turns=0)
    if _continues(state, turn, domain):
        return fill(replace(state, failed_turns=0), turn.values, domain)
    if turn.intent is None:
        if turn.values and state.top is not None and not state.top.done:
            return fill(replace(state, failed_turns=0), turn.values, domain)
        return replace(fill(state, turn.values, domain), failed_turns=state.failed_turns + 1)
    spec = domain.spec.intents[turn.intent]
    top = state.top
    if top is not None and spec.stack == "replace" and top.intent != turn.intent:
        state = replace_top(state, turn.intent, domain)
    else:
        state = push(state, turn.intent, domain)
    return fill(replace(state, failed_turns=0), turn.values, domain)
