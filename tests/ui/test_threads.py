"""The chat tab's conversation list: the index file (real SQLite, the real PII sealer) and
the backend resuming and deleting a real Q&A conversation (its checkpoints included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.pii import Sealer
from ragkit.ui import Backend, UiSettings
from ragkit.ui.i18n import InputError
from ragkit.ui.threads import ThreadIndex, clean_title

EMAIL = "jane.doe@example.com"


def _turn(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def test_the_list_keeps_titles_redacted_and_transcripts_sealed(tmp_path: Path) -> None:
    index = ThreadIndex(tmp_path, Sealer(tmp_path / "key"))
    history = _turn(f"my email is {EMAIL}, where is my refund?", "Within five days [1].")
    index.save("t1", "support", history)
    index.save("t2", "qa", _turn("How do I descale the kettle?", "With citric acid [1]."))
    listed = index.list()
    assert [t["id"] for t in listed] == ["t2", "t1"]  # newest first
    assert EMAIL not in listed[1]["title"] and "where is my refund" in listed[1]["title"]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("threads.sqlite*"))
    assert EMAIL.encode() not in raw and b"citric acid" not in raw  # sealed at rest
    assert index.load("t1") == ("support", history)
    assert (tmp_path / "threads.sqlite").stat().st_mode & 0o077 == 0  # owner only
    index.close()


def test_rename_survives_later_turns_and_html_stays_text(tmp_path: Path) -> None:
    index = ThreadIndex(tmp_path, Sealer(tmp_path / "key"))
    index.save("t1", "qa", _turn("first question", "answer"))
    assert index.rename("t1", "  <b>Kettle</b>\x07 notes  ") == "<b>Kettle</b> notes"
    index.save("t1", "qa", _turn("first question", "answer") + _turn("more", "yes"))
    assert index.list()[0]["title"] == "<b>Kettle</b> notes"
    with pytest.raises(InputError):
        index.rename("t1", "   ")
    with pytest.raises(InputError):
        index.rename("nope", "x")
    index.delete("t1")
    assert index.list() == []
    with pytest.raises(InputError):
        index.load("t1")


def test_a_long_title_is_cut_on_one_line() -> None:
    assert clean_title("a\nb " + "x" * 100, 20) == "a b " + "x" * 15 + "…"


@pytest.mark.real_model  # the RAG pipeline's default relevance scorers
def test_backend_resumes_and_deletes_a_conversation_with_its_checkpoints(
        tiny_kb: Path, scripted_generator, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    from ragkit.rag import RagConfig
    from ragkit.rag.memory import open_conversations

    monkeypatch.setenv("RAGKIT_HOME", str(tmp_path / "home"))
    backend = Backend(UiSettings(kb_dir=tiny_kb))
    backend._generator = scripted_generator(["Refunds take five business days [1]."])
    turn = backend.send("t1", "How long do refunds take?", mode="qa")
    shown = "".join(turn.deltas)
    history = _turn("How long do refunds take?", shown)
    backend.save_thread("t1", "qa", history)
    assert [t["title"] for t in backend.threads()] == ["How long do refunds take?"]
    assert backend.load_thread("t1") == ("qa", history)
    cfg = RagConfig()
    store = open_conversations(backend.kb(), cfg.max_threads, cfg.max_thread_age_days)
    assert store.checkpoint_count("t1") > 0
    backend.delete_thread("t1")
    assert store.checkpoint_count("t1") == 0 and backend.threads() == []
    store.close()
    with pytest.raises(InputError):
        backend.delete_thread("t1")
