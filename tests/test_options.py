"""A closed set of values is declared once (a ``Literal`` in ``ragkit.config``); the CLI's
options, the UI's choices and the configs' validation are all derived from it."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import typer.main
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.cli.options import LiteralChoice
from ragkit.cli.serve import parse_rope
from ragkit.config import (
    IndexConfig,
    IndexType,
    Quantization,
    RelevanceMode,
    RopeType,
    SearchMode,
    TranslateMode,
)
from ragkit.errors import ConfigError

# Every command option with a closed set of values, and the Literal it must offer.
EXPECTED: dict[tuple[str, str], Any] = {
    ("index", "--index-type"): IndexType,
    ("search", "--mode"): SearchMode,
    ("serve", "--quantization"): Quantization,
    ("serve-model", "--quantization"): Quantization,
    ("generate", "--quantization"): Quantization,
    ("ask", "--quantization"): Quantization,
    ("ask", "--translate"): TranslateMode,
    ("ask", "--relevance"): RelevanceMode,
    ("chat", "--quantization"): Quantization,
    ("chat", "--translate"): TranslateMode,
    ("chat", "--relevance"): RelevanceMode,
    ("ui", "--quantization"): Quantization,
    ("eval rag", "--quantization"): Quantization,
    ("eval humaneval", "--quantization"): Quantization,
    ("code solve", "--quantization"): Quantization,
}


def _choice_options(command: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, str], tuple]:
    """(command path, option) -> the values its parser accepts, over the whole typer app."""
    found: dict[tuple[str, str], tuple] = {}
    for name, sub in (getattr(command, "commands", None) or {}).items():
        found |= _choice_options(sub, (*path, name))
    for param in command.params:
        info = getattr(getattr(param, "type_descriptor", None), "parameter_info", None)
        parser = getattr(info, "parser", None)
        if isinstance(parser, LiteralChoice):
            found[(" ".join(path), param.opts[0])] = parser.choices
    return found


def test_each_cli_choice_equals_its_literal() -> None:
    found = _choice_options(typer.main.get_command(app))
    assert set(found) == set(EXPECTED)
    for key, literal in EXPECTED.items():
        assert found[key] == get_args(literal), key


def test_a_value_outside_the_set_is_refused_with_the_set_named(tmp_path) -> None:
    res = CliRunner().invoke(app, ["search", "x", "--kb", str(tmp_path), "--mode", "fuzzy"])
    assert res.exit_code == 2
    assert "dense, keyword or hybrid" in res.output and "fuzzy" in res.output


def test_ui_choices_come_from_the_same_literal() -> None:
    from ragkit.ui.backend import MODES

    assert get_args(SearchMode) == MODES


def test_translate_modes_map_to_rag_settings() -> None:
    from ragkit.rag.config import RagConfig, translate_setting

    settings = {m: RagConfig(translate_query=translate_setting(m)).translate_query
                for m in get_args(TranslateMode)}
    assert settings == {"off": False, "on": True, "auto": "auto"}


def test_configs_validate_against_the_same_literals() -> None:
    from ragkit.generation.config import GeneratorConfig

    for q in get_args(Quantization):
        assert GeneratorConfig.parse({"quantization": q}).quantization == q
    with pytest.raises(ConfigError, match="quantization"):
        GeneratorConfig.parse({"quantization": "int3"})
    for t in get_args(IndexType):
        assert IndexConfig(type=t).type == t


def test_rope_types_are_the_literal() -> None:
    from ragkit.generation.config import GeneratorConfig

    for kind in get_args(RopeType):
        rope = parse_rope(f"{kind}:2")
        assert rope == {"type": kind, "factor": 2.0}
        GeneratorConfig.parse({"rope_scaling": rope, "kv_cache_budget_mb": 0})
    with pytest.raises(ConfigError, match="linear, dynamic, yarn or llama3"):
        parse_rope("ntk:2")
