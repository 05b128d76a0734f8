"""Generate ``knowledge/store/about/catalogue.md`` from ``knowledge/store_facts.json``.

Owns: the product catalogue page, so that the catalogue text and the machine-readable facts can
never disagree. Run ``python knowledge/tools/build_catalogue.py`` after editing the products in
``store_facts.json``. Not part of the ``ragkit`` package.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = {
    "kitchen": "Kitchen",
    "home_electronics": "Home electronics",
    "audio": "Audio",
    "outdoor": "Outdoor",
    "personal_care": "Personal care",
}
SPEC_NAMES = {"anc": "active noise cancellation", "wifi": "Wi-Fi", "cadr": "CADR"}


def _value(v: object) -> str:
    if v is True:
        return "yes"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


def render(facts: dict) -> str:
    """Return the catalogue page for ``facts`` (pure)."""
    out = [
        "# Brightcart product catalogue",
        "",
        "All Brightcart products with their SKU, Chinese name, prices per region and warranty. "
        "Prices include VAT in the EU, UK and China; US prices exclude sales tax. "
        "The gas canister is not sold on the China site.",
        "",
    ]
    for cat, title in CATEGORIES.items():
        out += [f"## {title}", ""]
        out += ["| SKU | Product | Chinese name | EUR | GBP | USD | CNY | Warranty |"]
        out += ["| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for p in facts["products"]:
            if p["category"] != cat:
                continue
            pr = p["price"]
            cny = f"¥{pr['CNY']}" if pr["CNY"] is not None else "not sold"
            months = p["warranty_months"]
            warranty = f"{months} months" if months else "none (consumable)"
            out.append(
                f"| {p['sku']} | {p['name']} | {p['name_zh']} | €{pr['EUR']:.2f} | "
                f"£{pr['GBP']:.2f} | ${pr['USD']:.2f} | {cny} | {warranty} |"
            )
        out.append("")
    out += ["## Key specifications", ""]
    for p in facts["products"]:
        specs = "; ".join(
            f"{SPEC_NAMES.get(k, k.replace('_', ' '))}: {_value(v)}" for k, v in p["specs"].items()
        )
        out.append(f"- **{p['name']} ({p['sku']})**: {specs}.")
    out += [
        "",
        "## SKU format",
        "",
        "A SKU is a three-letter category code and four digits: KIT for kitchen, HOM for home "
        "electronics, AUD for audio, OUT for outdoor and PER for personal care. SKUs are "
        "different from order numbers, which start with BC-.",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    facts = json.loads((ROOT / "store_facts.json").read_text(encoding="utf-8"))
    target = ROOT / "store" / "about" / "catalogue.md"
    target.write_text(render(facts), encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
