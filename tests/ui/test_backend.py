"""The app's backend over a real knowledge base (SQLite + FAISS, tiny real embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.errors import ConfigError, KnowledgeBaseError
from ragkit.ui import Backend, UiSettings


def test_search_all_returns_each_mode(tiny_kb: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    res = backend.search_all("descale the kettle", k=2)
    assert set(res) == {"dense", "keyword", "hybrid"}
    assert res["keyword"][0]["source"] == "docs/kettle.md"
    assert all(len(hits) <= 2 for hits in res.values())


def test_index_uploads_then_find_them(tiny_kb: Path, tmp_path: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    up = tmp_path / "upload"
    up.mkdir()
    (up / "tent.md").write_text("# Tent\n\nThe tent has a zebrawood pole.\n", encoding="utf-8")
    (up / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    ticks: list[str] = []
    rep = backend.index([up], progress=lambda stage, done, total: ticks.append(stage))
    assert rep["added"] == 1 and [f["path"] for f in rep["failed"]] == ["upload/broken.pdf"]
    assert {"scan", "embed", "write"} <= set(ticks)
    hits = backend.search_all("zebrawood", k=3)["keyword"]
    assert hits and hits[0]["source"] == "upload/tent.md"
    assert backend.kb_status()["documents"] == 4


def test_create_list_and_switch_knowledge_bases(tiny_kb: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    with pytest.raises(ConfigError, match="plain name"):
        backend.create_kb("../escape")
    st = backend.create_kb("second")
    assert st["documents"] == 0 and Path(st["path"]) == tiny_kb.parent / "second"
    assert backend.list_kbs() == sorted([str(tiny_kb), str(tiny_kb.parent / "second")])
    with pytest.raises(ConfigError, match="already exists"):
        backend.create_kb("second")
    assert backend.select_kb(tiny_kb)["documents"] == 3
    with pytest.raises(ConfigError, match="not a knowledge base"):
        backend.select_kb(tiny_kb.parent / "nowhere")


def test_bad_input_is_a_clear_error(tiny_kb: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    with pytest.raises(ConfigError, match="upload files"):
        backend.index([])
    with pytest.raises(ConfigError, match="type something"):
        backend.search_all("   ")
    with pytest.raises(ConfigError, match="type a message"):
        backend.send("t1", " ")
    with pytest.raises(ConfigError, match="describe the task"):
        list(backend.solve("", None))


def test_metrics_are_recorded_in_order(tiny_kb: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    backend.record({"time_to_first_token_s": 1.0, "tokens_per_second": 9.0})
    backend.record({"time_to_first_token_s": 0.2, "answer_cache_hit": True})
    assert [r["turn"] for r in backend.metrics] == [1, 2]
    assert backend.metrics[1]["answer_cache_hit"] is True


def test_stop_flag_is_set_by_stop_and_cleared_for_the_next_run(tiny_kb: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    flag = backend.stop_flag("t1")
    backend.stop("t1")
    assert flag.is_set()
    assert not backend.stop_flag("t1").is_set()


def test_app_builds_with_all_tabs(tiny_kb: Path) -> None:
    from ragkit.ui import build_app

    demo = build_app(Backend(UiSettings(kb_dir=tiny_kb)))
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    for needed in ("chatbot", "state-panel", "kb-upload", "hits-hybrid", "code-run",
                   "system-plot"):
        assert needed in ids


def test_uploads_report_every_bad_file_and_keep_only_good_copies(tiny_kb: Path,
                                                                  tmp_path: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    picked = tmp_path / "picked"  # where the browser's uploads land before indexing
    picked.mkdir()
    (picked / "tent.md").write_text("# Tent\n\nThe zebrawood tent pole.\n", encoding="utf-8")
    (picked / "setup.exe").write_bytes(b"MZ\x00binary")  # a folder scan would skip it silently
    (picked / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    rep = backend.index_uploads([str(p) for p in sorted(picked.iterdir())])
    assert rep["added"] == 1
    assert {f["path"] for f in rep["failed"]} == {"uploads/setup.exe", "uploads/broken.pdf"}
    assert sorted(p.name for p in (tiny_kb / "uploads").iterdir()) == ["tent.md"]
    again = backend.index_uploads([str(picked / "tent.md")])  # the failures are not repeated
    assert again["failed"] == [] and again["unchanged"] == 1
    assert backend.search_all("zebrawood", k=1)["keyword"][0]["source"] == "uploads/tent.md"
    with pytest.raises(KnowledgeBaseError, match="does not exist"):
        backend.index_uploads([], str(tmp_path / "nowhere"))


def test_stop_interrupts_a_registered_run_once(tiny_kb: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    calls: list[str] = []
    flag = backend.stop_flag("t1")
    backend.running("t1", lambda: calls.append("interrupted"))
    backend.stop("t1")
    backend.stop("t1")
    assert flag.is_set() and calls == ["interrupted"]
    backend.running("t2", lambda: calls.append("t2"))
    backend.running("t2", None)  # the run finished: Stop has nothing left to interrupt
    backend.stop("t2")
    assert calls == ["interrupted"]


def test_guard_lists_are_edited_tried_and_audited(tiny_kb: Path) -> None:
    from ragkit.guard import Guard
    from ragkit.guard.audit import AuditLog
    from ragkit.ui.i18n import InputError

    b = Backend(UiSettings(kb_dir=tiny_kb))
    assert b.guard_own_lists() is None
    cats = b.guard_edit("competitors", "ShopRival，cheapo.example\nRivalMart", "block")
    assert {"category": "competitors", "action": "block",
            "terms": ["ShopRival", "cheapo.example", "RivalMart"], "patterns": []} in cats
    assert b.guard_own_lists() is not None
    assert b.guard_test("Is RivalMart cheaper?")["action"] == "block"
    b.guard_edit("competitors", "RivalMart", None, remove=True)
    assert b.guard_test("Is RivalMart cheaper?")["action"] == "pass"
    with pytest.raises(InputError):
        b.guard_edit("competitors", "  ", "block")
    log = AuditLog.for_dir(tiny_kb)
    log.record(Guard().check_input("this is bullshit"), "t")
    log.close()
    assert b.guard_audit()[0]["category"] == "profanity"
    assert b.guard_export().read_text().count("\n") == 2


def test_the_app_runs_on_a_postgres_url(pg_url: str, tmp_path: Path, tiny_embedder_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`ragkit ui --kb postgresql://...`: status, search, uploads (kept in the knowledge
    base's side folder on this machine) and the picker, which shows no password."""
    from ragkit.config import KnowledgeBaseConfig
    from ragkit.kb import KnowledgeBase

    monkeypatch.setenv("RAGKIT_HOME", str(tmp_path / "home"))
    with KnowledgeBase.open(pg_url, create=True,
                            config=KnowledgeBaseConfig(embedder=str(tiny_embedder_dir))):
        pass
    secret = pg_url.replace("postgres:@", "postgres:hunter2@")  # trust auth ignores it
    backend = Backend(UiSettings(kb_dir=secret))
    assert backend.kb_status()["documents"] == 0
    up = tmp_path / "up"
    up.mkdir()
    (up / "tent.md").write_text("# Tent\n\nThe tent has a zebrawood pole.\n", encoding="utf-8")
    rep = backend.index_uploads([str(up / "tent.md")])
    assert rep["added"] == 1
    assert (backend.kb_dir / "uploads" / "tent.md").exists()
    assert str(backend.kb_dir).startswith(str(tmp_path / "home"))
    assert backend.search_all("zebrawood", k=1)["keyword"][0]["source"] == "uploads/tent.md"
    labels = backend.list_kbs()
    assert backend.kb_label in labels and not any("hunter2" in x for x in labels)
    assert backend.select_kb(backend.kb_label)["documents"] == 1


def test_a_cited_pdf_page_opens_rendered_with_its_passage_and_a_copy_to_download(
        tmp_path: Path, tiny_embedder_dir: Path) -> None:
    import shutil

    from ragkit.config import KnowledgeBaseConfig
    from ragkit.kb import KnowledgeBase

    docs = tmp_path / "docs"
    docs.mkdir()
    pdf = Path(__file__).resolve().parents[2] / "knowledge/store/policies/warranty_terms.pdf"
    shutil.copy(pdf, docs / pdf.name)
    kb_dir = tmp_path / "kb"
    with KnowledgeBase.open(kb_dir, create=True,
                            config=KnowledgeBaseConfig(embedder=str(tiny_embedder_dir))) as kb:
        kb.add([docs])
    backend = Backend(UiSettings(kb_dir=kb_dir))
    hit = next(h.to_dict() for h in backend.kb().search("claim number", k=5, mode="keyword")
               if h.page and h.page > 1)
    view = backend.source_view({"n": 1, **hit, "snippet": hit["text"][:300]})
    assert "<mark id='rk-cited'>" in view["html"] and f"p. {hit['page']}" in view["html"]
    assert Path(view["image"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    copy = Path(view["file"])
    assert copy.read_bytes() == pdf.read_bytes() and copy.parent != docs
    with pytest.raises(ConfigError):
        backend.source_view({"n": 1, "source": "docs/gone.pdf"})


@pytest.mark.real_model  # the RAG pipeline's default relevance scorers
def test_a_document_deleted_while_an_answer_from_it_streams(tiny_kb: Path,
                                                           scripted_generator) -> None:
    from ragkit.ui.i18n import InputError

    backend = Backend(UiSettings(kb_dir=tiny_kb))
    backend._generator = scripted_generator(["Refunds take five business days [1]."])
    turn = backend.send("t1", "How long do refunds take?", mode="qa")
    deltas = iter(turn.deltas)
    shown = next(deltas)  # the answer has started
    source = next(d["source"] for d in backend.documents() if d["source"].endswith("refunds.md"))
    left = backend.remove_document(source)  # from the Knowledge tab, meanwhile
    shown += "".join(deltas)
    final = turn.finish()
    assert "five business days" in shown and final["citations"]  # the answer it was giving
    assert source not in [d["source"] for d in left]
    with pytest.raises(InputError, match="no longer in the knowledge base"):
        backend.source_view(final["citations"][0])
    # the knowledge base is whole: the others still answer searches, the deleted one does not
    found = backend.search_all("kettle citric acid", k=3)
    assert all(h["source"] != source for hits in found.values() for h in hits)
    assert any(h["source"].endswith("kettle.md") for h in found["hybrid"])
    backend._conversations.clear()
    again = backend.send("t2", "How long do refunds take?", mode="qa")
    "".join(again.deltas)
    assert all(c["source"] != source for c in again.finish()["citations"])


def test_a_200_mb_upload_is_refused_before_it_is_copied(tiny_kb: Path, tmp_path: Path) -> None:
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    first = tmp_path / "first" / "manual.md"
    first.parent.mkdir()
    first.write_text("# Manual\n\nThe quartzite grinder has twelve settings.\n", encoding="utf-8")
    assert backend.index_uploads([str(first)])["added"] == 1
    big = tmp_path / "picked" / "manual.md"  # same name, 200 MB (sparse: no disk needed)
    big.parent.mkdir()
    with big.open("wb") as f:
        f.truncate(200 * 2**20)
    rep = backend.index_uploads([str(big)])
    assert [f["path"] for f in rep["failed"]] == ["uploads/manual.md"]
    assert "200.0 MB, over the limit of 50.0 MB" in rep["failed"][0]["error"]
    # nothing stored was lost: the earlier upload, its file and its chunks are still there
    assert (tiny_kb / "uploads" / "manual.md").read_text(encoding="utf-8") == first.read_text(
        encoding="utf-8")
    assert backend.search_all("quartzite", k=1)["keyword"][0]["source"] == "uploads/manual.md"


def test_warm_up_loads_the_guards_intent_screen_and_survives_its_failure(
        tiny_kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk saw the first Knowledge question spend 1.8 s loading the screen."""
    from ragkit import sdk

    loaded: list[str] = []

    class Screen:
        def load(self) -> None:
            loaded.append("screen")

    monkeypatch.setattr(sdk, "load_relevance", lambda *_, **__: None)
    monkeypatch.setattr(sdk, "intent_screen", Screen)
    Backend(UiSettings(kb_dir=tiny_kb)).warm_relevance()
    assert loaded == ["screen"]

    def broken() -> None:
        raise RuntimeError("no weights")

    monkeypatch.setattr(sdk, "intent_screen", broken)
    Backend(UiSettings(kb_dir=tiny_kb)).warm_relevance()  # left for the first question
