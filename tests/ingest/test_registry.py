"""The suffix registry: a parser a user registers is discovered, parsed and indexed like a
built-in one (real files, real SQLite, real FAISS, the tiny embedder), and mistakes in
registering are one-line errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragkit import ingest
from ragkit.errors import ConfigError, IngestError
from ragkit.ingest import (
    ParseContext,
    discover,
    parse_file,
    parser_for,
    register_parser,
    supported_suffixes,
    unregister_parser,
)
from ragkit.kb import KnowledgeBase
from ragkit.types import ParsedDocument, Section
from tests.helpers.docs import write_docs


def parse_csv(data: bytes, ctx: ParseContext) -> ParsedDocument:
    """question,answer rows -> one section per row (a user's parser, written as the docs say)."""
    rows = list(csv.reader(io.StringIO(ctx.decode(data))))
    if not rows or rows[0] != ["question", "answer"]:
        raise ctx.error("expected a header row 'question,answer'; add it")
    parts = [f"{q}: {a}" for q, a in rows[1:]]
    text, sections, offset = "\n".join(parts), [], 0
    for i, part in enumerate(parts):
        body = part + ("\n" if i + 1 < len(parts) else "")
        sections.append(Section(body, offset, (part.split(":")[0],)))
        offset += len(body)
    return ParsedDocument(ctx.display_path, "text", ctx.stem, text, tuple(sections))


def parse_rst(data: bytes, ctx: ParseContext) -> ParsedDocument:
    text = ctx.decode(data)
    return ParsedDocument(ctx.display_path, "text", text.splitlines()[0], text, (Section(text, 0),))


@pytest.fixture()
def user_parsers() -> Iterator[None]:
    register_parser(".csv", parse_csv)
    register_parser(".RST", parse_rst)  # any case
    yield
    unregister_parser(".csv")
    unregister_parser(".rst")


DOCS = {
    "faq.csv": "question,answer\nrefund,Refunds are paid within five business days\n"
               "descale,Descale the kettle every month with citric acid\n",
    "guide.rst": "Shipping guide\n==============\n\nExpress delivery takes one day.\n",
    "bad.csv": "q,a\nx,y\n",
    "notes.md": "# Notes\n\nReturns are accepted within thirty days.\n",
}


def test_builtins_are_registered_like_a_users_parser() -> None:
    assert {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".json", ".jsonl"} \
        == ingest.SUPPORTED_SUFFIXES <= supported_suffixes()
    assert parser_for(".MD") is parser_for(".md") is ingest.markdown.parse
    assert parser_for(".csv") is None


def test_a_registered_suffix_is_discovered_and_synced(
    user_parsers: None, kb: KnowledgeBase, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    assert [p.name for p in discover([docs], [])] == ["bad.csv", "faq.csv", "guide.rst", "notes.md"]
    report = kb.sync([docs])
    assert report.added == 3 and report.changes["added"] == [
        "docs/faq.csv", "docs/guide.rst", "docs/notes.md"]
    assert report.failed == [{"path": "docs/bad.csv",
                              "error": "expected a header row 'question,answer'; add it"}]
    hits = kb.search("citric acid descale", k=1, mode="keyword")
    assert hits[0].source == "docs/faq.csv" and hits[0].heading == "descale"
    assert kb.search("express delivery", k=1, mode="keyword")[0].source == "docs/guide.rst"
    # incremental like any format: unchanged files embed nothing, an edit re-indexes one file
    assert kb.sync([docs]).chunks_embedded == 0
    (docs / "faq.csv").write_text(DOCS["faq.csv"] + "points,Points never expire\n")
    again = kb.sync([docs])
    assert (again.updated, again.unchanged, again.changes["updated"]) == (1, 2, ["docs/faq.csv"])


def test_unregistering_stops_discovery_and_the_next_sync_removes_the_documents(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs", {k: v for k, v in DOCS.items() if k != "bad.csv"})
    register_parser(".csv", parse_csv)
    try:
        assert kb.sync([docs]).added == 2  # faq.csv and notes.md (.rst is not registered here)
    finally:
        assert unregister_parser(".csv") is parse_csv
    assert ".csv" not in supported_suffixes()
    report = kb.sync([docs])
    assert report.removed == 1 and report.changes["removed"] == ["docs/faq.csv"]
    with pytest.raises(IngestError, match=r"unsupported file type '\.csv'.*Convert it"):
        parse_file(docs / "faq.csv", "faq.csv", 2**20)


def test_a_suffix_with_a_parser_is_replaced_only_on_request() -> None:
    with pytest.raises(ConfigError, match=r"\.md files already have a parser .*replace=True"):
        register_parser(".md", parse_rst)
    register_parser(".md", ingest.markdown.parse)  # the same parser again is no change
    try:
        register_parser(".md", parse_rst, replace=True)
        assert parser_for(".md") is parse_rst
    finally:
        register_parser(".md", ingest.markdown.parse, replace=True)
    assert parser_for(".md") is ingest.markdown.parse


@pytest.mark.parametrize("suffix", ["csv", ".", "", ".tar.gz", "./x", ".a/b"])
def test_a_suffix_that_is_not_one_is_refused(suffix: str) -> None:
    with pytest.raises(ConfigError, match="pass it like '.csv'"):
        register_parser(suffix, parse_csv)


def test_the_common_checks_apply_to_a_users_parser(user_parsers: None, tmp_path: Path) -> None:
    blank = tmp_path / "blank.csv"
    blank.write_text("  \n")
    with pytest.raises(IngestError, match="empty or only whitespace"):
        parse_file(blank, "blank.csv", 2**20)
    big = tmp_path / "big.rst"
    big.write_text("Title\n" + "word " * 300)
    with pytest.raises(IngestError, match="text is over 1000 characters"):
        ingest.parse_bytes(big.read_bytes(), big, "big.rst", 1000)
