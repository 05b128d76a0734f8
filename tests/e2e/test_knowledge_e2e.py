"""Knowledge tab in a real browser: upload a file, index it, find it in search.

Uses the tiny locally built embedder, so it needs Chromium and Playwright but no catalogued
model weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Server, open_tab, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture()
def server(tiny_kb: Path, browser) -> object:  # type: ignore[no-untyped-def]
    srv = Server(["--kb", str(tiny_kb), "--no-preload"], cwd=tiny_kb.parent)
    yield srv
    srv.stop()


def test_upload_index_and_find_in_search(server: Server, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "zebra_tent.md"
    doc.write_text("# Zebra tent\n\nThe zebrawood tent pole folds into three parts.\n",
                   encoding="utf-8")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not a pdf")
    odd = tmp_path / "setup.exe"  # unsupported: reported, not passed over in silence
    odd.write_bytes(b"MZ\x00binary")
    open_tab(page, server.url, "Knowledge")
    status = page.locator("#kb-status")
    status.get_by_text("3 documents").wait_for()

    page.locator("#kb-upload input[type=file]").set_input_files([str(doc), str(bad), str(odd)])
    page.locator('#kb-upload [aria-label="zebra_tent.md"]').wait_for()  # upload finished
    page.locator("#kb-index").click()
    report = page.locator("#index-report")
    report.get_by_text("1 added").wait_for(timeout=120_000)
    text = report.inner_text()  # the per-file errors are shown, not a trace
    assert "broken.pdf" in text and "setup.exe" in text and "unsupported file type" in text
    status.get_by_text("4 documents").wait_for()

    page.locator("#search-query textarea").fill("zebrawood")
    page.locator("#search-go").click()
    keyword = page.locator("#hits-keyword")
    keyword.get_by_text("uploads/zebra_tent.md").wait_for()
    for col in ("dense", "hybrid"):
        assert page.locator(f"#hits-{col}").inner_text().strip().startswith(
            "Dense" if col == "dense" else "Hybrid")
    screenshot(page, "knowledge")


def _table_shows(page, text: str, present: bool = True,  # type: ignore[no-untyped-def]
                 timeout_s: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while (text in page.locator("#kb-documents").inner_text()) != present:
        assert time.monotonic() < deadline, f"{text!r} {'never' if present else 'still'} shown"
        time.sleep(0.3)


def _pick_document(page, source: str) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#kb-doc-pick input")
    box.click()
    box.fill(source)
    page.get_by_role("option", name=source).click()


def test_documents_table_re_indexes_and_deletes_one_document(server: Server, page, tmp_path: Path,
                                                            tiny_kb: Path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "yak_blanket.md"
    doc.write_text("# Yak blanket\n\nThe yak wool blanket is washed cold by hand.\n",
                   encoding="utf-8")
    open_tab(page, server.url, "Knowledge")
    _table_shows(page, "docs/kettle.md")
    page.locator("#kb-upload input[type=file]").set_input_files([str(doc)])
    page.locator('#kb-upload [aria-label="yak_blanket.md"]').wait_for()
    page.locator("#kb-index").click()
    _table_shows(page, "uploads/yak_blanket.md")
    table = page.locator("#kb-documents")
    assert "language" in table.inner_text() and "English" in table.inner_text()
    page.locator("#kb-status summary").click()  # the settings it was created with
    page.locator("#kb-status").get_by_text("chunking.max_tokens").wait_for()
    _pick_document(page, "docs/kettle.md")
    page.locator("#kb-doc-reindex").click()
    page.locator("#index-report").get_by_text("1 updated").wait_for(timeout=120_000)
    _table_shows(page, "docs/kettle.md")  # its citation name is kept
    _pick_document(page, "uploads/yak_blanket.md")
    page.locator("#kb-doc-delete").click()
    page.locator("#index-report").get_by_text("was removed").wait_for()
    _table_shows(page, "uploads/yak_blanket.md", present=False)
    page.locator("#kb-status").get_by_text("3 documents").wait_for()
    assert not (tiny_kb / "uploads" / "yak_blanket.md").exists()  # the uploaded copy too
    page.locator("#search-query textarea").fill("yak wool blanket")
    page.locator("#search-go").click()
    page.locator("#hits-keyword").get_by_text("no matches").wait_for()
    screenshot(page, "knowledge_documents", docs="knowledge.png")


def test_errors_are_readable_messages(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, server.url, "Knowledge")
    page.locator("#kb-index").click()
    msg = page.locator("#index-report")
    msg.get_by_text("nothing to index").wait_for()
    assert "Traceback" not in page.content()
    page.locator("#kb-new-name textarea").fill("../bad")
    page.locator("#kb-create").click()
    page.locator("#kb-status").get_by_text("plain name").wait_for()


def test_chinese_browser_gets_chinese_labels_and_chinese_search_works(server: Server,
                                                                      browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    try:
        page = context.new_page()
        page.set_default_timeout(180_000)
        page.goto(server.url)
        # the chat tab's examples are the Chinese ones, the English ones hidden
        page.get_by_text("退款多久能到账？").wait_for()
        assert not page.get_by_text("How long do refunds take?").is_visible()
        page.get_by_role("tab", name="知识库").click()
        page.get_by_role("button", name="搜索").wait_for()
        page.locator("#kb-status").get_by_text("3 个文档").wait_for()  # panels follow too
        page.locator("#kb-index").click()
        page.locator("#index-report").get_by_text("没有可索引的内容").wait_for()
        page.locator("#search-query textarea").fill("退款")
        page.locator("#search-go").click()
        page.locator("#hits-keyword").get_by_text("docs/退款.md").wait_for()
        assert page.locator("#hits-keyword").inner_text().startswith("关键词检索")
        screenshot(page, "knowledge-zh")
    finally:
        context.close()


@pytest.fixture()
def pg_server_app(pg_url: str, tmp_path: Path, tiny_embedder_dir: Path, browser) -> object:  # type: ignore[no-untyped-def]
    """`ragkit ui --kb postgresql://...` on a knowledge base holding the three UI documents."""
    from ragkit.config import KnowledgeBaseConfig
    from ragkit.kb import KnowledgeBase
    from tests.helpers.docs import write_docs
    from tests.ui.conftest import DOCS

    with KnowledgeBase.open(pg_url, create=True,
                            config=KnowledgeBaseConfig(embedder=str(tiny_embedder_dir))) as kb:
        kb.add([write_docs(tmp_path / "docs", DOCS)])
    srv = Server(["--kb", pg_url, "--no-preload"], cwd=tmp_path)
    yield srv
    srv.stop()


def test_knowledge_tab_on_a_postgres_url(pg_server_app: Server, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "zebra_tent.md"
    doc.write_text("# Zebra tent\n\nThe zebrawood tent pole folds into three parts.\n",
                   encoding="utf-8")
    open_tab(page, pg_server_app.url, "Knowledge")
    status = page.locator("#kb-status")
    status.get_by_text("3 documents").wait_for()
    assert "postgresql://" in page.content()
    page.locator("#kb-upload input[type=file]").set_input_files([str(doc)])
    page.locator('#kb-upload [aria-label="zebra_tent.md"]').wait_for()
    page.locator("#kb-index").click()
    page.locator("#index-report").get_by_text("1 added").wait_for(timeout=120_000)
    status.get_by_text("4 documents").wait_for()
    page.locator("#search-query textarea").fill("zebrawood")
    page.locator("#search-go").click()
    page.locator("#hits-keyword").get_by_text("uploads/zebra_tent.md").wait_for()
    screenshot(page, "knowledge_postgres")


def test_the_evaluation_report_opens_in_a_browser_with_its_charts(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from ragkit.evals.report import rag_html

    result = json.loads((ROOT / "bench" / "results" / "rag_eval_tuning_sample_now.json")
                        .read_text(encoding="utf-8"))
    report = tmp_path / "report.html"
    report.write_text(rag_html(result), encoding="utf-8")
    page.goto(report.as_uri())
    page.get_by_role("heading", name="Correct answers by question type").wait_for()
    charts = page.locator("svg")
    assert charts.count() >= 3 and charts.first.bounding_box()["width"] > 100  # drawn
    assert page.locator("div.fail").count() == len(result["failures"])
    screenshot(page, "report", docs="report.png")
