"""ragkit.sdk is the composition root: it builds and memoises generators from typed configs,
wires the assistants, and is the only door the CLI and the UI use (checked on their imports)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ragkit
from ragkit import sdk
from ragkit.config import ChunkingConfig, KnowledgeBaseConfig
from ragkit.errors import ConfigError
from ragkit.generation.base import (
    CountsTokens,
    HasInfo,
    HasStats,
    Loadable,
    SamplingParams,
    ScoresText,
    TokenLevel,
)
from ragkit.generation.config import GeneratorConfig, RemoteGeneratorConfig
from ragkit.rag import RagConfig
from ragkit.types import Message
from tests.conftest import TINY_CORPUS
from tests.helpers.scripted import ScriptedGenerator
from tests.helpers.tiny_models import build_tiny_causal_lm

ROOT = Path(__file__).resolve().parents[1]
GREEDY = SamplingParams(max_tokens=6)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), TINY_CORPUS)


def test_a_generator_is_built_once_per_config(tiny_lm: Path) -> None:
    cfg = GeneratorConfig(model=str(tiny_lm), device="cpu")
    gen = sdk.load_generator(cfg)
    assert sdk.load_generator(GeneratorConfig(model=str(tiny_lm), device="cpu")) is gen
    assert ragkit.load_generator(cfg) is gen  # the package's export is the SDK's
    other = sdk.load_generator(cfg.model_copy(update={"prefill_chunk": 64}))
    assert other is not gen
    msgs = [Message("user", "hello")]
    assert other.generate(msgs, GREEDY).text == gen.generate(msgs, GREEDY).text


def test_lazy_generator_loads_on_first_use(tiny_lm: Path) -> None:
    cfg = GeneratorConfig(model=str(tiny_lm), device="cpu", kv_cache_budget_mb=0)
    lazy = sdk.lazy_generator(cfg)
    assert not lazy.loaded
    text = lazy.generate([Message("user", "hi")], GREEDY).text
    assert lazy.loaded and lazy.get() is sdk.load_generator(cfg)
    assert text == sdk.load_generator(cfg).generate([Message("user", "hi")], GREEDY).text


def test_remote_config_builds_an_http_client_without_loading_anything() -> None:
    cfg = RemoteGeneratorConfig(base_url="http://127.0.0.1:9", model="served")
    gen = sdk.load_generator(cfg)
    assert sdk.is_remote(gen) and gen.model_id == "served"
    assert sdk.load_generator(cfg) is gen
    assert isinstance(gen, HasInfo) and isinstance(gen, HasStats)
    assert not isinstance(gen, TokenLevel | ScoresText | CountsTokens)
    assert sdk.describe(gen) == {"backend": "openai-compatible",
                                 "base_url": "http://127.0.0.1:9/v1", "model": "served"}


def test_local_generator_has_every_optional_feature(tiny_lm: Path) -> None:
    gen = sdk.load_generator(GeneratorConfig(model=str(tiny_lm), device="cpu"))
    for feature in (CountsTokens, HasInfo, HasStats, TokenLevel, ScoresText, Loadable):
        assert isinstance(gen, feature), feature.__name__
    assert sdk.count_tokens(gen, "hello there") == gen.count_tokens("hello there")
    assert sdk.count_tokens(ScriptedGenerator(), "x") is not None  # counts, as scripted
    assert sdk.generator_stats(object()) is None


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ConfigError, match="GeneratorConfig"):
        sdk.load_generator(42)  # type: ignore[arg-type]
    assert sdk.load_relevance("off") is None
    with pytest.raises(ConfigError, match="unknown relevance mode"):
        sdk.load_relevance("cross-encoder")  # type: ignore[arg-type]


def test_rag_pipeline_is_shared_and_closed_with_its_knowledge_base(
        tmp_path: Path, tiny_embedder_dir: Path, tiny_embedder) -> None:
    config = KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                                 chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
    kb = sdk.open_kb(tmp_path / "kb", create=True, config=config, embedder=tiny_embedder)
    gen = ScriptedGenerator()
    off = RagConfig(relevance="off")
    pipe = sdk.rag_pipeline(kb, gen, off)
    assert sdk.rag_pipeline(kb, gen, off) is pipe
    assert pipe.memory is not None  # opens the conversation store
    kb.close()
    assert pipe._memory is None  # closed by the knowledge base's close


def test_a_knowledge_base_shares_the_processs_embedder(tmp_path: Path,
                                                      tiny_embedder_dir: Path) -> None:
    """One instance per process: the guard's intent screen and the knowledge base used to
    load the same model twice (a second 470 MB graph and its load on the first question)."""
    config = KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                                 chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
    with sdk.open_kb(tmp_path / "kb", create=True, config=config) as kb:
        assert kb.embedder is sdk.load_embedder(str(tiny_embedder_dir))
    with sdk.open_kb(tmp_path / "kb") as again:
        assert again.embedder is sdk.load_embedder(str(tiny_embedder_dir))


def test_warm_up_runs_aside_and_leaves_failures_to_the_question(
        tmp_path: Path, tiny_embedder_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = KnowledgeBaseConfig(embedder=str(tiny_embedder_dir),
                                 chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
    calls: list[str] = []

    def broken() -> None:
        calls.append("intent")
        raise RuntimeError("weights missing")

    monkeypatch.setattr(sdk, "intent_screen", broken)
    with sdk.open_kb(tmp_path / "kb", create=True, config=config) as kb:
        thread = sdk.warm_rag(kb, "off")
        thread.join(timeout=60)
        assert not thread.is_alive() and thread.daemon and calls == ["intent"]


def test_a_process_that_ends_early_waits_for_its_warm_up(tmp_path: Path,
                                                       tiny_embedder_dir: Path) -> None:
    """Exiting while the warm-up thread is inside a model load tore torch down under it."""
    done = tmp_path / "warmed"
    script = f"""
import time
from pathlib import Path
from ragkit import sdk
from ragkit.config import ChunkingConfig, KnowledgeBaseConfig

def slow():
    time.sleep(1.5)
    Path({str(done)!r}).write_text("yes")
    raise RuntimeError("no screen here")

sdk.intent_screen = slow
cfg = KnowledgeBaseConfig(embedder={str(tiny_embedder_dir)!r},
                          chunking=ChunkingConfig(max_tokens=64, overlap_tokens=8))
kb = sdk.open_kb({str(tmp_path / "kb")!r}, create=True, config=cfg)
sdk.warm_rag(kb, "off")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, cwd=ROOT)
    assert done.read_text() == "yes"


def test_a_torch_embedder_loads_once_when_two_threads_ask(tiny_embedder_dir: Path) -> None:
    import threading

    from ragkit.embedder import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(tiny_embedder_dir, "t")
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(emb.model)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 3 and all(m is seen[0] for m in seen)


def test_support_assistant_needs_built_parts(tmp_path: Path, tiny_embedder) -> None:
    from ragkit.support import SupportAssistant
    from ragkit.support.db import build_db

    with pytest.raises(ConfigError, match="sdk.support_assistant"):
        SupportAssistant.open(tmp_path / "kb", generator=ScriptedGenerator())
    with pytest.raises(ConfigError, match="needs a generator"):
        SupportAssistant.open(None, embedder=tiny_embedder)
    db = tmp_path / "store.db"
    build_db(None, db)
    bot = sdk.support_assistant(None, generator=ScriptedGenerator(), embedder=tiny_embedder,
                                db_path=db, threads_path=tmp_path / "threads.db")
    assert isinstance(bot, SupportAssistant)


def test_kb_does_not_import_rag() -> None:
    code = ("import sys, ragkit.kb; "
            "print(sorted(m for m in sys.modules if m.startswith('ragkit.rag')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


# Modules that build things: the CLI and the UI reach them only through ragkit.sdk.
FORBIDDEN = ("ragkit.generation.local", "ragkit.generation.server",
             "ragkit.generation.openai_client", "ragkit.generation.load",
             "ragkit.rag.pipeline", "ragkit.kb", "ragkit.embedder", "ragkit.support.assistant",
             "ragkit.codeagent.agent")
BUILDERS = {"LocalGenerator", "OpenAICompatibleGenerator", "RagPipeline", "SupportAssistant",
            "CodeAgent", "KnowledgeBase", "load_generator", "load_embedder", "serve",
            "check_question"}


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every import that runs (type-checking-only imports build nothing)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names]
    return found


def test_cli_and_ui_import_only_the_sdk_to_build_things() -> None:
    files = [*ROOT.glob("ragkit/cli/*.py"), *ROOT.glob("ragkit/ui/*.py"), *ROOT.glob("apps/*.py")]
    assert len(files) > 10
    bad = [f"{f.relative_to(ROOT)}: {module} {name}".strip()
           for f in files for module, name in _imports(f)
           if module.startswith(FORBIDDEN)
           or (module.startswith("ragkit") and module != "ragkit.sdk" and name in BUILDERS)]
    assert bad == []
