"""`ragkit ui`: serve the Gradio app (owner: ui).

Parses options, makes sure the knowledge base exists (on first launch with the default
``--kb`` it indexes the bundled sample store, package data found through :mod:`ragkit.data`,
into it, with progress bars on a terminal and lines otherwise), then starts :func:`ragkit.ui.launch` and prints the local URL.
The app itself lives in ``ragkit/ui/``.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ragkit.cli.kb import DEFAULT_KB, KbOpt
from ragkit.cli.options import choice_option
from ragkit.cli.serve import GeneratorUrlOpt, use_service
from ragkit.config import Quantization

err = Console(stderr=True, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("ui")(ui_cmd)


def ensure_kb(kb: str, *, sample: Path | None) -> None:
    """Create ``kb`` if missing; fill it from ``sample`` (the bundled store) when given."""
    from ragkit import sdk
    from ragkit.cli.kb import _progress

    if sdk.kb_exists(kb):
        return
    with sdk.open_kb(kb, create=True) as base:
        if sample is None:
            err.print(f"created an empty knowledge base at {escape(base.location)}; add documents in "
                      "the Knowledge tab")
            return
        err.print(f"first launch: indexing the sample knowledge base {escape(str(sample))} into "
                  f"{escape(base.location)} (once; later launches start at once)")
        with _progress(sys.stderr.isatty()) as tick:
            report = base.add([sample], progress=tick)
        err.print(f"{report.added} documents, {report.chunks_embedded} chunks embedded in "
                  f"{report.elapsed_s:.0f}s")


def ui_cmd(
    kb: KbOpt = DEFAULT_KB,
    domain: Annotated[Path | None, typer.Option(
        help="Support domain file (intents, slots, actions). "
        "[default: the bundled sample store's store_domain.yaml]")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
    model: Annotated[str | None, typer.Option(
        help="Generator: a catalogue name, HF folder or GGUF file. [default: the SDK's]")] = None,
    quantization: Annotated[Quantization | None, choice_option(
        Quantization, "--quantization", help="Weight quantization of the generator.")] = None,
    kb_root: Annotated[Path | None, typer.Option(
        "--kb-root", help="Folder where the Knowledge tab lists and creates knowledge bases "
        "[default: the parent of --kb].")] = None,
    preload: Annotated[bool, typer.Option(
        help="Load the generator in the background right after start.")] = True,
    open_browser: Annotated[bool, typer.Option("--open", help="Open a browser tab.")] = False,
    generator_url: GeneratorUrlOpt = None,
) -> None:
    """Serve the web app: support chat, knowledge base manager, code agent and system panel."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ragkit.data import sample_store, support_domain
    from ragkit.errors import ConfigError
    from ragkit.ui import Backend, UiSettings, launch

    use_service()
    sample = sample_store() if kb == DEFAULT_KB else None
    ensure_kb(kb, sample=sample)
    if domain is None:
        domain = support_domain()
    elif not domain.exists():
        raise ConfigError(f"--domain {domain} does not exist; pass the path of a domain YAML file")
    backend = Backend(UiSettings(kb_dir=kb, domain_path=domain, model=model,
                                 quantization=quantization, kb_root=kb_root,
                                 generator_url=generator_url))

    def ready(url: str) -> None:
        print(f"ragkit UI running at {url} (Ctrl+C to stop)", flush=True)
        if preload:
            threading.Thread(target=_preload, args=(backend,), daemon=True).start()

    launch(backend, host=host, port=port, open_browser=open_browser, on_ready=ready)


def _training_progress():
    """Prints the intent model's training progress (first launch only) every tenth."""
    shown = [-1]

    def tick(what: str, done: int, total: int) -> None:
        tenth = done * 10 // max(1, total)
        if tenth != shown[0]:
            shown[0] = tenth
            print(f"support intent model (first use): {what} {done}/{total}", flush=True)

    return tick


def _preload(backend) -> None:
    """Load the generator, the evidence stage's scorers and the support assistant's models
    before the first question."""
    try:
        backend.generator()
        backend.warm_relevance()
        if backend.features()["support assistant"]:
            backend.support().warm(_training_progress())
    except Exception as exc:  # shown again, readably, when the user first asks
        print(f"note: background loading failed: {exc}", file=sys.stderr)
