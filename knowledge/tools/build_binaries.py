"""Build the PDF and DOCX documents of the Brightcart sample knowledge base.

Owns: turning the plain-text sources in ``knowledge/tools/src/`` into the binary files that are
committed under ``knowledge/store/``. It does not own the prose (that lives in the sources) and
it is not part of the ``ragkit`` package: it is a maintainer's tool, run by hand after a source
changes::

    pip install fpdf2 python-docx
    apt-get install -y fonts-wqy-microhei   # or fonts-noto-cjk, for the Chinese PDF
    python knowledge/tools/build_binaries.py

The source markup is a small subset of Markdown: ``#``/``##``/``###`` headings, ``- `` bullets,
``1. `` numbered items, ``| a | b |`` table rows (the first row is the header) and blank lines
between paragraphs. A line ``!pagebreak`` forces a new page in PDFs and is ignored in DOCX.
Output is deterministic (fixed dates, fixed zip timestamps) so a rebuild without source changes
leaves git clean.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
STORE = HERE.parent / "store"
FIXED_DATE = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


@dataclass(frozen=True)
class Block:
    """One unit of a source document: kind is heading1-3, para, bullet, number, table, pagebreak."""

    kind: str
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Target:
    source: str
    output: str  # relative to knowledge/store
    lang: str  # "en" or "zh"
    footer: str


TARGETS = (
    Target(
        "warranty_terms.en.md", "policies/warranty_terms.pdf", "en", "Brightcart Warranty Terms"
    ),
    Target(
        "camping_stove_ember.en.md",
        "manuals/camping_stove_ember.pdf",
        "en",
        "Ember Compact Camping Stove",
    ),
    Target(
        "air_fryer_crisp.zh.md", "manuals/air_fryer_crisp_zh.pdf", "zh", "亮购 脆享空气炸锅说明书"
    ),
    Target("returns_guide.zh.md", "policies/returns_guide_zh.docx", "zh", ""),
    Target("business_terms.en.md", "policies/business_terms.docx", "en", ""),
)


def parse_source(text: str) -> list[Block]:
    """Parse the markup described in the module docstring into blocks (pure)."""
    blocks: list[Block] = []
    para: list[str] = []
    table: list[tuple[str, ...]] = []

    def flush() -> None:
        if para:
            blocks.append(Block("para", " ".join(para)))
            para.clear()
        if table:
            blocks.append(Block("table", rows=tuple(table)))
            table.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            if para:
                flush()
            cells = tuple(c.strip() for c in line.strip("|").split("|"))
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                table.append(cells)
            continue
        if not line:
            flush()
        elif line == "!pagebreak":
            flush()
            blocks.append(Block("pagebreak"))
        elif m := re.match(r"(#{1,3}) (.+)", line):
            flush()
            blocks.append(Block(f"heading{len(m.group(1))}", m.group(2)))
        elif line.startswith("- "):
            flush()
            blocks.append(Block("bullet", line[2:]))
        elif m := re.match(r"\d+\. (.+)", line):
            flush()
            blocks.append(Block("number", m.group(1)))
        else:
            if table:
                flush()
            para.append(line)
    flush()
    return blocks


def find_cjk_font() -> str:
    env = os.environ.get("BRIGHTCART_CJK_FONT")
    for candidate in ((env,) if env else ()) + CJK_FONT_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit(
        "No CJK font found for the Chinese PDF. Install one with "
        "`apt-get install -y fonts-wqy-microhei` or set BRIGHTCART_CJK_FONT=/path/to/font.ttc."
    )


def render_pdf(blocks: list[Block], target: Target) -> bytes:
    from fpdf import FPDF

    class _Doc(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font(body_font, size=8)
            self.cell(0, 8, f"{target.footer} - {self.page_no()}", align="C")

    pdf = _Doc(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_author("Brightcart")
    pdf.set_auto_page_break(auto=True, margin=20)
    if target.lang == "zh":
        pdf.add_font("cjk", "", find_cjk_font())
        body_font, bold = "cjk", ""
    else:
        body_font, bold = "helvetica", "B"
    title = next((b.text for b in blocks if b.kind == "heading1"), target.footer)
    pdf.set_title(title)
    pdf.add_page()
    sizes = {"heading1": 17, "heading2": 13, "heading3": 11.5}
    counter = 0
    for block in blocks:
        kw: dict = {"new_x": "LMARGIN", "new_y": "NEXT", "align": "L"}
        if block.kind in sizes:
            pdf.ln(3)
            pdf.set_font(body_font, bold, size=sizes[block.kind])
            pdf.multi_cell(0, 8, block.text, **kw)
            pdf.ln(1)
            counter = 0
        elif block.kind == "pagebreak":
            pdf.add_page()
        elif block.kind == "table":
            pdf.set_font(body_font, size=9.5)
            from fpdf.fonts import FontFace

            headings = FontFace(emphasis=bold or None, fill_color=(230, 230, 230))
            with pdf.table(line_height=6, headings_style=headings) as table:
                for cells in block.rows:
                    row = table.row()
                    for cell in cells:
                        row.cell(cell)
            pdf.ln(2)
        else:
            pdf.set_font(body_font, size=10.5)
            text = block.text
            if block.kind == "bullet":
                text = f"- {text}"
            elif block.kind == "number":
                counter += 1
                text = f"{counter}. {text}"
            pdf.multi_cell(0, 6, text, **kw)
            pdf.ln(1.5 if block.kind == "para" else 0.5)
    return bytes(pdf.output())


def render_docx(blocks: list[Block], target: Target) -> bytes:
    from docx import Document
    from docx.oxml.ns import qn

    doc = Document()
    normal = doc.styles["Normal"]
    if target.lang == "zh":
        normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "Microsoft YaHei")
    props = doc.core_properties
    props.title = next((b.text for b in blocks if b.kind == "heading1"), "")
    props.author = "Brightcart"
    props.language = "zh-CN" if target.lang == "zh" else "en-GB"
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_modified_by = "Brightcart"
    props.revision = 1
    for block in blocks:
        if block.kind.startswith("heading"):
            doc.add_heading(block.text, level=int(block.kind[-1]))
        elif block.kind == "bullet":
            doc.add_paragraph(block.text, style="List Bullet")
        elif block.kind == "number":
            doc.add_paragraph(block.text, style="List Number")
        elif block.kind == "table":
            ncols = max(len(r) for r in block.rows)
            table = doc.add_table(rows=0, cols=ncols)
            table.style = "Table Grid"
            for cells in block.rows:
                row = table.add_row().cells
                for i, cell in enumerate(cells):
                    row[i].text = cell
        elif block.kind == "para":
            doc.add_paragraph(block.text)
    buf = io.BytesIO()
    doc.save(buf)
    return _fixed_zip(buf.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps so identical content gives identical bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 3, 1, 9, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def render(target: Target) -> bytes:
    """The bytes of ``target`` built from its current source."""
    blocks = parse_source((SRC / target.source).read_text(encoding="utf-8"))
    if target.output.endswith(".pdf"):
        return render_pdf(blocks, target)
    return render_docx(blocks, target)


def build(target: Target) -> Path:
    out = STORE / target.output
    data = render(target)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("only", nargs="*", help="output names to build (default: all)")
    args = parser.parse_args(argv)
    for target in TARGETS:
        if args.only and Path(target.output).name not in args.only:
            continue
        path = build(target)
        print(f"wrote {path.relative_to(HERE.parent)} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
