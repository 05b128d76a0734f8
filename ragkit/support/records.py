"""Records of the sample store's orders database and the pure eligibility rules over them.

Owns: the frozen record types that :mod:`ragkit.support.db` returns (customers, orders, items,
shipments, returns, refunds, tickets), the errors of the orders database, and the policy rules
that decide whether an order may be returned, cancelled or re-addressed (taken from
``store_facts.json``: a 30-day return window from delivery, 45 days for Gold members,
faulty items returnable after the window, hygiene/safety items not returnable, changes only
while an order is Placed or Processing). The rules are pure functions of a record and a date.

Does not own: SQLite access (``db.py``), dialogue logic, or wording shown to customers beyond a
short English explanation for logs and tickets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from ragkit.errors import RagkitError

RETURN_REASONS = ("damaged", "defective", "wrong_item", "not_as_described", "changed_mind",
                  "too_late", "other")
FAULT_REASONS = frozenset({"damaged", "defective", "wrong_item", "not_as_described"})
CHANGEABLE_STATUSES = frozenset({"Placed", "Processing"})
RETURN_WINDOW_DAYS = 30
GOLD_RETURN_WINDOW_DAYS = 45
OPEN_RETURN_STATUSES = frozenset({"Label sent", "In transit", "Received", "Inspected"})
NEVER_RETURNABLE_SKUS = frozenset({"OUT-4005"})  # gas canisters: carriers refuse them
SEALED_HYGIENE_SKUS = frozenset({"AUD-3001", "PER-5001", "PER-5002"})


class SupportDBError(RagkitError):
    """The orders database is missing, malformed, or was given an invalid request."""


class ActionRefused(SupportDBError):
    """A data-changing action is not allowed for this order; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Record:
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        return _json_safe(d)


def _json_safe(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    if isinstance(v, date):
        return v.isoformat()
    return v


@dataclass(frozen=True)
class Customer(_Record):
    customer_id: str
    name: str
    email: str
    phone: str
    region: str
    country: str
    address: str
    loyalty_tier: str
    language: str


@dataclass(frozen=True)
class OrderItem(_Record):
    line: int
    sku: str
    name: str
    name_zh: str
    qty: int
    unit_price: float
    final_sale: bool
    opened: bool


@dataclass(frozen=True)
class Shipment(_Record):
    order_id: str
    carrier: str
    tracking_number: str
    status: str
    shipped_at: date | None
    eta: date | None
    delivered_at: date | None


@dataclass(frozen=True)
class Order(_Record):
    order_id: str
    customer_id: str
    status: str
    region: str
    currency: str
    placed_at: date
    delivered_at: date | None
    payment_method: str
    shipping_method: str
    shipping_address: str
    total: float
    items: tuple[OrderItem, ...] = ()
    shipment: Shipment | None = None

    def item(self, sku: str) -> OrderItem | None:
        return next((it for it in self.items if it.sku == sku), None)


@dataclass(frozen=True)
class Return(_Record):
    return_id: str
    order_id: str
    skus: tuple[str, ...]
    reason: str
    status: str
    created_at: date


@dataclass(frozen=True)
class Refund(_Record):
    refund_id: str
    order_id: str
    return_id: str | None
    amount: float
    currency: str
    method: str
    status: str
    created_at: date
    expected_by: date | None


@dataclass(frozen=True)
class Ticket(_Record):
    ticket_id: str
    customer_id: str | None
    order_id: str | None
    thread_id: str | None
    subject: str
    status: str
    priority: str
    created_at: date
    transcript: tuple[dict[str, Any], ...] = ()
    state: dict[str, Any] = field(default_factory=dict)
    resolution: str = ""


@dataclass(frozen=True)
class Eligibility(_Record):
    ok: bool
    code: str
    message: str
    window_ends: date | None = None

    def require(self) -> None:
        """Raise :class:`ActionRefused` with this verdict's code unless the action is allowed."""
        if not self.ok:
            raise ActionRefused(self.code, self.message)


def _no(code: str, message: str, window_ends: date | None = None) -> Eligibility:
    return Eligibility(False, code, message, window_ends)


def _status_block(order: Order) -> Eligibility | None:
    if order.status == "Cancelled":
        return _no("already_cancelled", f"order {order.order_id} was cancelled")
    if order.status == "Returned":
        return _no("already_returned", f"order {order.order_id} has already been returned")
    return None


def return_window_days(tier: str) -> int:
    return GOLD_RETURN_WINDOW_DAYS if tier == "Gold" else RETURN_WINDOW_DAYS


def return_eligibility(order: Order, tier: str, reason: str, today: date, *,
                       open_returns: tuple[Return, ...] = (), sku: str | None = None,
                       ) -> Eligibility:
    """Whether ``order`` (of a customer in loyalty ``tier``) may be returned for ``reason``."""
    if reason not in RETURN_REASONS:
        raise SupportDBError(f"unknown return reason {reason!r}; use one of "
                             f"{', '.join(RETURN_REASONS)}")
    blocked = _status_block(order)
    if blocked:
        return blocked
    if order.status in CHANGEABLE_STATUSES:
        return _no("not_yet_shipped", f"order {order.order_id} has not shipped yet; it can be "
                   "cancelled instead")
    if order.status != "Delivered" or order.delivered_at is None:
        return _no("not_delivered", f"order {order.order_id} is {order.status}; a return can "
                   "start once it is delivered")
    items = order.items
    if sku is not None:
        item = order.item(sku)
        if item is None:
            return _no("not_in_order", f"{sku} is not part of order {order.order_id}")
        items = (item,)
    wanted = {it.sku for it in items}
    if any(wanted & set(r.skus) for r in open_returns if r.status in OPEN_RETURN_STATUSES):
        return _no("already_returned", f"a return is already open for order {order.order_id}")
    for it in items:
        if it.sku in NEVER_RETURNABLE_SKUS or it.final_sale or (
                it.sku in SEALED_HYGIENE_SKUS and it.opened):
            return _no("non_returnable", f"{it.name} cannot be returned (hygiene, safety or "
                       "final sale); faults are handled under the warranty")
    ends = order.delivered_at + timedelta(days=return_window_days(tier))
    if today > ends and reason not in FAULT_REASONS:
        return _no("window_expired", f"the return window for order {order.order_id} ended on "
                   f"{ends.isoformat()}", ends)
    return Eligibility(True, "ok", f"order {order.order_id} can be returned", ends)


def change_eligibility(order: Order, action: str) -> Eligibility:
    """Whether ``order`` may be cancelled (``action="cancel"``) or re-addressed ("address")."""
    blocked = _status_block(order)
    if blocked:
        return blocked
    if order.status in CHANGEABLE_STATUSES:
        return Eligibility(True, "ok", f"order {order.order_id} can still be changed")
    codes = {"Packed": "already_packed", "Dispatched": "already_dispatched",
             "Delivered": "delivered"}
    code = codes.get(order.status, "not_changeable")
    what = "cancelled" if action == "cancel" else "given a new address"
    return _no(code, f"order {order.order_id} is {order.status} and can no longer be {what}"
               + ("; it can be returned after delivery" if action == "cancel" else ""))
