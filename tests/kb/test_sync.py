"""Incremental sync of a knowledge base on real files, real SQLite and real FAISS, with the
tiny locally built embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragkit.config import ChunkingConfig, KnowledgeBaseConfig
from ragkit.errors import ConfigError, KnowledgeBaseError
from ragkit.kb import KnowledgeBase
from tests.helpers.docs import write_docs

DOCS = {
    "policies/returns.md": "# Returns\n\n## Window\n\nReturns are accepted within thirty days "
    "if the item is unused.\n\n## Refunds\n\nRefunds are paid back to the original payment "
    "method within five business days.\n",
    "policies/shipping.md": "# Shipping\n\nShipping is free for orders over fifty euros. "
    "Express delivery takes one day.\n",
    "manuals/kettle.txt": "Kettle manual\n\nThe kettle boils water quickly. Descale it every "
    "month with citric acid.\n",
    "zh/退款.md": "# 退款\n\n退款会在五个工作日内退回原支付方式。退货须在三十天内申请。\n",
}


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs", DOCS)


@pytest.fixture()
def kb(tmp_path: Path, tiny_embedder_dir: Path, tiny_embedder) -> KnowledgeBase:
    config = KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                                 chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
    base = KnowledgeBase.open(tmp_path / "kb", create=True, config=config, embedder=tiny_embedder)
    yield base
    base.close()


def test_first_sync_adds_everything_and_is_searchable(kb: KnowledgeBase, corpus: Path) -> None:
    report = kb.sync([corpus])
    assert (report.added, report.updated, report.removed, report.failed) == (4, 0, 0, [])
    assert report.chunks_embedded == report.chunks_total > 0
    counts = kb.store.counts()
    assert counts["documents"] == 4 and counts["chunks"] == report.chunks_total
    assert len(kb.index()) == counts["chunks"]
    hits = kb.search("citric acid descale", k=3, mode="keyword")
    assert hits and hits[0].source == "docs/manuals/kettle.txt"
    zh = kb.search("退款", k=3, mode="keyword")
    assert zh and zh[0].source == "docs/zh/退款.md"
    assert zh[0].heading == "退款"


def test_unchanged_folder_embeds_nothing(kb: KnowledgeBase, corpus: Path) -> None:
    kb.sync([corpus])
    version = kb.store.kb_version
    again = kb.sync([corpus])
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 4)
    assert again.chunks_embedded == 0
    assert kb.store.kb_version == version  # nothing written, index untouched


def test_edit_reembeds_only_the_changed_file(kb: KnowledgeBase, corpus: Path) -> None:
    kb.sync([corpus])
    before = {r[0] for r in kb.store.conn.execute("SELECT id FROM chunks")}
    path = corpus / "policies/shipping.md"
    path.write_text(path.read_text() + "\nParcels to Norway take four days.\n")
    report = kb.sync([corpus])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 3)
    assert report.changes["updated"] == ["docs/policies/shipping.md"]
    n_ship = kb.store.conn.execute(
        "SELECT count(*) FROM chunks WHERE doc_path = ?", (str(path.resolve()),)).fetchone()[0]
    assert 0 < report.chunks_embedded <= n_ship
    after = {r[0] for r in kb.store.conn.execute("SELECT id FROM chunks")}
    other = before - after
    # Chunks of the other documents keep their ids.
    assert all(cid in after for cid in before if cid not in other)
    assert len(kb.index()) == len(after)
    assert kb.search("Norway", k=1, mode="keyword")[0].source == "docs/policies/shipping.md"


def test_deleted_file_is_gone_from_sqlite_and_faiss(kb: KnowledgeBase, corpus: Path) -> None:
    kb.sync([corpus])
    (corpus / "manuals/kettle.txt").unlink()
    report = kb.sync([corpus])
    assert report.removed == 1 and report.changes["removed"] == ["docs/manuals/kettle.txt"]
    assert kb.search("citric acid descale", k=5, mode="keyword") == [] or all(
        h.source != "docs/manuals/kettle.txt" for h in kb.search("citric acid", k=10))
    assert all(h.source != "docs/manuals/kettle.txt"
               for h in kb.search("kettle boils water", k=10, mode="dense"))
    assert len(kb.index()) == kb.store.counts()["chunks"]


def test_other_roots_are_not_removed(kb: KnowledgeBase, corpus: Path, tmp_path: Path) -> None:
    other = write_docs(tmp_path / "other", {"a.md": "# Gift cards\n\nGift cards never expire.\n"})
    kb.sync([corpus])
    kb.sync([other])
    assert kb.store.counts()["documents"] == 5
    assert kb.search("gift cards expire", k=1, mode="keyword")[0].source == "other/a.md"


def test_bad_files_are_reported_and_stored_content_survives(
    kb: KnowledgeBase, corpus: Path
) -> None:
    kb.sync([corpus])
    (corpus / "empty.md").write_text("")
    (corpus / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00" * 100)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj garbage")
    # A file that was fine and is now corrupt keeps its previously stored version.
    (corpus / "manuals/kettle.txt").write_bytes(b"\x00\xff\x00\xfe" * 50)
    report = kb.sync([corpus])
    failed = {f["path"] for f in report.failed}
    assert failed == {"docs/empty.md", "docs/blob.txt", "docs/broken.pdf",
                      "docs/manuals/kettle.txt"}
    assert all(f["error"] for f in report.failed)
    assert kb.store.counts()["documents"] == 4
    assert kb.search("citric acid", k=1, mode="keyword")[0].source == "docs/manuals/kettle.txt"


def test_dry_run_writes_nothing(kb: KnowledgeBase, corpus: Path) -> None:
    kb.sync([corpus])
    (corpus / "new.md").write_text("# New\n\nLoyalty points double in December.\n")
    (corpus / "policies/returns.md").unlink()
    version = kb.store.kb_version
    report = kb.sync([corpus], dry_run=True)
    assert report.dry_run and report.changes["added"] == ["docs/new.md"]
    assert report.changes["removed"] == ["docs/policies/returns.md"]
    assert report.chunks_embedded >= 1
    assert kb.store.kb_version == version and kb.store.counts()["documents"] == 4


def test_stale_index_is_rebuilt_from_stored_vectors(
    kb: KnowledgeBase, corpus: Path, tiny_embedder
) -> None:
    """A run killed after committing to SQLite but before saving the index leaves a stale
    manifest; opening again rebuilds the index without re-embedding."""
    kb.sync([corpus])
    n = kb.store.counts()["chunks"]
    manifest = json.loads((kb.index_dir / "manifest.json").read_text())
    kb.store.delete_document(str((corpus / "manuals/kettle.txt").resolve()))  # no index save
    calls = []
    original = tiny_embedder.embed_passages
    tiny_embedder.embed_passages = lambda texts, **kw: calls.append(texts) or original(texts)
    try:
        again = KnowledgeBase.open(kb.dir, embedder=tiny_embedder)
        assert len(again.index()) < n
        assert json.loads((kb.index_dir / "manifest.json").read_text())["kb_version"] != \
            manifest["kb_version"]
        again.close()
    finally:
        tiny_embedder.embed_passages = original
    assert calls == []


def test_settings_are_fixed_at_creation(kb: KnowledgeBase, tiny_embedder_dir: Path) -> None:
    with pytest.raises(ConfigError, match="different settings"):
        KnowledgeBase.open(kb.dir, config=KnowledgeBaseConfig(embedder="all-minilm-l6-v2"))


def test_opening_missing_kb_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="ragkit index PATH --kb"):
        KnowledgeBase.open(tmp_path / "nope")


def test_refuses_to_take_over_a_non_kb_directory(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file.txt").write_text("mine")
    with pytest.raises(KnowledgeBaseError, match="not a ragkit knowledge base"):
        KnowledgeBase.open(tmp_path / "x", create=True)


def test_rebuild_rewrites_everything_from_cached_vectors(
    kb: KnowledgeBase, corpus: Path, tmp_path: Path
) -> None:
    other = write_docs(tmp_path / "other", {"g.md": "# Gift cards\n\nGift cards never expire.\n"})
    kb.sync([corpus])
    kb.sync([other])
    report = kb.sync([corpus], rebuild=True)
    assert report.updated == 4 and report.chunks_embedded == 0  # same text: cached vectors
    n = kb.store.counts()["chunks"]
    assert len(kb.index()) == n  # the other root's chunks are in the rebuilt index too
    reopened = KnowledgeBase.open(kb.dir, embedder=kb.embedder)
    assert len(reopened.index()) == n
    assert reopened.search("gift cards expire", k=1, mode="keyword")[0].source == "other/g.md"
    assert json.loads((kb.index_dir / "manifest.json").read_text())["count"] == n
    reopened.close()


def test_sample_texts_spread_over_the_store_and_stop_at_n(kb: KnowledgeBase,
                                                           corpus: Path) -> None:
    kb.sync([corpus])
    every = [r[0] for r in kb.store.conn.execute("SELECT text FROM chunks ORDER BY vid")]
    assert len(every) >= 3
    assert kb.store.sample_texts(10_000) == every
    two = kb.store.sample_texts(2)
    assert len(two) == 2 and two[0] == every[0] and two[1] == every[-(-len(every) // 2)]


def test_file_without_chunkable_text_is_reported_and_the_rest_indexed(
    kb: KnowledgeBase, corpus: Path
) -> None:
    """A Markdown file holding only a heading yields no chunks: it is skipped with a per-file
    reason, and files after it (in discovery order) are still indexed."""
    (corpus / "a_heading_only.md").write_text("# Title\n")
    (corpus / "policies/empty_sections.md").write_text("# One\n\n## Two\n\n### Three\n")
    report = kb.sync([corpus])
    assert {f["path"]: f["error"] for f in report.failed} == {
        "docs/a_heading_only.md": "no text to index (only headings or markup); "
                                  "add body text or remove it from the paths",
        "docs/policies/empty_sections.md": "no text to index (only headings or markup); "
                                           "add body text or remove it from the paths",
    }
    assert report.added == 4 and kb.store.counts()["documents"] == 4
    assert kb.search("citric acid", k=1, mode="keyword")[0].source == "docs/manuals/kettle.txt"
    assert len(kb.index()) == kb.store.counts()["chunks"]
    # A stored document edited down to a bare heading keeps its stored version.
    (corpus / "manuals/kettle.txt").write_text("Kettle manual\n")
    (corpus / "policies/shipping.md").write_text("# Shipping\n")
    again = kb.sync([corpus])
    assert "docs/policies/shipping.md" in {f["path"] for f in again.failed}
    assert kb.search("Express delivery", k=1, mode="keyword")[0].source == \
        "docs/policies/shipping.md"


def test_file_over_the_chunk_cap_is_reported_with_its_size_and_the_rest_indexed(
    kb: KnowledgeBase, corpus: Path
) -> None:
    long = " ".join(f"Sentence {i} about refunds and shipping." for i in range(400))
    (corpus / "huge.txt").write_text(long)
    report = kb.sync([corpus], max_chunks_per_file=20)
    failed = {f["path"]: f["error"] for f in report.failed}
    assert list(failed) == ["docs/huge.txt"]
    assert "over the limit of 20 chunks per file" in failed["docs/huge.txt"]
    assert "--max-chunks-per-file" in failed["docs/huge.txt"]
    assert report.added == 4 and kb.store.counts()["documents"] == 4
    again = kb.sync([corpus], max_chunks_per_file=10_000)  # raised: now indexed
    assert again.added == 1 and again.failed == []


def test_long_embedding_is_estimated_and_announced_before_it_starts(
    kb: KnowledgeBase, corpus: Path
) -> None:
    from ragkit import budget

    write_docs(corpus, {f"more/{i}.md": f"# Doc {i}\n\nWarranty {i} covers the battery.\n"
                        for i in range(20)})
    first = kb.sync([corpus])
    assert first.chunks_embedded >= budget.MIN_RATE_SAMPLE
    rate = budget.stored_rate(kb.store, kb.embedder.id)
    assert rate is not None and rate > 0  # measured by the run that embedded
    kb.store.set_meta(f"embed_rate:{kb.embedder.id}", "0.001")  # a very slow embedder
    write_docs(corpus, {f"new/{i}.md": f"# New {i}\n\nTent {i} has a stove and points.\n"
                        for i in range(20)})
    plan = kb.sync([corpus], dry_run=True)
    assert plan.estimated_embed_s == pytest.approx(plan.chunks_embedded / 0.001)
    notices: list[str] = []
    report = kb.sync([corpus], warn=notices.append)
    assert report.estimated_embed_s == pytest.approx(report.chunks_embedded / 0.001)
    assert len(notices) == 1
    assert notices[0].startswith(f"about {report.chunks_embedded} chunks to embed, roughly ")
    assert "0.0 chunks/s" in notices[0] and "Ctrl-C" in notices[0]
    assert budget.stored_rate(kb.store, kb.embedder.id) > 0.001  # re-measured by this run


def test_durations_read_like_a_person_would_say_them() -> None:
    from ragkit.budget import duration

    assert [duration(s) for s in (45, 720, 12_000, 43_200, 200_000)] == \
        ["45 s", "12 min", "3 h 20 min", "12 h", "2 d 7 h"]
