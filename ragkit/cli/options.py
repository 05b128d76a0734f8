"""Command-line options whose values form a closed set, derived from the config's ``Literal``s.

Owns :class:`LiteralChoice` (a typer parser accepting exactly ``typing.get_args(literal)``
and refusing anything else with a message that lists the values) and the options shared by
several commands (``--quantization``, ``--translate``). The sets themselves are declared once,
in :mod:`ragkit.config`.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

import typer

from ragkit.config import Quantization, RelevanceMode, TranslateMode


def words(values: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"`` (pure)."""
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


class LiteralChoice:
    """A typer ``parser`` for one ``Literal``: ``choices`` are its values, nothing else passes."""

    def __init__(self, literal: Any) -> None:
        self.literal = literal
        self.choices: tuple[str, ...] = tuple(get_args(literal))

    def __call__(self, value: str) -> str:
        if value not in self.choices:
            raise typer.BadParameter(f"use {words(self.choices)} (not {value!r})")
        return value

    @property
    def metavar(self) -> str:
        return "[" + "|".join(self.choices) + "]"


def choice_option(literal: Any, *decls: str, help: str, **kw: Any) -> Any:  # noqa: A002
    """A ``typer.Option`` whose values are ``literal``'s, shown as ``[a|b|c]`` in ``--help``."""
    parser = LiteralChoice(literal)
    return typer.Option(*decls, parser=parser, metavar=parser.metavar, help=help, **kw)


QuantOpt = Annotated[Quantization, choice_option(
    Quantization, "--quantization",
    help="Weight-only quantization (int8/int4: smaller and usually faster on CPU).")]
RelevanceOpt = Annotated[RelevanceMode, choice_option(
    RelevanceMode, "--relevance",
    help="Who picks the sentences that answer before anything is generated: auto (the INT8 "
    "ms-marco cross-encoder reads English sentences and the knowledge base's embedder the "
    "rest; EmbeddingGemma re-reads the best 8), fast (that first stage alone: no "
    "EmbeddingGemma), embeddinggemma (EmbeddingGemma reads every sentence: slower), or off "
    "(no evidence stage: the generator reads whole chunks and judges alone).")]
TranslateOpt = Annotated[TranslateMode, choice_option(
    TranslateMode, "--translate",
    help="Also search the question's English <-> Chinese translation (one short "
    "generation): off, on, or auto, the default (only when the knowledge base holds enough "
    "text in the other language). It finds answers written only in the other language "
    "(bench/README.md, 'Query translation').")]
