"""The support assistant SDK: ``SupportAssistant.open(...)``, ``send``, ``state``, ``resume``.

Owns: wiring (knowledge base, generator, domain, orders database, intent classifier, RAG
answerer, the SQLite checkpointer with one thread per conversation and a retention policy),
the streaming :class:`ReplyStream` and the :class:`Reply` record. A remote generator backend
is wrapped so it only sees redacted text; support logs pass through the redaction filter.

Does not own: understanding, state rules, tools or graph routing (see the sibling modules).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from ragkit.errors import ConfigError
from ragkit.guard import Guard, Verdict
from ragkit.guard.audit import FILE_NAME as AUDIT_FILE
from ragkit.guard.audit import AuditLog
from ragkit.pii import RedactingSerializer, Sealer, private_file, redact
from ragkit.streams import Stream
from ragkit.support.db import PgSupportDB, SupportDB, default_db_path, open_db
from ragkit.support.domain import Domain, load_domain
from ragkit.support.graph import Answerer, SupportDeps, build_graph
from ragkit.support.nlu import Understanding, intent_classifier
from ragkit.support.redact import RedactingGenerator, install_log_redaction
from ragkit.support.state import DialogueState
from ragkit.support.tools import SupportTools

MAX_MESSAGE_CHARS = 20000


@dataclass
class Reply:
    text: str
    state: DialogueState
    citations: list[Any] = field(default_factory=list)
    handoff: bool = False
    ticket_id: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    offer_human: bool = False  # the reply offers a person (the question found no answer)
    resolved: bool = False  # an agent's reply that closed the handoff ticket
    # how a knowledge answer was found (query, confidence, evidence, stages); {} otherwise
    knowledge: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "state": self.state.to_dict(),
                "citations": [c.to_dict() if hasattr(c, "to_dict") else c
                              for c in self.citations],
                "handoff": self.handoff, "ticket_id": self.ticket_id,
                "tool_calls": list(self.tool_calls), "offer_human": self.offer_human,
                "resolved": self.resolved, "knowledge": dict(self.knowledge)}


class ReplyStream(Stream[str, Reply]):
    """Text deltas of one reply; :attr:`reply` (= ``result``) is set once exhausted."""

    def __init__(self, source: Iterator[str], finish: Callable[[], Reply]) -> None:
        super().__init__(source, finish, unfinished="the reply stream was closed before it "
                         "finished; send the message again")

    @property
    def reply(self) -> Reply | None:
        return self.result


class _Threads:
    """Thread bookkeeping beside the checkpoints: last activity, for the retention policy."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS support_threads (thread_id TEXT PRIMARY "
                         "KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS support_transcripts (seq INTEGER PRIMARY "
                         "KEY AUTOINCREMENT, thread_id TEXT NOT NULL, role TEXT NOT NULL, "
                         "content TEXT NOT NULL, at REAL NOT NULL)")

    def touch(self, thread_id: str) -> None:
        now = time.time()
        with self.conn:
            self.conn.execute("INSERT INTO support_threads VALUES (?, ?, ?) ON CONFLICT"
                              "(thread_id) DO UPDATE SET updated_at = excluded.updated_at",
                              (thread_id, now, now))

    def expired(self, days: float, max_threads: int) -> list[str]:
        cutoff = time.time() - days * 86400
        old = [r[0] for r in self.conn.execute(
            "SELECT thread_id FROM support_threads WHERE updated_at < ?", (cutoff,))]
        extra = [r[0] for r in self.conn.execute(
            "SELECT thread_id FROM support_threads ORDER BY updated_at DESC LIMIT -1 OFFSET ?",
            (max_threads,))]
        return sorted(set(old) | set(extra))

    def forget(self, thread_id: str) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM support_threads WHERE thread_id = ?", (thread_id,))
            self.conn.execute("DELETE FROM support_transcripts WHERE thread_id = ?", (thread_id,))

    def log(self, thread_id: str, role: str, content: str) -> None:
        with self.conn:
            self.conn.execute("INSERT INTO support_transcripts (thread_id, role, content, at) "
                              "VALUES (?, ?, ?, ?)",
                              (thread_id, role, redact(content)[0], time.time()))

    def transcript(self, thread_id: str) -> list[dict[str, str]]:
        rows = self.conn.execute("SELECT role, content FROM support_transcripts WHERE "
                                 "thread_id = ? ORDER BY seq", (thread_id,)).fetchall()
        return [{"role": r, "content": c} for r, c in rows]

    def by_activity(self) -> list[tuple[str, float]]:
        """(thread id, last activity) of every thread, oldest first."""
        return self.conn.execute("SELECT thread_id, updated_at FROM support_threads "
                                 "ORDER BY updated_at").fetchall()

    def close(self) -> None:
        self.conn.close()


class _PgThreads(_Threads):
    """The same bookkeeping in PostgreSQL (``conn``'s search path is the assistant's schema),
    beside LangGraph's Postgres checkpointer on ``saver_conn``."""

    TABLES = ("CREATE TABLE IF NOT EXISTS support_threads (thread_id TEXT PRIMARY KEY, "
              "created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
              "CREATE TABLE IF NOT EXISTS support_transcripts (seq BIGSERIAL PRIMARY KEY, "
              "thread_id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, "
              "at DOUBLE PRECISION NOT NULL)")

    def __init__(self, conn: Any, saver_conn: Any) -> None:  # tables made by checkpointer()
        self.conn = conn
        self._saver_conn = saver_conn
        self._lock = threading.Lock()

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            cur = self.conn.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if cur.description else []

    def touch(self, thread_id: str) -> None:
        now = time.time()
        self._run("INSERT INTO support_threads VALUES (?, ?, ?) ON CONFLICT (thread_id) DO "
                  "UPDATE SET updated_at = EXCLUDED.updated_at", (thread_id, now, now))

    def expired(self, days: float, max_threads: int) -> list[str]:
        cutoff = time.time() - days * 86400
        old = [r[0] for r in self._run(
            "SELECT thread_id FROM support_threads WHERE updated_at < ?", (cutoff,))]
        extra = [r[0] for r in self._run(
            "SELECT thread_id FROM support_threads ORDER BY updated_at DESC OFFSET ?",
            (max_threads,))]
        return sorted(set(old) | set(extra))

    def forget(self, thread_id: str) -> None:
        with self._lock, self.conn.transaction():
            self.conn.execute("DELETE FROM support_threads WHERE thread_id = %s", (thread_id,))
            self.conn.execute("DELETE FROM support_transcripts WHERE thread_id = %s",
                              (thread_id,))

    def log(self, thread_id: str, role: str, content: str) -> None:
        self._run("INSERT INTO support_transcripts (thread_id, role, content, at) "
                  "VALUES (?, ?, ?, ?)", (thread_id, role, redact(content)[0], time.time()))

    def transcript(self, thread_id: str) -> list[dict[str, str]]:
        rows = self._run("SELECT role, content FROM support_transcripts WHERE thread_id = ? "
                         "ORDER BY seq", (thread_id,))
        return [{"role": r, "content": c} for r, c in rows]

    def by_activity(self) -> list[tuple[str, float]]:
        return [tuple(r) for r in self._run(
            "SELECT thread_id, updated_at FROM support_threads ORDER BY updated_at")]

    def close(self) -> None:
        self.conn.close()
        self._saver_conn.close()


def _pg_conversations(url: Any, serde: Any) -> tuple[Any, _PgThreads]:
    """LangGraph's Postgres checkpointer and the thread bookkeeping in the schema
    ``KBSCHEMA_support`` of a knowledge base in PostgreSQL (url: ``ragkit.pgstore.PgUrl``)."""
    from ragkit.pgstore import checkpointer

    saver, saver_conn, conn = checkpointer(url, f"{url.schema}_support", serde,
                                           _PgThreads.TABLES)
    return saver, _PgThreads(conn, saver_conn)


class SupportAssistant:
    """A customer-service assistant over a knowledge base, a domain file and an orders DB."""

    def __init__(self, domain: Domain, db: SupportDB, understanding: Understanding,
                 answerer: Answerer | None, threads_path: Path,
                 guard: Guard | None = None, audit_path: Path | None = None,
                 threads_url: Any = None) -> None:
        self.domain = domain
        self.db = db
        self.tools = SupportTools(db)
        self.understanding = understanding
        self.threads_path = Path(threads_path)
        self.threads_path.parent.mkdir(parents=True, exist_ok=True)
        # checkpoints hold what customers typed: stored redacted, and the identity and address
        # slots a later turn's tools need stored sealed (ragkit.pii, SECURITY.md)
        sealed = [name for name, spec in domain.spec.slots.items() if spec.pii]
        serde = RedactingSerializer(sealer=Sealer(), sealed_keys=sealed)
        self._saver: Any
        if threads_url is not None:  # conversations any process on the URL continues
            self._saver, self._threads = _pg_conversations(threads_url, serde)
        else:
            conn = sqlite3.connect(private_file(self.threads_path), check_same_thread=False)
            self._saver = SqliteSaver(conn, serde=serde)
            self._threads = _Threads(conn)
        self._audit = (AuditLog(audit_path or self.threads_path.with_name("audit.sqlite"),
                                guard.config.audit_retention_days)
                       if guard is not None and guard.config.audit else None)
        self._deps = SupportDeps(domain, understanding, self.tools, answerer,
                                 self._threads.transcript,
                                 guard=guard.load() if guard is not None else None,
                                 audit=self._record_guard)
        self.graph = build_graph(self._saver)
        self._lock = threading.Lock()
        install_log_redaction()
        self.prune()

    def _record_guard(self, verdict: Verdict, thread_id: str) -> None:
        """The guard's findings into the audit trail beside the threads database."""
        if self._audit is not None:
            self._audit.record(verdict, thread_id)

    @classmethod
    def open(cls, kb: Any = None, domain_path: str | Path | None = None, *,
             generator: Any = None, db_path: str | Path | None = None,
             threads_path: str | Path | None = None, embedder: Any = None,
             answerer: Answerer | None = None,
             answerer_for: Callable[[Any], Answerer] | None = None,
             guard: Guard | None = None) -> SupportAssistant:
        """Put an assistant together from parts that are already built (the SDK,
        :func:`ragkit.sdk.support_assistant`, builds them from names and paths).

        ``kb``: an open knowledge base or None (policy and product questions then go to a
        human); ``embedder`` defaults to the knowledge base's. ``answerer_for(generator)``
        builds the RAG answerer from the generator the assistant really uses: a remote
        backend is wrapped so it only sees redacted text. ``guard`` screens every message
        (its findings go to the knowledge base's ``audit.sqlite``, or beside the threads
        database when there is none).
        """
        if isinstance(kb, str | Path):
            raise ConfigError("SupportAssistant.open takes an open knowledge base; use "
                              "ragkit.sdk.support_assistant(path, ...) to open one by path")
        if generator is None:
            raise ConfigError("SupportAssistant.open needs a generator; use "
                              "ragkit.sdk.support_assistant(...) to load the default model")
        domain = load_domain(domain_path)
        gen = generator
        from ragkit.generation.openai_client import OpenAICompatibleGenerator
        from ragkit.generation.pool import GeneratorPool

        if isinstance(gen, OpenAICompatibleGenerator | GeneratorPool):  # another process
            gen = RedactingGenerator(gen)
        if embedder is None:
            if kb is None:
                raise ConfigError("SupportAssistant.open needs an embedder when there is no "
                                  "knowledge base; use ragkit.sdk.support_assistant(...)")
            embedder = kb.embedder
        if answerer is None and answerer_for is not None:
            answerer = answerer_for(gen)
        from ragkit.pgstore import PgStore

        in_pg = kb is not None and isinstance(kb.store, PgStore)
        if db_path is None and in_pg:
            db: SupportDB = PgSupportDB(kb.store.url)  # beside the knowledge base, shared
        else:
            db = open_db(db_path)
        path = Path(threads_path) if threads_path else (
            Path(db_path).parent if db_path else default_db_path().parent) / "threads.sqlite"
        understanding = Understanding(domain, intent_classifier(domain, embedder), gen)
        audit = Path(kb.dir) / AUDIT_FILE if kb is not None else None
        return cls(domain, db, understanding, answerer, path, guard, audit,
                   threads_url=kb.store.url if in_pg and threads_path is None else None)

    def warm(self, progress: Callable[[str, int, int], None] | None = None) -> None:
        """Load the intent model now (training it first when the domain has none yet), so
        the first message does not wait for it."""
        clf = self._deps.understanding.classifier
        if progress is not None and hasattr(clf, "progress"):
            clf.progress = progress
        clf.load()

    # -- conversation ------------------------------------------------------------------------
    @staticmethod
    def _config(thread_id: str) -> dict[str, Any]:
        if not isinstance(thread_id, str) or not thread_id.strip():
            raise ConfigError("thread_id must be a non-empty string (one per conversation)")
        return {"configurable": {"thread_id": thread_id}}

    def _snapshot(self, thread_id: str) -> Any:
        return self.graph.get_state(self._config(thread_id))

    def waiting_for_agent(self, thread_id: str) -> bool:
        snap = self._snapshot(thread_id)
        return bool(snap.next) and bool(getattr(snap, "interrupts", ()))

    def send(self, thread_id: str, text: str) -> ReplyStream:
        """Send one customer message; iterate the returned stream for the reply text."""
        config = self._config(thread_id)
        if not isinstance(text, str):
            raise ConfigError("the message must be a string")
        text = text[:MAX_MESSAGE_CHARS]
        if self.waiting_for_agent(thread_id):
            return self._queued_for_agent(thread_id, text)
        events: dict[str, Any] = {}

        def run() -> Iterator[str]:
            with self._lock:
                self._threads.touch(thread_id)
                inp = {"thread_id": thread_id, "input": text, "reply": {}}
                for payload in self.graph.stream(inp, config, context=self._deps,
                                                 stream_mode="custom"):
                    if not isinstance(payload, dict):
                        continue
                    if "delta" in payload:
                        yield str(payload["delta"])
                    if "reply" in payload:
                        events.update(payload)
                self._record(thread_id, text, events)

        return ReplyStream(run(), lambda: self._reply(thread_id, events))

    def _record(self, thread_id: str, text: str, events: dict[str, Any]) -> None:
        reply = events.get("reply") or {}
        self._threads.log(thread_id, "user", text)
        self._threads.log(thread_id, "assistant", str(reply.get("text", "")))

    def _reply(self, thread_id: str, events: dict[str, Any]) -> Reply:
        r = events.get("reply") or {}
        dialogue = events.get("dialogue") or (self._snapshot(thread_id).values or {}).get(
            "dialogue", {})
        state = DialogueState.from_dict(dialogue)
        return Reply(text=str(r.get("text", "")), state=state,
                     citations=list(r.get("citations", [])), handoff=bool(r.get("handoff")),
                     ticket_id=r.get("ticket_id") or state.ticket_id,
                     tool_calls=list(r.get("tool_calls", [])),
                     offer_human=bool(r.get("offer_human")),
                     knowledge=dict(r.get("knowledge") or {}))

    def _queued_for_agent(self, thread_id: str, text: str) -> ReplyStream:
        state = self.state(thread_id)
        lang = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"
        msg = ("您的消息已转给人工客服，请稍候。" if lang == "zh" else
               "Your message has been passed to our team; an agent will reply here shortly.")
        reply = Reply(msg, state, handoff=True, ticket_id=state.ticket_id)

        def run() -> Iterator[str]:
            self._threads.log(thread_id, "user", text)
            yield msg

        return ReplyStream(run(), lambda: reply)

    def state(self, thread_id: str) -> DialogueState:
        values = self._snapshot(thread_id).values or {}
        state = DialogueState.from_dict(values.get("dialogue", {}))
        if self.waiting_for_agent(thread_id):
            interrupts = self._snapshot(thread_id).interrupts
            info = interrupts[0].value if interrupts else {}
            state = DialogueState.from_dict(info.get("state", state.to_dict()))
        return state

    def resume(self, thread_id: str, agent_reply: str, *, resolve: bool = True) -> Reply:
        """A human agent answers a handed-off thread. The agent's reply resolves the ticket
        (``resolve=True``, the default: it is closed with the reply as its resolution) and
        the conversation returns to the assistant; the customer's next message is the
        assistant's again."""
        config = self._config(thread_id)
        if not isinstance(agent_reply, str) or not agent_reply.strip():
            raise ConfigError("the agent's reply is empty; write what the customer should read")
        if not self.waiting_for_agent(thread_id):
            raise ConfigError(f"thread {thread_id!r} is not waiting for an agent; list the "
                              "open ones with handoffs()")
        with self._lock:
            self.graph.invoke(Command(resume=agent_reply), config, context=self._deps)
            self._threads.touch(thread_id)
        values = self._snapshot(thread_id).values or {}
        r = values.get("reply") or {}
        state = DialogueState.from_dict(values.get("dialogue", {}))
        ticket = r.get("ticket_id")
        resolved = False
        if resolve and ticket:
            t = self.db.get_ticket(ticket)
            if t is not None and t.status == "open":
                self.db.close_ticket(ticket, agent_reply[:2000])
            resolved = True
        self._threads.log(thread_id, "agent", agent_reply)
        return Reply(text=str(r.get("text", agent_reply)), state=state,
                     ticket_id=ticket, handoff=False, resolved=resolved)

    def handoffs(self) -> list[dict[str, Any]]:
        """Threads waiting for a human agent, oldest first."""
        out = []
        for thread_id, updated in self._threads.by_activity():
            snap = self._snapshot(thread_id)
            if not (snap.next and snap.interrupts):
                continue
            info = dict(snap.interrupts[0].value)
            out.append({"thread_id": thread_id, "ticket_id": info.get("ticket_id"),
                        "reason": info.get("reason"), "updated_at": updated,
                        "state": info.get("state"),
                        "transcript": self._threads.transcript(thread_id)})
        return out

    def transcript(self, thread_id: str) -> list[dict[str, str]]:
        """The conversation so far: {"role": "user"|"assistant"|"agent", "content"} dicts."""
        return self._threads.transcript(thread_id)

    # -- retention ---------------------------------------------------------------------------
    def prune(self) -> list[str]:
        """Delete conversations past the domain's retention policy; returns their ids."""
        ret = self.domain.spec.retention
        gone = self._threads.expired(ret.days, ret.max_threads)
        for tid in gone:
            self._saver.delete_thread(tid)
            self._threads.forget(tid)
        return gone

    def delete_thread(self, thread_id: str) -> None:
        self._saver.delete_thread(thread_id)
        self._threads.forget(thread_id)

    def close(self) -> None:
        self._threads.close()
        self.db.close()
        if self._audit is not None:
            self._audit.close()

    def __enter__(self) -> SupportAssistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
