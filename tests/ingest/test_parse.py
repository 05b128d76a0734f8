"""parse_file on real files of every supported format, and on bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ragkit.errors import IngestError
from ragkit.ingest import SUPPORTED_SUFFIXES, content_hash, decode_text, parse_file

MB = 2**20


def parse(path: Path, max_bytes: int = MB):
    return parse_file(path, path.name, max_bytes)


def section_by_path(doc, path):
    return [s for s in doc.sections if s.heading_path == path]


# --- Markdown ---------------------------------------------------------------------------------

MARKDOWN = """---
title: "Store Handbook"
author: ops
---
Intro before any heading.

# Returns policy

You can return items within 30 days.

## Refund timing

Refunds take 3-5 business days.

```python
# not a heading
x = 1
```

### Card payments ###

Card refunds go back to the card.

# Shipping

We ship worldwide.
"""


def test_markdown_heading_paths_and_front_matter(tmp_path, assert_tiles):
    p = tmp_path / "handbook.md"
    p.write_text(MARKDOWN, encoding="utf-8")
    doc = parse(p)
    assert doc.kind == "markdown"
    assert doc.title == "Store Handbook"
    assert "author: ops" not in doc.text and doc.text.startswith("Intro before")
    assert_tiles(doc)
    paths = [s.heading_path for s in doc.sections]
    assert paths == [
        (),
        ("Returns policy",),
        ("Returns policy", "Refund timing"),
        ("Returns policy", "Refund timing", "Card payments"),
        ("Shipping",),
    ]
    (timing,) = section_by_path(doc, ("Returns policy", "Refund timing"))
    assert "# not a heading" in timing.text  # the fenced line stayed inside its section


def test_markdown_title_defaults(tmp_path):
    a = tmp_path / "a.md"
    a.write_text("Some text\n\n## Sub\n\n# First **Top**\n\nbody\n", encoding="utf-8")
    assert parse(a).title == "First Top"
    b = tmp_path / "notes-2024.md"
    b.write_text("## Only a subheading\n\ntext\n", encoding="utf-8")
    assert parse(b).title == "notes-2024"


def test_markdown_tilde_fence_and_crlf(tmp_path, assert_tiles):
    p = tmp_path / "f.md"
    p.write_bytes(b"# A\r\n~~~\r\n## inside fence\r\n~~~\r\n## B\r\ntext\r\n")
    doc = parse(p)
    assert "\r" not in doc.text
    assert [s.heading_path for s in doc.sections] == [("A",), ("A", "B")]
    assert_tiles(doc)


def test_chinese_markdown(tmp_path, assert_tiles):
    p = tmp_path / "退货.md"
    p.write_text("# 退货政策\n\n## 退款时间\n\n退款一般需要三到五个工作日。请耐心等待！\n", "utf-8")
    doc = parse(p)
    assert doc.title == "退货政策"
    assert doc.sections[-1].heading_path == ("退货政策", "退款时间")
    assert_tiles(doc)


# --- Plain text -------------------------------------------------------------------------------


def test_text_title_and_single_section(tmp_path, assert_tiles):
    p = tmp_path / "notes.txt"
    p.write_text("Opening hours\n\nWe open at 9.\n\nWe close at 5.\n", encoding="utf-8")
    doc = parse(p)
    assert (doc.kind, doc.title, len(doc.sections)) == ("text", "Opening hours", 1)
    assert_tiles(doc)
    long = tmp_path / "long.txt"
    long.write_text("x " * 100 + "\n\nmore", encoding="utf-8")
    assert parse(long).title == "long"


def test_gb18030_chinese_decodes(tmp_path):
    text = "会员积分规则：每消费一元积一分。积分可以抵扣现金。\n"
    p = tmp_path / "legacy.txt"
    p.write_bytes(text.encode("gb18030"))
    with pytest.raises(UnicodeDecodeError):
        p.read_bytes().decode("utf-8")  # the fallback is really exercised
    assert parse(p).text == text


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_bom_encodings(tmp_path, encoding):
    p = tmp_path / "bom.txt"
    p.write_bytes("Héllo 世界\n".encode(encoding))
    assert parse(p).text == "Héllo 世界\n"


# --- HTML -------------------------------------------------------------------------------------

HTML = """<!doctype html><html><head><title>Help Center</title>
<style>body { color: red }</style><script>var x = "hidden";</script></head>
<body><nav><a href="/">Home</a> | <a href="/x">Menu</a></nav>
<p>Welcome to <b>our</b> help center.</p>
<h1>Accounts</h1><p>Create an account online.</p>
<h2>Passwords</h2><p>Reset it from the login page.</p>
<ul><li>Use 12 characters.</li><li>Mix   letters and digits.</li></ul>
<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td>$5</td></tr></table>
<h1>Billing</h1><p>Invoices are monthly.<br>Pay by card.</p>
<!-- a comment --><footer>Copyright footer</footer></body></html>"""


def test_html_visible_text_and_headings(tmp_path, assert_tiles):
    p = tmp_path / "help.html"
    p.write_text(HTML, encoding="utf-8")
    doc = parse(p)
    assert doc.kind == "html" and doc.title == "Help Center"
    for hidden in ("color: red", "hidden", "Menu", "Copyright", "a comment"):
        assert hidden not in doc.text
    assert "Welcome to our help center." in doc.text
    assert "- Use 12 characters.\n- Mix letters and digits." in doc.text
    assert "Plan | Price\nBasic | $5" in doc.text
    assert "Invoices are monthly.\nPay by card." in doc.text
    assert [s.heading_path for s in doc.sections] == [
        (),
        ("Accounts",),
        ("Accounts", "Passwords"),
        ("Billing",),
    ]
    assert doc.sections[2].text.startswith("Passwords\n")
    assert_tiles(doc)


def test_html_title_falls_back_to_h1(tmp_path):
    p = tmp_path / "page.htm"
    p.write_text("<html><body><h1>Only  H1</h1><p>x</p></body></html>", encoding="utf-8")
    assert parse(p).title == "Only H1"


# --- PDF --------------------------------------------------------------------------------------


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> None:
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 is in the `test` extra")
    pdf = fpdf.FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


def test_pdf_pages_kept(tmp_path, assert_tiles):
    p = tmp_path / "manual.pdf"
    make_pdf(p, ["Setup guide. Plug in the device.", "Troubleshooting. Restart it."], "Manual")
    doc = parse(p)
    assert doc.kind == "pdf" and doc.title == "Manual"
    assert [s.page for s in doc.sections] == [1, 2]
    assert "Plug in the device." in doc.sections[0].text
    assert "Restart it." in doc.sections[1].text
    assert doc.text == doc.sections[0].text + doc.sections[1].text
    assert_tiles(doc)


def test_pdf_title_from_first_line_and_blank_page_numbering(tmp_path):
    p = tmp_path / "t.pdf"
    make_pdf(p, ["", "Second page heading\nBody."])
    doc = parse(p)
    assert doc.title == "Second page heading"
    assert [s.page for s in doc.sections] == [2]


def test_corrupt_and_textless_pdf(tmp_path):
    good = tmp_path / "good.pdf"
    make_pdf(good, ["Some text here.", "More text."])
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(good.read_bytes()[:300])
    with pytest.raises(IngestError, match="PDF"):
        parse(bad)
    empty = tmp_path / "blank.pdf"
    make_pdf(empty, [""])
    with pytest.raises(IngestError, match="no extractable text"):
        parse(empty)


# --- DOCX -------------------------------------------------------------------------------------


def test_docx_headings_and_table(tmp_path, assert_tiles):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_heading("Employee Guide", level=0)
    d.add_paragraph("Read this first.")
    d.add_heading("Leave", level=1)
    d.add_paragraph("You get 20 days.")
    d.add_heading("Sick leave", level=2)
    t = d.add_table(rows=2, cols=2)
    for r, row in enumerate([("Days", "Pay"), ("1-3", "Full")]):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    d.add_heading("Expenses", level=1)
    d.add_paragraph("Keep receipts.")
    p = tmp_path / "guide.docx"
    d.save(str(p))
    doc = parse(p)
    assert doc.kind == "docx" and doc.title == "Employee Guide"
    assert "Days | Pay\n1-3 | Full" in doc.text
    paths = [s.heading_path for s in doc.sections]
    assert ("Employee Guide", "Leave", "Sick leave") in paths
    assert paths[-1] == ("Employee Guide", "Expenses")
    (sick,) = section_by_path(doc, ("Employee Guide", "Leave", "Sick leave"))
    assert "1-3 | Full" in sick.text
    assert_tiles(doc)


def test_corrupt_docx(tmp_path):
    p = tmp_path / "broken.docx"
    p.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(IngestError, match="corrupt or unsupported DOCX"):
        parse(p)


# --- FAQ --------------------------------------------------------------------------------------


def test_faq_jsonl_skips_bad_lines(tmp_path, assert_tiles):
    p = tmp_path / "faq.jsonl"
    lines = [
        json.dumps(
            {"question": "How long do refunds take?", "answer": "3-5 days.", "category": "Refunds"}
        ),
        "{not json",
        json.dumps({"q": "退货运费谁承担？", "a": "质量问题由我们承担。"}),
        json.dumps({"question": "missing answer"}),
    ]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    doc = parse(p)
    assert doc.kind == "faq" and len(doc.sections) == 2
    assert all(s.atomic for s in doc.sections)
    assert doc.sections[0].heading_path == ("Refunds", "How long do refunds take?")
    assert doc.sections[1].heading_path == ("退货运费谁承担？",)
    assert doc.sections[1].text == "Q: 退货运费谁承担？\nA: 质量问题由我们承担。"
    assert_tiles(doc)


def test_faq_json_shapes(tmp_path):
    pairs = [{"question": "Q1?", "answer": "A1."}, {"question": "Q2?", "answer": "A2."}]
    a = tmp_path / "list.json"
    a.write_text(json.dumps(pairs), encoding="utf-8")
    b = tmp_path / "wrapped.json"
    b.write_text(json.dumps({"title": "Billing FAQ", "faqs": pairs}), encoding="utf-8")
    assert parse(a).text == parse(b).text == "Q: Q1?\nA: A1.\n\nQ: Q2?\nA: A2."
    assert parse(b).title == "Billing FAQ"


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("none.jsonl", '{"x": 1}\n[1, 2]\n', "no valid FAQ pairs"),
        ("syntax.json", '[{"question": "a", ', "invalid JSON at line 1"),
        ("shape.json", '{"question": "a", "answer": "b"}', "expected a list"),
    ],
)
def test_faq_errors(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=match):
        parse(p)


# --- Bad files --------------------------------------------------------------------------------


def test_bad_files_raise_clear_errors(tmp_path):
    cases = {
        "empty.md": (b"", "empty"),
        "blank.txt": (b"  \n\t\n", "only whitespace"),
        "nul.txt": (b"abc\x00\x01\x02def", "binary"),
        "ctrl.md": (bytes(range(1, 8)) * 50, "binary"),
        "latin.txt": (b"caf\xe9 cr\xe8me \x80\xff", "cannot decode"),
        "data.csv": (b"a,b\n1,2\n", "unsupported file type '.csv'"),
        "README": (b"hello", r"unsupported file type '\(no suffix\)'"),
    }
    for name, (data, match) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(IngestError, match=match) as err:
            parse(p)
        assert err.value.path == name
    with pytest.raises(IngestError, match="not found"):
        parse(tmp_path / "missing.md")


def test_too_large_names_the_setting(tmp_path):
    p = tmp_path / "big.txt"
    p.write_bytes(b"word " * 50_000)  # 250 kB
    with pytest.raises(IngestError, match=r"over the limit of 0\.1 MB.*ingest\.max_file_mb"):
        parse(p, max_bytes=MB // 10)
    assert parse(p, max_bytes=MB).text.startswith("word")


def _parse_as_nobody(path: Path) -> str:
    """Root reads everything, so parse in a forked child that dropped to uid 65534."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            os.setgid(65534)
            os.setuid(65534)
            parse(path)
            msg = "parsed"
        except IngestError as e:
            msg = str(e)
        except BaseException as e:  # noqa: BLE001 - report anything to the parent
            msg = f"unexpected {type(e).__name__}: {e}"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def test_permission_denied(tmp_path):
    p = tmp_path / "secret.md"
    p.write_text("# Secret\n", encoding="utf-8")
    p.chmod(0)
    try:
        if os.access(p, os.R_OK):
            if not hasattr(os, "fork") or os.geteuid() != 0:
                pytest.skip("chmod 000 file is still readable and cannot drop privileges")
            message = _parse_as_nobody(p)
        else:
            with pytest.raises(IngestError) as err:
                parse(p)
            message = str(err.value)
        assert "permission denied" in message, message
        assert "chmod" in message
    finally:
        p.chmod(0o644)


def test_helpers():
    assert content_hash(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert ".md" in SUPPORTED_SUFFIXES and ".jsonl" in SUPPORTED_SUFFIXES
    assert decode_text("中文".encode("gb18030"), "x") == "中文"
