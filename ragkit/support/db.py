"""The sample store's orders database: built from ``support/*.json`` (package data) into SQLite.

Owns: opening the database (built on first use by :mod:`ragkit.support.dbbuild`, whose
``build_db``, ``restore`` and default paths are re-exported here) and a small typed query
layer the support assistant's tools call. Every data-changing method runs in one
transaction and refuses, with :class:`ActionRefused`, what the policy rules in
:mod:`ragkit.support.records` forbid.

Does not own: the schema and build (``dbbuild.py``), the policy rules (``records.py``),
dialogue logic, or wording.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from ragkit.pii import private_file, scrub
from ragkit.support.dbbuild import build_db, default_data_dir, default_db_path, restore
from ragkit.support.records import (
    ActionRefused,
    Customer,
    Eligibility,
    Order,
    OrderItem,
    Refund,
    Return,
    Shipment,
    SupportDBError,
    Ticket,
    change_eligibility,
    return_eligibility,
)

_PKS = {"customers": "customer_id", "orders": "order_id", "shipments": "order_id",
        "returns": "return_id", "refunds": "refund_id", "tickets": "ticket_id"}
_WS = re.compile(r"\s+")
__all__ = ["PgSupportDB", "SupportDB", "build_db", "default_data_dir", "default_db_path",
           "open_db", "restore"]


def open_db(db_path: Path | str | None = None, *,
            data_dir: Path | str | None = None) -> SupportDB:
    """Open the orders database, building it first when it is missing or its sources changed.

    An explicit ``db_path`` that exists, given without ``data_dir``, is opened as it is (it may
    have been built from other data); the default database is kept in step with its sources.
    """
    if db_path is not None and data_dir is None and Path(db_path).is_file():
        return SupportDB(db_path)
    return SupportDB(build_db(data_dir, db_path))


def _d(v: str | None) -> date | None:
    return date.fromisoformat(v) if v else None


def _norm_id(value: str) -> str:
    return _WS.sub("", value).upper()


class SupportDB:
    """Typed reads and transactional writes over one orders database file."""

    _ORDER = "rowid"  # what orders tickets as they were made

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SupportDBError(f"no orders database at {self.path}; build it with "
                                 "ragkit.support.db.build_db()")
        self._conn = sqlite3.connect(private_file(self.path), check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'today'").fetchone()
        self.today: date = date.fromisoformat(row[0])

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SupportDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def copy_to(self, path: Path | str) -> SupportDB:
        """An independent copy of this database at ``path`` (overwritten)."""
        dst = Path(path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)
        with sqlite3.connect(dst) as out:
            self._conn.backup(out)
        out.close()
        return SupportDB(dst)

    # ---- reads
    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, tuple(args)).fetchall()

    def get_customer(self, customer_id: str) -> Customer | None:
        rows = self._rows("SELECT * FROM customers WHERE customer_id = ?", [customer_id])
        return Customer(**dict(rows[0])) if rows else None

    def get_customer_by_email(self, email: str) -> Customer | None:
        rows = self._rows("SELECT * FROM customers WHERE lower(email) = lower(?)",
                          [email.strip()])
        return Customer(**dict(rows[0])) if rows else None

    def get_customer_by_phone(self, phone: str) -> Customer | None:
        digits = re.sub(r"\D", "", phone)
        if len(digits) < 6:
            return None
        for row in self._rows("SELECT * FROM customers"):
            own = re.sub(r"\D", "", row["phone"])
            if own == digits or (len(digits) >= 8 and own.endswith(digits)):
                return Customer(**dict(row))
        return None

    def get_order(self, order_id: str) -> Order | None:
        rows = self._rows("SELECT * FROM orders WHERE order_id = ?", [_norm_id(order_id)])
        return self._order(rows[0]) if rows else None

    def _order(self, row: sqlite3.Row) -> Order:
        d = dict(row)
        items = tuple(
            OrderItem(line=r["line"], sku=r["sku"], name=r["name"], name_zh=r["name_zh"],
                      qty=r["qty"], unit_price=r["unit_price"], final_sale=bool(r["final_sale"]),
                      opened=bool(r["opened"]))
            for r in self._rows("SELECT * FROM order_items WHERE order_id = ? ORDER BY line",
                                [d["order_id"]]))
        ship = self._rows("SELECT * FROM shipments WHERE order_id = ?", [d["order_id"]])
        shipment = None
        if ship:
            s = dict(ship[0])
            shipment = Shipment(s["order_id"], s["carrier"], s["tracking_number"], s["status"],
                                _d(s["shipped_at"]), _d(s["eta"]), _d(s["delivered_at"]))
        d["placed_at"] = _d(d["placed_at"])
        d["delivered_at"] = _d(d["delivered_at"])
        return Order(**d, items=items, shipment=shipment)

    def orders_for_customer(self, customer_id: str) -> list[Order]:
        rows = self._rows("SELECT * FROM orders WHERE customer_id = ? "
                          "ORDER BY placed_at DESC, order_id DESC", [customer_id])
        return [self._order(r) for r in rows]

    def verify_customer(self, order_id: str, *, email: str | None = None,
                        phone: str | None = None) -> bool:
        order = self.get_order(order_id)
        if order is None:
            return False
        cust = (self.get_customer_by_email(email) if email else
                self.get_customer_by_phone(phone) if phone else None)
        return cust is not None and cust.customer_id == order.customer_id

    def get_shipment(self, order_id: str) -> Shipment | None:
        order = self.get_order(order_id)
        return order.shipment if order else None

    def _return(self, row: sqlite3.Row) -> Return:
        return Return(row["return_id"], row["order_id"], tuple(json.loads(row["skus"])),
                      row["reason"], row["status"], date.fromisoformat(row["created_at"]))

    def get_return(self, return_id: str) -> Return | None:
        rows = self._rows("SELECT * FROM returns WHERE return_id = ?", [_norm_id(return_id)])
        return self._return(rows[0]) if rows else None

    def returns_for_order(self, order_id: str) -> list[Return]:
        rows = self._rows("SELECT * FROM returns WHERE order_id = ? ORDER BY created_at",
                          [_norm_id(order_id)])
        return [self._return(r) for r in rows]

    def refunds_for(self, *, order_id: str | None = None,
                    return_id: str | None = None) -> list[Refund]:
        if order_id is None and return_id is None:
            raise SupportDBError("refunds_for needs order_id or return_id")
        sql, args = "SELECT * FROM refunds WHERE 1=1", []
        if order_id is not None:
            sql, args = sql + " AND order_id = ?", [*args, _norm_id(order_id)]
        if return_id is not None:
            sql, args = sql + " AND return_id = ?", [*args, _norm_id(return_id)]
        rows = self._rows(sql + " ORDER BY created_at", args)
        return [Refund(r["refund_id"], r["order_id"], r["return_id"], r["amount"],
                       r["currency"], r["method"], r["status"],
                       date.fromisoformat(r["created_at"]), _d(r["expected_by"])) for r in rows]

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        rows = self._rows("SELECT * FROM tickets WHERE ticket_id = ?", [_norm_id(ticket_id)])
        if not rows:
            return None
        d = dict(rows[0])
        d.pop("seq", None)  # the insertion order a Postgres table keeps (SQLite: rowid)
        d["created_at"] = date.fromisoformat(d["created_at"])
        d["transcript"] = tuple(json.loads(d["transcript"]))
        d["state"] = json.loads(d["state"])
        return Ticket(**d)

    def tickets_for_thread(self, thread_id: str, *, status: str | None = None) -> list[Ticket]:
        """Tickets created for a conversation thread, newest first (optionally one status)."""
        sql, args = "SELECT ticket_id FROM tickets WHERE thread_id = ?", [thread_id]
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        rows = self._rows(sql + f" ORDER BY {self._ORDER} DESC", args)
        return [t for t in (self.get_ticket(r[0]) for r in rows) if t is not None]

    def open_tickets(self) -> list[Ticket]:
        rows = self._rows(f"SELECT ticket_id FROM tickets WHERE status = 'open' "
                          f"ORDER BY {self._ORDER}")
        return [t for t in (self.get_ticket(r[0]) for r in rows) if t is not None]

    # ---- eligibility
    def _order_or_refuse(self, order_id: str) -> Order:
        order = self.get_order(order_id)
        if order is None:
            raise ActionRefused("unknown_order", f"there is no order {order_id}; check the "
                                "number (BC- followed by 6 digits)")
        return order

    def return_eligibility(self, order_id: str, reason: str, *,
                           sku: str | None = None) -> Eligibility:
        order = self.get_order(order_id)
        if order is None:
            return Eligibility(False, "unknown_order", f"there is no order {order_id}")
        cust = self.get_customer(order.customer_id)
        tier = cust.loyalty_tier if cust else "Member"
        return return_eligibility(order, tier, reason, self.today, sku=sku,
                                  open_returns=tuple(self.returns_for_order(order.order_id)))

    def cancel_eligibility(self, order_id: str) -> Eligibility:
        order = self.get_order(order_id)
        if order is None:
            return Eligibility(False, "unknown_order", f"there is no order {order_id}")
        return change_eligibility(order, "cancel")

    def address_change_eligibility(self, order_id: str) -> Eligibility:
        order = self.get_order(order_id)
        if order is None:
            return Eligibility(False, "unknown_order", f"there is no order {order_id}")
        return change_eligibility(order, "address")

    # ---- writes (one transaction each)
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    def _new_id(self, table: str, prefix: str) -> str:
        taken = {r[0] for r in self._rows(f"SELECT {_PKS[table]} FROM {table}")}
        rng = random.Random(len(taken) * 7919 + len(prefix))
        while True:
            candidate = f"{prefix}-{rng.randrange(100000, 1000000)}"
            if candidate not in taken:
                return candidate

    def create_return(self, order_id: str, reason: str, *, sku: str | None = None) -> Return:
        order = self._order_or_refuse(order_id)
        self.return_eligibility(order.order_id, reason, sku=sku).require()
        skus = [sku] if sku else [it.sku for it in order.items]
        with self._tx() as tx:
            rid = self._new_id("returns", "RT")
            tx.execute("INSERT INTO returns VALUES (?, ?, ?, ?, ?, ?)",
                       (rid, order.order_id, json.dumps(skus), reason, "Label sent",
                        self.today.isoformat()))
        ret = self.get_return(rid)
        assert ret is not None
        return ret

    def cancel_order(self, order_id: str) -> Order:
        order = self._order_or_refuse(order_id)
        change_eligibility(order, "cancel").require()
        with self._tx() as tx:
            tx.execute("UPDATE orders SET status = 'Cancelled' WHERE order_id = ?",
                       (order.order_id,))
            rid = self._new_id("refunds", "RF")
            tx.execute("INSERT INTO refunds VALUES (?, ?, NULL, ?, ?, ?, 'issued', ?, NULL)",
                       (rid, order.order_id, order.total, order.currency, order.payment_method,
                        self.today.isoformat()))
        return self._order_or_refuse(order.order_id)

    def change_address(self, order_id: str, address: str) -> Order:
        clean = _WS.sub(" ", address).strip()
        if len(clean) < 8:
            raise SupportDBError("the new address is too short; give street, number, postcode "
                                 "and city")
        order = self._order_or_refuse(order_id)
        change_eligibility(order, "address").require()
        with self._tx() as tx:
            tx.execute("UPDATE orders SET shipping_address = ? WHERE order_id = ?",
                       (clean, order.order_id))
        return self._order_or_refuse(order.order_id)

    def create_ticket(self, subject: str, *, customer_id: str | None = None,
                      order_id: str | None = None, thread_id: str | None = None,
                      transcript: Iterable[dict[str, Any]] = (),
                      state: dict[str, Any] | None = None, priority: str = "normal") -> Ticket:
        if priority not in ("low", "normal", "high"):
            raise SupportDBError(f"unknown ticket priority {priority!r}; use low, normal or high")
        with self._tx() as tx:
            tid = self._new_id("tickets", "TK")
            tx.execute("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, '')",
                       (tid, customer_id, order_id, thread_id, subject.strip() or "(no subject)",
                        priority, self.today.isoformat(),
                        # what the customer typed is stored redacted (issue 24, SECURITY.md)
                        json.dumps(scrub(list(transcript)), ensure_ascii=False),
                        json.dumps(scrub(state or {}), ensure_ascii=False)))
        ticket = self.get_ticket(tid)
        assert ticket is not None
        return ticket

    def close_ticket(self, ticket_id: str, resolution: str = "") -> Ticket:
        if self.get_ticket(ticket_id) is None:
            raise SupportDBError(f"no ticket {ticket_id}; list open ones with bot.handoffs()")
        with self._tx() as tx:
            tx.execute("UPDATE tickets SET status = 'closed', resolution = ? WHERE ticket_id = ?",
                       (resolution, _norm_id(ticket_id)))
        ticket = self.get_ticket(ticket_id)
        assert ticket is not None
        return ticket


class _Row(dict):
    """A row readable by column name and by position, like ``sqlite3.Row``."""

    def __init__(self, names: list[str], values: tuple) -> None:
        super().__init__(zip(names, values, strict=True))
        self._values = values

    def __getitem__(self, key: Any) -> Any:
        return self._values[key] if isinstance(key, int) else super().__getitem__(key)

    def __iter__(self) -> Iterator[Any]:  # unpacks into values, as sqlite3.Row does
        return iter(self._values)


def _rows_by_name_and_position(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]
    return lambda values: _Row(names, values)


class _PgTx:
    """What ``SupportDB``'s writes call inside a transaction: ``execute`` with ``?`` marks."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Iterable[Any] = ()) -> Any:
        return self._conn.execute(sql.replace("?", "%s"), tuple(args))


class PgSupportDB(SupportDB):
    """The same database in PostgreSQL, in the schema ``KBSCHEMA_orders`` beside a knowledge
    base in Postgres, so every app process on that URL sees the same orders, returns and
    tickets. Built on first use from the same sources as the SQLite file (by copying that
    build); kept afterwards, as customers' returns and tickets live there."""

    _ORDER = "seq"

    def __init__(self, url: Any, data_dir: Path | str | None = None) -> None:  # PgUrl
        import threading

        from ragkit.pgstore import connect

        self.schema = f"{url.schema}_orders"
        self.where = f"{url.shown} (schema {self.schema})"  # for messages: not a file
        self._lock = threading.RLock()
        self._conn = connect(url, vectors=False, row_factory=_rows_by_name_and_position,
                             options=f"-c search_path={self.schema}")
        with self._conn.transaction():  # one process builds it; the others find it built
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                               (f"ragkit-orders:{self.schema}",))
            if self._conn.execute("SELECT to_regclass(%s)",
                                  (f"{self.schema}.meta",)).fetchone()[0] is None:
                self._build(data_dir)
        row = self._rows("SELECT value FROM meta WHERE key = 'today'")
        self.today = date.fromisoformat(row[0][0])

    def _build(self, data_dir: Path | str | None) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ragkit-orders-") as tmp:
            src = sqlite3.connect(build_db(data_dir, Path(tmp) / "orders.sqlite"))
            try:
                tables = src.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                                     "ORDER BY rowid").fetchall()
                run = self._conn.execute
                run(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
                for name, ddl in tables:
                    ddl = re.sub(r"\bREAL\b", "DOUBLE PRECISION", ddl.replace("COLLATE NOCASE", ""))
                    if name == "tickets":  # rowid has no Postgres twin: keep the order made
                        ddl = ddl.rstrip()[:-1] + ", seq BIGSERIAL)"
                    run(ddl)
                    rows = src.execute(f"SELECT * FROM {name}").fetchall()
                    if rows:
                        marks = ", ".join(["%s"] * len(rows[0]))
                        with self._conn.cursor() as cur:
                            cur.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
            finally:
                src.close()

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql.replace("?", "%s"), tuple(args)).fetchall()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, self._conn.transaction():
            yield _PgTx(self._conn)

    def copy_to(self, path: Path | str) -> SupportDB:
        raise SupportDBError("copy_to copies an SQLite orders database; this one is in "
                             "PostgreSQL (use pg_dump for a copy)")
