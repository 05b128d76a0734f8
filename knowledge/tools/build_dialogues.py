"""Generate the labelled dialogue set ``knowledge/eval/dialogues.jsonl`` for ``ragkit eval dst``.

Owns: the scenarios (order status, returns, refunds, cancellations, address changes, product and
policy questions, complaints, handoffs, chit-chat), their English and Chinese wordings (written
for ragkit), and the per-turn gold labels. Order ids, return ids, emails and phones are drawn
from ``knowledge/support`` so that a dialogue that expects success succeeds on that data, and
eligibility outcomes are computed with the same rules the database enforces. Deterministic:
re-running leaves git clean. Not part of the ``ragkit`` package.

Run: ``python knowledge/tools/build_dialogues.py``
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT.parent))

from dialogue_phrases import IDW, PHRASES  # noqa: E402

from ragkit.support.db import SupportDB, build_db  # noqa: E402

Turn = dict[str, Any]
IDENTITY = ("email", "phone")


def turn(user: str, intent: str | None, state: dict[str, str], *, tool: str | None = None,
         handoff: bool = False) -> Turn:
    """One gold turn; a tool's args are the top frame's slots without email/phone."""
    call = None
    if tool:
        call = {"name": tool, "args": {k: v for k, v in state.items() if k not in IDENTITY}}
    return {"user": user, "intent": intent, "state": dict(state), "handoff": handoff, "tool": call}


class Pools:
    """Orders and customers of the sample data, grouped by what a scenario needs."""

    def __init__(self, db: SupportDB, rng: random.Random) -> None:
        self.db, self.rng = db, rng
        rows = db._rows("SELECT order_id FROM orders ORDER BY order_id")
        self.orders = [db.get_order(r[0]) for r in rows]
        self.cust = {o.customer_id: db.get_customer(o.customer_id) for o in self.orders}
        self._used: dict[str, int] = {}

    def pick(self, key: str, pred: Callable[[Any], bool], lang: str | None = None) -> Any:
        cands = [o for o in self.orders if pred(o) and (
            lang is None or (self.cust[o.customer_id].language == lang))]
        if not cands:
            cands = [o for o in self.orders if pred(o)]
        if not cands:
            raise RuntimeError(f"no order for pool {key}")
        i = self._used.get(key, self.rng.randrange(len(cands)))
        self._used[key] = i + 1
        return cands[i % len(cands)]

    def returnable(self, o: Any, reason: str, ok: bool = True, code: str = "ok") -> bool:
        e = self.db.return_eligibility(o.order_id, reason)
        return e.ok if ok else (not e.ok and e.code == code)

    def two_orders(self, o: Any) -> Any | None:
        mine = self.db.orders_for_customer(o.customer_id)
        return next(x for x in mine if x.order_id != o.order_id) if len(mine) == 2 else None


def identity(p: Pools, o: Any, lang: str, rng: random.Random) -> tuple[str, str, str]:
    """(slot, normalised value, as said) for the customer of order ``o``."""
    c = p.cust[o.customer_id]
    if rng.random() < (0.6 if lang == "en" else 0.4):
        return "email", c.email.lower(), c.email
    said = c.phone if c.region != "CN" else re.sub(r"\D", "", c.phone)[2:]
    norm = ("+" if said.startswith("+") else "") + re.sub(r"\D", "", said)
    return "phone", norm, said


def say(lang: str, key: str, rng: random.Random, **kw: str) -> str:
    return rng.choice(PHRASES[lang][key]).format(**kw)


def oid_text(oid: str, rng: random.Random) -> str:
    return oid.lower() if rng.random() < 0.12 else oid


# ---------------------------------------------------------------- scenarios
def sc_status(p: Pools, lang: str, rng: random.Random, variant: str) -> tuple[list[Turn], list[str]]:
    o = p.pick("status", lambda o: True, lang)
    slot, val, said = identity(p, o, lang, rng)
    oid, T = o.order_id, []
    if variant == "one":
        s = {"order_id": oid, slot: val}
        T.append(turn(say(lang, "status_full", rng, oid=oid_text(oid, rng), ident=said, idw=IDW[lang][slot]),
                      "order_status", s, tool="lookup_order"))
        tags = ["order_status", "single_utterance"]
    else:
        if variant == "greet":
            T.append(turn(say(lang, "greeting", rng), "greeting", {}))
        T.append(turn(say(lang, "status_open", rng), "order_status", {}))
        T.append(turn(say(lang, "give_oid", rng, oid=oid_text(oid, rng)), "order_status",
                      {"order_id": oid}))
        s = {"order_id": oid, slot: val}
        T.append(turn(say(lang, "give_" + slot, rng, ident=said, idw=IDW[lang][slot]), "order_status", s,
                      tool="lookup_order"))
        tags = ["order_status", "slot_filling"] + (["greeting"] if variant == "greet" else [])
    if variant in ("correct", "other"):
        other = p.two_orders(o) if variant == "other" else None
        if variant == "other" and other is None:
            other = p.pick("status_other", lambda x: p.two_orders(x) is not None, lang)
            return sc_status_other(p, lang, rng, other)
        if other is None:
            mine = p.db.orders_for_customer(o.customer_id)
            other = next(x for x in mine if x.order_id != oid)
        s = {"order_id": other.order_id, slot: val}
        key = "the_other_order" if variant == "other" else "correct_oid"
        T.append(turn(say(lang, key, rng, oid=other.order_id), "order_status", s,
                      tool="lookup_order"))
        tags += ["correction"] + (["other_order"] if variant == "other" else [])
    T.append(turn(say(lang, "bye", rng), "goodbye", {}))
    return T, tags


def sc_status_other(p: Pools, lang: str, rng: random.Random, o: Any) -> tuple[list[Turn], list[str]]:
    slot, val, said = identity(p, o, lang, rng)
    other = p.two_orders(o)
    s = {"order_id": o.order_id, slot: val}
    T = [turn(say(lang, "status_full", rng, oid=o.order_id, ident=said, idw=IDW[lang][slot]), "order_status", s,
              tool="lookup_order")]
    s2 = {"order_id": other.order_id, slot: val}
    T.append(turn(say(lang, "the_other_order", rng, oid=""), "order_status", s2,
                  tool="lookup_order"))
    T.append(turn(say(lang, "bye", rng), "goodbye", {}))
    return T, ["order_status", "correction", "other_order"]


def _return_order(p: Pools, lang: str, reason: str, ok: bool = True, code: str = "ok") -> Any:
    return p.pick(f"ret-{reason}-{ok}-{code}", lambda o: p.returnable(o, reason, ok, code), lang)


def sc_return(p: Pools, lang: str, rng: random.Random, variant: str) -> tuple[list[Turn], list[str]]:
    reason = rng.choice(["damaged", "defective", "wrong_item", "not_as_described", "changed_mind"])
    code = {"window": "window_expired", "nonret": "non_returnable",
            "undelivered": "not_delivered"}.get(variant, "ok")
    if variant == "window":
        reason = "changed_mind"
    o = _return_order(p, lang, reason, code == "ok", code)
    slot, val, said = identity(p, o, lang, rng)
    oid, T, tags = o.order_id, [], ["return_request"]
    R = "return_request"
    if variant == "allinone":
        s = {"order_id": oid, "reason": reason, slot: val}
        T.append(turn(say(lang, "return_full", rng, oid=oid_text(oid, rng), ident=said, idw=IDW[lang][slot],
                          why=say(lang, "reason_" + reason, rng)), R, s))
        tags.append("single_utterance")
    elif variant == "product":
        it = o.items[0]
        s = {"order_id": oid, "product": it.sku, "reason": reason}
        pname = rng.choice(PHRASES[lang]["product_names"][it.sku])
        T.append(turn(say(lang, "return_product", rng, oid=oid_text(oid, rng), product=pname,
                          why=say(lang, "reason_" + reason, rng)), R, dict(s)))
        s[slot] = val
        T.append(turn(say(lang, "give_" + slot, rng, ident=said, idw=IDW[lang][slot]), R, dict(s)))
        tags.append("product")
    else:
        s: dict[str, str] = {}
        if variant == "correct_oid":
            wrong = p.pick("wrong-oid", lambda x: x.order_id != oid, lang).order_id
            T.append(turn(say(lang, "return_with_oid", rng, oid=wrong), R, {"order_id": wrong}))
            s = {"order_id": oid}
            T.append(turn(say(lang, "correct_oid", rng, oid=oid), R, dict(s)))
            tags.append("correction")
        elif variant in ("open_first", "side"):
            T.append(turn(say(lang, "return_open", rng), R, {}))
            s = {"order_id": oid}
            T.append(turn(say(lang, "give_oid", rng, oid=oid_text(oid, rng)), R, dict(s)))
        else:
            s = {"order_id": oid}
            T.append(turn(say(lang, "return_with_oid", rng, oid=oid_text(oid, rng)), R, dict(s)))
        s[slot] = val
        T.append(turn(say(lang, "give_" + slot, rng, ident=said, idw=IDW[lang][slot]), R, dict(s)))
        if variant == "side":
            q = rng.choice(PHRASES[lang]["side_policy"])
            T.append(turn(q, "policy_question", {}))
            tags.append("side_question")
        elif variant == "side_product":
            sku = o.items[0].sku
            pname = rng.choice(PHRASES[lang]["product_names"][sku])
            T.append(turn(say(lang, "side_product", rng, product=pname), "product_question",
                          {"product": sku}))
            tags.append("side_question")
        s["reason"] = reason
        T.append(turn(say(lang, "reason_" + reason, rng), R, dict(s)))
        if variant == "correct_reason":
            new = "damaged" if reason != "damaged" else "defective"
            if p.returnable(o, new):
                s["reason"] = new
                T.append(turn(say(lang, "correct_reason", rng,
                                  why=say(lang, "reason_" + new, rng)), R, dict(s)))
                tags.append("correction")
    if code != "ok":
        tags += ["eligibility_failure", code]
        T.append(turn(say(lang, "bye", rng), "goodbye", {}))
        return T, tags
    if variant == "abort":
        T.append(turn(say(lang, "abort", rng), None, {}))
        tags.append("cancel")
        return T, tags
    if variant == "deny":
        T.append(turn(say(lang, "deny", rng), R, dict(s)))  # declined: frame kept, finished
        T.append(turn(say(lang, "bye", rng), "goodbye", {}))
        tags += ["confirmation", "deny"]
        return T, tags
    T.append(turn(say(lang, "affirm", rng), R, dict(s), tool="create_return"))
    tags.append("confirmation")
    return T, tags


def sc_change(p: Pools, lang: str, rng: random.Random, kind: str,
              ok: bool) -> tuple[list[Turn], list[str]]:
    want = {"Placed", "Processing"} if ok else {"Packed", "Dispatched"}
    o = p.pick(f"{kind}-{ok}", lambda o: o.status in want, lang)
    slot, val, said = identity(p, o, lang, rng)
    oid, T = o.order_id, []
    intent = "cancel_order" if kind == "cancel" else "change_address"
    s = {"order_id": oid}
    if kind == "cancel" and rng.random() < 0.3:
        T.append(turn(say(lang, "cancel_open", rng), intent, {}))
        T.append(turn(say(lang, "give_oid", rng, oid=oid_text(oid, rng)), intent, dict(s)))
    else:
        T.append(turn(say(lang, f"{kind}_with_oid", rng, oid=oid_text(oid, rng)), intent, dict(s)))
    s[slot] = val
    T.append(turn(say(lang, "give_" + slot, rng, ident=said, idw=IDW[lang][slot]), intent, dict(s)))
    tags = [intent]
    if kind == "address":
        addr = rng.choice(PHRASES[lang]["addresses"][o.region])
        s["address"] = addr
        T.append(turn(say(lang, "give_address", rng, addr=addr), intent, dict(s)))
    if not ok:
        tags += ["eligibility_failure", o.status]
        T.append(turn(say(lang, "bye", rng), "goodbye", {}))
        return T, tags
    T.append(turn(say(lang, "affirm", rng), intent, dict(s), tool=intent))
    tags.append("confirmation")
    return T, tags


def sc_status_then_cancel(p: Pools, lang: str, rng: random.Random) -> tuple[list[Turn], list[str]]:
    o = p.pick("cancel-True", lambda o: o.status in {"Placed", "Processing"}, lang)
    slot, val, said = identity(p, o, lang, rng)
    s = {"order_id": o.order_id, slot: val}
    T = [turn(say(lang, "status_full", rng, oid=o.order_id, ident=said, idw=IDW[lang][slot]), "order_status", s,
              tool="lookup_order"),
         turn(say(lang, "cancel_it", rng), "cancel_order", dict(s)),
         turn(say(lang, "affirm", rng), "cancel_order", dict(s), tool="cancel_order")]
    return T, ["order_status", "cancel_order", "carry_over", "confirmation"]


def sc_refund(p: Pools, lang: str, rng: random.Random, by: str) -> tuple[list[Turn], list[str]]:
    rows = p.db._rows("SELECT order_id, return_id FROM refunds ORDER BY refund_id")
    if by == "return":
        rows = [r for r in rows if r["return_id"]]
    r = rows[p._used.setdefault(f"refund-{by}", rng.randrange(len(rows))) % len(rows)]
    p._used[f"refund-{by}"] += 1
    o = p.db.get_order(r["order_id"])
    slot, val, said = identity(p, o, lang, rng)
    T = []
    if by == "return":
        s = {"return_id": r["return_id"], slot: val}
        T.append(turn(say(lang, "refund_rt", rng, rt=r["return_id"], ident=said, idw=IDW[lang][slot]),
                      "refund_status", s, tool="refund_status"))
    else:
        T.append(turn(say(lang, "refund_open", rng), "refund_status", {}))
        s = {"order_id": o.order_id}
        T.append(turn(say(lang, "give_oid", rng, oid=oid_text(o.order_id, rng)),
                      "refund_status", dict(s)))
        s[slot] = val
        T.append(turn(say(lang, "give_" + slot, rng, ident=said, idw=IDW[lang][slot]), "refund_status", dict(s),
                      tool="refund_status"))
    T.append(turn(say(lang, "bye", rng), "goodbye", {}))
    return T, ["refund_status"]


def sc_question(p: Pools, lang: str, rng: random.Random, kind: str) -> tuple[list[Turn], list[str]]:
    T = []
    if rng.random() < 0.4:
        T.append(turn(say(lang, "greeting", rng), "greeting", {}))
    if kind == "product":
        sku, q = rng.choice(PHRASES[lang]["product_questions"])
        T.append(turn(q, "product_question", {"product": sku}))
    else:
        T.append(turn(rng.choice(PHRASES[lang]["policy_questions"]), "policy_question", {}))
    T.append(turn(say(lang, "bye", rng), "goodbye", {}))
    return T, [kind + "_question"]


def sc_complaint(p: Pools, lang: str, rng: random.Random, strong: bool) -> tuple[list[Turn], list[str]]:
    o = p.pick("complaint", lambda o: o.status in {"Delivered", "Dispatched"}, lang)
    if strong:
        t = say(lang, "complaint_strong", rng, oid=o.order_id)
        return [turn(t, "complaint", {"order_id": o.order_id}, handoff=True)], [
            "complaint", "handoff", "negative_sentiment"]
    s = {"order_id": o.order_id}
    T = [turn(say(lang, "complaint_mild", rng, oid=o.order_id), "complaint", s),
         turn(say(lang, "affirm", rng), "complaint", s, tool="create_ticket")]
    return T, ["complaint", "confirmation"]


def sc_human(p: Pools, lang: str, rng: random.Random, mid_task: bool) -> tuple[list[Turn], list[str]]:
    if not mid_task:
        T = []
        if rng.random() < 0.5:
            T.append(turn(say(lang, "greeting", rng), "greeting", {}))
        T.append(turn(say(lang, "human", rng), "human_agent", {}, handoff=True))
        return T, ["human_agent", "handoff"]
    o = _return_order(p, lang, "defective")
    slot, val, said = identity(p, o, lang, rng)
    s = {"order_id": o.order_id}
    T = [turn(say(lang, "return_with_oid", rng, oid=o.order_id), "return_request", dict(s))]
    s[slot] = val
    T.append(turn(say(lang, "give_" + slot, rng, ident=said, idw=IDW[lang][slot]), "return_request", dict(s)))
    T.append(turn(say(lang, "human", rng), "human_agent", dict(s), handoff=True))
    return T, ["return_request", "human_agent", "handoff", "carry_over"]


def sc_chitchat(p: Pools, lang: str, rng: random.Random) -> tuple[list[Turn], list[str]]:
    T = [turn(say(lang, "greeting", rng), "greeting", {}),
         turn(rng.choice(PHRASES[lang]["chitchat"]), "greeting", {}),
         turn(rng.choice(PHRASES[lang]["policy_questions"]), "policy_question", {}),
         turn(say(lang, "bye", rng), "goodbye", {})]
    return T, ["greeting", "chitchat", "policy_question"]


def sc_not_understood(p: Pools, lang: str, rng: random.Random) -> tuple[list[Turn], list[str]]:
    a, b, c = rng.sample(PHRASES[lang]["gibberish"], 3)
    return [turn(a, None, {}), turn(b, None, {}), turn(c, None, {}, handoff=True)], [
        "not_understood", "handoff"]


SCENARIOS: list[tuple[str, int, Callable[..., tuple[list[Turn], list[str]]], dict[str, Any]]] = [
    ("status_one", 3, sc_status, {"variant": "one"}),
    ("status_slots", 4, sc_status, {"variant": "slots"}),
    ("status_greet", 2, sc_status, {"variant": "greet"}),
    ("status_correct", 2, sc_status, {"variant": "correct"}),
    ("status_other", 2, sc_status, {"variant": "other"}),
    ("return_slots", 4, sc_return, {"variant": "plain"}),
    ("return_open", 2, sc_return, {"variant": "open_first"}),
    ("return_allinone", 3, sc_return, {"variant": "allinone"}),
    ("return_product", 2, sc_return, {"variant": "product"}),
    ("return_side", 4, sc_return, {"variant": "side"}),
    ("return_side_product", 2, sc_return, {"variant": "side_product"}),
    ("return_correct_oid", 2, sc_return, {"variant": "correct_oid"}),
    ("return_correct_reason", 2, sc_return, {"variant": "correct_reason"}),
    ("return_window", 3, sc_return, {"variant": "window"}),
    ("return_nonret", 2, sc_return, {"variant": "nonret"}),
    ("return_undelivered", 1, sc_return, {"variant": "undelivered"}),
    ("return_abort", 3, sc_return, {"variant": "abort"}),
    ("return_deny", 2, sc_return, {"variant": "deny"}),
    ("cancel_ok", 4, sc_change, {"kind": "cancel", "ok": True}),
    ("cancel_refused", 3, sc_change, {"kind": "cancel", "ok": False}),
    ("status_then_cancel", 2, sc_status_then_cancel, {}),
    ("address_ok", 4, sc_change, {"kind": "address", "ok": True}),
    ("address_refused", 2, sc_change, {"kind": "address", "ok": False}),
    ("refund_return", 3, sc_refund, {"by": "return"}),
    ("refund_order", 2, sc_refund, {"by": "order"}),
    ("product_question", 5, sc_question, {"kind": "product"}),
    ("policy_question", 5, sc_question, {"kind": "policy"}),
    ("complaint_mild", 2, sc_complaint, {"strong": False}),
    ("complaint_strong", 3, sc_complaint, {"strong": True}),
    ("human", 2, sc_human, {"mid_task": False}),
    ("human_mid_task", 1, sc_human, {"mid_task": True}),
    ("chitchat", 3, sc_chitchat, {}),
    ("not_understood", 1, sc_not_understood, {}),
]


def build(db: SupportDB) -> list[dict[str, Any]]:
    out = []
    for lang in ("en", "zh"):
        rng = random.Random(f"dialogues-{lang}")
        pools = Pools(db, rng)
        k = 0
        for name, count, fn, kw in SCENARIOS:
            for i in range(count):
                turns, tags = fn(pools, lang, rng, **kw)
                k += 1
                split = "test" if (k + (lang == "zh")) % 3 == 0 else "dev"
                out.append({"id": f"{lang}-{k:03d}", "lang": lang, "split": split,
                            "scenario": name, "tags": tags, "turns": turns})
                del i
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = SupportDB(build_db(ROOT / "support", Path(tmp) / "s.db"))
        dialogues = build(db)
        db.close()
    target = ROOT / "eval" / "dialogues.jsonl"
    with target.open("w", encoding="utf-8") as f:
        for d in dialogues:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    n_test = sum(d["split"] == "test" for d in dialogues)
    turns = sum(len(d["turns"]) for d in dialogues)
    print(f"wrote {len(dialogues)} dialogues ({n_test} test), {turns} turns -> {target}")


if __name__ == "__main__":
    main()
