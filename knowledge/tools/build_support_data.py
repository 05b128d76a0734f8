"""Generate the sample business data in ``knowledge/support/`` (customers, orders, shipments,
returns, refunds, tickets) from a fixed seed and ``knowledge/store_facts.json``.

Owns: the invented Brightcart customers and their orders, so that the orders database and the
labelled dialogues (``knowledge/tools/build_dialogues.py``) agree. Every person, address, phone
number and id is invented. Dates are relative to the fixed ``today`` in ``meta.json``, which
makes return windows and other eligibility rules deterministic. Output is deterministic:
re-running leaves git clean. Not part of the ``ragkit`` package.

Run: ``python knowledge/tools/build_support_data.py``
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "support"
TODAY = date(2026, 10, 12)

# (name, email, phone, region, country, address, tier, language)
CUSTOMERS = [
    ("Anna de Vries", "anna.devries@example.nl", "+31 6 1234 5601", "EU", "NL",
     "Keizersgracht 112, 1015 CW Amsterdam, Netherlands", "Gold", "en"),
    ("Lukas Becker", "lukas.becker@example.de", "+49 151 2345 6602", "EU", "DE",
     "Bergmannstraße 5, 10961 Berlin, Germany", "Member", "en"),
    ("Camille Laurent", "camille.laurent@example.fr", "+33 6 12 34 56 03", "EU", "FR",
     "14 rue des Martyrs, 75009 Paris, France", "Silver", "en"),
    ("Marco Rossi", "marco.rossi@example.it", "+39 347 123 4604", "EU", "IT",
     "Via Roma 21, 40121 Bologna, Italy", "Member", "en"),
    ("Lucía Fernández", "lucia.fernandez@example.es", "+34 612 345 605", "EU", "ES",
     "Calle de Alcalá 88, 28009 Madrid, Spain", "Member", "en"),
    ("Sven Jansen", "sven.jansen@example.nl", "+31 6 2345 6706", "EU", "NL",
     "Oudegracht 45, 3511 AB Utrecht, Netherlands", "Member", "en"),
    ("Oliver Hughes", "oliver.hughes@example.co.uk", "+44 7700 900107", "UK", "GB",
     "22 Mill Lane, Cambridge CB2 1RX, United Kingdom", "Silver", "en"),
    ("Amelia Clarke", "amelia.clarke@example.co.uk", "+44 7700 900208", "UK", "GB",
     "7 Rose Street, Edinburgh EH2 2PR, United Kingdom", "Member", "en"),
    ("Harry Patel", "harry.patel@example.co.uk", "+44 7700 900309", "UK", "GB",
     "151 Deansgate, Manchester M3 3WR, United Kingdom", "Gold", "en"),
    ("Grace O'Neill", "grace.oneill@example.co.uk", "+44 7700 900410", "UK", "GB",
     "3 Castle Street, Bristol BS1 3XX, United Kingdom", "Member", "en"),
    ("Thomas Wright", "thomas.wright@example.co.uk", "+44 7700 900511", "UK", "GB",
     "60 High Street, Oxford OX1 4AS, United Kingdom", "Member", "en"),
    ("Emily Johnson", "emily.johnson@example.com", "+1 415 555 0112", "US", "US",
     "1450 Market Street, Apt 3B, San Francisco, CA 94103, USA", "Gold", "en"),
    ("Michael Brown", "michael.brown@example.com", "+1 312 555 0113", "US", "US",
     "233 North Wacker Drive, Chicago, IL 60606, USA", "Member", "en"),
    ("Sarah Miller", "sarah.miller@example.com", "+1 206 555 0114", "US", "US",
     "800 Pine Street, Seattle, WA 98101, USA", "Silver", "en"),
    ("David Garcia", "david.garcia@example.com", "+1 512 555 0115", "US", "US",
     "410 Congress Avenue, Austin, TX 78701, USA", "Member", "en"),
    ("Jessica Lee", "jessica.lee@example.com", "+1 617 555 0116", "US", "US",
     "75 Beacon Street, Boston, MA 02108, USA", "Member", "en"),
    ("Wei Chen", "wei.chen@example.com", "+1 646 555 0117", "US", "US",
     "120 Mott Street, New York, NY 10013, USA", "Member", "en"),
    ("王芳", "wangfang@example.cn", "+86 138 0013 0118", "CN", "CN",
     "上海市浦东新区世纪大道 100 号 2 号楼 1203 室", "Gold", "zh"),
    ("李娜", "lina@example.cn", "+86 139 0014 0119", "CN", "CN",
     "北京市朝阳区建国路 88 号 6 单元 502", "Member", "zh"),
    ("张伟", "zhangwei@example.cn", "+86 137 0015 0120", "CN", "CN",
     "广东省深圳市南山区科技园路 9 号 15 楼", "Silver", "zh"),
    ("刘洋", "liuyang@example.cn", "+86 136 0016 0121", "CN", "CN",
     "浙江省杭州市西湖区文三路 259 号 3 幢 701", "Member", "zh"),
    ("陈静", "chenjing@example.cn", "+86 135 0017 0122", "CN", "CN",
     "四川省成都市武侯区人民南路四段 12 号", "Member", "zh"),
    ("杨磊", "yanglei@example.cn", "+86 158 0018 0123", "CN", "CN",
     "江苏省南京市鼓楼区中山北路 30 号 1801", "Gold", "zh"),
    ("赵敏", "zhaomin@example.cn", "+86 159 0019 0124", "CN", "CN",
     "湖北省武汉市洪山区珞喻路 1037 号", "Member", "zh"),
    ("黄晓明", "huangxm@example.cn", "+86 186 0020 0125", "CN", "CN",
     "陕西省西安市雁塔区小寨东路 66 号", "Member", "zh"),
    ("周婷", "zhouting@example.cn", "+86 188 0021 0126", "CN", "CN",
     "福建省厦门市思明区湖滨南路 57 号 9 楼", "Silver", "zh"),
    ("吴昊", "wuhao@example.cn", "+86 187 0022 0127", "CN", "CN",
     "天津市和平区南京路 219 号 2 门 302", "Member", "zh"),
    ("孙悦", "sunyue@example.cn", "+86 185 0023 0128", "CN", "CN",
     "山东省青岛市市南区香港中路 8 号", "Member", "zh"),
    ("Sophie Martin", "sophie.martin@example.be", "+32 470 12 34 29", "EU", "BE",
     "Rue Neuve 30, 1000 Brussels, Belgium", "Member", "en"),
    ("Jack Thompson", "jack.thompson@example.com", "+1 303 555 0130", "US", "US",
     "1600 Glenarm Place, Denver, CO 80202, USA", "Member", "en"),
]

CURRENCY = {"EU": "EUR", "UK": "GBP", "US": "USD", "CN": "CNY"}
PAYMENT = {"EU": ["card", "paypal", "apple_pay_google_pay"], "UK": ["card", "paypal"],
           "US": ["card", "paypal", "apple_pay_google_pay"], "CN": ["alipay", "wechat_pay", "unionpay"]}
SHIPPING = {"EU": "standard", "UK": "standard", "US": "standard", "CN": "standard"}
CARRIER = {"EU": "PostNL", "UK": "Royal Mail", "US": "UPS", "CN": "SF Express"}
REFUND_DAYS = {"card": 10, "paypal": 3, "apple_pay_google_pay": 10, "alipay": 3,
               "wechat_pay": 3, "unionpay": 7}

# Scenario plan: (status, days since placed, days since delivered or None, count, flags)
PLAN = [
    ("Placed", 0, None, 8, {}),
    ("Processing", 1, None, 10, {}),
    ("Packed", 1, None, 7, {}),
    ("Dispatched", 3, None, 11, {}),
    ("Delivered", 12, 6, 16, {}),              # inside the 30-day window
    ("Delivered", 44, 38, 8, {}),              # outside 30 days (inside 45 for Gold members)
    ("Delivered", 70, 64, 4, {}),              # outside every window
    ("Delivered", 10, 5, 4, {"non_returnable": True}),
    ("Delivered", 20, 15, 4, {"open_return": True}),
    ("Cancelled", 25, None, 5, {}),
    ("Returned", 50, 44, 5, {}),
]
NON_RETURNABLE = [("AUD-3001", {"opened": True}), ("PER-5001", {"opened": True}),
                  ("OUT-4005", {}), ("PER-5002", {"opened": True})]


def _iso(d: date) -> str:
    return d.isoformat()


def build(rng: random.Random) -> dict[str, list[dict]]:
    facts = json.loads((ROOT / "store_facts.json").read_text(encoding="utf-8"))
    products = {p["sku"]: p for p in facts["products"]}
    ordinary = [s for s in products if s not in ("OUT-4005",)]
    customers = []
    for i, (name, email, phone, region, country, address, tier, lang) in enumerate(CUSTOMERS, 1):
        customers.append({"customer_id": f"CU-{i:04d}", "name": name, "email": email,
                          "phone": phone, "region": region, "country": country,
                          "address": address, "loyalty_tier": tier, "language": lang})
    ids = rng.sample(range(200000, 300000), 100)
    orders, shipments, returns, refunds = [], [], [], []
    rt_ids = iter(rng.sample(range(500000, 600000), 40))
    n = 0
    nr_index = 0
    for status, placed_ago, delivered_ago, count, flags in PLAN:
        for _ in range(count):
            cust = customers[n % len(customers)] if n < 60 else customers[rng.randrange(30)]
            n += 1
            region = cust["region"]
            currency = CURRENCY[region]
            placed = TODAY - timedelta(days=placed_ago + rng.randrange(0, 3))
            delivered = (placed + timedelta(days=placed_ago - delivered_ago)
                         if delivered_ago is not None else None)
            if flags.get("non_returnable"):
                sku, extra = NON_RETURNABLE[nr_index % len(NON_RETURNABLE)]
                nr_index += 1
                if sku == "OUT-4005" and region == "CN":
                    sku, extra = "PER-5002", {"opened": True}
                lines = [(sku, 1, extra)]
            else:
                k = 1 if rng.random() < 0.6 else 2
                skus = rng.sample(ordinary, k)
                lines = [(s, 1 if rng.random() < 0.8 else 2, {}) for s in skus]
            items = []
            for ln, (sku, qty, extra) in enumerate(lines, 1):
                p = products[sku]
                price = p["price"][currency]
                items.append({"line": ln, "sku": sku, "name": p["name"], "name_zh": p["name_zh"],
                              "qty": qty, "unit_price": price, "final_sale": False,
                              "opened": bool(extra.get("opened", False))})
            total = round(sum(it["unit_price"] * it["qty"] for it in items), 2)
            order_id = f"BC-{ids[len(orders)]}"
            payment = rng.choice(PAYMENT[region])
            orders.append({"order_id": order_id, "customer_id": cust["customer_id"],
                           "status": status, "region": region, "currency": currency,
                           "placed_at": _iso(placed), "delivered_at": _iso(delivered) if delivered else None,
                           "payment_method": payment, "shipping_method": SHIPPING[region],
                           "shipping_address": cust["address"], "total": total, "items": items})
            if status in ("Dispatched", "Delivered", "Returned"):
                shipped = placed + timedelta(days=1)
                eta = shipped + timedelta(days=4)
                shipments.append({
                    "order_id": order_id, "carrier": CARRIER[region],
                    "tracking_number": f"{CARRIER[region][:2].upper()}{rng.randrange(10**9, 10**10)}",
                    "status": "in_transit" if status == "Dispatched" else "delivered",
                    "shipped_at": _iso(shipped), "eta": _iso(eta),
                    "delivered_at": _iso(delivered) if delivered else None})
            if status == "Cancelled":
                refunds.append({"order_id": order_id, "return_id": None, "amount": total,
                                "currency": currency, "method": payment, "status": "issued",
                                "created_at": _iso(placed + timedelta(days=1)),
                                "expected_by": _iso(placed + timedelta(days=1 + REFUND_DAYS[payment]))})
            if status == "Returned" or flags.get("open_return"):
                rid = f"RT-{next(rt_ids)}"
                assert delivered is not None
                created = delivered + timedelta(days=3)
                rstatus = "Refunded" if status == "Returned" else rng.choice(
                    ["Label sent", "In transit", "Received", "Inspected"])
                returns.append({"return_id": rid, "order_id": order_id,
                                "skus": [it["sku"] for it in items],
                                "reason": rng.choice(["changed_mind", "defective", "damaged",
                                                      "not_as_described"]),
                                "status": rstatus, "created_at": _iso(created)})
                if rstatus in ("Refunded", "Inspected"):
                    refunds.append({
                        "order_id": order_id, "return_id": rid, "amount": total,
                        "currency": currency, "method": payment,
                        "status": "issued" if rstatus == "Refunded" else "pending",
                        "created_at": _iso(created + timedelta(days=8)),
                        "expected_by": _iso(created + timedelta(days=8 + REFUND_DAYS[payment]))})
    for i, r in enumerate(refunds, 1):
        r["refund_id"] = f"RF-{700000 + i * 37}"
    tickets = [
        {"ticket_id": "TK-100001", "customer_id": "CU-0002", "order_id": orders[20]["order_id"],
         "thread_id": None, "subject": "Parcel left with neighbour without notice",
         "status": "closed", "priority": "normal", "created_at": _iso(TODAY - timedelta(days=9)),
         "transcript": [], "state": {}, "resolution": "Apologised; courier feedback filed."},
        {"ticket_id": "TK-100002", "customer_id": "CU-0019", "order_id": None, "thread_id": None,
         "subject": "发票抬头填写错误，需要重开", "status": "open", "priority": "normal",
         "created_at": _iso(TODAY - timedelta(days=2)), "transcript": [], "state": {},
         "resolution": ""},
        {"ticket_id": "TK-100003", "customer_id": "CU-0013", "order_id": None, "thread_id": None,
         "subject": "Question about business account terms", "status": "open", "priority": "low",
         "created_at": _iso(TODAY - timedelta(days=1)), "transcript": [], "state": {},
         "resolution": ""},
    ]
    return {"customers": customers, "orders": orders, "shipments": shipments,
            "returns": returns, "refunds": refunds, "tickets": tickets}


def main() -> None:
    data = build(random.Random(20261012))
    OUT.mkdir(exist_ok=True)
    meta = {"today": _iso(TODAY), "store": "Brightcart",
            "note": "Invented sample data; dates are relative to `today`. Regenerate with "
                    "python knowledge/tools/build_support_data.py"}
    (OUT / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n",
                                   encoding="utf-8")
    for name, rows in data.items():
        text = json.dumps(rows, ensure_ascii=False, indent=1)
        (OUT / f"{name}.json").write_text(text + "\n", encoding="utf-8")
        print(f"{name}: {len(rows)}")


if __name__ == "__main__":
    main()
