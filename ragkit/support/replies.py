"""What the assistant says, in English and Chinese, for every dialogue outcome.

Owns: pure functions from a tool outcome or a dialogue event to reply text. Replies about
orders are built from the verified outcome only, so they can never mention another
customer's data. Knows nothing about the graph or the database.
"""

from __future__ import annotations

import re
from typing import Any

from ragkit.support.domain import Domain
from ragkit.support.tools import ToolOutcome

T: dict[str, tuple[str, str]] = {
    "fallback": ("Sorry, I didn't understand that. I can check an order, start a return, "
                 "change or cancel an order, check a refund, or answer policy and product "
                 "questions. What would you like to do?",
                 "抱歉，我没有理解。我可以帮您查询订单、办理退货、修改或取消订单、查询退款，"
                 "或解答政策和商品问题。请问您需要什么帮助？"),
    "empty": ("Please type your question or request.", "请输入您的问题或需求。"),
    "guard_block": ("Sorry, I can't help with that. I can check an order, start a return, "
                    "change or cancel an order, check a refund, or answer policy and product "
                    "questions.",
                    "抱歉，这个请求我无法处理。我可以帮您查询订单、办理退货、修改或取消订单、查询退款，"
                    "或解答政策和商品问题。"),
    "guard_handoff": ("I'm sorry you're going through this. You don't have to face it alone: "
                      "please talk to someone you trust, or call your local emergency number "
                      "or a crisis line now. I'm bringing in a member of our team.",
                      "听到你这样说，我很难过。你不必独自面对：请和你信任的人聊一聊，或立即拨打当地的"
                      "急救电话或心理援助热线。我这就为你转接工作人员。"),
    "which_order": ("You mentioned {orders}. Which order shall we start with? We can do the "
                    "other one after it.", "您提到了 {orders}。请问先处理哪一个订单？另一个之后再办。"),
    "aborted": ("OK, I've cancelled that request. Is there anything else I can help with?",
                "好的，已为您取消该请求。还有其他可以帮您的吗？"),
    "declined": ("OK, I won't make that change. Is there anything else I can help with?",
                 "好的，不做这项更改。还有其他可以帮您的吗？"),
    "not_verified": ("I couldn't find an order {ref} for those details, so I can't share or "
                     "change anything on it. Please check the number and the email address "
                     "or phone number on the order.",
                     "没有找到与您提供的信息相符的订单 {ref}，因此无法查看或更改。请核对订单号以及"
                     "下单时使用的邮箱或手机号。"),
    "other_customer": ("This conversation is verified for another account, so I can only "
                       "show or change that account's orders. For order {ref}, please start a "
                       "new conversation and verify with its details.",
                       "本次对话已验证为另一个账户，只能查看或更改该账户的订单。如需办理订单 {ref}，"
                       "请开启新的对话并用该订单的信息验证。"),
    "handoff": ("I've passed your conversation to a member of our team (ticket {ticket}). "
                "They will reply here as soon as possible.",
                "已为您转接人工客服（工单号 {ticket}），工作人员会尽快在这里回复您。"),
    "declined_offer": ("OK. Is there anything else I can help with?",
                       "好的。还有其他可以帮您的吗？"),
    "offer_person": ("Would you like me to pass your question to a member of our team? "
                     "Reply yes and a person will answer here.",
                     "需要为您转接人工客服吗？回复“是”即可，工作人员会在这里回复您。"),
    "resume": ("Back to your {task}: ", "继续为您办理{task}："),
    "switch": ("Sure, the {task} first; then we'll get back to your {earlier}. ",
               "好的，先为您办理{task}，之后再继续{earlier}。"),
    "switch_instead": ("OK, the {task} instead of the {earlier}. ",
                       "好的，改为办理{task}（{earlier}先不办了）。"),
    "other_order": ("Which order do you mean? Please give its number (BC-123456).",
                    "请问是哪一个订单？请提供订单号（如 BC-123456）。"),
}

TASK_NAMES = {
    "return_request": ("return", "退货"), "change_address": ("address change", "地址修改"),
    "cancel_order": ("cancellation", "取消订单"), "order_status": ("order check", "订单查询"),
    "refund_status": ("refund check", "退款查询"), "complaint": ("complaint", "投诉"),
}

STATUS_ZH = {"Placed": "已下单", "Processing": "处理中", "Packed": "已打包",
             "Dispatched": "已发货", "Delivered": "已送达", "Cancelled": "已取消",
             "Returned": "已退货"}

CONFIRM = {
    "create_return": ("Shall I start a return for order {order_id}{item} (reason: {reason})? "
                      "Please answer yes or no.",
                      "是否为订单 {order_id}{item}办理退货（原因：{reason}）？请回复“是”或“否”。"),
    "cancel_order": ("Shall I cancel order {order_id}? Please answer yes or no.",
                     "是否取消订单 {order_id}？请回复“是”或“否”。"),
    "change_address": ("Shall I change the delivery address of order {order_id} to "
                       "\"{address}\"? Please answer yes or no.",
                       "是否将订单 {order_id} 的收货地址改为“{address}”？请回复“是”或“否”。"),
    "create_ticket": ("I'm sorry about this. Shall I open a complaint ticket so our team "
                      "follows up within 24 hours? Please answer yes or no.",
                      "非常抱歉给您带来不便。是否为您创建投诉工单？我们的团队会在24小时内跟进。"
                      "请回复“是”或“否”。"),
}

DONE = {
    "create_return": ("Your return {return_id} for order {order_id} is open. A prepaid return "
                      "label will be emailed within 1 business day; please send the item back "
                      "within 14 days.",
                      "退货单 {return_id}（订单 {order_id}）已创建。退货标签将在1个工作日内发送到"
                      "您的邮箱，请在14天内寄回商品。"),
    "cancel_order": ("Order {order_id} is cancelled. The refund goes back to your original "
                     "payment method.", "订单 {order_id} 已取消，款项将原路退回。"),
    "change_address": ("Done: order {order_id} will now be delivered to \"{address}\".",
                       "已完成：订单 {order_id} 将配送至“{address}”。"),
    "create_ticket": ("I've opened ticket {ticket_id}. Our team will get back to you within "
                      "24 hours.", "已为您创建工单 {ticket_id}，我们的团队会在24小时内联系您。"),
}

REFUSED = {
    "window_expired": ("Order {order_id} is outside the return window (it ended on {end}), so "
                       "I can't start a return for that reason. Faulty items are still covered "
                       "by the warranty.",
                       "订单 {order_id} 已超过退货期限（截止 {end}），无法以该原因退货。如商品有质量问题，"
                       "仍可享受保修。"),
    "not_yet_shipped": ("Order {order_id} hasn't shipped yet, so it can't be returned, but it "
                        "can still be cancelled.", "订单 {order_id} 尚未发货，无法退货，但可以取消订单。"),
    "non_returnable": ("That item can't be returned (hygiene, safety or final sale). Faults "
                       "are covered by the warranty.", "该商品因卫生、安全或清仓原因不支持退货，"
                       "质量问题可享受保修。"),
}
# Chinese for the refusal codes whose English comes from the policy rules' own message
# (ragkit/support/records.py); a Chinese reply never carries English policy text
REFUSED_ZH = {
    "already_cancelled": "该订单已取消",
    "already_returned": "该订单已退货，或已有进行中的退货申请",
    "not_delivered": "订单尚未送达，送达后才能申请退货",
    "not_in_order": "该商品不在这个订单中",
    "already_packed": "订单已打包，无法再取消或修改地址",
    "already_dispatched": "订单已发出，无法再取消或修改地址；送达后可以申请退货",
    "delivered": "订单已送达，无法再取消或修改地址；可以申请退货",
    "not_changeable": "订单当前的状态不允许更改",
    "invalid": "提供的信息不完整或无效，请核对后重试",
}
REFUSED_GENERIC = ("Sorry, I can't do that for order {order_id}: {message}.",
                   "抱歉，订单 {order_id} 无法办理：{message}。")


def t(key: str, lang: str, **kw: Any) -> str:
    en, zh = T[key]
    return (zh if lang == "zh" else en).format(**kw)


def joined(items: list[str], lang: str) -> str:
    """"BC-1 and BC-2", "BC-1、BC-2 和 BC-3"."""
    if len(items) < 2:
        return "".join(items)
    if lang == "zh":
        return "、".join(items[:-1]) + " 和 " + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _pick(pair: tuple[str, str], lang: str, **kw: Any) -> str:
    return (pair[1] if lang == "zh" else pair[0]).format(**kw)


def reason_label(domain: Domain, reason: str, lang: str) -> str:
    spec = domain.spec.slots.get("reason")
    if spec is None or reason not in spec.values:
        return reason
    words = spec.values[reason].zh if lang == "zh" else spec.values[reason].en
    return words[0] if words else reason.replace("_", " ")


def item_name(domain: Domain, sku: str | None, lang: str) -> str:
    p = domain.product(sku) if sku else None
    if p is None:
        return ""
    names = [str(p.data.get("name_zh" if lang == "zh" else "name", p.sku))]
    return f"（{names[0]}）" if lang == "zh" else f" ({names[0]})"


def ask_slot(domain: Domain, slot: str, lang: str, message: str = "") -> str:
    """The question for ``slot``; when ``message`` holds a mistyped value (the slot's
    ``near_miss`` pattern), it first says that value was not read, instead of asking as if
    nothing had been given."""
    spec = domain.spec.slots[slot]
    ask = (spec.prompt.get(lang) if spec.prompt is not None else
           f"请提供{slot}。" if lang == "zh" else f"Please tell me the {slot.replace('_', ' ')}.")
    miss = re.search(spec.near_miss, message) if spec.near_miss and message else None
    if miss is None or (spec.pattern and re.search(spec.pattern, message)):
        return ask
    said = miss.group(0).strip()
    return (f"“{said}”的格式不对，我没能识别。{ask}" if lang == "zh" else
            f"I couldn't read “{said}”: it doesn't have the right format. {ask}")


def confirm(domain: Domain, tool: str, args: dict[str, str], lang: str) -> str:
    pair = CONFIRM.get(tool, ("Shall I go ahead? (yes/no)", "是否继续？（是/否）"))
    return _pick(pair, lang, order_id=args.get("order_id", ""), address=args.get("address", ""),
                 reason=reason_label(domain, args.get("reason", ""), lang),
                 item=item_name(domain, args.get("product"), lang))


def refused(out: ToolOutcome, lang: str) -> str:
    ref = out.args.get("order_id") or out.args.get("return_id") or ""
    if out.code in ("not_verified", "unknown_order"):
        return t("not_verified", lang, ref=ref)
    if out.code == "other_customer":
        return t("other_customer", lang, ref=ref)
    if out.code in REFUSED:
        return _pick(REFUSED[out.code], lang, order_id=ref,
                     end=out.data.get("window_ends") or "")
    message = out.data.get("message", out.code)
    if lang == "zh":
        message = REFUSED_ZH.get(out.code, "订单当前的状态不允许办理")
    return _pick(REFUSED_GENERIC, lang, order_id=ref, message=message)


def done(out: ToolOutcome, lang: str) -> str:
    if not out.ok:
        return refused(out, lang)
    return _pick(DONE[out.name], lang, **{**out.args, **out.data})


def order_status(out: ToolOutcome, lang: str) -> str:
    d = out.data
    status = d["status"]
    ship = d.get("shipment") or {}
    zh = lang == "zh"
    parts = [f"订单 {d['order_id']} 当前状态：{STATUS_ZH.get(status, status)}。" if zh else
             f"Order {d['order_id']} is {status}."]
    if ship.get("tracking_number") and status in ("Dispatched", "Delivered"):
        parts.append(f"承运商 {ship['carrier']}，运单号 {ship['tracking_number']}。" if zh else
                     f"Carrier {ship['carrier']}, tracking number {ship['tracking_number']}.")
    if status == "Dispatched" and ship.get("eta"):
        parts.append(f"预计 {ship['eta']} 送达。" if zh else f"Expected delivery: {ship['eta']}.")
    if status == "Delivered" and d.get("delivered_at"):
        parts.append(f"已于 {d['delivered_at']} 送达。" if zh else
                     f"It was delivered on {d['delivered_at']}.")
    return "".join(parts) if zh else " ".join(parts)


def refund_status(out: ToolOutcome, lang: str) -> str:
    zh = lang == "zh"
    refunds = out.data.get("refunds", [])
    ret = out.data.get("return")
    ref = out.args.get("return_id") or out.args.get("order_id", "")
    if not refunds:
        if ret:
            return (f"退货 {ret['return_id']} 当前状态：{ret['status']}，退款将在商品检验后3个工作日内处理。"
                    if zh else f"Return {ret['return_id']} is at status \"{ret['status']}\". The "
                    "refund is issued within 3 business days after we inspect the item.")
        return (f"{ref} 目前没有退款记录。" if zh else f"There is no refund on {ref} yet.")
    r = refunds[-1]
    when = r.get("expected_by") or ""
    if zh:
        return (f"{ref} 的退款 {r['amount']} {r['currency']}（{r['method']}）状态：{r['status']}"
                + (f"，预计 {when} 前到账。" if when else "。"))
    return (f"The refund of {r['amount']} {r['currency']} for {ref} ({r['method']}) is "
            f"{r['status']}" + (f"; expect it by {when}." if when else "."))


def switch_prefix(intent: str, earlier: str, lang: str, dropped: bool = False) -> str:
    """What a reply opens with when a new request is taken up while an earlier one is
    unfinished: it waits ("Sure, the refund check first; then we'll get back to your
    return.") or, for a request the domain lets replace the active one, is ``dropped`` ("OK,
    the address change instead of the order check."). Without it the question for the new
    request read as the old one asked again, or the old one vanished (both seen in walks)."""
    new, old = TASK_NAMES.get(intent), TASK_NAMES.get(earlier)
    if new is None or old is None:
        return ""
    zh = lang == "zh"
    return t("switch_instead" if dropped else "switch", lang, task=new[zh], earlier=old[zh])


def resume_prefix(intent: str, lang: str) -> str:
    en, zh = TASK_NAMES.get(intent, ("request", "请求"))
    return t("resume", lang, task=zh if lang == "zh" else en)
