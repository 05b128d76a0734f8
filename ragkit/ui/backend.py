"""What the Gradio app does, as plain Python over the SDK (no Gradio in here).

Owns: which knowledge base is active, loading the one shared generator lazily, the support
assistant / RAG conversation per chat thread, stop flags for running generations, the code
agent runs, and the session's metrics. Everything is built by :mod:`ragkit.sdk` (knowledge
bases, the generator, the RAG conversation, the support assistant, the code agent);
components that are not installed are reported by :meth:`Backend.features`, never imported
eagerly.
Does not: render anything (``format.py``) or build the page (``app.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from ragkit import sdk
from ragkit.config import Quantization, SearchMode, ragkit_home
from ragkit.errors import RagkitError
from ragkit.ui import format as fmt
from ragkit.ui.i18n import InputError
from ragkit.ui.stopping import Interruptible, Stopped, Stops

if TYPE_CHECKING:
    from ragkit.kb import KnowledgeBase

MODES: tuple[SearchMode, ...] = get_args(SearchMode)
UPLOADS = "uploads"  # folder inside the knowledge base that keeps files uploaded in the page


@dataclass(frozen=True)
class UiSettings:
    """Parsed once by ``ragkit ui``; ``kb_root`` is where the Knowledge tab lists and creates."""

    kb_dir: Path | str  # a folder, or a postgresql:// URL
    domain_path: Path | None = None
    model: str | None = None
    quantization: Quantization | None = None
    kb_root: Path | None = None
    generator_url: str | None = None  # OpenAI-compatible server(s), comma-separated

    @property
    def root(self) -> Path:
        if self.kb_root is None and sdk.is_kb_url(self.kb_dir):
            return ragkit_home() / "kbs"  # a knowledge base in Postgres has no parent folder
        return (self.kb_root or Path(self.kb_dir).parent).expanduser().resolve()


@dataclass
class Turn:
    """One assistant reply being produced: iterate for text deltas, then read ``final``."""

    deltas: Iterator[str]
    finish: Callable[[], dict[str, Any]]
    close: Callable[[], None]
    final: dict[str, Any] = field(default_factory=dict)
    # Stops the generation from another thread (the Stop button), when the stream allows it;
    # otherwise the reply stops at its next delta.
    interrupt: Callable[[], None] | None = None


def _plain(value: Any) -> Any:
    """SDK objects (with ``to_dict``) and containers of them as plain data."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def has_module(name: str, attr: str | None = None) -> bool:
    """Whether ``name`` imports (and defines ``attr``): components land one by one."""
    try:
        if importlib.util.find_spec(name) is None:
            return False
        module = importlib.import_module(name)
    except Exception:  # a missing or half-installed component is simply "not available"
        return False
    return attr is None or hasattr(module, attr)


class Backend:
    """One per app process; Gradio calls it from worker threads."""

    def __init__(self, settings: UiSettings) -> None:
        self.settings = settings
        # a folder (resolved), or a postgresql:// URL kept as given
        self._kb_dir: Path | str = (settings.kb_dir if sdk.is_kb_url(settings.kb_dir)
                                    else Path(settings.kb_dir).expanduser().resolve())
        self._kb: KnowledgeBase | None = None
        self._generator: Any = None
        self._support: Any = None
        self._conversations: dict[str, Any] = {}
        self.stops = Stops()
        self._lock = threading.RLock()
        self.metrics: list[dict[str, Any]] = []
        self._features: dict[str, bool] | None = None
        # what each reply answered, by (thread, chat position), for feedback on it
        self._replies: dict[tuple[str, int], dict[str, Any]] = {}
        self._feedback: Any = None  # the active knowledge base's FeedbackStore, opened on use
        self._verdicts: dict[tuple[str, int], bool | str] = {}  # the last one stored per reply
        self._threads: Any = None  # the active knowledge base's ThreadIndex, opened on use
        self._deleted: set[str] = set()  # conversations deleted in this process

    # -- components ------------------------------------------------------------------------
    def features(self) -> dict[str, bool]:
        if self._features is None or not all(self._features.values()):
            self._features = {
                "RAG pipeline": has_module("ragkit.rag", "RagPipeline"),
                "support assistant": has_module("ragkit.support", "SupportAssistant"),
                "code agent": has_module("ragkit.codeagent", "CodeAgent")
                and has_module("ragkit.sandbox", "run_tests"),
            }
        return dict(self._features)

    # -- guardrails ------------------------------------------------------------------------
    def guard_lists(self) -> list[dict[str, Any]]:
        """The categories in force for this knowledge base: name, action, terms."""
        return [{"category": c.name, "action": c.action, "terms": list(c.terms),
                 "patterns": list(c.patterns)} for c in sdk.guard_lists(self.kb_dir).categories]

    def guard_own_lists(self) -> Path | None:
        """The knowledge base's own word list file, or None while it uses the defaults."""
        own = sdk.kb_guard_lists(self.kb_dir)
        return own if own.is_file() else None

    def guard_edit(self, category: str, terms: str, action: str | None, *,
                   remove: bool = False) -> list[dict[str, Any]]:
        """Add (or remove) the comma- or line-separated ``terms`` in ``category``; the
        knowledge base gets its own copy of the lists on the first edit."""
        words = [t.strip() for t in terms.replace("，", ",").replace("\n", ",").split(",")
                 if t.strip()]
        if not category.strip() or not words:
            raise InputError("guard_empty")
        if remove:
            sdk.edit_guard_lists(self.kb_dir, category.strip(), remove=words)
        else:
            existing = {c["category"] for c in self.guard_lists()}
            sdk.edit_guard_lists(self.kb_dir, category.strip(), add=words,
                                 action=action if category.strip() not in existing else None)
        return self.guard_lists()

    def guard_test(self, text: str, channel: str = "input") -> dict[str, Any]:
        """What the guard does with ``text`` as a user's message, a document or an answer."""
        if not text.strip():
            raise InputError("guard_empty")
        guard = sdk.load_guard(kb_dir=self.kb_dir)
        assert guard is not None
        v = guard.check(channel, text)  # type: ignore[arg-type]
        return {"action": v.action, "text": v.text, "changed": v.text != text,
                "findings": [{"category": f.category, "rule": f.rule, "action": f.action,
                              "excerpt": f.excerpt} for f in v.findings]}

    def guard_audit(self, days: float = 7.0, limit: int = 200) -> list[dict[str, Any]]:
        log = sdk.guard_audit(self.kb_dir)
        try:
            return log.events(since=time.time() - days * 86400, limit=limit)
        finally:
            log.close()

    def guard_export(self) -> Path:
        """Every audit record as CSV in a temporary file (for a download button)."""
        out = Path(tempfile.mkdtemp(prefix="ragkit-audit-")) / "guard_audit.csv"
        log = sdk.guard_audit(self.kb_dir)
        try:
            log.export(out)
        finally:
            log.close()
        return out

    # -- knowledge base --------------------------------------------------------------------
    @property
    def kb_dir(self) -> Path:
        """The active knowledge base's folder (for one in Postgres: its side files' folder)."""
        return self._kb_dir if isinstance(self._kb_dir, Path) else self.kb().dir

    @property
    def kb_label(self) -> str:
        """The active knowledge base as shown: its folder, or its URL without a password."""
        return sdk.kb_shown(self._kb_dir)

    def kb(self) -> KnowledgeBase:
        with self._lock:
            if self._kb is None:
                self._kb = sdk.open_kb(self._kb_dir)
            return self._kb

    def kb_status(self) -> dict[str, Any]:
        return self.kb().status()

    def list_kbs(self) -> list[str]:
        root = self.settings.root
        found = {self.kb_label}
        if root.is_dir():
            found |= {str(p.parent) for p in root.glob("*/ragkit.json")}
        return sorted(found)

    def select_kb(self, path: str | Path) -> dict[str, Any]:
        if str(path) == self.kb_label:
            return self.kb_status()
        d = Path(path).expanduser().resolve()
        if not (d / "ragkit.json").exists():
            raise InputError("not_a_kb", path=d)
        with self._lock:
            if d != self._kb_dir:
                if self._kb is not None:
                    self._kb.close()
                self._kb, self._kb_dir = None, d
                self._support = None
                self._conversations.clear()
                for store in (self._feedback, self._threads):  # they go with their KB
                    if store is not None:
                        store.close()
                self._feedback = self._threads = None
        return self.kb_status()

    def create_kb(self, name: str) -> dict[str, Any]:
        name = name.strip()
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise InputError("bad_kb_name")
        d = self.settings.root / name
        if (d / "ragkit.json").exists():
            raise InputError("kb_exists", name=name)
        sdk.open_kb(d, create=True).close()
        return self.select_kb(d)

    def index(self, paths: Sequence[str | Path],
              progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
        """Add uploaded files or a folder to the active knowledge base."""
        if not paths:
            raise InputError("need_files")
        report = self.kb().add([Path(p) for p in paths], progress=progress)
        with self._lock:
            self._conversations.clear()  # answers may change with the new documents
        return report.to_dict()

    def documents(self) -> list[dict[str, Any]]:
        return self.kb().documents()

    def remove_document(self, source: str) -> list[dict[str, Any]]:
        """Take one document out of the knowledge base; a copy uploaded through the page is
        deleted too (it would come back with the next upload otherwise). The documents left."""
        if not source:
            raise InputError("need_document")
        path = next((d["path"] for d in self.documents() if d["source"] == source), None)
        self.kb().remove([source])
        with self._lock:
            self._conversations.clear()  # answers may change without it
        uploads = (self.kb_dir / UPLOADS).resolve()
        if path is not None and Path(path).parent == uploads:
            Path(path).unlink(missing_ok=True)
        return self.documents()

    def reindex_document(self, source: str,
                         progress: Callable[[str, int, int], None] | None = None
                         ) -> dict[str, Any]:
        """Read, chunk and embed one document again from its file (the embedding cache spares
        unchanged chunks)."""
        if not source:
            raise InputError("need_document")
        path = next((d["path"] for d in self.documents() if d["source"] == source), None)
        if path is None or not Path(path).is_file():
            raise InputError("document_file_gone", source=source)
        report = self.kb().sync([Path(path)], rebuild=True, progress=progress)
        with self._lock:
            self._conversations.clear()
        return report.to_dict()

    def index_uploads(self, uploaded: Sequence[str | Path], folder: str = "",
                      progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
        """Index files uploaded through the page (copied into the knowledge base's
        ``uploads/`` folder) and/or a folder on this machine.

        The uploads are also named one by one, so a file the folder scan would pass over
        silently (an unsupported type) is reported as failed; new copies that failed are
        removed again, so that later uploads do not report them once more. A file over the
        knowledge base's size limit is refused before it is copied, so it never replaces an
        upload of the same name.
        """
        targets: list[Path] = []
        copies: dict[str, Path] = {}
        too_big: list[dict[str, str]] = []
        if uploaded:
            from ragkit import ingest
            from ragkit.errors import IngestError

            dest = self.kb_dir / UPLOADS
            dest.mkdir(exist_ok=True)
            limit = int(self.kb().config.ingest.max_file_mb * 2**20)
            for f in uploaded:
                copy = dest / Path(f).name
                try:  # the check indexing makes, before the copy
                    ingest.check_size(f"{UPLOADS}/{copy.name}", Path(f).stat().st_size, limit)
                except IngestError as exc:
                    too_big.append({"path": exc.path, "error": exc.reason})
                    continue
                fresh = not copy.exists()
                shutil.copy2(f, copy)
                targets.append(copy)
                if fresh:
                    copies[f"{UPLOADS}/{copy.name}"] = copy
            targets.insert(0, dest)
        if folder.strip():
            targets.append(Path(folder.strip()).expanduser())
        report = self.index(targets, progress=progress)
        report["failed"] = too_big + list(report.get("failed") or [])
        for failed in report.get("failed") or []:
            copy = copies.get(str(failed.get("path")))
            if copy is not None:
                copy.unlink(missing_ok=True)
        return report

    def search_all(self, query: str, k: int = 5) -> dict[str, list[dict[str, Any]]]:
        if not query.strip():
            raise InputError("need_query")
        kb = self.kb()
        return {mode: [h.to_dict() for h in kb.search(query, k=k, mode=mode)] for mode in MODES}

    # -- generator -------------------------------------------------------------------------
    def generator(self) -> Any:
        with self._lock:
            if self._generator is None:
                s = self.settings
                custom = {k: v for k, v in (("model", s.model), ("quantization", s.quantization))
                          if v}
                spec: Any = None
                if s.generator_url:  # several app processes share the servers
                    from ragkit.config import DEFAULT_GENERATOR, parse
                    from ragkit.generation.config import RemoteGeneratorConfig

                    spec = parse(RemoteGeneratorConfig, {"base_url": s.generator_url,
                                                         "model": s.model or DEFAULT_GENERATOR},
                                 "--generator-url")
                elif custom:
                    from ragkit.generation.config import GeneratorConfig

                    spec = GeneratorConfig.parse(custom)
                self._generator = sdk.load_generator(spec)
            return self._generator

    def generator_loaded(self) -> bool:
        return self._generator is not None

    def warm_relevance(self) -> None:
        """Fetch and load the evidence stage's scorers (the default relevance mode) and the
        guard's intent screen before the first question, which would otherwise wait for them
        (the screen took 1.8 s of a first question in a walk)."""
        sdk.warm_scorers(self.kb())

    def generator_info(self) -> dict[str, Any] | None:
        return sdk.describe(self._generator) if self._generator is not None else None

    def prefix_stats(self) -> dict[str, Any] | None:
        stats = sdk.generator_stats(self._generator) if self._generator is not None else None
        return None if stats is None else stats.get("prefix_cache")

    # -- stopping ----------------------------------------------------------------------------
    def stop_flag(self, key: str) -> threading.Event:
        return self.stops.flag(key)

    def running(self, key: str, interrupt: Callable[[], None] | None) -> None:
        self.stops.running(key, interrupt)

    def stop(self, key: str) -> None:
        self.stops.stop(key)

    # -- chat ------------------------------------------------------------------------------
    def support(self) -> Any:
        with self._lock:
            if self._support is None:
                self._support = sdk.support_assistant(
                    self.kb(), self.settings.domain_path, generator=self.generator())
            return self._support

    def send(self, thread_id: str, text: str, *, mode: str = "support",
             regenerate: bool = False) -> Turn:
        """Start one reply. ``mode``: "support" (dialogue assistant) or "qa" (grounded Q&A).
        ``regenerate``: ``text`` was the conversation's last question; answer it again in
        its place (Q&A only: a support turn may have acted on an order)."""
        if not text.strip():
            raise InputError("need_message")
        if regenerate and mode == "support":
            raise InputError("no_regenerate_support")
        if mode == "support" and self.features()["support assistant"]:
            bot = self.support()
            stream = bot.send(thread_id, text)

            def finish_support() -> dict[str, Any]:
                reply = _plain(getattr(stream, "reply", None)) or {}
                reply.setdefault("state", self.state(thread_id))
                return reply

            return Turn(iter(stream), finish_support, _closer(stream))
        if not self.features()["RAG pipeline"]:
            raise InputError("missing_part", part="RAG pipeline", module="ragkit.rag")
        with self._lock:
            conv = self._conversations.get(thread_id)
            if conv is None:
                conv = sdk.chat(self.kb(), generator=self.generator(), thread_id=thread_id)
                self._conversations[thread_id] = conv
        stream = conv.regenerate(text) if regenerate else conv.send(text)

        def finish_qa() -> dict[str, Any]:
            answer = getattr(stream, "answer", None)
            data = _plain(answer) or {}
            if "answer" in data and "text" not in data:
                data["text"] = data["answer"]
            return data

        # AnswerStream.close() is safe from another thread: Stop ends even a long prefill.
        return Turn(iter(stream), finish_qa, _closer(stream), interrupt=_closer(stream))

    # -- the conversation list ---------------------------------------------------------------
    def _thread_index(self) -> Any:
        from ragkit.ui.threads import ThreadIndex

        with self._lock:
            if self._threads is None:
                self._threads = ThreadIndex(self.kb_dir)
            return self._threads

    def save_turn(self, thread_id: str, mode: str, before: list[dict[str, Any]],
                  added: list[dict[str, Any]], *, replace: bool = False) -> None:
        """Keep one turn of a conversation (``ThreadIndex.save_turn``: a second tab's turns
        are kept); nothing for a conversation deleted while its turn streamed."""
        if thread_id in self._deleted:  # deleted while this turn streamed: its end too
            self._forget_checkpoints(thread_id, mode)
        elif thread_id and added:
            self._thread_index().save_turn(thread_id, mode, before, added, replace=replace)

    def threads(self) -> list[dict[str, Any]]:
        return self._thread_index().list()

    def load_thread(self, thread_id: str) -> tuple[str, list[dict[str, Any]]]:
        """(mode, messages as shown) of a stored conversation; its next message continues
        it (the checkpointers keep its state by thread id)."""
        if not thread_id:
            raise InputError("thread_unknown")
        return self._thread_index().load(thread_id)

    def rename_thread(self, thread_id: str, title: str) -> str:
        if not thread_id:
            raise InputError("thread_unknown")
        return self._thread_index().rename(thread_id, title)

    def delete_thread(self, thread_id: str) -> None:
        """Forget a conversation: its entry, its transcript and its checkpoints."""
        if not thread_id:
            raise InputError("thread_unknown")
        mode, _ = self._thread_index().load(thread_id)
        self._deleted.add(thread_id)  # a turn still streaming does not write it back
        self.stop(thread_id)
        with self._lock:
            self._conversations.pop(thread_id, None)
        self._forget_checkpoints(thread_id, mode)
        self._thread_index().delete(thread_id)

    def _forget_checkpoints(self, thread_id: str, mode: str) -> None:
        if mode == "support" and self.features()["support assistant"]:
            self.support().delete_thread(thread_id)
        else:
            from ragkit.rag import RagConfig
            from ragkit.rag.memory import open_conversations

            cfg = RagConfig()
            store = open_conversations(self.kb(), cfg.max_threads, cfg.max_thread_age_days)
            try:
                store.delete(thread_id)
            finally:
                store.close()

    # -- feedback --------------------------------------------------------------------------
    def remember(self, thread_id: str, index: int, question: str, final: Mapping[str, Any],
                 mode: str) -> None:
        """Keep what the reply at chat position ``index`` answered, for a verdict on it."""
        with self._lock:
            self._replies[(thread_id, index)] = {
                "question": question, "answer": str(final.get("text") or ""),
                "refused": bool(final.get("refused")),
                "language": str(final.get("language") or fmt.detect_lang(question)),
                "mode": mode, "citations": [
                    {k: c.get(k) for k in ("n", "source", "title", "heading", "page", "snippet",
                                           "start", "end")}
                    for c in final.get("citations") or [] if isinstance(c, Mapping)]}

    def _reply(self, thread_id: str, index: int) -> dict[str, Any] | None:
        with self._lock:
            return self._replies.get((thread_id, index))

    def reply_sources(self, thread_id: str, index: int) -> list[dict[str, Any]]:
        """The citations of the reply at chat position ``index`` (empty when unknown)."""
        reply = self._reply(thread_id, index)
        return list(reply["citations"]) if reply else []

    def reply_plain(self, thread_id: str, index: int) -> str:
        """The reply at chat position ``index`` with its sources as plain text ("" when
        unknown), for the clipboard."""
        reply = self._reply(thread_id, index)
        if not reply:
            return ""
        return fmt.plain_answer(reply["answer"], reply["citations"], reply["language"])

    def source_view(self, cite: Mapping[str, Any], lang: str = "en") -> dict[str, Any]:
        """A cited document opened: ``html`` (its text around the passage, marked),
        ``image`` (the cited PDF page as a PNG, or None) and ``file`` (a copy of the
        original to download)."""
        from ragkit import ingest

        doc = next((d for d in self.documents() if d["source"] == cite.get("source")), None)
        if doc is None:
            raise InputError("source_gone", source=cite.get("source"))
        path = Path(doc["path"])
        if not path.is_file():
            raise InputError("document_file_gone", source=doc["source"])
        limit = int(self.kb().config.ingest.max_file_mb * 1024 * 1024)
        parsed = ingest.parse_file(path, doc["source"], limit)
        span = fmt.locate(parsed.text, int(cite.get("start") or 0), int(cite.get("end") or 0),
                          str(cite.get("snippet") or ""))
        out = Path(tempfile.mkdtemp(prefix="ragkit-source-"))
        shutil.copy2(path, out / path.name)  # served from a temporary folder, never in place
        image = None
        if doc["kind"] == "pdf" and cite.get("page"):
            image = _render_pdf_page(path, int(cite["page"]), out / f"page-{cite['page']}.png")
        return {"html": fmt.source_html(parsed.text, span, cite, lang),  # type: ignore[arg-type]
                "image": str(image) if image else None, "file": str(out / path.name)}

    def rate(self, thread_id: str, index: int, verdict: bool | str) -> int:
        """Store a verdict on the reply at chat position ``index``: True (thumbs up), False
        (thumbs down) or a reason (thumbs down for that reason); the stored row's id (0 when
        it repeats the verdict last stored for that reply)."""
        from ragkit.feedback import REASONS, Feedback, FeedbackStore

        with self._lock:
            reply = self._replies.get((thread_id, index))
        if reply is None:
            raise InputError("feedback_unknown")
        reason = verdict.strip().lower() if isinstance(verdict, str) else ""
        if reason and reason not in REASONS:
            raise InputError("feedback_unknown")
        with self._lock:  # the page may send one click twice: store a change only
            if self._verdicts.get((thread_id, index)) == verdict:
                return 0
            self._verdicts[(thread_id, index)] = verdict
        s = self.settings
        fb = Feedback(rating="up" if verdict is True else "down", reason=reason,
                      thread=thread_id, settings={
                          "knowledge_base": self.kb_label, "model": s.model or "default",
                          "quantization": s.quantization or "default",
                          "generator_url": bool(s.generator_url)}, **reply)
        with self._lock:
            if self._feedback is None:
                self._feedback = FeedbackStore(self.kb_dir)
            return self._feedback.add(fb)

    def state(self, thread_id: str) -> dict[str, Any] | None:
        if self._support is None:
            return None
        return _plain(self._support.state(thread_id))

    def handoffs(self) -> list[dict[str, Any]]:
        if self._support is None:
            return []
        return [_plain(h) for h in self._support.handoffs()]

    def resume(self, thread_id: str, agent_reply: str) -> dict[str, Any]:
        if not thread_id:
            raise InputError("need_handoff")
        if not agent_reply.strip():
            raise InputError("need_reply")
        return _plain(self.support().resume(thread_id, agent_reply))

    def record(self, usage: dict[str, Any], kind: str = "chat") -> dict[str, Any]:
        with self._lock:
            row = fmt.metrics_record(len(self.metrics) + 1, usage, kind=kind)
            self.metrics.append(row)
            return row

    def measured_usage(self, text: str, t0: float, t_first: float | None,
                       prefix_before: dict[str, Any] | None, deltas: int = 2
                       ) -> dict[str, Any] | None:
        """Usage figures measured around a reply whose SDK result carries none; None when the
        reply was not generated (a templated support reply: no generator request was made).
        A reply that arrived in one piece (``deltas`` < 2) gives no decoding speed."""
        end = time.perf_counter()
        after = self.prefix_stats()
        before = prefix_before or {}
        if after is None:
            return None
        reqs = after.get("requests", 0) - before.get("requests", 0)
        if reqs <= 0:
            return None
        hits = after.get("hits", 0) - before.get("hits", 0)
        first = t_first if t_first is not None else end
        counted = sdk.count_tokens(self._generator, text) if text else None
        tokens = counted or 0
        return {
            "time_to_first_token_s": first - t0,
            "tokens_per_second": (tokens - 1) / (end - first)
            if deltas > 1 and tokens > 1 and end > first else 0.0,
            "kv_cache_hit_rate": hits / reqs,
            "answer_cache_hit": False,
        }

    # -- code agent ------------------------------------------------------------------------
    def solve(self, task: str, tests: str | None, stop: threading.Event | None = None
              ) -> Iterator[dict[str, Any]]:
        """Stream the code agent's events as dicts; the last has kind "done"."""
        if not task.strip():
            raise InputError("need_task")
        if not self.features()["code agent"]:
            raise InputError("missing_part", part="code agent", module="ragkit.codeagent")
        gen = self.generator() if stop is None else Interruptible(self.generator(), stop)
        events = sdk.code_agent(gen).stream(task, tests=tests.strip() or None if tests else None)
        try:
            for ev in events:
                yield {"kind": ev.kind, "round": ev.round, "data": _plain(ev.data)}
                if stop is not None and stop.is_set():
                    break
        except Stopped:  # the Stop button ended a reply mid-way
            return
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    @staticmethod
    def save_code(code: str) -> Path:
        out = Path(tempfile.mkdtemp(prefix="ragkit-code-")) / "solution.py"
        out.write_text(code, encoding="utf-8")
        return out


def _closer(stream: Any) -> Callable[[], None]:
    def close() -> None:
        fn = getattr(stream, "close", None)
        if fn is not None:
            fn()

    return close


def _render_pdf_page(pdf: Path, page: int, target: Path) -> Path | None:
    """Page ``page`` (1-based) of ``pdf`` as a PNG at ``target``; None when it cannot be
    rendered (no PDF renderer installed, a page out of range, a damaged file)."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        return None
    try:
        doc = pdfium.PdfDocument(str(pdf))
        try:
            if not 1 <= page <= len(doc):
                return None
            doc[page - 1].render(scale=1.5).to_pil().save(target)
        finally:
            doc.close()
    except Exception:  # a page that will not render is shown as text only
        return None
    return target


def new_thread_id() -> str:
    return uuid.uuid4().hex[:12]


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, RagkitError)
