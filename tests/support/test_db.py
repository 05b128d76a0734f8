"""The orders database built from knowledge/support: build, queries, rules, transactions."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from ragkit.errors import RagkitError
from ragkit.support.db import (
    PgSupportDB,
    SupportDB,
    build_db,
    default_data_dir,
    open_db,
    restore,
)
from ragkit.support.records import ActionRefused, SupportDBError

FACTS = json.loads((default_data_dir().parent / "store_facts.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_db(db_path=tmp_path_factory.mktemp("db") / "store.db")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, pristine: Path, tmp_path: Path):
    """The same orders database as an SQLite file and in PostgreSQL (a real server, a
    schema of its own): every test below runs on both."""
    if request.param == "postgres":
        from ragkit.pgstore import PgUrl

        with PgSupportDB(PgUrl.parse(request.getfixturevalue("pg_url"))) as d:
            yield d
        return
    shutil.copyfile(pristine, tmp_path / "s.db")
    with SupportDB(tmp_path / "s.db") as d:
        yield d


def _first(db: SupportDB, sql: str) -> str:
    return db._rows(sql)[0][0]


def test_sample_data_covers_what_the_store_promises(db: SupportDB) -> None:
    statuses = {r[0] for r in db._rows("SELECT DISTINCT status FROM orders")}
    assert statuses == set(FACTS["order_statuses"])
    assert len(db._rows("SELECT * FROM customers")) >= 30
    assert len(db._rows("SELECT * FROM orders")) >= 80
    skus = {p["sku"] for p in FACTS["products"]}
    assert {r[0] for r in db._rows("SELECT sku FROM order_items")} <= skus
    assert {r[0] for r in db._rows("SELECT region FROM customers")} == {"EU", "UK", "US", "CN"}
    for (oid,) in db._rows("SELECT order_id FROM orders"):
        assert len(oid) == 9 and oid.startswith("BC-") and oid[3:].isdigit()
    for (rid,) in db._rows("SELECT return_id FROM returns"):
        assert rid.startswith("RT-") and rid[3:].isdigit() and len(rid) == 9
    assert db.today == date(2026, 10, 12)


def test_build_is_idempotent_and_rebuilds_when_sources_change(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(default_data_dir(), data)
    target = tmp_path / "s.db"
    build_db(data, target)
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE orders SET status = 'Placed'")  # a local change...
    build_db(data, target)  # ...survives: sources unchanged, nothing rebuilt
    with SupportDB(target) as d:
        assert {r[0] for r in d._rows("SELECT DISTINCT status FROM orders")} == {"Placed"}
    customers = json.loads((data / "customers.json").read_text(encoding="utf-8"))
    customers[0]["name"] = "Renamed Person"
    (data / "customers.json").write_text(json.dumps(customers), encoding="utf-8")
    build_db(data, target)
    with SupportDB(target) as d:
        assert d.get_customer("CU-0001").name == "Renamed Person"
        assert len({r[0] for r in d._rows("SELECT DISTINCT status FROM orders")}) == 7


def test_a_failed_build_leaves_the_old_database_and_no_temp_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(default_data_dir(), data)
    target = build_db(data, tmp_path / "s.db")
    before = target.read_bytes()
    orders = json.loads((data / "orders.json").read_text(encoding="utf-8"))
    orders.append(dict(orders[0]))  # duplicate primary key -> the insert fails
    (data / "orders.json").write_text(json.dumps(orders), encoding="utf-8")
    with pytest.raises(sqlite3.IntegrityError):
        build_db(data, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".store-")] == []


def test_missing_or_broken_source_files_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SupportDBError, match="meta.json"):
        build_db(tmp_path, tmp_path / "s.db")
    shutil.copytree(default_data_dir(), tmp_path / "d")
    (tmp_path / "d" / "returns.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(RagkitError, match="returns.json is not valid JSON"):
        build_db(tmp_path / "d", tmp_path / "s.db")


def test_lookups_normalise_ids_and_contact_details(db: SupportDB) -> None:
    cust = db.get_customer_by_email("ANNA.DEVRIES@example.nl ")
    assert cust is not None and cust.customer_id == "CU-0001"
    assert db.get_customer_by_phone("+31 (6) 1234-5601") == cust
    assert db.get_customer_by_phone("13800130118").name == "王芳"
    assert db.get_customer_by_phone("12") is None
    orders = db.orders_for_customer(cust.customer_id)
    assert orders and [o.placed_at for o in orders] == sorted(
        (o.placed_at for o in orders), reverse=True)
    oid = orders[0].order_id
    assert db.get_order(oid.lower()).order_id == oid
    assert db.verify_customer(oid, email=cust.email)
    assert not db.verify_customer(oid, email="lukas.becker@example.de")
    assert db.get_order("BC-000000") is None
    order = db.get_order(oid)
    assert order.items and json.dumps(order.to_dict())  # JSON-safe


def _order(db: SupportDB, where: str) -> str:
    return _first(db, f"SELECT o.order_id FROM orders o JOIN customers c USING (customer_id) "
                      f"WHERE {where} ORDER BY o.order_id")


def test_return_window_uses_the_data_today_and_the_gold_tier(db: SupportDB) -> None:
    fresh = _order(db, f"o.status = 'Delivered' AND o.delivered_at >= "
                       f"'{db.today - timedelta(days=10)}' AND o.order_id NOT IN "
                       "(SELECT order_id FROM returns) AND o.order_id IN (SELECT order_id FROM "
                       "order_items WHERE sku NOT IN ('AUD-3001','PER-5001','PER-5002','OUT-4005'))")
    assert db.return_eligibility(fresh, "changed_mind").ok
    lo, hi = db.today - timedelta(days=44), db.today - timedelta(days=31)
    between = (f"o.status = 'Delivered' AND o.delivered_at BETWEEN '{lo}' AND '{hi}' AND "
               "o.order_id NOT IN (SELECT order_id FROM returns)")
    member = _order(db, between + " AND c.loyalty_tier != 'Gold'")
    gold = _order(db, between + " AND c.loyalty_tier = 'Gold'")
    assert db.return_eligibility(member, "changed_mind").code == "window_expired"
    assert db.return_eligibility(member, "defective").ok  # faults: statutory rights
    assert db.return_eligibility(gold, "changed_mind").ok  # 45 days for Gold members
    with pytest.raises(SupportDBError, match="unknown return reason"):
        db.return_eligibility(fresh, "bored")


def test_hygiene_items_and_undelivered_orders_cannot_be_returned(db: SupportDB) -> None:
    opened = _first(db, "SELECT order_id FROM order_items WHERE opened = 1")
    assert db.return_eligibility(opened, "damaged").code == "non_returnable"
    dispatched = _order(db, "o.status = 'Dispatched'")
    assert db.return_eligibility(dispatched, "damaged").code == "not_delivered"
    placed = _order(db, "o.status = 'Placed'")
    assert db.return_eligibility(placed, "changed_mind").code == "not_yet_shipped"
    returned = _order(db, "o.status = 'Returned'")
    assert db.return_eligibility(returned, "changed_mind").code == "already_returned"


def test_create_return_writes_one_return_and_blocks_a_second(db: SupportDB) -> None:
    oid = _order(db, f"o.status = 'Delivered' AND o.delivered_at >= '{db.today - timedelta(days=8)}'"
                     " AND o.order_id NOT IN (SELECT order_id FROM returns) AND o.order_id NOT IN "
                     "(SELECT order_id FROM order_items WHERE opened = 1)")
    ret = db.create_return(oid, "damaged")
    assert ret.return_id.startswith("RT-") and ret.status == "Label sent"
    assert db.get_return(ret.return_id) == ret
    assert db.returns_for_order(oid) == [ret]
    with pytest.raises(ActionRefused) as err:
        db.create_return(oid, "damaged")
    assert err.value.code == "already_returned"
    assert len(db.returns_for_order(oid)) == 1


def test_cancel_and_address_change_follow_the_order_status(db: SupportDB) -> None:
    placed = _order(db, "o.status = 'Placed'")
    packed = _order(db, "o.status = 'Packed'")
    order = db.change_address(placed, "  45 King   Street,\nLeeds LS1 2HL ")
    assert order.shipping_address == "45 King Street, Leeds LS1 2HL"
    cancelled = db.cancel_order(placed)
    assert cancelled.status == "Cancelled"
    assert [r.amount for r in db.refunds_for(order_id=placed)] == [cancelled.total]
    for action in (lambda: db.cancel_order(packed),
                   lambda: db.change_address(packed, "9 Queen's Road, Brighton")):
        with pytest.raises(ActionRefused) as err:
            action()
        assert err.value.code == "already_packed"
    assert db.get_order(packed).status == "Packed"
    with pytest.raises(ActionRefused, match="already_cancelled|was cancelled"):
        db.cancel_order(placed)
    with pytest.raises(ActionRefused) as err:
        db.cancel_order("BC-000000")
    assert err.value.code == "unknown_order"


def test_a_failing_write_rolls_back_the_whole_transaction(db: SupportDB) -> None:
    placed = _order(db, "o.status = 'Processing'")
    if isinstance(db, PgSupportDB):
        import psycopg

        db._conn.execute("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN RAISE EXCEPTION 'refund store offline'; END $$")
        db._conn.execute("CREATE TRIGGER boom BEFORE INSERT ON refunds "
                         "FOR EACH ROW EXECUTE FUNCTION boom()")
        error: type[Exception] = psycopg.errors.RaiseException
    else:
        db._conn.execute("CREATE TRIGGER boom BEFORE INSERT ON refunds "
                         "BEGIN SELECT RAISE(ABORT, 'refund store offline'); END")
        error = sqlite3.IntegrityError
    with pytest.raises(error, match="refund store offline"):
        db.cancel_order(placed)
    assert db.get_order(placed).status == "Processing"  # the status update was rolled back


def test_tickets_round_trip_and_close(db: SupportDB) -> None:
    t = db.create_ticket("Kettle leaks", customer_id="CU-0002", thread_id="th-1",
                         transcript=[{"role": "user", "text": "它漏水了"}],
                         state={"intent": "complaint"}, priority="high")
    assert t.ticket_id.startswith("TK-") and t.status == "open"
    assert t.transcript[0]["text"] == "它漏水了" and t.state == {"intent": "complaint"}
    assert db.tickets_for_thread("th-1") == [t]
    assert t in db.open_tickets()
    closed = db.close_ticket(t.ticket_id, "replaced")
    assert closed.status == "closed" and closed.resolution == "replaced"
    assert db.tickets_for_thread("th-1", status="open") == []
    with pytest.raises(SupportDBError, match="priority"):
        db.create_ticket("x", priority="urgent")


def test_restore_resets_data_under_an_open_connection(pristine: Path, tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    shutil.copyfile(pristine, live)
    with SupportDB(live) as d:
        placed = _order(d, "o.status = 'Placed'")
        d.cancel_order(placed)
        restore(pristine, live)
        assert d.get_order(placed).status == "Placed"
        copy = d.copy_to(tmp_path / "copy.db")
        copy.cancel_order(placed)
        assert d.get_order(placed).status == "Placed"
        copy.close()


def test_open_db_builds_on_first_use(tmp_path: Path) -> None:
    with open_db(tmp_path / "nested" / "store.db") as d:
        assert d.get_customer("CU-0030") is not None
    with pytest.raises(SupportDBError, match="build_db"):
        SupportDB(tmp_path / "absent.db")
