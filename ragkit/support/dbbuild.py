"""Building the sample store's orders database from ``support/*.json`` (bundled package data,
``ragkit/data/support``; any folder of the same files works).

Owns: the SQLite schema (customers, orders, order_items, shipments, returns, refunds, tickets,
meta), the build (idempotent: a hash of the source files is stored and an unchanged source is
not rebuilt; atomic: written to a temporary file and renamed over the target), and restoring a
database file in place from a pristine copy.

Does not own: reads and writes of business data (``db.py``) or the policy rules
(``records.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import sqlite_utils

from ragkit.config import ragkit_home
from ragkit.data import support_data
from ragkit.support.records import SupportDBError

SCHEMA_VERSION = "1"
TABLES = ("customers", "orders", "order_items", "shipments", "returns", "refunds", "tickets")


def default_data_dir() -> Path:
    """The bundled sample store's orders data (package data)."""
    return support_data()


def default_db_path() -> Path:
    return ragkit_home() / "support" / "store.db"


def _source_hash(data_dir: Path) -> str:
    h = hashlib.sha256(SCHEMA_VERSION.encode())
    for name in ("meta", *TABLES):
        p = data_dir / f"{name}.json"
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _load(data_dir: Path, name: str) -> Any:
    p = data_dir / f"{name}.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SupportDBError(f"missing {p}; point data_dir at a folder with meta.json, "
                             "customers.json, orders.json, shipments.json, returns.json, "
                             "refunds.json and tickets.json") from None
    except json.JSONDecodeError as e:
        raise SupportDBError(f"{p} is not valid JSON ({e}); fix the file and rebuild") from None


def _stored_hash(db_path: Path) -> str | None:
    if not db_path.is_file():
        return None
    try:
        with sqlite3.connect(db_path) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'source_hash'").fetchone()
        return row[0] if row else None
    except sqlite3.DatabaseError:
        return None


def build_db(data_dir: Path | str | None = None, db_path: Path | str | None = None, *,
             force: bool = False) -> Path:
    """Build (or keep, when its sources are unchanged) the SQLite database; return its path."""
    src = Path(data_dir) if data_dir else default_data_dir()
    dst = Path(db_path) if db_path else default_db_path()
    digest = _source_hash(src)
    if not force and _stored_hash(dst) == digest:
        return dst
    meta = _load(src, "meta")
    rows = {name: _load(src, name) for name in TABLES if name != "order_items"}
    items = [{"order_id": o["order_id"], **it} for o in rows["orders"] for it in o["items"]]
    rows["orders"] = [{k: v for k, v in o.items() if k != "items"} for o in rows["orders"]]
    rows["order_items"] = items
    for r in rows["returns"]:
        r["skus"] = json.dumps(r["skus"])
    for t in rows["tickets"]:
        t["transcript"] = json.dumps(t.get("transcript", []), ensure_ascii=False)
        t["state"] = json.dumps(t.get("state", {}), ensure_ascii=False)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".store-", suffix=".db", dir=dst.parent)
    os.close(fd)
    try:
        db = sqlite_utils.Database(tmp)
        _create_schema(db)
        with db.conn:
            for name in TABLES:
                db[name].insert_all(rows[name])
            db["meta"].insert_all([{"key": "today", "value": meta["today"]},
                                   {"key": "source_hash", "value": digest},
                                   {"key": "schema_version", "value": SCHEMA_VERSION}])
        db.close()
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dst


def _create_schema(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("""CREATE TABLE customers (customer_id TEXT PRIMARY KEY, name TEXT NOT NULL,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE, phone TEXT NOT NULL, region TEXT NOT NULL,
        country TEXT NOT NULL, address TEXT NOT NULL, loyalty_tier TEXT NOT NULL,
        language TEXT NOT NULL)""")
    db.execute("""CREATE TABLE orders (order_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers(customer_id), status TEXT NOT NULL,
        region TEXT NOT NULL, currency TEXT NOT NULL, placed_at TEXT NOT NULL, delivered_at TEXT,
        payment_method TEXT NOT NULL, shipping_method TEXT NOT NULL,
        shipping_address TEXT NOT NULL, total REAL NOT NULL)""")
    db.execute("CREATE INDEX orders_customer ON orders(customer_id, placed_at)")
    db.execute("""CREATE TABLE order_items (order_id TEXT NOT NULL REFERENCES orders(order_id),
        line INTEGER NOT NULL, sku TEXT NOT NULL, name TEXT NOT NULL, name_zh TEXT NOT NULL,
        qty INTEGER NOT NULL, unit_price REAL NOT NULL, final_sale INTEGER NOT NULL,
        opened INTEGER NOT NULL, PRIMARY KEY (order_id, line))""")
    db.execute("""CREATE TABLE shipments (order_id TEXT PRIMARY KEY REFERENCES orders(order_id),
        carrier TEXT NOT NULL, tracking_number TEXT NOT NULL, status TEXT NOT NULL,
        shipped_at TEXT, eta TEXT, delivered_at TEXT)""")
    db.execute("""CREATE TABLE returns (return_id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL REFERENCES orders(order_id), skus TEXT NOT NULL,
        reason TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL)""")
    db.execute("""CREATE TABLE refunds (refund_id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL REFERENCES orders(order_id), return_id TEXT, amount REAL NOT NULL,
        currency TEXT NOT NULL, method TEXT NOT NULL, status TEXT NOT NULL,
        created_at TEXT NOT NULL, expected_by TEXT)""")
    db.execute("""CREATE TABLE tickets (ticket_id TEXT PRIMARY KEY, customer_id TEXT,
        order_id TEXT, thread_id TEXT, subject TEXT NOT NULL, status TEXT NOT NULL,
        priority TEXT NOT NULL, created_at TEXT NOT NULL, transcript TEXT NOT NULL,
        state TEXT NOT NULL, resolution TEXT NOT NULL DEFAULT '')""")


def restore(src: Path | str, dst: Path | str) -> None:
    """Overwrite the contents of database ``dst`` with ``src`` in place (SQLite backup API).

    Connections already open on ``dst`` (an assistant's) see the restored data on their next
    read, so an evaluation can give every dialogue a fresh copy without reopening anything.
    """
    with sqlite3.connect(src) as source, sqlite3.connect(dst, timeout=30) as target:
        source.backup(target)
    source.close()
    target.close()
