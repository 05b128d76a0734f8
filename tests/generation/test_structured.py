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
