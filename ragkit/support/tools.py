"""The assistant's tools over the orders database, with the ownership rule built in.

Owns: :class:`SupportTools` — identity checks (an order, return or refund is shown or changed
only for the customer it belongs to, proven by the email or phone on the account), the
lookups (order status, refund status), eligibility checks before a confirmation is asked,
the data-changing actions (return, cancel, address change) and ticket creation. Every call
returns a :class:`ToolOutcome` that holds only the caller's own data.

Does not own: the schema or the policy rules (``db.py``, ``records.py``, owned by the data
side), dialogue state, or wording (``replies.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragkit.support.db import SupportDB
from ragkit.support.records import ActionRefused, SupportDBError

LOOKUPS = ("lookup_order", "refund_status")
ACTIONS = ("create_return", "cancel_order", "change_address", "create_ticket")


@dataclass(frozen=True)
class ToolOutcome:
    name: str
    args: dict[str, str]
    ok: bool
    code: str = "ok"  # "ok", "not_verified", "other_customer", "unknown_order", or an
    # eligibility code
    data: dict[str, Any] = field(default_factory=dict)

    def call(self) -> dict[str, Any]:
        """The entry recorded in ``Reply.tool_calls`` (no customer data beyond the args)."""
        return {"name": self.name, "args": dict(self.args), "ok": self.ok, "code": self.code}


def tool_args(slots: dict[str, str], identity: tuple[str, ...]) -> dict[str, str]:
    """A frame's values minus the identity slots (identity proves, it is not an argument)."""
    return {k: v for k, v in sorted(slots.items()) if k not in identity and v}


class SupportTools:
    """Tools bound to one orders database."""

    def __init__(self, db: SupportDB) -> None:
        self.db = db

    # -- identity ------------------------------------------------------------------------
    def _record_owner(self, slots: dict[str, str]) -> str | None:
        """The one customer who owns every record the slots name (the order and the return),
        or None when a named record does not exist, none is named, or they belong to
        different customers."""
        owners: set[str] = set()
        if slots.get("order_id"):
            order = self.db.get_order(slots["order_id"])
            if order is None:
                return None
            owners.add(order.customer_id)
        if slots.get("return_id"):
            ret = self.db.get_return(slots["return_id"])
            order = self.db.get_order(ret.order_id) if ret else None
            if order is None:
                return None
            owners.add(order.customer_id)
        return owners.pop() if len(owners) == 1 else None

    def owner(self, slots: dict[str, str]) -> str | None:
        """The customer id when the given email or phone proves ownership of EVERY record the
        slots name (the order and the return alike), else None. Proving one's own order and
        naming another customer's return proves nothing."""
        customer = self._record_owner(slots)
        if customer is None:
            return None
        email, phone = slots.get("email"), slots.get("phone")
        by_email = self.db.get_customer_by_email(email) if email else None
        by_phone = self.db.get_customer_by_phone(phone) if phone else None
        proven = {c.customer_id for c in (by_email, by_phone) if c is not None}
        return customer if customer in proven else None

    def proven(self, slots: dict[str, str]) -> str | None:
        """The customer whose ownership the slots prove, when that is also the customer this
        conversation is bound to (``_customer`` in ``slots``, set after the first successful
        check): a conversation never switches to another customer's orders."""
        owner = self.owner(slots)
        bound = slots.get("_customer")
        return owner if owner is not None and (bound is None or owner == bound) else None

    def verify(self, slots: dict[str, str]) -> bool:
        return self.proven(slots) is not None

    def unproven(self, slots: dict[str, str]) -> str:
        """Why :meth:`proven` said no: "other_customer" when the details prove a customer
        other than the one this conversation is bound to (the caller showed both the order
        and its owner's email or phone, so saying so reveals nothing new), else
        "not_verified"."""
        owner = self.owner(slots)
        bound = slots.get("_customer")
        return "other_customer" if owner is not None and bound and owner != bound \
            else "not_verified"

    def _owns(self, customer: str, order_id: str | None) -> bool:
        order = self.db.get_order(order_id) if order_id else None
        return order is not None and order.customer_id == customer

    def other_order(self, order_id: str, customer: str | None) -> str | None:
        """For "no, the other order": the customer's only other order, if exactly one, and only
        when ``order_id`` belongs to ``customer``, the customer this conversation proved it is
        (an unverified caller naming someone's order must not learn that person's other
        order number)."""
        order = self.db.get_order(order_id)
        if order is None or customer is None or order.customer_id != customer:
            return None
        others = [o.order_id for o in self.db.orders_for_customer(order.customer_id)
                  if o.order_id != order.order_id]
        return others[0] if len(others) == 1 else None

    # -- lookups -------------------------------------------------------------------------
    def lookup(self, name: str, slots: dict[str, str], identity: tuple[str, ...]
               ) -> ToolOutcome:
        args = tool_args({k: v for k, v in slots.items()
                          if k in ("order_id", "return_id")}, identity)
        customer = self.proven(slots)
        if customer is None:
            return ToolOutcome(name, args, False, self.unproven(slots))
        if name == "lookup_order":
            order = self.db.get_order(slots["order_id"])
            assert order is not None and order.customer_id == customer
            data = order.to_dict()
            data["returns"] = [r.to_dict() for r in self.db.returns_for_order(order.order_id)
                               if self._owns(customer, r.order_id)]
            return ToolOutcome(name, args, True, "ok", data)
        if name == "refund_status":
            return_id = slots.get("return_id")
            if return_id:
                ret = self.db.get_return(return_id)
                refunds = self.db.refunds_for(return_id=return_id)
            else:
                order_id = slots.get("order_id") or ""
                refunds = self.db.refunds_for(order_id=order_id)
                rets = self.db.returns_for_order(order_id)
                ret = rets[-1] if rets else None
            # every record returned is checked, not only the one that proved the caller
            owned_ret = ret if ret is not None and self._owns(customer, ret.order_id) else None
            data: dict[str, Any] = {"return": owned_ret.to_dict() if owned_ret else None}
            data["refunds"] = [r.to_dict() for r in refunds if self._owns(customer, r.order_id)]
            return ToolOutcome(name, args, True, "ok", data)
        raise SupportDBError(f"unknown lookup tool {name!r}; declare it in the domain file "
                             "and implement it in SupportTools")

    # -- actions -------------------------------------------------------------------------
    def check(self, name: str, slots: dict[str, str], identity: tuple[str, ...]
              ) -> ToolOutcome:
        """Eligibility of an action before the customer is asked to confirm it."""
        args = self.action_args(name, slots, identity)
        if name == "create_ticket":
            return ToolOutcome(name, args, True)
        if not self.verify(slots):
            return ToolOutcome(name, args, False, self.unproven(slots))
        order_id = slots["order_id"]
        if name == "create_return":
            elig = self.db.return_eligibility(order_id, slots["reason"], sku=_sku(self.db, slots))
        elif name == "cancel_order":
            elig = self.db.cancel_eligibility(order_id)
        elif name == "change_address":
            elig = self.db.address_change_eligibility(order_id)
        else:
            raise SupportDBError(f"unknown action {name!r}")
        return ToolOutcome(name, args, elig.ok, elig.code, elig.to_dict())

    @staticmethod
    def action_args(name: str, slots: dict[str, str], identity: tuple[str, ...]
                    ) -> dict[str, str]:
        keep = {"create_return": ("order_id", "reason", "product"),
                "cancel_order": ("order_id",), "change_address": ("order_id", "address"),
                "create_ticket": ("order_id", "product")}.get(name, tuple(slots))
        return tool_args({k: v for k, v in slots.items() if k in keep}, identity)

    def execute(self, name: str, slots: dict[str, str], identity: tuple[str, ...], *,
                thread_id: str | None = None, transcript: list[dict[str, Any]] | None = None,
                state: dict[str, Any] | None = None) -> ToolOutcome:
        """Run a confirmed action. Ownership is checked again here, whatever the state says."""
        args = self.action_args(name, slots, identity)
        if name == "create_ticket":
            ticket = self.ticket("Complaint", slots, thread_id=thread_id,
                                 transcript=transcript or [], state=state or {})
            return ToolOutcome(name, args, True, "ok", {"ticket_id": ticket})
        if not self.verify(slots):
            return ToolOutcome(name, args, False, self.unproven(slots))
        try:
            if name == "create_return":
                ret = self.db.create_return(slots["order_id"], slots["reason"],
                                            sku=_sku(self.db, slots))
                return ToolOutcome(name, args, True, "ok", ret.to_dict())
            if name == "cancel_order":
                order = self.db.cancel_order(slots["order_id"])
                return ToolOutcome(name, args, True, "ok", {"order_id": order.order_id,
                                                            "status": order.status})
            if name == "change_address":
                order = self.db.change_address(slots["order_id"], slots["address"])
                return ToolOutcome(name, args, True, "ok", {"order_id": order.order_id,
                                                            "address": order.shipping_address})
        except ActionRefused as e:
            return ToolOutcome(name, args, False, e.code, {"message": str(e)})
        except SupportDBError as e:
            return ToolOutcome(name, args, False, "invalid", {"message": str(e)})
        raise SupportDBError(f"unknown action {name!r}")

    def ticket(self, subject: str, slots: dict[str, str], *, thread_id: str | None,
               transcript: list[dict[str, Any]], state: dict[str, Any],
               priority: str = "normal") -> str:
        """Create a ticket; the customer is linked only when the identity checks out."""
        order_id = slots.get("order_id")
        customer_id = self.proven(slots) if order_id else None
        if customer_id is None and slots.get("_customer"):  # bound by an earlier proof
            customer_id = slots["_customer"]
            order_id = order_id if self._owns(customer_id, order_id) else None
        # an email or phone claimed without a proven order links no account: anyone can
        # type another customer's address
        t = self.db.create_ticket(subject, customer_id=customer_id,
                                  order_id=order_id if customer_id else None,
                                  thread_id=thread_id, transcript=transcript, state=state,
                                  priority=priority)
        return t.ticket_id

    def find_ticket(self, thread_id: str, subject: str) -> str | None:
        """The ticket already created for this thread and subject (makes handoff idempotent)."""
        for ticket in self.db.tickets_for_thread(thread_id):
            if ticket.subject == subject:
                return ticket.ticket_id
        return None


def _sku(db: SupportDB, slots: dict[str, str]) -> str | None:
    """The product to return, only when it is part of the order (else the whole order)."""
    sku = slots.get("product")
    if not sku:
        return None
    order = db.get_order(slots["order_id"])
    return sku if order is not None and order.item(sku) is not None else None
