"""chunk_document: budgets with real tokenizers, exact offsets, sections, overlap, stable ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragkit.chunking import (
    HEADER_MAX_CHARS,
    chunk_document,
    chunk_id,
    embedding_header,
    embedding_text,
)
from ragkit.errors import ConfigError
from ragkit.ingest import parse_file
from ragkit.text import split_sentences
from ragkit.types import Chunk, ParsedDocument, Section


def md_doc(text: str, path: str = "doc.md", title: str = "Doc") -> ParsedDocument:
    """A one-section document (tests of packing, without the Markdown parser in the way)."""
    return ParsedDocument(path, "markdown", title, text, (Section(text, 0),))


def check_chunks(doc: ParsedDocument, chunks: list[Chunk], count, max_tokens: int) -> None:
    """The invariants every chunking must satisfy."""
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text and c.text == c.text.strip() and c.text
        assert count(embedding_text(c)) <= max_tokens, c
        assert c.doc_path == doc.path
        covering = [s for s in doc.sections if s.start < c.end and c.start < s.start + len(s.text)]
        assert len({(s.heading_path, s.page) for s in covering}) == 1
        path, page = covering[0].heading_path, covering[0].page
        assert c.page == page and len(c.heading_path) == len(path)
        if (c.title, c.heading_path) != (doc.title, path):  # shortened only when too long
            assert count(embedding_header(doc.title, path) + "\n") > max_tokens // 2
            assert doc.title.startswith(c.title)
            assert all(
                full.startswith(short) for full, short in zip(path, c.heading_path, strict=True)
            )
    assert len({c.id for c in chunks}) == len(chunks)


def words(n: int, seed: int = 0) -> str:
    vocab = [
        "refund",
        "order",
        "item",
        "card",
        "bank",
        "days",
        "policy",
        "store",
        "return",
        "label",
        "box",
        "price",
    ]
    return " ".join(vocab[(seed * 7 + i * 5) % len(vocab)] for i in range(n))


def english(paragraphs: int, seed: int = 0) -> str:
    out = []
    for p in range(paragraphs):
        sents = [f"{words(6 + (p + k) % 9, seed + p * 3 + k).capitalize()}." for k in range(5)]
        out.append(" ".join(sents))
    return "\n\n".join(out)


# --- every format, two tokenizers -------------------------------------------------------------


def build_files(tmp: Path) -> list[Path]:
    md = tmp / "a.md"
    md.write_text(
        "# Returns policy\n\n"
        + english(4)
        + "\n\n## Refund timing\n\n```\n# not a heading\n```\n\n"
        + english(3, 5)
        + "\n\n# 中文部分\n\n"
        + "退款一般需要三到五个工作日。如果超过七天仍未到账，请联系客服！为什么会延迟？银行处理需要时间；节假日顺延。"
        * 4,
        "utf-8",
    )
    txt = tmp / "b.txt"
    txt.write_text("Notes\n\n" + english(5, 2), "utf-8")
    html = tmp / "c.html"
    html.write_text(
        f"<title>Help</title><h1>Accounts</h1><p>{english(2)}</p><h2>Passwords</h2>"
        f"<p>{english(3, 1)}</p><table><tr><td>a</td><td>b</td></tr></table>",
        "utf-8",
    )
    faq = tmp / "d.jsonl"
    faq.write_text(
        "\n".join(
            json.dumps(
                {"question": f"Question {i}?", "answer": english(1, i), "category": "General"}
            )
            for i in range(4)
        ),
        "utf-8",
    )
    files = [md, txt, html, faq]
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 is in the `test` extra")
    pdf = fpdf.FPDF()
    pdf.set_font("Helvetica", size=11)
    for i in range(3):
        pdf.add_page()
        pdf.multi_cell(0, 6, english(2, i))
    pdf.output(str(tmp / "e.pdf"))
    files.append(tmp / "e.pdf")
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_heading("Guide", 1)
    d.add_paragraph(english(3))
    d.add_heading("Table", 2)
    t = d.add_table(rows=3, cols=2)
    for r in range(3):
        for c in range(2):
            t.cell(r, c).text = words(4, r + c)
    d.save(str(tmp / "f.docx"))
    files.append(tmp / "f.docx")
    return files


@pytest.mark.parametrize(("counter", "max_tokens", "overlap"), [("e5", 64, 16), ("words", 24, 6)])
def test_invariants_on_every_format(tmp_path, request, assert_tiles, counter, max_tokens, overlap):
    count = request.getfixturevalue("e5_count" if counter == "e5" else "word_count")
    kinds = set()
    for path in build_files(tmp_path):
        doc = parse_file(path, path.name, 2**20)
        assert_tiles(doc)
        chunks = chunk_document(doc, count, max_tokens, overlap)
        assert len(chunks) >= 2, path
        check_chunks(doc, chunks, count, max_tokens)
        kinds.add(doc.kind)
        if doc.kind == "pdf":
            assert {c.page for c in chunks} == {1, 2, 3}
    assert kinds == {"markdown", "text", "html", "faq", "pdf", "docx"}


def test_fenced_heading_does_not_start_a_chunk_path(tmp_path, word_count):
    p = tmp_path / "x.md"
    p.write_text("# Top\n\nIntro text here.\n\n```\n# not a heading\n```\n\nAfter code.", "utf-8")
    chunks = chunk_document(parse_file(p, "x.md", 2**20), word_count, 50, 5)
    assert [c.heading_path for c in chunks] == [("Top",)]
    assert "# not a heading" in chunks[0].text


def test_chinese_chunks_end_at_sentence_ends(tmp_path, e5_count):
    sents = [
        "退款一般需要三到五个工作日。",
        "如果超过七天仍未到账，请联系客服！",
        "为什么会延迟？",
        "银行处理需要时间；",
        "节假日顺延。",
    ]
    body = "".join(sents[i % 5] for i in range(60))
    p = tmp_path / "退货.md"
    p.write_text("# 退货政策\n\n退货说明。\n\n## 退款时间\n\n" + body, "utf-8")
    doc = parse_file(p, "退货.md", 2**20)
    chunks = chunk_document(doc, e5_count, 48, 8)
    check_chunks(doc, chunks, e5_count, 48)
    body_chunks = [c for c in chunks if c.heading_path == ("退货政策", "退款时间")]
    assert len(body_chunks) >= 5
    assert all(c.text[-1] in "。！？；" for c in body_chunks)
    assert all(doc.text[c.start - 1] in "。！？；\n" for c in body_chunks)  # start at a sentence
    assert chunks[0].heading_path == ("退货政策",) and "退货说明。" in chunks[0].text


# --- packing ----------------------------------------------------------------------------------


def test_overlap_is_whole_trailing_sentences(word_count):
    doc = md_doc(english(8))
    chunks = chunk_document(doc, word_count, 40, 12)
    check_chunks(doc, chunks, word_count, 40)
    starts = {doc_start for doc_start, _ in split_sentences(doc.text)}
    overlaps = 0
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start in starts
        if b.start < a.end:
            overlaps += 1
            shared = doc.text[b.start : a.end]
            assert word_count(shared) - 1 <= 12 and a.text.endswith(shared.strip())
    assert overlaps >= len(chunks) // 2
    no_overlap = chunk_document(doc, word_count, 40, 0)
    assert all(b.start >= a.end for a, b in zip(no_overlap, no_overlap[1:], strict=False))
    assert len(no_overlap) < len(chunks)


def test_long_sentence_is_hard_split_at_word_boundaries(word_count, e5_count):
    doc = md_doc(words(400))  # one "sentence", no punctuation at all
    for count, budget in ((word_count, 30), (e5_count, 40)):
        chunks = chunk_document(doc, count, budget, 0)
        check_chunks(doc, chunks, count, budget)
        assert len(chunks) > 5
        assert " ".join(c.text for c in chunks) == doc.text  # nothing lost, split at spaces


def test_cjk_run_is_split_anywhere_without_loss(e5_count):
    doc = md_doc("退款需要时间" * 200)
    chunks = chunk_document(doc, e5_count, 32, 0)
    check_chunks(doc, chunks, e5_count, 32)
    assert "".join(c.text for c in chunks) == doc.text


def test_short_closing_paragraph_joins_previous_chunk(word_count):
    text = "Intro line here.\n\n" + english(1) + "\n\n" + english(1, 3) + "\n\nDone."
    doc = md_doc(text, title="")
    budget = word_count(english(1, 3)) + 3
    chunks = chunk_document(doc, word_count, budget, 0)
    check_chunks(doc, chunks, word_count, budget)
    assert chunks[-1].text.endswith("Done.") and chunks[-1].text != "Done."
    assert chunks[0].text.startswith("Intro line here.\n\n") and len(chunks) == 2


def test_faq_pair_is_one_chunk_and_long_pairs_are_split_not_truncated(tmp_path, e5_count):
    p = tmp_path / "faq.json"
    pairs = [{"question": f"Q{i}?", "answer": english(1, i)} for i in range(5)]
    pairs.append({"question": "Long one?", "answer": english(6)})
    p.write_text(json.dumps(pairs), "utf-8")
    doc = parse_file(p, "faq.json", 2**20)
    chunks = chunk_document(doc, e5_count, 96, 16)
    check_chunks(doc, chunks, e5_count, 96)
    assert [c.text for c in chunks[:5]] == [s.text.strip() for s in doc.sections[:5]]
    long = [c for c in chunks if c.heading_path == ("Long one?",)]
    assert len(long) > 1
    covered = set().union(*(range(c.start, c.end) for c in long))
    last = doc.sections[-1]
    assert all(i in covered for i in range(last.start, last.start + len(last.text.rstrip())))


def test_heading_only_sections_make_no_chunk(tmp_path, word_count):
    p = tmp_path / "h.md"
    p.write_text("# Guide\n\n## Setup\n\nInstall it.\n\n## Use\n\nRun it.\n", "utf-8")
    chunks = chunk_document(parse_file(p, "h.md", 2**20), word_count, 50, 5)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (("Guide", "Setup"), "## Setup\n\nInstall it."),
        (("Guide", "Use"), "## Use\n\nRun it."),
    ]


# --- embedding text ---------------------------------------------------------------------------


def test_embedding_text_header():
    c = Chunk(
        "id",
        "p",
        0,
        "Refunds take 3 days.",
        0,
        20,
        ("Returns policy", "Refund timing"),
        None,
        "Returns policy",
    )
    assert embedding_text(c) == "Returns policy > Refund timing\nRefunds take 3 days."
    c2 = Chunk("id", "p", 0, "x", 0, 1, ("H",), None, "Handbook")
    assert embedding_text(c2) == "Handbook > H\nx"
    assert embedding_text(Chunk("id", "p", 0, "x", 0, 1)) == "x"
    long = Chunk("id", "p", 0, "x", 0, 1, ("A" * 80, "B" * 80), None, "T")
    header = embedding_text(long).split("\n")[0]
    assert len(header) <= HEADER_MAX_CHARS and header.startswith("B")  # most specific kept


def test_overlong_heading_is_shortened_not_fatal(e5_count):
    text = "正文内容。" * 30
    heading = "非常长的标题" * 40  # 240 characters of CJK
    doc = ParsedDocument("p.md", "markdown", "T", text, (Section(text, 0, ("A", heading)),))
    chunks = chunk_document(doc, e5_count, 48, 0)
    check_chunks(doc, chunks, e5_count, 48)
    assert all(heading.startswith(c.heading_path[-1]) for c in chunks)
    assert all(len(c.heading_path[-1]) < len(heading) for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_overlap_must_be_smaller_than_max(word_count):
    with pytest.raises(ConfigError, match="overlap_tokens"):
        chunk_document(md_doc("Some text."), word_count, 20, 20)


# --- ids --------------------------------------------------------------------------------------


def test_ids_are_deterministic_and_distinguish_duplicates(word_count):
    parts = ["Same sentence here.\n\n", "## B\n\nOther words.\n\n", "Same sentence here."]
    starts = [0, len(parts[0]), len(parts[0]) + len(parts[1])]
    paths = [(), ("B",), ()]
    text = "".join(parts)
    sections = tuple(Section(t, s, p) for t, s, p in zip(parts, starts, paths, strict=True))
    doc = ParsedDocument("doc.md", "markdown", "Doc", text, sections)
    a = chunk_document(doc, word_count, 12, 0)
    b = chunk_document(doc, word_count, 12, 0)
    assert [c.id for c in a] == [c.id for c in b]
    dup = [c for c in a if c.text == "Same sentence here."]
    assert len(dup) == 2 and dup[0].id != dup[1].id
    assert dup[0].id == chunk_id("doc.md", (), "Same sentence here.", 0)
    assert dup[1].id == chunk_id("doc.md", (), "Same sentence here.", 1)
    moved = ParsedDocument("other.md", "markdown", "Doc", text, sections)
    assert chunk_document(moved, word_count, 12, 0)[0].id != a[0].id


def markdown_kb(paragraphs: list[str]) -> str:
    return "# One\n\n" + "\n\n".join(paragraphs[:6]) + "\n\n# Two\n\n" + "\n\n".join(paragraphs[6:])


@pytest.mark.parametrize("edited", [1, 3, 7])
def test_edit_changes_only_chunks_that_contain_it(tmp_path, word_count, edited):
    paras = [english(1, seed) for seed in range(10)]
    before_path = tmp_path / "kb.md"
    before_path.write_text(markdown_kb(paras), "utf-8")
    old_sentence = paras[edited].split(". ")[1]
    new_sentence = old_sentence + " plus seven more words to shift things"
    paras[edited] = paras[edited].replace(old_sentence, new_sentence)
    after_path = tmp_path / "kb2.md"
    after_path.write_text(markdown_kb(paras), "utf-8")
    before = chunk_document(parse_file(before_path, "kb.md", 2**20), word_count, 60, 10)
    after = chunk_document(parse_file(after_path, "kb.md", 2**20), word_count, 60, 10)
    old_ids, new_ids = {c.id for c in before}, {c.id for c in after}
    assert old_ids & new_ids, "most chunks keep their ids"
    gone = [c for c in before if c.id not in new_ids]
    added = [c for c in after if c.id not in old_ids]
    assert gone and added
    assert all(old_sentence in c.text for c in gone), [c.text for c in gone]
    assert all(new_sentence in c.text for c in added), [c.text for c in added]


@pytest.mark.parametrize("seed", range(12))
def test_random_documents_keep_every_invariant(tmp_path, word_count, e5_count, seed):
    """Seeded random Markdown: headings, lists, code, CJK runs, huge words, blank lines."""
    import random

    rng = random.Random(seed)
    pieces = ["# 标题 title", "## Sub", "- item one", "1. step", "```\n# code\n```", "", "\n"]
    pieces += ["退款需要时间。" * rng.randint(1, 30), "x" * rng.randint(1, 400), "Mr. Smith left."]
    pieces += [english(rng.randint(1, 3), rng.randint(0, 50)), words(rng.randint(1, 200))]
    text = "\n".join(rng.choice(pieces) for _ in range(rng.randint(5, 60)))
    if not text.strip():
        text = "fallback text."
    p = tmp_path / "r.md"
    p.write_text(text, "utf-8")
    doc = parse_file(p, "r.md", 2**20)
    for count, budget, overlap in ((word_count, 17, 4), (e5_count, 40, 10), (e5_count, 256, 32)):
        chunks = chunk_document(doc, count, budget, overlap)
        check_chunks(doc, chunks, count, budget)
        covered = set().union(*(range(c.start, c.end) for c in chunks))
        # Only sections holding nothing but their own heading line may be left out.
        skippable = set().union(
            *(
                range(s.start, s.start + len(s.text))
                for s in doc.sections
                if s.text.strip().lstrip("#").strip() in ("", *s.heading_path[-1:])
            )
        )
        lost = [i for i, ch in enumerate(doc.text) if not ch.isspace() and i not in covered]
        assert all(i in skippable for i in lost), [doc.text[i] for i in lost[:20]]
