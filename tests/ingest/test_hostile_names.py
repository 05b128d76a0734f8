"""Two files that aborted a whole index run, found by the adversarial pass of issue 24: a
file name with bytes that are not UTF-8 (a UnicodeEncodeError while hashing its chunk ids) and
an FAQ JSON file nested 10,000 deep (a RecursionError inside json.loads). Both are now
reported per file and the rest is indexed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragkit.errors import IngestError
from ragkit.ingest import parse_file
from ragkit.kb import KnowledgeBase


def test_deeply_nested_faq_json_is_one_files_error(tmp_path: Path) -> None:
    deep = tmp_path / "faq.json"
    deep.write_text("[" * 10_000 + "]" * 10_000, encoding="utf-8")
    with pytest.raises(IngestError, match="nested too deeply"):
        parse_file(deep, "faq.json", 1 << 20)
    lines = tmp_path / "faq.jsonl"
    lines.write_text('{"question": "Q?", "answer": "A."}\n' + "[" * 10_000 + "]" * 10_000 + "\n",
                     encoding="utf-8")
    assert parse_file(lines, "faq.jsonl", 1 << 20).text  # the good line is kept


def test_hostile_names_and_nesting_are_reported_and_the_rest_indexed(
        tmp_path: Path, kb: KnowledgeBase) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nThe kettle boils water quickly.\n", encoding="utf-8")
    (docs / "deep.json").write_text("[" * 10_000 + "]" * 10_000, encoding="utf-8")
    bad = os.fsencode(docs) + b"/bad\xff\xfename.txt"
    with open(bad, "wb") as fh:
        fh.write(b"Text under a name that is not UTF-8.\n")
    report = kb.sync([docs])
    failed = {f["path"]: f["error"] for f in report.failed}
    assert "docs/deep.json" in failed and "nested too deeply" in failed["docs/deep.json"]
    [name] = [p for p in failed if p.startswith("docs/bad")]
    assert "\\x" in name and "not valid UTF-8" in failed[name]
    name.encode("utf-8")  # printable and storable
    assert kb.search("kettle boils", k=3, mode="keyword")[0].source == "docs/good.md"
