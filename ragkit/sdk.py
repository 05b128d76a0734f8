"""The composition root: the one place where ragkit's parts are built and put together.

Owns: opening knowledge bases; building generators (a local model from a
:class:`~ragkit.generation.config.GeneratorConfig`, or an OpenAI-compatible server from a
:class:`~ragkit.generation.config.RemoteGeneratorConfig`) and embedders from typed configs and
memoising them per process; relevance scorers; and constructing the RAG pipeline, the support
assistant and the code agent. The CLI (``ragkit/cli``) and the UI (``ragkit/ui``, ``apps/``)
import this module plus config types and errors, never the engines behind it.

Does not own any behaviour: each part keeps its own module, and this one only wires them.
Heavy imports happen inside the functions, so ``import ragkit.sdk`` stays cheap.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragkit.config import DEFAULT_EMBEDDER, DEFAULT_RELEVANCE, KnowledgeBaseConfig, RelevanceMode
from ragkit.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from ragkit.codeagent import AgentConfig, CodeAgent
    from ragkit.embedder import Embedder
    from ragkit.generation.base import Generator
    from ragkit.generation.config import GeneratorConfig, RemoteGeneratorConfig
    from ragkit.guard import Guard, GuardConfig
    from ragkit.guard.audit import AuditLog
    from ragkit.guard.intent import IntentScreen
    from ragkit.guard.lists import WordLists
    from ragkit.kb import KnowledgeBase
    from ragkit.rag import Answer, Conversation, RagConfig, RagPipeline
    from ragkit.relevance import Relevance
    from ragkit.support import SupportAssistant

    # What names a generator: None (the default model), a catalogue name, model folder or
    # GGUF path, a local model's config, or a remote server's config.
    GeneratorSpec = str | GeneratorConfig | RemoteGeneratorConfig | None

_lock = threading.Lock()
_generators: dict[str, Any] = {}
_embedders: dict[tuple[str, str | None], Any] = {}
_relevance: dict[str, Any] = {}
_service: dict[str, Any] = {}  # url, generator, quantization of the attached model service


def _memo(cache: dict[Any, Any], key: Any, build: Callable[[], Any]) -> Any:
    """``cache[key]``, built once. Built outside the lock: building may take it (a relevance
    scorer loads its embedder) or wait on another process (the model service)."""
    with _lock:
        if key in cache:
            return cache[key]
    made = build()
    with _lock:
        return cache.setdefault(key, made)


# -- the model service ------------------------------------------------------------------------
def find_service() -> tuple[str | None, str]:
    """(URL of a running ``ragkit serve`` or None, a line saying which and why)."""
    from ragkit.service import find_service as find

    return find()


def attach_service(url: str) -> dict[str, Any]:
    """From now on this process takes its models from the service at ``url``: embedders and
    relevance scorers always, the generator when the service runs the one asked for."""
    import httpx

    try:
        info = httpx.get(f"{url}/ragkit/v1/info", timeout=5).json()
    except (httpx.HTTPError, ValueError) as err:
        raise ModelError(f"{url} is not a ragkit service ({err}); start one with `ragkit "
                         "serve`") from err
    with _lock:
        _service.clear()
        _service.update(url=url, generator=info.get("generator"),
                        quantization=info.get("quantization", "none"))
    return dict(_service)


def detach_service() -> None:
    with _lock:
        _service.clear()


def service_url() -> str | None:
    return _service.get("url")


def service_serves(config: GeneratorConfig) -> bool:
    """Whether the attached service runs the generator ``config`` asks for."""
    return bool(_service) and config.model == _service.get("generator") and (
        config.quantization == _service.get("quantization"))


# -- knowledge bases --------------------------------------------------------------------------
def open_kb(directory: str | Path, *, create: bool = False,
            config: KnowledgeBaseConfig | None = None,
            embedder: Embedder | None = None) -> KnowledgeBase:
    """Open the knowledge base at ``directory`` (``create=True`` makes it first): a folder,
    or ``postgresql://USER@HOST:PORT/DB?schema=NAME`` for one in PostgreSQL + pgvector."""
    from ragkit.kb import KnowledgeBase

    kb = KnowledgeBase.open(directory, create=create, config=config, embedder=embedder)
    if embedder is None:  # the process's one instance: the guard's intent screen shares it
        kb.set_embedder_loader(load_embedder)
    return kb


def migrate_kb(source: str | Path, target: str | Path, *,
               progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Copy the knowledge base at ``source`` to ``target`` (each a folder or a
    ``postgresql://`` URL; ``target`` is created with the same settings and must hold no
    other documents) without parsing or embedding anything again."""
    from ragkit.kb import copy_knowledge_base

    with open_kb(source) as src, open_kb(target, create=True, config=src.config) as dst:
        return copy_knowledge_base(src, dst, progress)


def is_kb_url(location: object) -> bool:
    """Whether ``location`` names a knowledge base in PostgreSQL (a ``postgresql://`` URL)."""
    from ragkit.pgstore import is_url

    return is_url(location)


def kb_shown(location: str | Path) -> str:
    """``location`` as messages and pages show it: a URL loses its password."""
    from ragkit.pgstore import PgUrl

    return PgUrl.parse(str(location)).shown if is_kb_url(location) else str(location)


def kb_folder(location: str | Path) -> Path:
    """The folder of a knowledge base's own files (its guard word lists, audit trail): the
    directory itself, or for one in Postgres this machine's side folder for it (the
    knowledge base must exist: it is opened to check)."""
    if not is_kb_url(location):
        return Path(location)
    with open_kb(location) as base:
        return base.dir


def kb_exists(location: str | Path) -> bool:
    """Whether a knowledge base is at ``location`` (a folder or a ``postgresql://`` URL)."""
    from ragkit.kb import KnowledgeBase

    return KnowledgeBase.exists(location)


def load_embedder(name: str = DEFAULT_EMBEDDER, device: str | None = None) -> Embedder:
    """An embedder by catalogue name or local folder, built once per process (loads lazily);
    with a model service attached (and no device asked for), the service's."""
    url = service_url()
    if url and device is None:
        from ragkit.remote import RemoteEmbedder

        return _memo(_embedders, (name, f"service:{url}"),  # type: ignore[no-any-return]
                     lambda: RemoteEmbedder(url, name))
    from ragkit.embedder import load_embedder as build

    # Built outside the lock: resolving a catalogue name may pull the model (minutes).
    return _memo(_embedders, (name, device),  # type: ignore[no-any-return]
                 lambda: build(name, device=device))


# -- generators -------------------------------------------------------------------------------
def generator_config(spec: GeneratorSpec = None) -> GeneratorConfig | RemoteGeneratorConfig:
    """The typed config ``spec`` names: None (the default model), a catalogue name, model
    folder or GGUF path, or a config (returned as it is). Anything else is refused."""
    from ragkit.generation.config import GeneratorConfig, RemoteGeneratorConfig

    if spec is None:
        return GeneratorConfig()
    if isinstance(spec, str):
        return GeneratorConfig.parse({"model": spec})
    if isinstance(spec, GeneratorConfig | RemoteGeneratorConfig):
        return spec
    raise ConfigError("load_generator() takes a model name, a GeneratorConfig, a "
                      f"RemoteGeneratorConfig or None (got {type(spec).__name__})")


def load_generator(spec: GeneratorSpec = None) -> Generator:
    """A ready generator, built once per process for each config.

    ``spec``: None (the default model), a catalogue name, a local model folder or GGUF path,
    a :class:`GeneratorConfig` (a local model, loaded here) or a
    :class:`RemoteGeneratorConfig` (an OpenAI-compatible server; nothing is loaded).
    """
    from ragkit.generation.config import GeneratorConfig, RemoteGeneratorConfig

    cfg = generator_config(spec)
    if isinstance(cfg, GeneratorConfig) and service_serves(cfg):
        cfg = RemoteGeneratorConfig(base_url=_service["url"], model=cfg.model)
    key = f"{type(cfg).__name__}:{cfg.model_dump_json()}"
    with _lock:
        if key not in _generators:
            if isinstance(cfg, RemoteGeneratorConfig):
                from ragkit.generation.openai_client import OpenAICompatibleGenerator
                from ragkit.generation.pool import GeneratorPool

                servers = [OpenAICompatibleGenerator(url, cfg.model, api_key=cfg.api_key,
                                                     timeout=cfg.timeout_s) for url in cfg.urls]
                _generators[key] = (servers[0] if len(servers) == 1
                                    else GeneratorPool(servers, cfg.weights or None))
            else:
                from ragkit.generation.local import LocalGenerator

                _generators[key] = LocalGenerator(cfg).load()
        return _generators[key]


def is_remote(generator: Any) -> bool:
    """Whether ``generator`` sends text to another process (an OpenAI-compatible server)."""
    from ragkit.generation.openai_client import OpenAICompatibleGenerator
    from ragkit.generation.pool import GeneratorPool

    return isinstance(generator, OpenAICompatibleGenerator | GeneratorPool)


class LazyGenerator:
    """Stands in for ``load_generator(spec)`` and loads it on first use, so an assistant
    that may never need the model (templated replies) starts without loading it."""

    def __init__(self, spec: GeneratorSpec = None) -> None:
        self.spec = spec
        self.model_id = "default" if spec is None else str(getattr(spec, "model", spec))
        self._inner: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def get(self) -> Generator:
        with self._lock:
            if self._inner is None:
                self._inner = load_generator(self.spec)
            return self._inner

    def __getattr__(self, name: str) -> Any:  # optional features of the loaded generator
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)

    def stream(self, *a: Any, **kw: Any) -> Any:
        return self.get().stream(*a, **kw)

    def generate(self, *a: Any, **kw: Any) -> Any:
        return self.get().generate(*a, **kw)

    def choose(self, *a: Any, **kw: Any) -> Any:
        return self.get().choose(*a, **kw)

    def generate_json(self, *a: Any, **kw: Any) -> Any:
        return self.get().generate_json(*a, **kw)


def lazy_generator(spec: GeneratorSpec = None) -> LazyGenerator:
    """A generator that is built by :func:`load_generator` on first use."""
    return LazyGenerator(spec)


def describe(generator: Any) -> dict[str, Any] | None:
    """The generator's ``info()`` (model, device, quantization, ...), when it has one."""
    from ragkit.generation.base import HasInfo

    return generator.info() if isinstance(generator, HasInfo) else None


def generator_stats(generator: Any) -> dict[str, Any] | None:
    """The generator's ``stats()`` (requests, prefix cache), when it has them."""
    from ragkit.generation.base import HasStats

    return generator.stats() if isinstance(generator, HasStats) else None


def count_tokens(generator: Any, text: str) -> int | None:
    """Tokens of ``text`` by the generator's tokenizer; None when it cannot count them."""
    from ragkit.generation.base import CountsTokens

    return generator.count_tokens(text) if isinstance(generator, CountsTokens) else None


def guarded(generator: Generator, audit_dir: str | Path | None = None,
            config: GuardConfig | None = None) -> Generator:
    """``generator`` behind the guard (requests screened, personal data hidden from the model,
    answers screened a sentence at a time), its findings recorded in ``audit_dir``'s trail
    (default: ragkit's cache folder, ``server/``). Unchanged when the config disables it."""
    from ragkit.config import ragkit_home
    from ragkit.guard.generator import GuardedGenerator

    guard = load_guard(config or _rules_only())
    if guard is None:
        return generator
    folder = Path(audit_dir) if audit_dir is not None else ragkit_home() / "server"
    log = guard_audit(folder, guard.config.audit_retention_days) if guard.config.audit else None
    return GuardedGenerator(generator, guard,  # type: ignore[return-value]
                            on_verdict=log.record if log is not None else None)


def serve_model(generator: Generator, host: str = "127.0.0.1", port: int = 8000, *,
                model_name: str | None = None, max_body_bytes: int | None = None,
                guard: bool = True, audit_dir: str | Path | None = None) -> None:
    """Serve ``generator`` over an OpenAI-compatible HTTP API until interrupted (blocking);
    behind the guard unless ``guard`` is False."""
    from ragkit.generation.server import DEFAULT_MAX_BODY_BYTES, serve

    name = model_name or generator.model_id
    served = guarded(generator, audit_dir) if guard else generator
    serve(served, host, port, model_name=name,
          max_body_bytes=DEFAULT_MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes)


def serve_models(config: GeneratorConfig, host: str = "127.0.0.1", port: int = 8765, *,
                 preload: bool = True, log: Callable[[str], None] = print) -> None:
    """Run the model service (``ragkit serve``) until interrupted: the generator ``config``
    names, and embedders and relevance scorers loaded on first use (``preload``: the default
    embedder and the ``auto`` relevance models before it listens). Commands on this machine
    find it through ``$RAGKIT_HOME/service.json`` (or ``RAGKIT_SERVER``)."""
    from ragkit.service import check_port_free, create_service_app, run_service

    if service_url():
        raise ConfigError("this process uses a model service already; the service itself "
                          "loads its models here (set RAGKIT_SERVER=off)")
    check_port_free(host, port)  # before minutes of loading
    log(f"loading the generator {config.model} (quantization={config.quantization})...")
    generator = load_generator(config)
    if preload:
        log(f"loading the embedder {DEFAULT_EMBEDDER} and the relevance models...")
        emb = load_embedder(DEFAULT_EMBEDDER)
        emb.embed_queries(["warm up"])
        scorer = load_relevance(DEFAULT_RELEVANCE, emb)
        if scorer is not None:
            scorer.score("warm up", ["warm up"])
    app = create_service_app(generator, config.model, load_embedder=load_embedder,
                             load_relevance=load_relevance, quantization=config.quantization)
    run_service(app, host, port, config.model,
                lambda url: log(f"ragkit service at {url}: ask, search, chat, support, code "
                                "and ui on this machine use it; Ctrl+C stops it"))


# -- relevance scorers -----------------------------------------------------------------------
CROSS_ENCODER = "ms-marco-minilm-l12-int8"
MULTILINGUAL_SCORER = "embeddinggemma-300m"
CASCADE_KEEP = 8  # sentences EmbeddingGemma re-reads per question (about 0.1 s each, 2 cores)


def load_relevance(mode: RelevanceMode = DEFAULT_RELEVANCE, embedder: Embedder | None = None
                   ) -> Relevance | None:
    """The relevance scorer a :data:`~ragkit.config.RelevanceMode` names (models are pulled
    on first use and built once per process): ``auto`` reads every sentence with the INT8
    cross-encoder (English sentences, through the question's translation when it is
    Chinese) and ``embedder`` (the knowledge base's; the rest), then EmbeddingGemma re-scores
    the best 8; ``fast`` stops after the first stage; ``embeddinggemma`` reads every sentence
    with EmbeddingGemma; ``off`` is None. To use your own, pass any
    :class:`~ragkit.relevance.Relevance` to :func:`rag_pipeline`."""
    from ragkit import models
    from ragkit import relevance as rel

    if mode == "off":
        return None
    if mode not in ("auto", "fast", "embeddinggemma"):
        raise ConfigError(f"unknown relevance mode {mode!r}; use auto, fast, embeddinggemma "
                          "or off")
    from ragkit.remote import RemoteEmbedder, RemoteRelevance

    url = service_url()
    if url and (embedder is None or isinstance(embedder, RemoteEmbedder)):  # in the service
        named = embedder.name if embedder is not None and mode != "embeddinggemma" else ""
        return _memo(_relevance, f"service:{url}:{mode}:{named}",  # type: ignore[no-any-return]
                     lambda: RemoteRelevance(url, mode, named))
    if mode != "embeddinggemma" and embedder is None:
        raise ConfigError(f"relevance {mode!r} reads with the knowledge base's embedder too: "
                          "pass embedder=kb.embedder")

    def shared(name: str, build: Callable[[], Relevance]) -> Relevance:
        return _memo(_relevance, name, build)  # type: ignore[no-any-return]

    def gemma() -> Relevance:
        return shared(MULTILINGUAL_SCORER, lambda: rel.EmbeddingRelevance(
            load_embedder(MULTILINGUAL_SCORER), name=MULTILINGUAL_SCORER,
            **rel.embedding_curve(MULTILINGUAL_SCORER)))

    if mode == "embeddinggemma":
        return gemma()
    assert embedder is not None
    cross = shared(CROSS_ENCODER, lambda: rel.CrossEncoder(
        models.resolve(CROSS_ENCODER, "reranker"), name=CROSS_ENCODER,
        **rel.CROSS_ENCODER_CURVE))
    first = rel.LanguageRouted(cross, rel.EmbeddingRelevance(
        embedder, name=embedder.id, **rel.embedding_curve(embedder.id)))
    return first if mode == "fast" else rel.Cascade(first, gemma(), keep=CASCADE_KEEP)


# -- assistants -------------------------------------------------------------------------------
_pipelines: weakref.WeakKeyDictionary[Any, dict[tuple[int, str, int, str], Any]] = (
    weakref.WeakKeyDictionary())


def check_question(question: object) -> None:
    """Refuse an empty question before any model is loaded."""
    from ragkit.rag.pipeline import check_question as check

    check(question)


def kb_guard_lists(kb_dir: str | Path) -> Path:
    """Where a knowledge base keeps its own word lists (``ragkit guard add --kb``)."""
    return Path(kb_dir) / "guard" / "words.yaml"


def load_guard(config: GuardConfig | None = None, kb_dir: str | Path | None = None
               ) -> Guard | None:
    """The guard ``config`` describes (None when disabled), with the knowledge base's own
    word lists when it has them and the config names none."""
    from ragkit.guard import Guard, GuardConfig

    cfg = config or GuardConfig()
    if not cfg.enabled:
        return None
    return Guard(cfg, kb_guard_lists(kb_dir) if kb_dir is not None else None,
                 intent=intent_screen() if cfg.intent_model and cfg.injection else None)


_INTENT: dict[str, Any] = {}
_intent_lock = threading.Lock()


def _rules_only() -> GuardConfig:
    """The guard's defaults without the intent screen, for the code agent and the model server:
    the screen was trained on a shop assistant's conversations, and programming requests
    ("write a function that returns ...") read to it as instructions to the assistant (9 of 67
    tuning tasks scored over its threshold)."""
    from ragkit.guard import GuardConfig

    return GuardConfig(intent_model=False)


def intent_screen() -> IntentScreen:
    """The guard's learned intent screen (one per process; its embedder loads on first use
    and is the knowledge base's own when both are multilingual-e5-small)."""
    from ragkit.guard.intent import IntentScreen

    # its own lock: a guard may be built while ``_lock`` is held (a deadlock before), and
    # a screen is cheap to make (nothing loads until the first message)
    with _intent_lock:
        if "default" not in _INTENT:
            _INTENT["default"] = IntentScreen()
        return _INTENT["default"]  # type: ignore[no-any-return]


def guard_lists(kb_dir: str | Path | None = None) -> WordLists:
    """The word lists in force for ``kb_dir`` (its own file, else ragkit's default)."""
    from ragkit.guard import lists
    from ragkit.guard.guard import default_lists_path

    own = kb_guard_lists(kb_dir) if kb_dir is not None else None
    return lists.load(own if own is not None and own.is_file() else default_lists_path())


def edit_guard_lists(kb_dir: str | Path, category: str, *, add: Sequence[str] = (),
                     remove: Sequence[str] = (), action: str | None = None) -> WordLists:
    """Add or remove terms in the knowledge base's own lists (a copy of the lists in force
    is made on first edit), written atomically; returns the new lists."""
    from ragkit.guard import lists

    if not Path(kb_dir).is_dir():
        raise ConfigError(f"no knowledge base at {kb_dir}; create it with `ragkit index PATH "
                          f"--kb {kb_dir}` or pass --kb")
    if action is not None and action not in lists.ACTIONS:
        raise ConfigError(f"action must be one of {', '.join(lists.ACTIONS)}")
    new = lists.edited(guard_lists(kb_dir), category, add=add, remove=remove,
                       action=action)  # type: ignore[arg-type]
    lists.save(new, kb_guard_lists(kb_dir))
    return new


def guard_audit(kb_dir: str | Path, retention_days: int = 90) -> AuditLog:
    """The audit trail of the guard over ``kb_dir`` (close it when done)."""
    from ragkit.guard.audit import AuditLog

    return AuditLog.for_dir(Path(kb_dir), retention_days)


def rag_pipeline(kb: KnowledgeBase, generator: Generator | None = None,
                 config: RagConfig | None = None, relevance: Relevance | None = None,
                 guard: GuardConfig | None = None) -> RagPipeline:
    """The RAG pipeline over ``kb``: one per knowledge base, generator, config, scorer and
    guard config, closed when the knowledge base closes. ``generator`` defaults to the
    default model; ``relevance`` to the scorer ``config.relevance`` names (load_relevance);
    ``guard`` to the default guardrails (GuardConfig(enabled=False) turns them off)."""
    from ragkit.guard import GuardConfig
    from ragkit.rag import RagConfig, RagPipeline

    gen = generator if generator is not None else load_generator()
    cfg = config or RagConfig()
    gcfg = guard or GuardConfig()
    key = (id(gen), cfg.model_dump_json(), id(relevance), gcfg.model_dump_json())
    with _lock:
        per_kb = _pipelines.get(kb)
        if per_kb is None:
            per_kb = _pipelines[kb] = {}
            kb.on_close(lambda: _close_pipelines(per_kb))
        if key in per_kb:
            return per_kb[key]
    # outside the lock: building a scorer may pull models and takes the lock itself
    scorer = relevance if relevance is not None else load_relevance(cfg.relevance, kb.embedder)
    guard = load_guard(gcfg, kb.dir)
    with _lock:
        return per_kb.setdefault(key, RagPipeline(kb, gen, cfg, relevance=scorer, guard=guard))


WARM_UP_EXIT_WAIT_S = 120.0


def warm_scorers(kb: KnowledgeBase, relevance: RelevanceMode = DEFAULT_RELEVANCE) -> None:
    """Load the guard's intent screen (its failure is left for the first question, which
    reports it) and the relevance scorers ``relevance`` names (raising what stops them)."""
    with contextlib.suppress(Exception):
        intent_screen().load()
    scorer = load_relevance(relevance, kb.embedder)
    if scorer is not None:
        scorer.score("warm up", ["warm up"])


def warm_rag(kb: KnowledgeBase, relevance: RelevanceMode = DEFAULT_RELEVANCE
             ) -> threading.Thread:
    """Load, in a background thread, what the first question will need besides the
    generator (the guard's intent screen, the relevance scorers): a command starts it before
    loading the generator, so the loads overlap instead of queueing on the first question.
    Failures are left for the question itself to report."""
    def run() -> None:
        with contextlib.suppress(Exception):
            warm_scorers(kb, relevance)

    thread = threading.Thread(target=run, name="ragkit-warm-up", daemon=True)
    thread.start()
    # A process that ends early (a refusal, a cached answer) waits for the loads at exit:
    # torch torn down under a thread still loading a model aborts the interpreter.
    atexit.register(thread.join, WARM_UP_EXIT_WAIT_S)
    return thread


def _close_pipelines(per_kb: dict[tuple[int, str, int, str], Any]) -> None:
    for pipe in per_kb.values():
        pipe.close()
    per_kb.clear()


def ask(kb: KnowledgeBase, question: str, *, generator: Generator | None = None,
        thread_id: str | None = None, config: RagConfig | None = None) -> Answer:
    """A grounded answer with checked citations from ``kb``, or a refusal when it lacks one."""
    return rag_pipeline(kb, generator, config).ask(question, thread_id=thread_id)


def chat(kb: KnowledgeBase, *, generator: Generator | None = None,
         thread_id: str | None = None, config: RagConfig | None = None) -> Conversation:
    """A conversation over ``kb`` (persisted under its directory); ``send(text)`` streams."""
    return rag_pipeline(kb, generator, config).conversation(thread_id)


def support_assistant(kb: KnowledgeBase | str | Path | None = None,
                      domain_path: str | Path | None = None, *,
                      generator: Generator | None = None, db_path: str | Path | None = None,
                      threads_path: str | Path | None = None,
                      embedder: Embedder | None = None,
                      guard: GuardConfig | None = None) -> SupportAssistant:
    """The customer-service assistant. ``kb`` (a folder or an open knowledge base) answers
    policy and product questions; None sends them to a human. ``generator`` defaults to the
    default model, loaded on first use. ``guard`` defaults to the default guardrails on every
    message and on the knowledge answers (GuardConfig(enabled=False) turns them off)."""
    from ragkit.support import SupportAssistant

    base = open_kb(kb) if isinstance(kb, str | Path) else kb
    gen: Any = generator if generator is not None else lazy_generator()
    if embedder is None:
        embedder = base.embedder if base is not None else load_embedder(DEFAULT_EMBEDDER)
    kb_dir = base.dir if base is not None else None
    # the Knowledge mode's pipeline (evidence stage, overviews, quotes): built without a
    # scorer, the assistant's answers had copied whole chunks, headings and all
    answerer_for = None if base is None else (lambda g: rag_pipeline(base, g, guard=guard))
    return SupportAssistant.open(base, domain_path, generator=gen, db_path=db_path,
                                 threads_path=threads_path, embedder=embedder,
                                 answerer_for=answerer_for, guard=load_guard(guard, kb_dir))


def support_intents(domain_path: str | Path | None = None, *,
                    kb: KnowledgeBase | str | Path | None = None,
                    embedder: Embedder | None = None, retrain: bool = False,
                    progress: Any = None) -> dict[str, Any]:
    """Train the support domain's intent model on the encoder the assistant would use (the
    knowledge base's embedder, else the default) when it has none yet, or with ``retrain``
    again; returns its manifest (held-out metrics, training time) with ``folder`` added.
    An existing model is not loaded, only its manifest read."""
    from ragkit.support.domain import load_domain
    from ragkit.support.intent_model import read_manifest
    from ragkit.support.nlu import intent_model_folder, load_intent_model

    domain = load_domain(domain_path)
    if embedder is None:
        if isinstance(kb, str | Path) and kb_exists(kb):
            base = open_kb(kb)
            try:
                embedder = base.embedder
            finally:
                base.close()
        elif kb is not None and not isinstance(kb, str | Path):
            embedder = kb.embedder
        else:
            embedder = load_embedder(DEFAULT_EMBEDDER)
    if domain.spec.nlu.model != "trained":
        return {"domain": domain.spec.name, "model": "embeddings", "folder": None}
    folder = intent_model_folder(domain, embedder)
    if retrain or read_manifest(folder) is None:
        load_intent_model(domain, embedder, retrain=True, progress=progress)
    return {**(read_manifest(folder) or {}), "folder": str(folder)}


def code_agent(generator: Generator | None = None,
               config: AgentConfig | None = None, guard: GuardConfig | None = None,
               audit_dir: str | Path | None = None) -> CodeAgent:
    """The code agent (plan, code, test in the sandbox, repair) over ``generator``. The task
    is screened by the guard (default: on; its findings go to ``audit_dir``'s trail, default
    ragkit's cache folder ``code/``); a remote generator only ever sees redacted text."""
    from ragkit.codeagent import CodeAgent
    from ragkit.config import ragkit_home
    from ragkit.support.redact import RedactingGenerator

    gen: Any = generator if generator is not None else load_generator()
    if is_remote(gen):
        gen = RedactingGenerator(gen)
    screen = load_guard(guard or _rules_only())
    record = None
    if screen is not None and screen.config.audit:
        log = guard_audit(Path(audit_dir) if audit_dir is not None else ragkit_home() / "code",
                          screen.config.audit_retention_days)
        record = log.record
    return CodeAgent(gen, config, guard=screen.load() if screen is not None else None,
                     on_verdict=record)


__all__ = [
    "LazyGenerator",
    "ask",
    "chat",
    "check_question",
    "code_agent",
    "count_tokens",
    "describe",
    "generator_config",
    "generator_stats",
    "is_remote",
    "lazy_generator",
    "load_embedder",
    "load_generator",
    "load_relevance",
    "open_kb",
    "kb_exists",
    "kb_folder",
    "migrate_kb",
    "kb_shown",
    "is_kb_url",
    "rag_pipeline",
    "serve_model",
    "support_assistant",
]
