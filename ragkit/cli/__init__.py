"""The ``ragkit`` command line: a thin layer that parses options and calls the SDK.

Each sub-module registers its commands with :func:`register`. ``main()`` turns a
:class:`~ragkit.errors.RagkitError` into a one-paragraph message on stderr and a non-zero exit
code, never a traceback.
"""

from __future__ import annotations

import os
import sys

# The CLI draws its own progress bars; silence the libraries' weight-loading bars.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer  # noqa: E402

from ragkit.errors import RagkitError  # noqa: E402

app = typer.Typer(
    name="ragkit",
    help="Local retrieval-augmented assistants and agents: index a knowledge base, search it, "
    "and run local models over it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


COMMAND_MODULES = ("kb", "models", "eval", "serve", "rag", "eval_rag", "support", "eval_dst", "code",
                   "guard", "feedback", "ui")


def _register_all() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"ragkit.cli.{name}").register(app)


_register_all()


def _print_version(value: bool) -> None:
    if value:
        from ragkit import __version__

        typer.echo(f"ragkit {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print ragkit's version and exit."),
) -> None:
    pass  # the help text is the app's; only the options live here


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="ragkit")
    except RagkitError as err:
        from rich.console import Console

        from ragkit.cli.kb import clean  # messages can hold hostile paths: controls escaped

        Console(stderr=True, emoji=False).print(f"[bold red]error:[/] {clean(err)}",
                                                highlight=False)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # python -m ragkit.cli
    main()
