"""JSON output that validates against a schema, or a clear GenerationError.

Owns :func:`generate_json`, used by ``LocalGenerator.generate_json``. Two paths:
- constrained (finite schemas: ``enum``, ``const``, ``boolean``, and objects whose every
  property is one of those): the value is built by scoring each allowed option with the
  model (``score_continuations``), so the result validates by construction;
- validate-and-retry (everything else): generate, extract the first JSON value, validate
  with ``jsonschema``; on failure the error is fed back to the model as a new user turn,
  up to ``attempts`` times, then GenerationError.
Schemas are bounded before use (:func:`check_schema_size`: nesting depth and number of
values, checked without recursion), and a ``$ref`` that loops or points nowhere is a
GenerationError, so a hostile schema never reaches Python's recursion limit.
Pure helpers (:func:`extract_json`, :func:`finite_options`, :func:`check_schema_size`) are
tested on their own.
Does not: touch the KV cache or the tokenizer directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jsonschema
from referencing.exceptions import Unresolvable

from ragkit.errors import GenerationError
from ragkit.generation.base import SamplingParams
from ragkit.types import Message

if TYPE_CHECKING:
    from ragkit.generation.local import LocalGenerator

INSTRUCTION = (
    "Reply with a single JSON value that validates against this JSON schema, and nothing "
    "else (no prose, no code fences):\n{schema}"
)
MAX_OPTIONS = 64
MAX_SCHEMA_DEPTH = 64  # levels of nested objects and arrays in the schema document
MAX_SCHEMA_NODES = 10_000  # values in the schema document, containers included


def check_schema_size(schema: Any) -> None:
    """GenerationError when ``schema`` nests deeper than :data:`MAX_SCHEMA_DEPTH` or holds more
    than :data:`MAX_SCHEMA_NODES` values (pure; walks with a stack, never recurses)."""
    stack: list[tuple[Any, int]] = [(schema, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_SCHEMA_NODES:
            raise GenerationError(f"the JSON schema holds more than {MAX_SCHEMA_NODES} values; "
                                  "send a smaller schema")
        children = value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else None)
        if children is None:
            continue
        if depth > MAX_SCHEMA_DEPTH:
            raise GenerationError(f"the JSON schema nests {_depth(value, depth)} levels deep; at "
                                  f"most {MAX_SCHEMA_DEPTH} are supported, flatten it")
        stack.extend((child, depth + 1) for child in children)


def _depth(value: Any, depth: int) -> int:
    """The deepest level under ``value`` (which sits at ``depth``), for the error message."""
    deepest, stack = depth, [(value, depth)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else None)
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _errors(validator: jsonschema.Draft202012Validator, value: Any) -> list[Any]:
    """Validation errors of ``value``; a looping or dangling ``$ref`` is a GenerationError."""
    try:
        return sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    except RecursionError:
        raise GenerationError("the JSON schema refers to itself without end ($ref loop); "
                              "fix the schema") from None
    except Unresolvable as err:
        raise GenerationError(f"a $ref in the JSON schema cannot be resolved ({err}); "
                              "fix the schema") from None


def extract_json(text: str) -> Any:
    """The first JSON value in ``text`` (code fences and surrounding prose are ignored)."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(stripped):
        if ch in '{["-0123456789tfn':
            try:
                value, _ = decoder.raw_decode(stripped[i:])
                return value
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON value found in the reply")


def finite_options(schema: dict[str, Any]) -> list[Any] | None:
    """The allowed values of a scalar schema with a closed set of values, else None."""
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        values = list(schema["enum"])
        return values if 0 < len(values) <= MAX_OPTIONS else None
    if schema.get("type") == "boolean":
        return [True, False]
    if schema.get("type") == "null":
        return [None]
    return None


def _is_finite_object(schema: dict[str, Any]) -> bool:
    props = schema.get("properties")
    return (
        schema.get("type") == "object"
        and isinstance(props, dict)
        and bool(props)
        and all(isinstance(p, dict) and finite_options(p) is not None for p in props.values())
    )


def _constrained(gen: LocalGenerator, messages: list[Message], schema: dict[str, Any]) -> Any:
    prompt = gen.render(messages)

    def pick(prefix: str, options: list[Any], suffix: str) -> Any:
        texts = [json.dumps(o, ensure_ascii=False) + suffix for o in options]
        base = prompt + gen.encode(prefix) if prefix else prompt
        scores = gen.score_continuations(base, [gen.encode(t) for t in texts])
        return options[max(range(len(options)), key=lambda i: scores[i])]

    options = finite_options(schema)
    if options is not None:
        return pick("", options, "")
    props: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", []))
    names = [n for n in props if n in required] or list(props)
    value: dict[str, Any] = {}
    text = "{"
    for i, name in enumerate(names):
        text += ("" if i == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": "
        end = "}" if i == len(names) - 1 else ","
        chosen = pick(text, finite_options(props[name]) or [], end)
        value[name] = chosen
        text += json.dumps(chosen, ensure_ascii=False)
    return value


def generate_json(
    gen: LocalGenerator,
    messages: Sequence[Message],
    schema: dict[str, Any],
    params: SamplingParams | None = None,
    attempts: int = 3,
) -> Any:
    """A value valid under ``schema``; GenerationError after ``attempts`` failed tries."""
    check_schema_size(schema)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as err:
        raise GenerationError(f"the JSON schema is invalid: {err.message}; fix the schema") from err
    validator = jsonschema.Draft202012Validator(schema)
    _errors(validator, None)  # a $ref problem at the root shows on any value: refuse it now
    instruction = INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
    convo = list(messages)
    if convo and convo[0].role == "system":
        convo[0] = Message("system", convo[0].content + "\n\n" + instruction)
    else:
        convo.insert(0, Message("system", instruction))

    if finite_options(schema) is not None or _is_finite_object(schema):
        value = _constrained(gen, convo, schema)
        errors = _errors(validator, value)
        if errors:  # valid by construction; a failure here is a ragkit bug
            raise errors[0]
        return value

    params = params or SamplingParams(max_tokens=512)
    problem = ""
    for _ in range(attempts):
        reply = gen.generate(convo, params).text
        try:
            value = extract_json(reply)
            errors = _errors(validator, value)
            if not errors:
                return value
            problem = "; ".join(
                f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in errors[:3]
            )
        except ValueError as err:
            problem = str(err)
        convo += [
            Message("assistant", reply),
            Message(
                "user",
                f"That reply is not valid: {problem}. Reply again with only the "
                "corrected JSON value.",
            ),
        ]
    raise GenerationError(
        f"the model did not produce JSON valid under the schema after {attempts} attempts "
        f"(last problem: {problem}); simplify the schema, use a larger model, or give an example"
    )
