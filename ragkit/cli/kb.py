"""CLI commands over a knowledge base: ``index``, ``search``, ``status``.

Parses options, calls :class:`ragkit.kb.KnowledgeBase`, and formats the result for a terminal
(rich, progress bars on stderr when it is a TTY) or as JSON on stdout (``--json``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ragkit.budget import MAX_CHUNKS_PER_FILE, duration
from ragkit.cli.options import choice_option
from ragkit.config import (
    ChunkingConfig,
    IndexConfig,
    IndexType,
    IngestConfig,
    KnowledgeBaseConfig,
    SearchMode,
    parse,
)
from ragkit.errors import ConfigError

DEFAULT_KB = os.environ.get("RAGKIT_KB_URL") or os.environ.get("RAGKIT_KB", ".ragkit/kb")

# A directory, or a postgresql:// URL (kept a string: a Path would fold its "//")
KbOpt = Annotated[
    str,
    typer.Option("--kb", help="Knowledge base: a directory, or a PostgreSQL URL "
                 "postgresql://USER@HOST:PORT/DB?schema=NAME (env RAGKIT_KB_URL or RAGKIT_KB).",
                 show_default=True),
]
def _kb_folder(value: str | Path) -> Path:
    if isinstance(value, Path) or "://" not in value:  # a folder: nothing to import
        return Path(value)
    from ragkit import sdk

    return sdk.kb_folder(value)


# Where a knowledge base's own files (guard word lists, audit trail) live: its directory, or
# for a postgresql:// URL this machine's side folder for it
KbDirOpt = Annotated[
    Path,
    typer.Option("--kb", help="Knowledge base: a directory or a postgresql:// URL (env "
                 "RAGKIT_KB_URL or RAGKIT_KB).", parser=_kb_folder, show_default=True),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]

# emoji off: a document's "root:x:0:0" must not print as a cross mark
err = Console(stderr=True, highlight=False, emoji=False)
out = Console(highlight=False, emoji=False)

# Characters a terminal acts on: C0 controls but tab and newline, DEL, C1 (0x9b is an 8-bit
# CSI), and the bidi embeddings/overrides/isolates that reorder what is shown.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw of those (it escapes C0 itself).
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape_char(m: re.Match[str]) -> str:
    o = ord(m.group())
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def clean(text: object) -> str:
    """``text`` (from a document, a file name or a path) with terminal controls shown as
    visible escapes (``\\x1b``, ``\\u202e``) and rich markup escaped: safe to print."""
    return escape(_CONTROLS.sub(_escape_char, str(text)))


def to_json(data: object) -> str:
    """JSON whose strings parse back unchanged but whose text holds no raw terminal control."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def register(app: typer.Typer) -> None:
    app.command("index")(index_cmd)
    app.command("search")(search_cmd)
    app.command("status")(status_cmd)
    app.command("migrate")(migrate_cmd)


_STAGES = {"scan": "reading files", "load": "loading the embedder",
           "parse": "parsing new and changed files", "embed": "embedding chunks",
           "write": "writing"}
LINE_EVERY_S = 5.0  # a progress line per stage at most this often when stderr is not a terminal


@contextmanager
def _progress(terminal: bool):
    """Yield a progress callback for ``KnowledgeBase.sync``: one bar per stage on a terminal,
    else plain lines on stderr (a stage's start, every few seconds, its end), which logs and
    CI keep."""
    if not terminal:
        yield _progress_lines()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err,
                  transient=False) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                if total == 0:
                    return
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _progress_lines(clock: Callable[[], float] = time.monotonic,
                    write: Callable[[str], None] | None = None
                    ) -> Callable[[str, int, int], None]:
    """A progress callback printing "reading files 3/40" lines: at a stage's start and end,
    and at most every ``LINE_EVERY_S`` seconds in between."""
    emit = write or (lambda line: print(line, file=sys.stderr, flush=True))
    last: dict[str, float] = {}
    ended: set[str] = set()

    def update(stage: str, done: int, total: int) -> None:
        if total == 0 or stage in ended:
            return
        now = clock()
        first, end = stage not in last, done >= total
        if not (first or end or now - last[stage] >= LINE_EVERY_S):
            return
        if end:
            ended.add(stage)
        last[stage] = now
        label = _STAGES.get(stage, stage)
        if stage == "load":
            emit(f"{label}: done" if end else f"{label} (first use of a model takes a while)")
        else:
            emit(f"{label} {done}/{total}")

    return update


def index_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index (recursively).")],
    kb: KbOpt = DEFAULT_KB,
    embedder: Annotated[str | None, typer.Option(
        help="Embedder for a NEW knowledge base: a catalogue name (`ragkit models list`) or a "
        "local sentence-transformers folder. [default: multilingual-e5-small]")] = None,
    index_type: Annotated[IndexType | None, choice_option(
        IndexType, "--index-type", help="FAISS index for a new knowledge base.")] = None,
    chunk_tokens: Annotated[int | None, typer.Option(help="Max tokens per chunk (new KB).")] = None,
    overlap_tokens: Annotated[int | None, typer.Option(help="Overlap between chunks (new KB).")] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        help="Glob to skip (repeatable), e.g. --ignore 'drafts/' --ignore '*.log'.")] = None,
    max_file_mb: Annotated[float | None, typer.Option(help="Skip files larger than this.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-chunk and re-index everything.")] = False,
    follow_links: Annotated[bool, typer.Option(
        "--follow-links", help="Also index symlinks (files or folders) that point outside "
        "PATHS; without it they are reported and skipped.")] = False,
    max_chunks_per_file: Annotated[int, typer.Option(
        min=1, help="Skip (and report) a file that makes more chunks than this; a huge file "
        "can take hours to embed.")] = MAX_CHUNKS_PER_FILE,
    allow_quarantined: Annotated[bool, typer.Option(
        "--allow-quarantined", help="Index documents that give the assistant instructions "
        "(prompt injection) anyway; without it they are reported and skipped.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add, update and remove documents so the knowledge base matches PATHS.

    Only new or changed files are parsed and embedded; files deleted under PATHS are removed.
    Bad files are reported and skipped; everything already stored survives.
    """
    from ragkit import sdk

    # Each option group is parsed once into its typed config; the models are passed down.
    given: dict[str, Any] = {}
    if embedder:
        given["embedder"] = embedder
    if index_type:
        given["index"] = parse(IndexConfig, {"type": index_type}, "--index-type")
    chunk: dict[str, Any] = {}
    if chunk_tokens is not None:
        chunk["max_tokens"] = chunk_tokens
    if overlap_tokens is not None:
        chunk["overlap_tokens"] = overlap_tokens
    if chunk:
        given["chunking"] = parse(ChunkingConfig, chunk, "chunking options")
    ing: dict[str, Any] = {}
    if ignore:
        ing["ignore"] = tuple(IngestConfig().ignore) + tuple(ignore)
    if max_file_mb is not None:
        ing["max_file_mb"] = max_file_mb
    if ing:
        given["ingest"] = parse(IngestConfig, ing, "ingest options")
    config = parse(KnowledgeBaseConfig, given, "knowledge base settings")

    missing = [p for p in paths if not p.expanduser().exists()]
    if missing:  # before opening: a typo must not leave an empty knowledge base behind
        raise ConfigError(f"{missing[0]} does not exist; check the path you passed "
                          "(nothing was indexed or created)")
    exists = sdk.kb_exists(kb)
    scratch = None
    if dry_run and not exists:  # a dry run never creates the knowledge base
        import tempfile

        scratch = tempfile.TemporaryDirectory(prefix="ragkit-dry-run-")
        kb = scratch.name
    with sdk.open_kb(kb, create=True, config=None if exists else config) as base:
        differ = [k for k in given if getattr(base.config, k) != getattr(config, k)]
        if differ:
            stored = base.config.model_dump()
            raise ConfigError(
                f"{base.location} already uses {', '.join(f'{k}={stored[k]}' for k in differ)}; "
                "these settings are fixed when a knowledge base is created. Index into a new "
                "--kb directory to use other settings."
            )
        if not as_json:
            err.print(f"[dim]knowledge base {clean(base.location)} "
                      f"(embedder {clean(base.config.embedder)})[/]")
        with _progress(sys.stderr.isatty()) as tick:
            report = base.sync(paths, dry_run=dry_run, rebuild=rebuild, progress=tick,
                               follow_links=follow_links or None,
                               max_chunks_per_file=max_chunks_per_file,
                               allow_quarantined=allow_quarantined,
                               warn=lambda m: err.print(f"[yellow]warning:[/] {clean(m)}"))
    if scratch is not None:
        scratch.cleanup()
    if as_json:
        print(to_json(report.to_dict()))
    else:
        _print_report(report)
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


def _print_report(report) -> None:
    verb = "would be" if report.dry_run else ""
    if report.dry_run:
        for kind in ("added", "updated", "removed"):
            for path in report.changes.get(kind, []):
                out.print(f"  {kind:<8} {clean(path)}")
    out.print(
        f"{report.added} added, {report.updated} updated, {report.removed} removed, "
        f"{report.unchanged} unchanged; {report.chunks_embedded} chunks {verb or ''} embedded"
        f" in {report.elapsed_s:.1f}s".replace("  ", " ")
    )
    if report.dry_run and report.estimated_embed_s is not None:
        out.print(f"embedding would take about {duration(report.estimated_embed_s)} "
                  "(at the rate the last run measured)")
    for f in report.failed:
        err.print(f"[yellow]skipped[/] {clean(f['path'])}: {clean(f['error'])}")
    for q in report.quarantined:
        err.print(f"[yellow]quarantined[/] {clean(q['path'])}: it gives the assistant "
                  f"instructions ({clean(q['rule'])}: «{clean(q['excerpt'])}»); not indexed. "
                  "Check the file; index it anyway with --allow-quarantined")


def search_cmd(
    query: Annotated[str, typer.Argument(help="What to look for (any language).")],
    kb: KbOpt = DEFAULT_KB,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=1000, help="Number of hits.")] = 5,
    mode: Annotated[SearchMode, choice_option(
        SearchMode, "--mode", help="Ranking: hybrid is reciprocal rank fusion of the other two.")
    ] = "hybrid",
    filters: Annotated[list[str] | None, typer.Option(
        "--filter", help="KEY=GLOB on source, kind, title, heading or page (repeatable), "
        "e.g. --filter 'source=*.pdf'.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a knowledge base and print the best matching chunks."""
    from ragkit import sdk
    from ragkit.cli.serve import use_service

    use_service(quiet=as_json)
    with sdk.open_kb(kb) as base:
        hits = base.search(query, k=k, mode=mode, filters=filters or ())
    if as_json:
        print(to_json([h.to_dict() for h in hits]))
        return
    if not hits:
        out.print("no matches")
        return
    for i, h in enumerate(hits, start=1):
        where = clean(h.source) + (f" p.{h.page}" if h.page else "")
        heading = f" [dim]› {clean(h.heading)}[/]" if h.heading else ""
        out.print(f"[bold]{i}.[/] {where}{heading}  [dim]{h.score:.4f}[/]")
        snippet = " ".join(h.text.split())
        out.print(f"   {clean(snippet[:240])}{'…' if len(snippet) > 240 else ''}")


def migrate_cmd(
    source: Annotated[str, typer.Option(
        "--from", help="Knowledge base to copy: a directory or postgresql:// URL.")],
    target: Annotated[str, typer.Option(
        "--to", help="Where to copy it: a new directory, or postgresql://USER@HOST:PORT/DB"
        "?schema=NAME (created with the same settings).")],
    as_json: JsonOpt = False,
) -> None:
    """Copy a knowledge base to another place (a directory to PostgreSQL, or back) with its
    stored vectors: nothing is parsed or embedded again. Run it again to finish a copy that
    was stopped; documents already copied are skipped."""
    from ragkit import sdk

    with _progress(sys.stderr.isatty()) as tick:
        report = sdk.migrate_kb(source, target, progress=tick)
    if as_json:
        print(to_json(report))
        return
    out.print(f"copied {report['documents']} documents ({report['chunks']} chunks) from "
              f"{clean(report['copied_from'])} to {clean(sdk.kb_shown(target))} in "
              f"{report['elapsed_s']:.1f}s; nothing re-embedded"
              + (f"; {report['skipped']} already there" if report["skipped"] else ""))


def status_cmd(kb: KbOpt = DEFAULT_KB, as_json: JsonOpt = False) -> None:
    """Show a knowledge base's settings, document and chunk counts, and recent runs."""
    from ragkit import sdk

    with sdk.open_kb(kb) as base:
        info = base.status()
    if as_json:
        print(to_json(info))
        return
    out.print(f"[bold]{clean(info['path'])}[/]")
    out.print(f"  embedder {clean(info['embedder'])}, index {info['index_type']}, "
              f"version {info['kb_version']}")
    out.print(f"  {info['documents']} documents, {info['chunks']} chunks")
    for run in info["last_runs"]:
        rep = run["report"] or {}
        out.print(f"  run {run['id']}: {run['status']}, +{rep.get('added', 0)} "
                  f"~{rep.get('updated', 0)} -{rep.get('removed', 0)}, "
                  f"{len(rep.get('failed', []))} failed")
