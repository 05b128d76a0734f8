"""Compression bombs: DOCX (zip) and PDF (FlateDecode) files small on disk that unpack to far more
than ``ingest.max_file_mb`` are refused before they are unpacked, and no parser returns more text
than the limit allows."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from ragkit.errors import IngestError
from ragkit.ingest import parse_file

MB = 2**20
PARA = b"<w:p><w:r><w:t>" + b"A" * 1000 + b"</w:t></w:r></w:p>"


def _template() -> bytes:
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_paragraph("hello")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def make_docx(path: Path, paragraphs: int, para: bytes = PARA) -> Path:
    """A real DOCX whose document.xml holds ``paragraphs`` copies of ``para``, streamed into the
    zip so that building a 64 MB (uncompressed) bomb stays cheap."""
    src = zipfile.ZipFile(io.BytesIO(_template()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename != "word/document.xml":
                z.writestr(info, data)
                continue
            head, _, tail = data.partition(b"<w:body>")
            with z.open("word/document.xml", "w", force_zip64=True) as f:
                f.write(head + b"<w:body>")
                block = para * 1000
                for _ in range(paragraphs // 1000):
                    f.write(block)
                f.write(para * (paragraphs % 1000))
                f.write(tail)
    return path


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / MB


def test_docx_zip_bomb_refused(tmp_path):
    bomb = make_docx(tmp_path / "bomb.docx", 64_000)  # 64 MB of XML
    assert bomb.stat().st_size < MB // 2  # passes --max-file-mb 1
    with pytest.raises(IngestError) as err:
        parse_file(bomb, "bomb.docx", MB)
    reason = err.value.reason
    assert reason.startswith("DOCX unpacks to 63.8 MB, over the 10.0 MB allowed (a compression bomb?)"), reason
    assert "ingest.max_file_mb" in reason


def test_docx_zip_bomb_refused_before_unpacking(tmp_path):
    bomb = make_docx(tmp_path / "bomb.docx", 4_000)  # 4 MB of XML, limit 2.5 MB
    caught: list[IngestError] = []

    def run() -> None:
        with pytest.raises(IngestError) as err:
            parse_file(bomb, "bomb.docx", MB // 4)
        caught.append(err.value)

    peak = _peak_mb(run)
    assert "compression bomb" in caught[0].reason
    assert peak < 2, f"the check unpacked the archive (peak {peak:.1f} MB)"


def test_docx_under_the_expansion_limit_still_parses(tmp_path):
    ok = make_docx(tmp_path / "ok.docx", 500, b"<w:p><w:r><w:t>Refunds take five days.</w:t></w:r></w:p>")
    doc = parse_file(ok, "ok.docx", MB)
    assert doc.text.count("Refunds take five days.") == 500


def _lie_about_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the central-directory (and local) uncompressed size of ``name`` to ``size``."""
    out = bytearray(data)
    for sig, off in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        pos = 0
        while (pos := out.find(sig, pos)) >= 0:
            name_at = pos + (46 if sig == b"PK\x01\x02" else 30)
            ours = out[name_at : name_at + len(name)] == name
            if ours and struct.unpack_from("<I", out, pos + off)[0] != 0xFFFFFFFF:
                struct.pack_into("<I", out, pos + off, size)
            pos += 4
    return bytes(out)


def _liar(tmp_path: Path, paragraphs: int) -> Path:
    """A DOCX whose zip directory says document.xml is 4 kB; it really is ``paragraphs`` kB."""
    real = make_docx(tmp_path / f"real{paragraphs}.docx", paragraphs)
    buf = io.BytesIO()
    with zipfile.ZipFile(real) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info))  # no zip64 extra: sizes in the headers
    liar = tmp_path / f"liar{paragraphs}.docx"
    liar.write_bytes(_lie_about_sizes(buf.getvalue(), b"word/document.xml", 4096))
    return liar


def test_docx_lying_central_directory_is_refused_reading_in_bounded_blocks(tmp_path):
    # Python's zipfile inflates a whole member in one call and only then cuts it to the
    # declared size, so the directory cannot be trusted: each member is inflated in bounded
    # blocks and compared with its declared size.
    liar = _liar(tmp_path, 16_000)  # 16 MB of XML, over the 10 MB limit
    caught: list[IngestError] = []

    def run() -> None:
        with pytest.raises(IngestError) as err:
            parse_file(liar, "liar.docx", MB)
        caught.append(err.value)

    peak = _peak_mb(run)
    assert "DOCX unpacks to more than the 10.0 MB allowed" in caught[0].reason
    assert peak < 8, f"inflated the whole member at once (peak {peak:.0f} MB)"
    small = _liar(tmp_path, 1_000)  # under the limit, still not what the directory says
    with pytest.raises(IngestError, match="word/document.xml does not match its size"):
        parse_file(small, "small.docx", MB)


def test_docx_text_over_the_character_limit(tmp_path):
    # 300 kB of text from a ~40 kB file: under the unpacked-size limit (2 MB for a 0.2 MB
    # max_file_mb), over the text limit (one character per byte of max_file_mb).
    p = make_docx(tmp_path / "long.docx", 300)
    with pytest.raises(IngestError, match=r"text is over 209715 characters") as err:
        parse_file(p, "long.docx", MB // 5)
    assert "ingest.max_file_mb" in err.value.reason


def make_flate_pdf(path: Path, content: bytes) -> Path:
    """A one-page PDF whose content stream is ``content``, FlateDecode-compressed."""
    stream = zlib.compress(content, 9)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def test_pdf_flate_bomb_refused(tmp_path):
    # 24 MB of page content (a comment after the text) from a ~25 kB file.
    content = b"BT /F1 12 Tf 72 712 Td (Refund policy) Tj ET\n%" + b" " * (24 * MB) + b"\n"
    bomb = make_flate_pdf(tmp_path / "bomb.pdf", content)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(IngestError, match=r"PDF content unpacks to more than the 10\.0 MB allowed") as err:
        parse_file(bomb, "bomb.pdf", MB)
    assert "bomb" in err.value.reason
    ok = make_flate_pdf(tmp_path / "ok.pdf", content[:100] + b"\n")
    assert parse_file(ok, "ok.pdf", MB).text == "Refund policy"
