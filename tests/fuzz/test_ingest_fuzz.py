"""Property-based fuzzing of the ingestion entry points on real files.

Inputs: random bytes under every supported suffix, random text and JSON under the text formats,
real PDF and DOCX files truncated or with a byte changed at random points, and nested archives
(a DOCX inside a DOCX, a zip inside a zip, a zip bomb inside a DOCX). The property:
:func:`ragkit.ingest.parse_file` returns a document or raises a :class:`RagkitError` subclass,
never another exception and never hangs (each example has a deadline); and a knowledge-base sync
over a folder of such junk reports the bad files one by one and keeps what was stored before.

The run is derandomized (the same examples in every CI run; a failure reproduces) and sized to
stay well under a minute; ``RAGKIT_FUZZ_EXAMPLES`` scales it up locally.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragkit.config import ChunkingConfig, KnowledgeBaseConfig
from ragkit.errors import RagkitError
from ragkit.ingest import SUPPORTED_SUFFIXES, parse_file
from ragkit.kb import KnowledgeBase
from ragkit.types import ParsedDocument

SCALE = float(os.environ.get("RAGKIT_FUZZ_EXAMPLES", "1"))
MAX_BYTES = 2**20
HANG_S = 60
SUFFIXES = sorted(SUPPORTED_SUFFIXES)


def fuzz(n: int, deadline_ms: int = 5000) -> settings:
    return settings(max_examples=max(1, int(n * SCALE)), deadline=deadline_ms, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                    database=None)


def test_every_supported_suffix_is_fuzzed():
    # A new format must be added here, and gets random bytes below like every other one.
    assert SUFFIXES == [".docx", ".htm", ".html", ".json", ".jsonl", ".markdown", ".md", ".pdf",
                        ".txt"]


@contextmanager
def hang_guard(seconds: int = HANG_S) -> Iterator[None]:
    """Turn a hang into a failure (SIGALRM; a safety net far above any parse's time)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def fail(*_: object) -> None:
        raise AssertionError(f"parsing hung for {seconds}s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_parse(name: str, data: bytes) -> ParsedDocument | RagkitError:
    """The property: a document, or a RagkitError. Anything else propagates and fails."""
    with tempfile.TemporaryDirectory(prefix="ragkit-fuzz-") as d:
        path = Path(d) / name
        path.write_bytes(data)
        try:
            with hang_guard():
                doc = parse_file(path, name, MAX_BYTES)
        except RagkitError as e:
            assert str(e).startswith(f"{name}: ") and "\n" not in str(e)
            return e
    assert doc.text.strip() and doc.sections
    pos = 0
    for s in doc.sections:  # the sections tile the text, whatever the input
        assert s.start == pos and doc.text[s.start : s.start + len(s.text)] == s.text
        pos += len(s.text)
    assert pos == len(doc.text)
    return doc


# --- Real files to break --------------------------------------------------------------------


@cache
def real_pdf() -> bytes:
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 is in the `test` extra")
    pdf = fpdf.FPDF()
    pdf.set_title("Kettle manual")
    pdf.set_font("Helvetica", size=12)
    for text in ("Descale the kettle every month.", "Refunds take five business days."):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


@cache
def real_docx() -> bytes:
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_heading("Returns", level=1)
    d.add_paragraph("Returns are accepted within thirty days.")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text, t.cell(1, 0).text, t.cell(1, 1).text = "a", "b", "c", "d"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def with_members(docx: bytes, extra: dict[str, bytes]) -> bytes:
    """``docx`` with more zip members added (parts Word would ignore)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as src, zipfile.ZipFile(buf, "w",
                                                                   zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info, src.read(info))
        for name, data in extra.items():
            z.writestr(name, data)
    return buf.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


REAL = {".pdf": real_pdf, ".docx": real_docx}


# --- parse_file properties ------------------------------------------------------------------


@fuzz(200)
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=4096))
def test_random_bytes(suffix: str, data: bytes) -> None:
    check_parse(f"junk{suffix}", data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["question", "answer", "q", "a", "category", "faqs", "title", "x"]),
        inner, max_size=4),
    max_leaves=12,
)


@fuzz(150)
@given(
    suffix=st.sampled_from([".md", ".txt", ".html", ".htm", ".json", ".jsonl"]),
    text=st.one_of(
        st.text(max_size=2000),
        st.lists(st.sampled_from(["# ", "## x", "---", "```", "<p>", "</div>", "<h1>", "<li>",
                                  "<table><tr><td>", "\r\n", "\n", "\x00", "\ufeff", "Q", "é",
                                  "退款", "<script>", "<!--", "]]>"]), max_size=200).map("".join),
        JSON.map(json.dumps),
        st.lists(JSON.map(json.dumps), max_size=10).map("\n".join),
    ),
    encoding=st.sampled_from(["utf-8", "utf-16", "gb18030", "utf-8-sig"]),
)
def test_random_text_formats(suffix: str, text: str, encoding: str) -> None:
    check_parse(f"doc{suffix}", text.encode(encoding, errors="replace"))


@fuzz(120, deadline_ms=10_000)
@given(suffix=st.sampled_from([".pdf", ".docx"]), data=st.data())
def test_truncated_real_files(suffix: str, data: st.DataObject) -> None:
    whole = REAL[suffix]()
    cut = data.draw(st.integers(0, len(whole) - 1), label="cut")
    check_parse(f"cut{suffix}", whole[:cut])


@fuzz(120, deadline_ms=10_000)
@given(suffix=st.sampled_from([".pdf", ".docx"]), data=st.data())
def test_real_files_with_a_byte_changed(suffix: str, data: st.DataObject) -> None:
    whole = bytearray(REAL[suffix]())
    at = data.draw(st.integers(0, len(whole) - 1), label="at")
    whole[at] = data.draw(st.integers(0, 255), label="byte")
    check_parse(f"flip{suffix}", bytes(whole))


def test_real_files_parse():
    assert isinstance(check_parse("ok.pdf", real_pdf()), ParsedDocument)
    assert isinstance(check_parse("ok.docx", real_docx()), ParsedDocument)


def test_nested_archives():
    inner = real_docx()
    bomb = zip_of({"a.xml": b"<a/>" * (8 * 2**20)})  # 32 MB unpacked, tiny packed
    cases = {
        "docx-in-docx.docx": with_members(inner, {"word/embeddings/inner.docx": inner}),
        "zip-in-zip-in-docx.docx": with_members(inner, {"x.zip": zip_of({"y.zip": zip_of(
            {"z.docx": inner})})}),
        "bomb-in-docx.docx": with_members(inner, {"word/media/bomb.zip": bomb}),
    }
    for name, data in cases.items():  # the outer document is fine; what it carries is inert
        doc = check_parse(name, data)
        assert isinstance(doc, ParsedDocument), doc
        assert "thirty days" in doc.text
    # A zip that is not a DOCX, one holding a DOCX, and a bomb named .docx: refused.
    for name, data in {"plain.docx": zip_of({"a.txt": b"hello"}),
                       "wrapped.docx": zip_of({"inner.docx": inner}),
                       "bomb.docx": bomb}.items():
        assert isinstance(check_parse(name, data), RagkitError), name


@fuzz(40, deadline_ms=10_000)
@given(data=st.data())
def test_random_zip_members_named_docx(data: st.DataObject) -> None:
    names = st.sampled_from(["[Content_Types].xml", "_rels/.rels", "word/document.xml",
                             "word/_rels/document.xml.rels", "docProps/core.xml", "x.bin"])
    members = data.draw(st.dictionaries(names, st.binary(max_size=512), max_size=5))
    with zipfile.ZipFile(io.BytesIO(real_docx())) as z:
        base = {n: z.read(n) for n in z.namelist()}
    check_parse("members.docx", zip_of({**base, **members}))  # real parts, some replaced


# --- A sync over a folder of junk -----------------------------------------------------------


@pytest.fixture(scope="module")
def kb(tmp_path_factory, tiny_embedder_dir: Path, tiny_embedder):
    config = KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                                 chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
    base = KnowledgeBase.open(tmp_path_factory.mktemp("fuzz") / "kb", create=True,
                              config=config, embedder=tiny_embedder)
    yield base
    base.close()


GOOD = "# Kettle\n\nThe kettle boils water quickly. Descale it every month with citric acid.\n"


@fuzz(12, deadline_ms=30_000)
@given(junk=st.dictionaries(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(SUFFIXES)).map("".join),
    st.one_of(st.binary(max_size=2048),
              st.sampled_from([".pdf", ".docx"]).flatmap(
                  lambda s: st.integers(0, 4000).map(lambda n, s=s: REAL[s]()[:n]))),
    min_size=1, max_size=6))
def test_sync_reports_junk_and_keeps_stored_content(kb: KnowledgeBase, tmp_path_factory,
                                                    junk: dict[str, bytes]) -> None:
    docs = tmp_path_factory.mktemp("docs")
    (docs / "kettle.md").write_text(GOOD, encoding="utf-8")
    first = kb.sync([docs])
    assert first.failed == [] and len(_docs_under(kb, docs)) == 1
    for name, data in junk.items():
        (docs / name).write_bytes(data)
    # The stored document turns to junk too: it is reported, and its indexed text stays.
    (docs / "kettle.md").write_bytes(b"\x00\xff" * 64)
    report = kb.sync([docs])
    failed = {f["path"] for f in report.failed}
    indexed = {row.source for row in _docs_under(kb, docs)}
    names = {f"{docs.name}/{n}" for n in junk}
    assert f"{docs.name}/kettle.md" in failed and f"{docs.name}/kettle.md" in indexed
    assert names <= failed | indexed, "every file is either indexed or reported"
    assert all(f["error"] and "\n" not in f["error"] for f in report.failed)
    hits = kb.search("citric acid descale", k=5, mode="keyword",
                     filters=[f"source={docs.name}/kettle.md"])
    assert hits and "citric acid" in hits[0].text


def _docs_under(kb: KnowledgeBase, folder: Path) -> list:
    root = str(folder.resolve())
    return [row for path, row in kb.store.documents().items() if path.startswith(root + os.sep)]
