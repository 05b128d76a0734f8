"""generate_json: output always validates (constrained path) or GenerationError (retry path)."""

from __future__ import annotations

import jsonschema
import pytest

from ragkit.errors import GenerationError
from ragkit.generation.base import SamplingParams
from ragkit.generation.local import LocalGenerator
from ragkit.generation.structured import extract_json, finite_options
from ragkit.types import Message

MSGS = [Message("user", "Classify this ticket: my refund has not arrived.")]


def test_extract_json_from_fences_and_prose() -> None:
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Sure! Here it is: {"a": [1, 2]} hope that helps') == {"a": [1, 2]}
    assert extract_json("true") is True
    with pytest.raises(ValueError):
        extract_json("no json here")


def test_finite_options() -> None:
    assert finite_options({"enum": ["a", "b"]}) == ["a", "b"]
    assert finite_options({"type": "boolean"}) == [True, False]
    assert finite_options({"type": "string"}) is None


@pytest.mark.parametrize(
    "schema",
    [
        {"enum": ["refund", "shipping", "password", "other"]},
        {"type": "boolean"},
        {
            "type": "object",
            "properties": {
                "intent": {"enum": ["refund", "shipping", "other"]},
                "urgent": {"type": "boolean"},
                "language": {"const": "en"},
            },
            "required": ["intent", "urgent", "language"],
            "additionalProperties": False,
        },
    ],
)
def test_constrained_output_always_validates(tiny_gen: LocalGenerator, schema: dict) -> None:
    value = tiny_gen.generate_json(MSGS, schema)
    jsonschema.validate(value, schema)


def test_constrained_choice_follows_model_scores(tiny_gen: LocalGenerator) -> None:
    schema = {"enum": ["refund", "shipping", "other"]}
    value = tiny_gen.generate_json(MSGS, schema)
    import json

    from ragkit.generation.structured import INSTRUCTION

    convo = [Message("system", INSTRUCTION.format(schema=json.dumps(schema))), *MSGS]
    prompt = tiny_gen.render(convo)
    scores = tiny_gen.score_continuations(
        prompt, [tiny_gen.encode(json.dumps(o)) for o in schema["enum"]]
    )
    assert value == schema["enum"][max(range(3), key=lambda i: scores[i])]


def test_free_form_schema_retries_then_raises(tiny_gen: LocalGenerator) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["answer", "score"],
    }
    before = tiny_gen.stats()["requests"]
    with pytest.raises(GenerationError, match="after 2 attempts"):
        from ragkit.generation.structured import generate_json

        generate_json(tiny_gen, MSGS, schema, SamplingParams(max_tokens=24), attempts=2)
    assert tiny_gen.stats()["requests"] - before == 2  # the error was fed back and retried


def test_invalid_schema_is_reported(tiny_gen: LocalGenerator) -> None:
    with pytest.raises(GenerationError, match="schema is invalid"):
        tiny_gen.generate_json(MSGS, {"type": "no-such-type"})


def nested(levels: int) -> dict:
    """An object schema ``levels`` objects deep (each level is two JSON levels: it and its
    ``properties``)."""
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def test_schema_bounds_refuse_deep_or_huge_schemas_without_recursing() -> None:
    from ragkit.generation.structured import MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES, check_schema_size

    with pytest.raises(GenerationError, match="nests 301 levels deep; at most 64"):
        check_schema_size(nested(150))
    with pytest.raises(GenerationError, match="levels deep"):
        check_schema_size(nested(100_000))  # far past Python's recursion limit: still one error
    with pytest.raises(GenerationError, match=f"more than {MAX_SCHEMA_NODES} values"):
        check_schema_size({"enum": list(range(MAX_SCHEMA_NODES + 1))})
    at_limit = {"type": "array", "items": nested((MAX_SCHEMA_DEPTH - 2) // 2)}  # 64 levels
    check_schema_size(at_limit)
    with pytest.raises(GenerationError, match="nests 65 levels"):
        check_schema_size({"not": at_limit})
    jsonschema.Draft202012Validator.check_schema(at_limit)  # the bound sits below jsonschema's


def test_deep_schema_is_a_generation_error(tiny_gen: LocalGenerator) -> None:
    with pytest.raises(GenerationError, match="levels deep"):
        tiny_gen.generate_json(MSGS, nested(150))


@pytest.mark.parametrize(("schema", "problem"), [
    ({"enum": [1, 2], "$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}, "refers to"),
    ({"enum": [1, 2], "$ref": "#/$defs/missing"}, "cannot be resolved"),
])
def test_broken_references_are_generation_errors(
    tiny_gen: LocalGenerator, schema: dict, problem: str,
) -> None:
    with pytest.raises(GenerationError, match=problem):
        tiny_gen.generate_json(MSGS, schema)
