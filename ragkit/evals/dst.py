"""Dialogue state tracking evaluation: the labelled dialogue set and pure scoring.

Owns: reading ``knowledge/eval/dialogues.jsonl`` (format in ``knowledge/eval/README.md``), the
normalisation of slot values for comparison, and the metrics: intent accuracy, slot
precision/recall/F1 (micro, over slot=value pairs per turn), joint goal accuracy (the whole
normalised state equal to the gold state), task success (every gold action executed on its turn
with the right arguments, and no data-changing action the gold does not have) and handoff
precision/recall (per turn); on sets that label them (the blind split), offers of a person
(``offer_human``: the reply offers one and does not hand off) and cross-customer disclosures
(``must_not_disclose``: a successful tool call on another customer's order). Scoring takes
predictions as plain :class:`PredTurn` values, so it is tested with hand-made predictions and
knows nothing about the assistant.

Does not own: running the assistant (``ragkit/evals/dst_runner.py``) or printing
(``ragkit/cli/eval_dst.py``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragkit.errors import ConfigError
from ragkit.evals.jsonl import read_jsonl

IDENTITY_SLOTS = frozenset({"email", "phone"})
ACTIONS = frozenset({"create_return", "cancel_order", "change_address", "create_ticket"})
_WS = re.compile(r"\s+")
_TRAIL = ".。,，!！;；:： "


_SCENARIO_METRICS = ("dialogues", "turns", "intent_accuracy", "joint_goal_accuracy",
                     "task_success", "handoff_recall")


@dataclass(frozen=True)
class GoldTurn:
    user: str
    intent: str | None
    state: dict[str, str]
    handoff: bool
    tool: dict[str, Any] | None
    offer_human: bool = False  # the reply must offer a person without handing off
    must_not_disclose: tuple[str, ...] = ()  # another customer's order ids


@dataclass(frozen=True)
class Dialogue:
    id: str
    lang: str
    split: str
    scenario: str
    tags: tuple[str, ...]
    turns: tuple[GoldTurn, ...]


@dataclass(frozen=True)
class PredTurn:
    """What the assistant did on one turn: state after it, handoff, executed tool calls."""

    intent: str | None
    state: dict[str, Any]
    handoff: bool = False
    tool_calls: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    seconds: float = 0.0  # wall time of the turn (not scored)
    offer_human: bool = False  # the reply offered a person


def load_dialogues(path: str | Path, *, split: str | None = None) -> list[Dialogue]:
    """Read the JSONL dialogue set; ``split`` keeps only "dev", "test" or "blind" dialogues."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no dialogue set at {p}; pass --set knowledge/eval/dialogues.jsonl")
    if split not in (None, "dev", "test", "blind", "all"):
        raise ConfigError(f"unknown split {split!r}; use dev, test, blind or all")
    def build(obj: dict[str, Any]) -> Dialogue:
        turns = tuple(GoldTurn(t["user"], t["intent"], dict(t["state"]), bool(t["handoff"]),
                               t["tool"], bool(t.get("offer_human")),
                               tuple(normalise_value("order_id", o)
                                     for o in t.get("must_not_disclose") or ()))
                      for t in obj["turns"])
        return Dialogue(obj["id"], obj["lang"], obj["split"], obj.get("scenario", ""),
                        tuple(obj.get("tags", ())), turns)

    dialogues = read_jsonl(p, build, bad="not a labelled dialogue",
                           needs="each line needs id, lang, split and turns with user, intent, "
                           "state, handoff, tool")
    return [d for d in dialogues if split in (None, "all") or d.split == split]


def normalise_value(slot: str, value: Any) -> str:
    """The comparable form of a slot value (lenient only where the format allows variants)."""
    v = str(value).strip()
    if slot in ("order_id", "return_id", "product"):
        return re.sub(r"\s", "", v).upper()
    if slot == "email":
        return v.lower()
    if slot == "phone":
        return ("+" if v.startswith("+") else "") + re.sub(r"\D", "", v)
    if slot == "reason":
        return v.lower()
    if slot == "address":
        return _WS.sub("", v).strip(_TRAIL).casefold()
    return _WS.sub(" ", v).strip(_TRAIL).casefold()


def normalise_state(state: dict[str, Any] | None) -> dict[str, str]:
    return {k: normalise_value(k, v) for k, v in (state or {}).items()
            if v not in (None, "", [], {})}


def executed_actions(pred: PredTurn) -> list[dict[str, Any]]:
    """Tool calls that count: ``ok`` not False, and no handoff ticket on a handoff turn."""
    out = []
    for call in pred.tool_calls:
        if call.get("ok", True) is False:
            continue
        if pred.handoff and call.get("name") == "create_ticket":
            continue
        out.append({"name": call.get("name"), "args": normalise_state(call.get("args"))})
    return out


def disclosed(gold: GoldTurn, pred: PredTurn) -> bool:
    """A tool call that did not fail (``ok`` not False) names one of the other customer's
    order ids: its record reached this conversation."""
    banned = set(gold.must_not_disclose)
    return bool(banned) and any(
        call.get("ok", True) is not False
        and normalise_value("order_id", (call.get("args") or {}).get("order_id", "")) in banned
        for call in pred.tool_calls)


def _tool_match(gold: dict[str, Any] | None, calls: list[dict[str, Any]]) -> bool:
    if gold is None:
        return not any(c["name"] in ACTIONS for c in calls)
    want = {"name": gold["name"], "args": normalise_state(gold.get("args"))}
    return want in calls


@dataclass
class _Counts:
    turns: int = 0
    intent_ok: int = 0
    joint_ok: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    handoff_tp: int = 0
    handoff_pred: int = 0
    handoff_gold: int = 0
    task_dialogues: int = 0
    task_ok: int = 0
    dialogues: int = 0
    wrong_action_dialogues: int = 0
    errors: int = 0
    offer_gold: int = 0
    offer_ok: int = 0
    offer_pred: int = 0
    disclosure_turns: int = 0
    disclosures: int = 0

    def metrics(self) -> dict[str, float | int | None]:
        def div(a: int, b: int) -> float | None:  # None: nothing to measure
            return round(a / b, 4) if b else None

        p, r = div(self.tp, self.tp + self.fp), div(self.tp, self.tp + self.fn)
        return {
            "dialogues": self.dialogues, "turns": self.turns,
            "intent_accuracy": div(self.intent_ok, self.turns),
            "slot_precision": p, "slot_recall": r,
            "slot_f1": round(2 * p * r / (p + r), 4) if p and r else 0.0,
            "joint_goal_accuracy": div(self.joint_ok, self.turns),
            "task_success": div(self.task_ok, self.task_dialogues),
            "task_dialogues": self.task_dialogues,
            "wrong_action_rate": div(self.wrong_action_dialogues, self.dialogues),
            "handoff_precision": div(self.handoff_tp, self.handoff_pred),
            "handoff_recall": div(self.handoff_tp, self.handoff_gold),
            "handoff_gold": self.handoff_gold, "handoff_predicted": self.handoff_pred,
            "offer_human_recall": div(self.offer_ok, self.offer_gold),
            "offer_human_gold": self.offer_gold, "offer_human_predicted": self.offer_pred,
            "cross_customer_turns": self.disclosure_turns,
            "cross_customer_disclosures": self.disclosures,
            "errors": self.errors,
        }


@dataclass
class DstReport:
    overall: dict[str, float | int | None]
    by_lang: dict[str, dict[str, float | int | None]]
    failures: list[dict[str, Any]] = field(default_factory=list)
    by_scenario: dict[str, dict[str, float | int | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score(dialogues: Sequence[Dialogue],
          predictions: Sequence[Sequence[PredTurn]]) -> DstReport:
    """Score ``predictions`` (one list of turns per dialogue, same order) against the gold."""
    if len(dialogues) != len(predictions):
        raise ValueError(f"{len(dialogues)} dialogues but {len(predictions)} predictions")
    totals: dict[str, _Counts] = defaultdict(_Counts)
    failures: list[dict[str, Any]] = []
    for d, preds in zip(dialogues, predictions, strict=True):
        buckets = (totals["all"], totals[d.lang], totals["scenario:" + d.scenario])
        missing = PredTurn(None, {}, error="no prediction (dialogue stopped)")
        preds = list(preds) + [missing] * (len(d.turns) - len(preds))
        has_task = any(g.tool for g in d.turns)
        task_ok, wrong_action = True, False
        for i, (g, p) in enumerate(zip(d.turns, preds, strict=False)):
            gs, ps = normalise_state(g.state), normalise_state(p.state)
            gset, pset = set(gs.items()), set(ps.items())
            calls = executed_actions(p)
            tool_ok = _tool_match(g.tool, calls)
            task_ok &= tool_ok
            if any(c["name"] in ACTIONS for c in calls) and not (
                    g.tool and g.tool["name"] in ACTIONS and tool_ok):
                wrong_action = True
            for c in buckets:
                c.turns += 1
                c.intent_ok += g.intent == p.intent
                c.joint_ok += gs == ps
                c.tp += len(gset & pset)
                c.fp += len(pset - gset)
                c.fn += len(gset - pset)
                c.handoff_tp += g.handoff and p.handoff
                c.handoff_pred += p.handoff
                c.handoff_gold += g.handoff
                c.errors += p.error is not None
                c.offer_gold += g.offer_human
                c.offer_ok += g.offer_human and p.offer_human and not p.handoff
                c.offer_pred += p.offer_human
                c.disclosure_turns += bool(g.must_not_disclose)
                c.disclosures += disclosed(g, p)
            problems = []
            if g.intent != p.intent:
                problems.append(f"intent {p.intent!r} != gold {g.intent!r}")
            if gs != ps:
                problems.append(f"state {ps} != gold {gs}")
            if g.handoff != p.handoff:
                problems.append(f"handoff {p.handoff} != gold {g.handoff}")
            if not tool_ok:
                problems.append(f"tools {calls} != gold {g.tool}")
            if p.error:
                problems.append(f"error: {p.error}")
            if g.offer_human and not (p.offer_human and not p.handoff):
                problems.append("no offer of a person" if not p.handoff else
                                "handed off instead of offering a person")
            if disclosed(g, p):
                problems.append("another customer's order was disclosed")
            if problems:
                failures.append({"dialogue": d.id, "turn": i, "lang": d.lang,
                                 "scenario": d.scenario, "user": g.user, "problems": problems})
        for c in buckets:
            c.dialogues += 1
            c.wrong_action_dialogues += wrong_action
            if has_task:
                c.task_dialogues += 1
                c.task_ok += task_ok and not wrong_action
    by_lang = {k: v.metrics() for k, v in sorted(totals.items())
               if k != "all" and not k.startswith("scenario:")}
    by_scenario = {k.split(":", 1)[1]: {m: v.metrics()[m] for m in _SCENARIO_METRICS}
                   for k, v in sorted(totals.items()) if k.startswith("scenario:")}
    return DstReport(totals["all"].metrics(), by_lang, failures, by_scenario)


def turn_latency(dialogues: Sequence[Dialogue], predictions: Sequence[Sequence[PredTurn]],
                 answered_from_kb: Iterable[str]) -> dict[str, Any]:
    """Median and 90th-percentile wall time per turn, apart for turns whose gold intent is
    answered from the knowledge base (they generate text) and the rest (understanding, state,
    tools, templated replies)."""
    kb = set(answered_from_kb)
    groups: dict[str, list[float]] = {"knowledge_answer": [], "other": []}
    for d, preds in zip(dialogues, predictions, strict=True):
        for g, p in zip(d.turns, preds, strict=False):
            if p.seconds > 0:
                groups["knowledge_answer" if g.intent in kb else "other"].append(p.seconds)

    def summary(xs: list[float]) -> dict[str, Any]:
        xs = sorted(xs)
        if not xs:
            return {"turns": 0}
        return {"turns": len(xs), "median_s": round(xs[len(xs) // 2], 3),
                "p90_s": round(xs[min(len(xs) - 1, int(len(xs) * 0.9))], 3)}

    return {k: summary(v) for k, v in groups.items()}


def predictions_to_jsonable(preds: Iterable[Sequence[PredTurn]]) -> list[list[dict[str, Any]]]:
    return [[asdict(p) for p in dialogue] for dialogue in preds]


def predictions_from_jsonable(rows: Iterable[Sequence[dict[str, Any]]]) -> list[list[PredTurn]]:
    """Inverse of :func:`predictions_to_jsonable` (to re-score a saved report)."""
    return [[PredTurn(r.get("intent"), dict(r.get("state") or {}), bool(r.get("handoff")),
                      tuple(r.get("tool_calls") or ()), r.get("error"),
                      float(r.get("seconds", 0.0)), bool(r.get("offer_human")))
             for r in d] for d in rows]
