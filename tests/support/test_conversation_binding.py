"""One verified customer per conversation (issue 16, item 4), as a property of whole
conversations through the real graph (intents from the real default embedder's trained
intent model, the real tools and orders database; the generator is scripted and only
breaks ties).

Hypothesis writes conversations from messages that mix the order numbers, return numbers,
emails and phones of several customers of the sample data (lookups, actions, bare contact
details, "yes", "the other order"). Whatever the order, every tool call that succeeded in
one conversation touched the records of one customer only, and that customer is the one the
conversation was first verified as. Each conversation starts with a valid check for one
customer, so the binding is always exercised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragkit.support.db import SupportDB, build_db
from tests.support.support_helpers import open_bot, turn

pytestmark = pytest.mark.real_model

TEMPLATES = (
    "where is my order {order}? my email is {email}",
    "status of {order}, phone {phone}",
    "{email}",
    "my phone number is {phone}",
    "I want to cancel order {order}, email {email}",
    "please return {order}, it arrived broken. {email}",
    "refund status for {ret}? phone {phone}",
    "change the address of {order} to 12 Oak Street, Leeds LS1 4AB. {email}",
    "yes",
    "no, the other order",
    "and what about order {order}?",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three customers with their orders, returns and contact details."""
    path = build_db(db_path=tmp_path_factory.mktemp("db") / "store.db")
    with SupportDB(path) as db:
        rows = db._rows("SELECT c.customer_id, c.email, c.phone, o.order_id FROM customers c "
                        "JOIN orders o USING (customer_id) ORDER BY c.customer_id, o.order_id")
        people: dict[str, dict[str, Any]] = {}
        for r in rows:
            p = people.setdefault(r["customer_id"], {"email": r["email"], "phone": r["phone"],
                                                     "orders": [], "returns": []})
            p["orders"].append(r["order_id"])
        for rid, oid in db._rows("SELECT return_id, order_id FROM returns"):
            for p in people.values():
                if oid in p["orders"]:
                    p["returns"].append(rid)
    chosen = [c for c, p in people.items() if len(p["orders"]) >= 2][:2]
    chosen += [c for c in people if c not in chosen][:1]
    return {"db": path, "people": {c: people[c] for c in chosen}}


@pytest.fixture(scope="module")
def bot(tmp_path_factory, world, real_embedder):
    from tests.helpers.scripted import ScriptedGenerator

    gen = ScriptedGenerator(replies=['{"reason": "other"}'] * 1000,
                            labels=lambda m, labels: labels[0])
    tmp = tmp_path_factory.mktemp("bot")
    (tmp / "store.db").write_bytes(Path(world["db"]).read_bytes())
    b = open_bot(tmp, real_embedder, gen)
    yield b
    b.close()


def _owner(db: SupportDB, call: dict[str, Any]) -> set[str]:
    args = call.get("args") or {}
    found = set()
    if args.get("order_id"):
        o = db.get_order(args["order_id"])
        found.add(o.customer_id if o else "?")
    if args.get("return_id"):
        r = db.get_return(args["return_id"])
        o = db.get_order(r.order_id) if r else None
        found.add(o.customer_id if o else "?")
    return found


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_a_conversation_never_touches_a_second_customers_records(bot, world, data) -> None:
    people = world["people"]
    ids = list(people)
    n = data.draw(st.integers(2, 6), label="turns")
    thread = f"p{data.draw(st.integers(0, 10**9), label='thread')}"
    touched: list[str] = []
    first = data.draw(st.sampled_from(ids), label="first verified customer")
    with SupportDB(bot.db.path) as db:
        for i in range(n):
            who = people[first if i == 0 else data.draw(st.sampled_from(ids), label="customer")]
            # half the time the details match each other (a valid proof, for someone)
            whose_order = who if i == 0 or data.draw(st.booleans(), label="consistent") else \
                people[data.draw(st.sampled_from(ids), label="order owner")]
            template = TEMPLATES[0] if i == 0 else data.draw(st.sampled_from(TEMPLATES),
                                                               label="template")
            text = template.format(
                order=data.draw(st.sampled_from(whose_order["orders"])),
                ret=(data.draw(st.sampled_from(whose_order["returns"]))
                     if whose_order["returns"] else "RT-000000"),
                email=who["email"], phone=who["phone"])
            r = turn(bot, thread, text)
            for call in r.tool_calls:
                if call.get("ok") and call["name"] != "create_ticket":
                    touched += sorted(_owner(db, call))
            assert len(set(touched)) <= 1, (text, touched)
            if touched:
                assert bot.state(thread).customer_id == touched[0]
