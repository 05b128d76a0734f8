"""What the Gradio app does, as plain Python over the SDK (no Gradio in here).

Owns: which knowledge base is active, loading the one shared generator lazily, the support
assistant / RAG conversation per chat thread, stop flags for running generations, the code
agent runs, and the session's metrics. Every call goes through the public SDK
(``ragkit.kb``, ``ragkit.rag``, ``ragkit.support``, ``ragkit.codeagent``); components that are
not installed are reported by :meth:`Backend.features`, never imported eagerly.
Does not: render anything (``format.py``) or build the page (``app.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragkit.errors import ConfigError, KnowledgeBaseError, RagkitError
from ragkit.kb import KnowledgeBase
from ragkit.ui import format as fmt

MODES = ("dense", "keyword", "hybrid")


@dataclass(frozen=True)
class UiSettings:
    """Parsed once by ``ragkit ui``; ``kb_root`` is where the Knowledge tab lists and creates."""

    kb_dir: Path
    domain_path: Path | None = None
    model: str | None = None
    quantization: str | None = None
    kb_root: Path | None = None

    @property
    def root(self) -> Path:
        return (self.kb_root or self.kb_dir.parent).expanduser().resolve()


@dataclass
class Turn:
    """One assistant reply being produced: iterate for text deltas, then read ``final``."""

    deltas: Iterator[str]
    finish: Callable[[], dict[str, Any]]
    close: Callable[[], None]
    final: dict[str, Any] = field(default_factory=dict)


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
        self._kb_dir = settings.kb_dir.expanduser().resolve()
        self._kb: KnowledgeBase | None = None
        self._generator: Any = None
        self._support: Any = None
        self._conversations: dict[str, Any] = {}
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.RLock()
        self.metrics: list[dict[str, Any]] = []
        self._features: dict[str, bool] | None = None

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

    # -- knowledge base --------------------------------------------------------------------
    @property
    def kb_dir(self) -> Path:
        return self._kb_dir

    def kb(self) -> KnowledgeBase:
        with self._lock:
            if self._kb is None:
                self._kb = KnowledgeBase.open(self._kb_dir)
            return self._kb

    def kb_status(self) -> dict[str, Any]:
        return self.kb().status()

    def list_kbs(self) -> list[str]:
        root = self.settings.root
        found = {str(self._kb_dir)}
        if root.is_dir():
            found |= {str(p.parent) for p in root.glob("*/ragkit.json")}
        return sorted(found)

    def select_kb(self, path: str | Path) -> dict[str, Any]:
        d = Path(path).expanduser().resolve()
        if not (d / "ragkit.json").exists():
            raise KnowledgeBaseError(f"{d} is not a knowledge base; create it first or pick "
                                     "one from the list")
        with self._lock:
            if d != self._kb_dir:
                if self._kb is not None:
                    self._kb.close()
                self._kb, self._kb_dir = None, d
                self._support = None
                self._conversations.clear()
        return self.kb_status()

    def create_kb(self, name: str) -> dict[str, Any]:
        name = name.strip()
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError("give the new knowledge base a plain name such as `my-docs` "
                              "(letters, digits, dashes; no slashes)")
        d = self.settings.root / name
        if (d / "ragkit.json").exists():
            raise KnowledgeBaseError(f"a knowledge base named {name!r} already exists; pick it "
                                     "from the list instead")
        KnowledgeBase.open(d, create=True).close()
        return self.select_kb(d)

    def index(self, paths: Sequence[str | Path],
              progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
        """Add uploaded files or a folder to the active knowledge base."""
        if not paths:
            raise ConfigError("nothing to index: upload files or type a folder path first")
        report = self.kb().add([Path(p) for p in paths], progress=progress)
        with self._lock:
            self._conversations.clear()  # answers may change with the new documents
        return report.to_dict()

    def search_all(self, query: str, k: int = 5) -> dict[str, list[dict[str, Any]]]:
        if not query.strip():
            raise ConfigError("type something to search for")
        kb = self.kb()
        return {mode: [h.to_dict() for h in kb.search(query, k=k, mode=mode)]  # type: ignore[arg-type]
                for mode in MODES}

    # -- generator -------------------------------------------------------------------------
    def generator(self) -> Any:
        with self._lock:
            if self._generator is None:
                s = self.settings
                custom = {k: v for k, v in (("model", s.model), ("quantization", s.quantization))
                          if v}
                if self.features()["RAG pipeline"] and has_module("ragkit", "load_generator"):
                    import ragkit

                    arg = None
                    if custom:
                        from ragkit.generation.config import GeneratorConfig

                        arg = GeneratorConfig.parse(custom)
                    self._generator = ragkit.load_generator(arg)  # type: ignore[attr-defined]
                else:
                    from ragkit.generation.config import GeneratorConfig
                    from ragkit.generation.local import LocalGenerator

                    self._generator = LocalGenerator(GeneratorConfig.parse(custom)).load()
            return self._generator

    def generator_loaded(self) -> bool:
        return self._generator is not None

    def generator_info(self) -> dict[str, Any] | None:
        gen = self._generator
        return gen.info() if gen is not None and hasattr(gen, "info") else None

    def prefix_stats(self) -> dict[str, Any] | None:
        gen = self._generator
        if gen is None or not hasattr(gen, "stats"):
            return None
        return gen.stats().get("prefix_cache")

    # -- stop flags ------------------------------------------------------------------------
    def stop_flag(self, key: str) -> threading.Event:
        with self._lock:
            flag = self._stops.setdefault(key, threading.Event())
        flag.clear()
        return flag

    def stop(self, key: str) -> None:
        with self._lock:
            flag = self._stops.get(key)
        if flag is not None:
            flag.set()

    # -- chat ------------------------------------------------------------------------------
    def support(self) -> Any:
        with self._lock:
            if self._support is None:
                from ragkit.support import SupportAssistant

                self._support = SupportAssistant.open(
                    self.kb(), self.settings.domain_path, generator=self.generator())
            return self._support

    def send(self, thread_id: str, text: str, *, mode: str = "support") -> Turn:
        """Start one reply. ``mode``: "support" (dialogue assistant) or "qa" (grounded Q&A)."""
        if not text.strip():
            raise ConfigError("type a message first")
        if mode == "support" and self.features()["support assistant"]:
            bot = self.support()
            stream = bot.send(thread_id, text)

            def finish_support() -> dict[str, Any]:
                reply = _plain(getattr(stream, "reply", None)) or {}
                reply.setdefault("state", self.state(thread_id))
                return reply

            return Turn(iter(stream), finish_support, _closer(stream))
        if not self.features()["RAG pipeline"]:
            raise ConfigError("the RAG pipeline (ragkit.rag) is not installed in this "
                              "environment; reinstall ragkit with `pip install -e .`")
        with self._lock:
            conv = self._conversations.get(thread_id)
            if conv is None:
                conv = self.kb().chat(generator=self.generator(), thread_id=thread_id)
                self._conversations[thread_id] = conv
        stream = conv.send(text)

        def finish_qa() -> dict[str, Any]:
            answer = getattr(stream, "answer", None)
            data = _plain(answer) or {}
            if "answer" in data and "text" not in data:
                data["text"] = data["answer"]
            return data

        return Turn(iter(stream), finish_qa, _closer(stream))

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
            raise ConfigError("pick a handed-off conversation first")
        if not agent_reply.strip():
            raise ConfigError("type the agent's reply first")
        return _plain(self.support().resume(thread_id, agent_reply))

    def record(self, usage: dict[str, Any], kind: str = "chat") -> dict[str, Any]:
        with self._lock:
            row = fmt.metrics_record(len(self.metrics) + 1, usage, kind=kind)
            self.metrics.append(row)
            return row

    def measured_usage(self, text: str, t0: float, t_first: float | None,
                       prefix_before: dict[str, Any] | None) -> dict[str, Any] | None:
        """Usage figures measured around a reply whose SDK result carries none; None when the
        reply was not generated (a templated support reply: no generator request was made)."""
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
        gen = self._generator
        tokens = gen.count_tokens(text) if gen is not None and text else 0
        return {
            "time_to_first_token_s": first - t0,
            "tokens_per_second": (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0,
            "kv_cache_hit_rate": hits / reqs,
            "answer_cache_hit": False,
        }

    # -- code agent ------------------------------------------------------------------------
    def solve(self, task: str, tests: str | None, stop: threading.Event | None = None
              ) -> Iterator[dict[str, Any]]:
        """Stream the code agent's events as dicts; the last has kind "done"."""
        if not task.strip():
            raise ConfigError("describe the task first, e.g. 'write is_palindrome(s)'")
        if not self.features()["code agent"]:
            raise ConfigError("the code agent (ragkit.codeagent) is not installed in this "
                              "environment; reinstall ragkit with `pip install -e .`")
        from ragkit.codeagent import CodeAgent

        agent = CodeAgent(self.generator())
        events = agent.stream(task, tests=tests.strip() or None if tests else None)
        try:
            for ev in events:
                data = _plain(ev.data)
                report = getattr(ev.data.get("result"), "report", None)
                if report is not None and hasattr(report, "to_markdown"):
                    data["report_markdown"] = report.to_markdown(include_code=False)
                yield {"kind": ev.kind, "round": ev.round, "data": data}
                if stop is not None and stop.is_set():
                    break
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


def new_thread_id() -> str:
    return uuid.uuid4().hex[:12]


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, RagkitError)
