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


@pytest.fixture()
def qa_backend(tiny_kb: Path, scripted_generator):  # type: ignore[no-untyped-def]
    """A UI backend over the tiny knowledge base whose generator answers ``replies`` in turn."""
    def make(*replies: str) -> Backend:
        backend = Backend(UiSettings(kb_dir=tiny_kb))
        backend._generator = scripted_generator(list(replies))
        return backend
    return make


def _checkpoints(backend: Backend, thread_id: str) -> int:
    """The Q&A checkpoints stored for a conversation."""
    from ragkit.rag import RagConfig
    from ragkit.rag.memory import open_conversations

    cfg = RagConfig()
    store = open_conversations(backend.kb(), cfg.max_threads, cfg.max_thread_age_days)
    try:
        return store.checkpoint_count(thread_id)
    finally:
        store.close()


@pytest.mark.real_model  # the RAG pipeline's default relevance scorers
def test_backend_resumes_and_deletes_a_conversation_with_its_checkpoints(
        qa_backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RAGKIT_HOME", str(tmp_path / "home"))
    backend = qa_backend("Refunds take five business days [1].")
    turn = backend.send("t1", "How long do refunds take?", mode="qa")
    shown = "".join(turn.deltas)
    history = _turn("How long do refunds take?", shown)
    backend.save_turn("t1", "qa", [], history)
    assert [t["title"] for t in backend.threads()] == ["How long do refunds take?"]
    assert backend.load_thread("t1") == ("qa", history)
    assert _checkpoints(backend, "t1") > 0
    backend.delete_thread("t1")
    assert _checkpoints(backend, "t1") == 0 and backend.threads() == []
    with pytest.raises(InputError):
        backend.delete_thread("t1")


def test_two_tabs_on_one_conversation_keep_both_turns(tmp_path: Path) -> None:
    index = ThreadIndex(tmp_path, Sealer(tmp_path / "key"))
    first = _turn("How do I descale the kettle?", "With citric acid [1].")
    index.save_turn("t1", "qa", [], first)
    # both tabs resumed the conversation showing `first`; each adds a turn
    index.save_turn("t1", "qa", first, _turn("And how often?", "Every month [1]."))
    # the page sends messages back as parts: still the same conversation
    as_parts = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}],
                 "metadata": None} for m in first]
    index.save_turn("t1", "qa", as_parts, _turn("Is it dishwasher safe?", "Not stated."))
    _, shown = index.load("t1")
    assert [m["content"] for m in shown][::2] == [
        "How do I descale the kettle?", "And how often?", "Is it dishwasher safe?"]
    # a regenerated answer takes the place of what followed its question
    index.save_turn("t1", "qa", first[:1], [{"role": "assistant", "content": "Citric acid."}],
                    replace=True)
    assert index.load("t1")[1] == [first[0], {"role": "assistant", "content": "Citric acid."}]
    index.close()


@pytest.mark.real_model  # the RAG pipeline's default relevance scorers
def test_backend_regenerates_a_qa_answer_in_place_and_keeps_support_replies(
        qa_backend) -> None:  # type: ignore[no-untyped-def]
    backend = qa_backend("Refunds take five business days [1].",
                         "Within five business days, to your card [1].")
    question = "How long do refunds take?"
    turn = backend.send("t1", question, mode="qa")
    first = "".join(turn.deltas)
    backend.save_turn("t1", "qa", [], _turn(question, first))
    turn = backend.send("t1", question, mode="qa", regenerate=True)
    again = "".join(turn.deltas)
    assert again != first and "five business days" in again
    backend.save_turn("t1", "qa", [], _turn(question, again), replace=True)
    assert backend.load_thread("t1")[1] == _turn(question, again)
    conv = backend._conversations["t1"]
    assert [t["content"] for t in conv.history][0] == question and len(conv.history) == 2
    with pytest.raises(InputError, match="cannot be regenerated"):
        backend.send("t2", "I want to return my order", mode="support", regenerate=True)


@pytest.mark.real_model  # the RAG pipeline's default relevance scorers
def test_a_conversation_deleted_while_it_streams_stays_deleted(qa_backend) -> None:  # type: ignore[no-untyped-def]
    backend = qa_backend("Refunds take five business days [1].")
    question = "How long do refunds take?"
    backend.save_turn("t1", "qa", [], _turn("Hello?", "Hello."))
    turn = backend.send("t1", question, mode="qa")
    deltas = iter(turn.deltas)
    next(deltas)  # the answer has started
    backend.delete_thread("t1")  # from the list, while the turn streams
    rest = list(deltas)  # the stream ends (stopped) without an error
    backend.save_turn("t1", "qa", _turn("Hello?", "Hello."), _turn(question, "".join(rest)))
    assert backend.threads() == [] and _checkpoints(backend, "t1") == 0
