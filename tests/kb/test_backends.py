"""One conformance suite over both storage backends: a directory (SQLite + FAISS) and
PostgreSQL + pgvector (a real server from the ``pgserver`` wheel). Real files, the tiny locally
built embedder; every test runs on both."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from ragkit.config import ChunkingConfig, IndexConfig, KnowledgeBaseConfig
from ragkit.errors import ConfigError, KnowledgeBaseError
from ragkit.kb import KnowledgeBase, copy_knowledge_base
from ragkit.store import KnowledgeStore
from ragkit.text import query_terms
from tests.helpers.docs import write_docs
from tests.kb.test_sync import DOCS


@pytest.fixture(params=["directory", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "directory":
        return str(tmp_path / "kb")
    return request.getfixturevalue("pg_url")


@pytest.fixture()
def config(tiny_embedder_dir: Path) -> KnowledgeBaseConfig:
    return KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                               chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs", DOCS)


@pytest.fixture()
def kb(location: str, config: KnowledgeBaseConfig, tiny_embedder):
    base = KnowledgeBase.open(location, create=True, config=config, embedder=tiny_embedder)
    yield base
    base.close()


def _sources(hits) -> list[str]:
    return [h.source for h in hits]


def test_sync_then_search_in_every_mode(kb: KnowledgeBase, corpus: Path) -> None:
    assert isinstance(kb.store, KnowledgeStore)
    report = kb.sync([corpus])
    assert (report.added, report.removed, report.failed) == (4, 0, [])
    assert report.chunks_embedded == report.chunks_total > 0
    counts = kb.store.counts()
    assert counts["documents"] == 4 and counts["chunks"] == report.chunks_total
    assert _sources(kb.search("citric acid descale", k=3, mode="keyword"))[0] == \
        "docs/manuals/kettle.txt"
    # English words are stemmed: "descaling" finds "Descale"
    assert _sources(kb.search("descaling kettles", k=1, mode="keyword")) == \
        ["docs/manuals/kettle.txt"]
    zh = kb.search("退款", k=2, mode="keyword")
    assert zh[0].source == "docs/zh/退款.md" and zh[0].heading == "退款"
    dense = kb.search("citric acid descale", k=4, mode="dense")
    assert len(dense) == 4 and all(h.dense_rank for h in dense)
    hybrid = kb.search("citric acid descale", k=2)
    assert hybrid[0].source == "docs/manuals/kettle.txt" and hybrid[0].keyword_rank == 1
    assert kb.search("free shipping", k=3, filters=["source=*.txt"])[0].source == \
        "docs/manuals/kettle.txt"
    status = kb.status()
    assert status["documents"] == 4 and status["index_up_to_date"]
    assert status["last_runs"][0]["status"] == "ok"


def test_unchanged_embeds_nothing_edit_reembeds_one_delete_removes(
        kb: KnowledgeBase, corpus: Path) -> None:
    kb.sync([corpus])
    version = kb.store.kb_version
    again = kb.sync([corpus])
    assert (again.unchanged, again.chunks_embedded) == (4, 0)
    assert kb.store.kb_version == version
    ship = corpus / "policies/shipping.md"
    ship.write_text(ship.read_text() + "\nParcels to Norway take four days.\n")
    edited = kb.sync([corpus])
    assert (edited.updated, edited.unchanged) == (1, 3) and 0 < edited.chunks_embedded <= 2
    assert _sources(kb.search("Norway parcels", k=1, mode="keyword")) == \
        ["docs/policies/shipping.md"]
    (corpus / "manuals/kettle.txt").unlink()
    removed = kb.sync([corpus])
    assert removed.removed == 1 and kb.store.counts()["documents"] == 3
    assert "docs/manuals/kettle.txt" not in _sources(kb.search("citric acid", k=5))
    assert kb.store.kb_version > version


def _doc(kb: KnowledgeBase, source: str) -> dict:
    return next(d for d in kb.documents() if d["source"] == source)


def test_a_document_is_removed_by_its_source_and_comes_back_without_embedding(
        kb: KnowledgeBase, corpus: Path) -> None:
    kb.sync([corpus])
    listed = kb.documents()
    assert [d["source"] for d in listed] == sorted(d["source"] for d in listed)
    kettle = next(d for d in listed if d["source"] == "docs/manuals/kettle.txt")
    assert kettle["chunks"] >= 1 and kettle["size"] > 0 and kettle["kind"]
    assert kettle["language"] == "en" and kettle["status"] == "indexed"
    assert 0 < time.time() - kettle["indexed"] < 3600
    assert next(d for d in listed if d["source"] == "docs/zh/退款.md")["language"] == "zh"
    # the file changed on disk, then gone: the table says so before any sync
    path = Path(kettle["path"])
    os.utime(path, (time.time() + 60, time.time() + 60))
    assert _doc(kb, "docs/manuals/kettle.txt")["status"] == "changed"
    held = path.read_bytes()
    path.unlink()
    assert _doc(kb, "docs/manuals/kettle.txt")["status"] == "missing"
    path.write_bytes(held)
    with pytest.raises(KnowledgeBaseError, match="not in .*ragkit status"):
        kb.remove(["docs/manuals/kettle.txt", "docs/nope.md"])
    assert len(kb.documents()) == 4  # an unknown source removes nothing
    version = kb.store.kb_version
    assert kb.remove(["docs/manuals/kettle.txt"]) == ["docs/manuals/kettle.txt"]
    assert kb.store.kb_version > version and len(kb.documents()) == 3
    for mode in ("dense", "keyword", "hybrid"):
        assert "docs/manuals/kettle.txt" not in _sources(kb.search("citric acid kettle", k=5,
                                                                   mode=mode))
    back = kb.sync([corpus])  # the file is still there: a sync adds it again
    assert back.added == 1 and back.chunks_embedded == 0  # from the embedding cache
    assert _sources(kb.search("citric acid", k=1, mode="keyword")) == ["docs/manuals/kettle.txt"]


def test_settings_persist_and_differing_settings_are_refused(
        location: str, config: KnowledgeBaseConfig, tiny_embedder, corpus: Path) -> None:
    with KnowledgeBase.open(location, create=True, config=config, embedder=tiny_embedder) as b:
        b.sync([corpus])
    assert KnowledgeBase.exists(location)
    with KnowledgeBase.open(location, embedder=tiny_embedder) as again:
        assert again.config.chunking == config.chunking
        assert again.search("refund", k=1)
    other = config.model_copy(update={"chunking": ChunkingConfig(max_tokens=32,
                                                                  overlap_tokens=4)})
    with pytest.raises(ConfigError, match="different settings"):
        KnowledgeBase.open(location, config=other, embedder=tiny_embedder)


def test_a_missing_knowledge_base_says_how_to_make_one(location: str, tiny_embedder) -> None:
    assert not KnowledgeBase.exists(location)
    with pytest.raises(KnowledgeBaseError, match="ragkit index PATH --kb"):
        KnowledgeBase.open(location, embedder=tiny_embedder)


def test_a_sync_stopped_part_way_keeps_what_it_committed(
        kb: KnowledgeBase, corpus: Path) -> None:
    written: list[int] = []

    def stop_after_two(stage: str, done: int, total: int) -> None:
        if stage == "write":
            written.append(done)
            if done == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        kb.sync([corpus], progress=stop_after_two)
    assert kb.store.counts()["documents"] == 2
    assert kb.store.last_runs(1)[0]["status"] == "interrupted"
    finish = kb.sync([corpus])
    assert (finish.added, finish.unchanged, finish.chunks_embedded) == (2, 2, 0)
    chunk_ids = [h.chunk_id for h in kb.search("refund returns kettle shipping 退款", k=50,
                                               mode="keyword")]
    assert len(chunk_ids) == len(set(chunk_ids))  # every chunk once


def test_dense_ranking_is_the_same_on_both_backends(
        tmp_path: Path, pg_url: str, config: KnowledgeBaseConfig, tiny_embedder,
        corpus: Path) -> None:
    ranked = []
    for where in (str(tmp_path / "dir-kb"), pg_url):
        with KnowledgeBase.open(where, create=True, config=config,
                                embedder=tiny_embedder) as base:
            base.sync([corpus])
            hits = base.search("how long do refunds take", k=5, mode="dense")
            ranked.append([(h.chunk_id, round(h.score, 4)) for h in hits])
    assert ranked[0] == ranked[1]


def test_copy_between_backends_embeds_nothing_again(
        tmp_path: Path, pg_url: str, config: KnowledgeBaseConfig, tiny_embedder,
        corpus: Path) -> None:
    with KnowledgeBase.open(tmp_path / "src", create=True, config=config,
                            embedder=tiny_embedder) as src:
        src.sync([corpus])
        want = _sources(src.search("refund payment", k=3))
        with KnowledgeBase.open(pg_url, create=True, config=src.config,
                                embedder=tiny_embedder) as dst:
            report = copy_knowledge_base(src, dst)
            assert (report["documents"], report["chunks"]) == (4, src.store.counts()["chunks"])
            assert _sources(dst.search("refund payment", k=3)) == want
            again = dst.sync([corpus])  # the copy is a normal knowledge base: nothing to do
            assert (again.unchanged, again.chunks_embedded) == (4, 0)
            assert copy_knowledge_base(src, dst)["documents"] == 0  # run twice: nothing new
        # and back to a directory
        with KnowledgeBase.open(pg_url, embedder=tiny_embedder) as pg_kb, \
                KnowledgeBase.open(tmp_path / "back", create=True, config=src.config,
                                   embedder=tiny_embedder) as back:
            copy_knowledge_base(pg_kb, back)
            assert _sources(back.search("refund payment", k=3)) == want


def test_copy_refuses_a_target_holding_other_documents(
        tmp_path: Path, pg_url: str, config: KnowledgeBaseConfig, tiny_embedder,
        corpus: Path) -> None:
    other = write_docs(tmp_path / "other", {"a.md": "# A\n\nWarranty covers the battery.\n"})
    with KnowledgeBase.open(tmp_path / "src", create=True, config=config,
                            embedder=tiny_embedder) as src, \
            KnowledgeBase.open(pg_url, create=True, config=config,
                               embedder=tiny_embedder) as dst:
        src.sync([corpus])
        dst.sync([other])
        with pytest.raises(KnowledgeBaseError, match="already holds other documents"):
            copy_knowledge_base(src, dst)
        assert dst.store.counts()["documents"] == 1


# -- Postgres only: URLs, the server's faults ---------------------------------------------------
def test_pg_defaults_to_hnsw_and_refuses_ivfpq(pg_url: str, config: KnowledgeBaseConfig,
                                               tiny_embedder) -> None:
    with KnowledgeBase.open(pg_url, create=True, config=config, embedder=tiny_embedder) as b:
        assert b.config.index.type == "hnsw"
    ivfpq = config.model_copy(update={"index": IndexConfig(type="ivfpq")})
    with pytest.raises(ConfigError, match="IVF-PQ"):
        KnowledgeBase.open(pg_url + "x", create=True, config=ivfpq, embedder=tiny_embedder)


def test_pg_ivf_index_is_built_after_the_first_sync(
        pg_url: str, config: KnowledgeBaseConfig, tiny_embedder, corpus: Path) -> None:
    ivf = config.model_copy(update={"index": IndexConfig(type="ivf", ivf_nprobe=4)})
    with KnowledgeBase.open(pg_url, create=True, config=ivf, embedder=tiny_embedder) as b:
        b.sync([corpus])
        assert b.store._exec("SELECT to_regclass(%s) IS NOT NULL",
                             (f"{b.store.s}.chunks_embedding",))[0][0]
        assert b.search("citric acid", k=1, mode="dense")


def test_pg_bad_urls_and_unreachable_servers_get_clear_errors(tiny_embedder) -> None:
    with pytest.raises(ConfigError, match="bad schema"):
        KnowledgeBase.open("postgresql://u@localhost/db?schema=Bad-Name")
    with pytest.raises(KnowledgeBaseError, match="cannot connect to PostgreSQL.*check the URL"):
        KnowledgeBase.open("postgresql://nobody:secret@127.0.0.1:9/none?connect_timeout=2")
    try:
        KnowledgeBase.open("postgresql://nobody:secret@127.0.0.1:9/none?connect_timeout=2")
    except KnowledgeBaseError as e:
        assert "secret" not in str(e)  # the password is never shown


def test_pg_schema_from_a_newer_ragkit_is_refused(pg_url: str, config, tiny_embedder) -> None:
    KnowledgeBase.open(pg_url, create=True, config=config, embedder=tiny_embedder).close()
    with KnowledgeBase.open(pg_url, embedder=tiny_embedder) as b:
        b.store.set_meta("schema_version", "99")
    with pytest.raises(KnowledgeBaseError, match="newer ragkit.*pip install -U ragkit"):
        KnowledgeBase.open(pg_url, embedder=tiny_embedder)


def test_pg_embedder_with_another_dimension_is_refused(
        pg_url: str, config, tiny_embedder, corpus: Path) -> None:
    with KnowledgeBase.open(pg_url, create=True, config=config, embedder=tiny_embedder) as b:
        b.sync([corpus])
        with pytest.raises(KnowledgeBaseError, match="dimensional vectors"):
            b.store.set_space("other-model", tiny_embedder.dim + 8, b.config.index)
        with pytest.raises(KnowledgeBaseError, match="--rebuild"):
            b.store.set_space("other-model", tiny_embedder.dim, b.config.index)
        with pytest.raises(KnowledgeBaseError, match="not other-model"):
            b.store.vector_search(np.zeros((1, tiny_embedder.dim)), 3, "other-model",
                                  b.config.index)
        assert b.store.counts()["documents"] == 4  # nothing lost


def test_pg_two_processes_indexing_different_folders_both_complete(
        tmp_path: Path, pg_url: str, config, tiny_embedder_dir: Path) -> None:
    import subprocess
    import sys

    KnowledgeBase.open(pg_url, create=True, config=config).close()
    folders = []
    for name in ("a", "b"):
        docs = {f"{name}{i}.md": f"# {name} {i}\n\nPart {name}{i}: refunds take {i} days.\n"
                for i in range(6)}
        folders.append(write_docs(tmp_path / name, docs))
    script = ("import sys; from ragkit.kb import KnowledgeBase\n"
              "with KnowledgeBase.open(sys.argv[1]) as kb:\n"
              "    r = kb.sync([sys.argv[2]])\n"
              "    print(r.added, len(r.failed))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url, str(f)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f in folders]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    assert [o.split() for o, _ in outs] == [["6", "0"], ["6", "0"]]
    with KnowledgeBase.open(pg_url) as kb:
        assert kb.store.counts()["documents"] == 12
        ids = kb.store._exec(f"SELECT id FROM {kb.store.s}.chunks")
        assert len(ids) == len(set(ids)) == kb.store.counts()["vectors"]


def test_pg_server_killed_mid_sync_loses_nothing_committed(
        tmp_path: Path, config, tiny_embedder, corpus: Path) -> None:
    """The server stops the hard way (immediate shutdown: crash recovery on restart) while
    documents are being written; after a restart, what was committed is there and the next
    sync finishes the rest without embedding again."""
    pytest.importorskip("pgserver")
    from pgserver._commands import pg_ctl

    from tests.helpers import pg

    server = pg.start(tmp_path / "own-pg")
    try:
        url = pg.url(server, "killed")
        kb = KnowledgeBase.open(url, create=True, config=config, embedder=tiny_embedder)

        def crash_after_two(stage: str, done: int, total: int) -> None:
            if stage == "write" and done == 2:
                pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata,
                       user=server.system_user)

        with pytest.raises(KnowledgeBaseError, match="lost the connection.*committed change is"):
            kb.sync([corpus], progress=crash_after_two)
        server.ensure_postgres_running()
        assert kb.store.counts()["documents"] == 2  # the same object reconnects
        report = kb.sync([corpus])
        assert (report.added, report.unchanged, report.chunks_embedded) == (2, 2, 0)
        runs = kb.store.last_runs(2)
        assert [r["status"] for r in runs] == ["ok", "interrupted"]
        assert kb.search("citric acid descale", k=1)[0].source == "docs/manuals/kettle.txt"
        kb.close()
    finally:
        server.cleanup()


def test_pg_pgvector_not_enabled_and_not_enableable_says_who_can(pg_server) -> None:
    """A user who may not create extensions, in a database without pgvector."""
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS novector")
        admin.execute("DROP ROLE IF EXISTS limited")
        admin.execute("CREATE ROLE limited LOGIN")
        admin.execute("CREATE DATABASE novector OWNER limited")
    host = pg_server.get_uri().split("host=")[1].split("&")[0]
    with pytest.raises(KnowledgeBaseError, match="not enabled in novector.*CREATE EXTENSION"):
        KnowledgeBase.open(f"postgresql://limited@/novector?host={host}", create=True)


def _debian_server(folder: Path):
    """Debian's PostgreSQL 15 (no pgvector package), when the machine has it."""
    import os
    import shutil
    import subprocess

    bin_dir = Path("/usr/lib/postgresql/15/bin")
    if not (bin_dir / "initdb").exists():
        pytest.skip("Debian's postgresql-15 is not installed")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user and not shutil.which("runuser"):
        pytest.skip("no runuser to start PostgreSQL as its own user")
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    data = folder / "data"
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                    "postgres"], check=True, capture_output=True)
    # the server's output goes to a log file: a pipe would stay open as long as it runs
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(folder / "log"), "-o", f"-k {folder} -c listen_addresses=''", "start"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return lambda: subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w",
                                   "-m", "immediate", "stop"], capture_output=True)


def test_pg_server_without_pgvector_names_the_fix() -> None:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ragkit-pg15-")) / "s"  # postgres must reach it
    folder.parent.chmod(0o755)
    stop = _debian_server(folder)
    try:
        with pytest.raises(KnowledgeBaseError, match="no pgvector extension; install it"):
            KnowledgeBase.open(f"postgresql://postgres@/postgres?host={folder}", create=True)
    finally:
        stop()


@pytest.mark.parametrize("spec", ["source=*kettle*", "kind=text", "heading=Returns > Refunds",
                                  "title=Shipping", "source=*.md", "source=docs/[mz]*"])
def test_filters_give_the_same_hits_on_both_backends(
        spec: str, tmp_path: Path, pg_url: str, config: KnowledgeBaseConfig, tiny_embedder,
        corpus: Path) -> None:
    """Postgres applies LIKE-able filters in SQL while ranking (a [class] glob runs on the
    hits, as everywhere on the directory side); both backends return the same hits, and a
    filter that leaves fewer chunks than k still returns every one of them."""
    from ragkit.retriever import Filter

    found = []
    for where in (str(tmp_path / "dir-kb"), pg_url):
        with KnowledgeBase.open(where, create=True, config=config,
                                embedder=tiny_embedder) as base:
            base.sync([corpus])
            for mode in ("dense", "keyword", "hybrid"):
                hits = base.search("refunds returns shipping kettle 退款", k=8, mode=mode,
                                   filters=[spec])
                rows = [{"source": h.source, "kind": None, "title": h.title,
                         "heading": tuple(h.heading.split(" > ")) if h.heading else (),
                         "page": h.page} for h in hits]
                f = Filter.parse(spec)
                if f.key != "kind":
                    assert all(f.matches(r) for r in rows), (where, mode, rows)
                found.append((mode, sorted(h.chunk_id for h in hits)))
    half = len(found) // 2
    assert found[:half] == found[half:]
    assert any(ids for _, ids in found[:half]) or spec == "title=Shipping"


@pytest.mark.parametrize("query", ["refunds returns shipping kettle 退款",
                                   "how long do I have to return it before the refund",
                                   "descaling the kettle with citric acid", "退款 多久"])
def test_keyword_ranking_and_scores_are_the_same_on_both_backends(
        query: str, tmp_path: Path, pg_url: str, config: KnowledgeBaseConfig, tiny_embedder,
        corpus: Path) -> None:
    """Postgres computes FTS5's BM25 in SQL over the same words (stopwords kept, English
    stemmed), so keyword search, and so hybrid fusion, ranks alike on both backends."""
    ranked = []
    for where in (str(tmp_path / "dir-kb"), pg_url):
        with KnowledgeBase.open(where, create=True, config=config,
                                embedder=tiny_embedder) as base:
            base.sync([corpus])
            hits = base.search(query, k=10, mode="keyword")
            scores = sorted(round(v, 6) for _, v in
                            base.store.keyword_search(query_terms(query), 10))
            ranked.append(([h.chunk_id for h in hits], scores))
    assert ranked[0][0]
    assert ranked[0] == ranked[1]


def test_pg_knowledge_base_from_schema_1_is_migrated_and_keeps_its_chunks(
        pg_url: str, config: KnowledgeBaseConfig, tiny_embedder, corpus: Path) -> None:
    """A knowledge base written before migration 2 (keyword index with Postgres's English
    stopwords) is migrated on open: same chunks, stopwords now searchable."""
    with KnowledgeBase.open(pg_url, create=True, config=config, embedder=tiny_embedder) as b:
        b.sync([corpus])
        before = b.store.counts()
        s = b.store.s
        with b.store.transaction() as cur:  # back to what schema 1 made
            cur.execute(f"ALTER TABLE {s}.chunks DROP COLUMN fts")
            cur.execute(f"ALTER TABLE {s}.chunks ADD COLUMN fts TSVECTOR GENERATED ALWAYS AS "
                        "(to_tsvector('english', body)) STORED")
            cur.execute(f"CREATE INDEX chunks_fts ON {s}.chunks USING gin (fts)")
            cur.execute(f"DROP TEXT SEARCH CONFIGURATION {s}.keywords")
            cur.execute(f"DROP TEXT SEARCH DICTIONARY {s}.english_stem_all")
            cur.execute(f"UPDATE {s}.meta SET value = '1' WHERE key = 'schema_version'")
    with KnowledgeBase.open(pg_url, embedder=tiny_embedder) as b:
        assert b.store.get_meta("schema_version") == "2"
        assert b.store.counts() == before
        assert b.store._lexemes(["before"]) == ["befor"]  # a stopword, kept and stemmed
        assert b.search("refund kettle", k=3, mode="keyword")


def test_one_file_synced_again_keeps_its_citation_name(kb: KnowledgeBase, corpus: Path) -> None:
    """Re-indexing one document (the UI's Re-index) names its file alone; its source stays
    the one it got from its folder, so citations do not change."""
    kb.sync([corpus])
    again = kb.sync([corpus / "manuals" / "kettle.txt"], rebuild=True)
    assert again.updated == 1 and again.removed == 0
    assert [d["source"] for d in kb.documents()].count("docs/manuals/kettle.txt") == 1
    assert _sources(kb.search("citric acid", k=1, mode="keyword")) == ["docs/manuals/kettle.txt"]
