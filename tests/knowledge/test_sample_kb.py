"""Checks on the bundled Brightcart sample knowledge base and its labelled evaluation sets.

Owns: validating ``knowledge/`` as data (documents exist and parse, every evidence span is found
verbatim, labels are consistent, the mix of languages and question types meets its minimums,
``store_facts.json`` agrees with the prose). Parsing goes through the real
``ragkit.ingest.parse_file``, the same path the retrieval evaluation uses, so a span that these
tests accept is a span the evaluation can find.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from ragkit.ingest import discover, parse_file

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge"
STORE = KNOWLEDGE / "store"
MAX_BYTES = 50 * 2**20
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def cjk_share(text: str) -> float:
    """Share of CJK characters among CJK and Latin letters (0.0 for text with neither)."""
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def lang_of(text: str) -> str:
    return "zh" if cjk_share(text) > 0.3 else "en"


def _jsonl(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@cache
def parsed_text(doc: str) -> str:
    return parse_file(KNOWLEDGE / doc, doc, MAX_BYTES).text


@cache
def facts() -> dict:
    return json.loads((KNOWLEDGE / "store_facts.json").read_text(encoding="utf-8"))


@cache
def load_tool(name: str):  # noqa: ANN201 - a module loaded from knowledge/tools
    qualified = f"_knowledge_tools_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, KNOWLEDGE / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


QUESTIONS = _jsonl(KNOWLEDGE / "eval" / "retrieval.jsonl")
UNANSWERABLE = _jsonl(KNOWLEDGE / "eval" / "unanswerable.jsonl")
STORE_DOCS = [p.relative_to(KNOWLEDGE).as_posix() for p in discover([STORE], ignore=(".*",))]
QIDS = [q["id"] for q in QUESTIONS]


# --- the corpus --------------------------------------------------------------------------------


def test_corpus_size_formats_and_language_mix() -> None:
    assert 35 <= len(STORE_DOCS) <= 60
    suffixes = Counter(Path(d).suffix for d in STORE_DOCS)
    assert suffixes[".pdf"] >= 2 and suffixes[".docx"] >= 2
    assert suffixes[".json"] >= 1 and suffixes[".jsonl"] >= 1
    assert suffixes[".html"] >= 2 and suffixes[".txt"] >= 2
    assert suffixes[".md"] > len(STORE_DOCS) / 3
    langs = Counter(lang_of(parsed_text(d)) for d in STORE_DOCS)
    assert 0.35 <= langs["zh"] / len(STORE_DOCS) <= 0.65, langs


@pytest.mark.parametrize("doc", [d for d in STORE_DOCS if d.endswith(".pdf")])
def test_pdfs_have_several_pages(doc: str) -> None:
    parsed = parse_file(KNOWLEDGE / doc, doc, MAX_BYTES)
    assert len({s.page for s in parsed.sections}) >= 2


@pytest.mark.parametrize("doc", [d for d in STORE_DOCS if d.endswith(".docx")])
def test_docx_files_have_heading_styles_and_a_table(doc: str) -> None:
    import docx

    document = docx.Document(str(KNOWLEDGE / doc))
    styles = {p.style.name for p in document.paragraphs if p.style is not None}
    assert {"Heading 1", "Heading 2"} <= styles
    assert document.tables
    assert len(parse_file(KNOWLEDGE / doc, doc, MAX_BYTES).sections) >= 5


def test_some_documents_are_long_enough_for_several_chunks() -> None:
    long_en = [
        d for d in STORE_DOCS if len(parsed_text(d)) > 3000 and lang_of(parsed_text(d)) == "en"
    ]
    long_zh = [
        d for d in STORE_DOCS if len(parsed_text(d)) > 1100 and lang_of(parsed_text(d)) == "zh"
    ]
    assert len(long_en) >= 5 and len(long_zh) >= 3


# --- the labelled questions --------------------------------------------------------------------


def test_ids_are_unique_and_well_formed() -> None:
    ids = QIDS + [u["id"] for u in UNANSWERABLE]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"q\d{3}", i) for i in QIDS)
    assert all(re.fullmatch(r"u\d{3}", u["id"]) for u in UNANSWERABLE)


def test_question_fields() -> None:
    for q in QUESTIONS:
        assert set(q) == {"id", "question", "lang", "type", "doc", "evidence"}, q["id"]
        assert q["lang"] in ("en", "zh")
        assert q["type"] in ("direct", "paraphrase", "cross_lingual", "faq"), q["id"]
        assert q["doc"] in STORE_DOCS, f"{q['id']}: {q['doc']} is not a document of the store"


def test_counts_meet_the_minimums() -> None:
    types = Counter(q["type"] for q in QUESTIONS)
    langs = Counter(q["lang"] for q in QUESTIONS)
    assert len(QUESTIONS) >= 80
    assert types["cross_lingual"] >= 12 and types["paraphrase"] >= 15 and types["faq"] >= 5
    for lang in ("en", "zh"):
        assert 0.35 <= langs[lang] / len(QUESTIONS) <= 0.65, langs
    per_format = Counter(Path(q["doc"]).suffix for q in QUESTIONS)
    for suffix in (".pdf", ".docx", ".html", ".json", ".jsonl", ".txt"):
        assert per_format[suffix] >= 3, suffix
    assert len({q["doc"] for q in QUESTIONS}) >= 30  # nearly every document is asked about


@pytest.mark.parametrize("q", QUESTIONS, ids=QIDS)
def test_language_tag_matches_the_question(q: dict) -> None:
    assert lang_of(q["question"]) == q["lang"]


@pytest.mark.parametrize("q", QUESTIONS, ids=QIDS)
def test_cross_lingual_exactly_when_languages_differ(q: dict) -> None:
    doc_lang = lang_of(parsed_text(q["doc"]))
    assert (q["type"] == "cross_lingual") == (q["lang"] != doc_lang), (q["lang"], doc_lang)


@pytest.mark.parametrize("q", QUESTIONS, ids=QIDS)
def test_evidence_is_a_short_plain_span(q: dict) -> None:
    ev = q["evidence"]
    assert 10 <= len(ev) <= 120
    assert ev == ev.strip() and "\n" not in ev
    assert not re.search(r"\*\*|`|\||^#|<[a-z/]", ev), "evidence must carry no formatting"


@pytest.mark.parametrize("q", QUESTIONS, ids=QIDS)
def test_evidence_is_verbatim_in_the_source_file(q: dict) -> None:
    path = KNOWLEDGE / q["doc"]
    if path.suffix in (".md", ".txt"):
        assert q["evidence"] in path.read_text(encoding="utf-8")
    elif path.suffix in (".json", ".jsonl"):
        items = _jsonl(path) if path.suffix == ".jsonl" else json.loads(path.read_text("utf-8"))
        assert any(q["evidence"] in (i["question"] + "\n" + i["answer"]) for i in items)


@pytest.mark.parametrize("q", QUESTIONS, ids=QIDS)
def test_evidence_is_verbatim_in_the_parsed_text(q: dict) -> None:
    text = parsed_text(q["doc"])
    assert text.count(q["evidence"]) == 1, "evidence must occur exactly once in its document"


def test_evidence_spans_belong_to_one_document_only() -> None:
    for q in QUESTIONS:
        elsewhere = [d for d in STORE_DOCS if d != q["doc"] and q["evidence"] in parsed_text(d)]
        assert not elsewhere, f"{q['id']} evidence also in {elsewhere}"


def test_unanswerable_questions() -> None:
    assert len(UNANSWERABLE) >= 15
    for u in UNANSWERABLE:
        assert set(u) == {"id", "question", "lang", "type"}
        assert u["type"] == "unanswerable" and lang_of(u["question"]) == u["lang"]
    assert {u["lang"] for u in UNANSWERABLE} == {"en", "zh"}
    asked = {u["question"] for u in UNANSWERABLE}
    assert not asked & {q["question"] for q in QUESTIONS}


# --- store_facts.json agrees with the prose ----------------------------------------------------


def test_return_window_is_stated_in_both_returns_documents() -> None:
    days = facts()["returns"]["window_days"]
    assert f"within {days} days of delivery" in parsed_text("store/policies/returns.md")
    assert f"签收后 {days} 天退货服务" in parsed_text("store/policies/returns_guide_zh.docx")
    gold = facts()["returns"]["window_days_gold_members"]
    assert f"{gold}-day return window" in parsed_text("store/policies/returns.md")


def test_free_shipping_thresholds_match_the_shipping_pages() -> None:
    ship = facts()["shipping"]
    en = parsed_text("store/policies/shipping.md")
    for region, symbol in (("EU", "€"), ("UK", "£"), ("US", "$")):
        assert f"orders of {symbol}{ship[region]['free_standard_threshold']} or more" in en
    zh = parsed_text("store/policies/shipping_china_zh.md")
    assert f"满 ¥{ship['CN']['free_standard_threshold']} 免标准快递运费" in zh


def test_delivery_prices_match_the_shipping_pages() -> None:
    ship = facts()["shipping"]
    en = parsed_text("store/policies/shipping.md")
    assert f"€{ship['EU']['express']['price']}" in en
    assert f"£{ship['UK']['next_day']['price']}" in en
    assert f"${ship['US']['expedited']['price']}" in en
    assert f"¥{ship['CN']['sf_next_day']['price']}" in parsed_text(
        "store/policies/shipping_china_zh.md"
    )


def test_order_id_format_matches_documents_and_regex() -> None:
    ids = facts()["ids"]
    assert re.fullmatch(ids["order_id_regex"], ids["order_id_example"])
    assert "BC- followed by six digits" in parsed_text("store/policies/order_changes.md")
    assert ids["order_id_example"] in parsed_text("store/policies/order_changes.md")
    assert "RT- followed by six digits" in parsed_text("store/policies/returns.md")
    assert "WC- followed by six digits" in parsed_text("store/policies/warranty_terms.pdf")


def test_warranty_months_match_the_warranty_terms() -> None:
    months = facts()["warranty_months"]
    text = parsed_text("store/policies/warranty_terms.pdf")
    for row, key in (
        ("Audio earbuds, headphones, speakers", "audio"),
        ("Tents and backpacks Trailhead tents, Ridge backpacks", "outdoor_tents_and_packs"),
        ("Brightcart Renewed any refurbished item", "renewed_items"),
    ):
        assert f"{row} {months[key]} months" in text
    assert f"covered for {months['robot_vacuum_battery']} months" in text


def test_support_contacts_match_the_contact_page() -> None:
    support = facts()["support"]
    text = parsed_text("store/policies/contact_escalation.html")
    for value in (support["email"], support["email_zh"], *support["phone"].values()):
        assert value in text


def test_refund_timing_and_account_numbers_match() -> None:
    refunds = parsed_text("store/policies/refunds.md")
    assert "PayPal | 1 to 3 business days" in refunds
    assert "Visa, Mastercard, American Express | 5 to 10 business days" in refunds
    accounts = facts()["accounts"]
    security = parsed_text("store/policies/account_security.md")
    assert f"valid for {accounts['password_reset_link_valid_minutes']} minutes" in security
    assert f"we show {accounts['backup_codes']} backup codes" in security
    loyalty = facts()["loyalty"]
    points = parsed_text("store/policies/loyalty_points_zh.md")
    assert f"至少有 {loyalty['minimum_redemption_points']} 积分" in points
    assert f"{loyalty['expiry_months']} 个月内有效" in points


def test_business_terms_match_the_facts() -> None:
    business = facts()["business"]
    text = parsed_text("store/policies/business_terms.docx")
    assert f"up to {business['max_users_per_account']} users" in text
    free = business["free_standard_delivery_over"]
    assert f"over EUR {free['EUR']}, GBP {free['GBP']} or USD {free['USD']}" in text
    assert "20 to 49 | 8%" in text


def test_catalogue_page_is_generated_from_the_facts() -> None:
    catalogue = load_tool("build_catalogue")
    page = (STORE / "about" / "catalogue.md").read_text(encoding="utf-8")
    assert page == catalogue.render(facts()), "run python knowledge/tools/build_catalogue.py"
    products = facts()["products"]
    assert 15 <= len(products) <= 25
    assert len({p["sku"] for p in products}) == len(products)
    for p in products:
        assert re.fullmatch(r"(KIT|HOM|AUD|OUT|PER)-\d{4}", p["sku"])
        assert p["name_zh"] in page and lang_of(p["name_zh"]) == "zh"


# --- the binary documents are reproducible from their sources ----------------------------------


def test_source_markup_parser() -> None:
    tool = load_tool("build_binaries")
    blocks = tool.parse_source(
        "# Title\n\nOne line\ncontinues.\n\n- a\n1. b\n| h1 | h2 |\n| --- | --- |\n| x | y |\n"
        "!pagebreak\n## Sub\n"
    )
    assert [b.kind for b in blocks] == [
        "heading1", "para", "bullet", "number", "table", "pagebreak", "heading2"
    ]  # fmt: skip
    assert blocks[1].text == "One line continues."
    assert blocks[4].rows == (("h1", "h2"), ("x", "y"))


@pytest.mark.parametrize("name", ["returns_guide_zh.docx", "business_terms.docx", "warranty_terms.pdf",
                                  "camping_stove_ember.pdf", "air_fryer_crisp_zh.pdf"])  # fmt: skip
def test_committed_binaries_match_their_sources(name: str, tmp_path: Path) -> None:
    tool = load_tool("build_binaries")
    target = next(t for t in tool.TARGETS if Path(t.output).name == name)
    if name.endswith(".pdf"):
        pytest.importorskip("fpdf", reason="fpdf2 is needed to rebuild PDFs (pip install fpdf2)")
        if target.lang == "zh" and not any(Path(f).is_file() for f in tool.CJK_FONT_CANDIDATES):
            pytest.skip("no CJK font installed (apt-get install -y fonts-wqy-microhei)")
    rebuilt = tmp_path / name
    rebuilt.write_bytes(tool.render(target))
    committed = f"store/{target.output}"
    fresh = parse_file(rebuilt, committed, MAX_BYTES).text
    assert fresh == parsed_text(committed), "run python knowledge/tools/build_binaries.py"
