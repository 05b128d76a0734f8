"""Schema-driven fuzzing of the OpenAI-compatible server over real HTTP on loopback.

Requests are drawn from the JSON schema of the server's own request model
(:class:`~ragkit.generation.openai_wire.ChatCompletionRequest`, via ``hypothesis-jsonschema``),
then broken: a field replaced by junk (wrong types, huge numbers, NaN, unicode, nested
containers), the body replaced by another JSON value, or by raw bytes. Whatever arrives, the
server must answer with a status below 500 in bounded time (a client timeout, never a hang),
log no error, and still serve a normal request afterwards.

The server wraps a real tiny Qwen2 with a 128-token context, and most drawn requests ask for a
dozen tokens or fewer, so an accepted request is cheap. The run is derandomized (the same examples in every CI run; a failure
reproduces) and sized to stay well under a minute; ``RAGKIT_FUZZ_EXAMPLES`` scales it up locally.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from ragkit.generation.openai_wire import ChatCompletionRequest
from tests.helpers.tiny_models import DEFAULT_CORPUS, build_tiny_causal_lm
from tests.serving.conftest import running_server

MODEL = "tiny-fuzz"
TIMEOUT_S = 60  # per request: a safety net, far above what any answer takes
SCALE = float(os.environ.get("RAGKIT_FUZZ_EXAMPLES", "1"))
FIELDS = [*ChatCompletionRequest.model_fields, "messages.0", "messages.0.content",
          "messages.0.role", "response_format.json_schema", "response_format.json_schema.schema",
          "stream_options.include_usage", "an_unknown_field"]


def fuzz_settings(examples: int) -> Any:
    # No shrinking: it can take minutes against a live server; check() prints the failing body.
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None,
                    derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                    report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class _Errors(logging.Handler):
    """Collects ERROR records of the server and of uvicorn (an unhandled exception)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, _Errors]]:
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    folder: Path = build_tiny_causal_lm(tmp_path_factory.mktemp("fuzz-lm"), DEFAULT_CORPUS)
    gen = LocalGenerator(GeneratorConfig(model=str(folder), device="cpu", max_context=128,
                                         kv_cache_budget_mb=0)).load()
    errors = _Errors()
    loggers = [logging.getLogger(name) for name in ("ragkit.server", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(errors)
    try:
        with (running_server(gen, MODEL, max_body_bytes=256 * 1024) as (url, _),
              httpx.Client(base_url=url, timeout=TIMEOUT_S) as client):
            yield client, errors
            normal = {"model": MODEL, "max_tokens": 4,
                      "messages": [{"role": "user", "content": "hello"}]}
            after = client.post("/v1/chat/completions", json=normal)
            assert after.status_code == 200, f"not serving after the fuzzing: {after.text}"
    finally:
        for logger in loggers:
            logger.removeHandler(errors)
    assert not errors.records, "\n".join(r.getMessage() for r in errors.records[:5])


# ---------------------------------------------------------------- strategies

HUGE = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 10**400])
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | HUGE
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)


def closed(schema: Any) -> Any:
    """``schema`` with its objects closed to unknown keys: hypothesis-jsonschema draws open
    objects slowly, and ``broken`` adds unknown keys itself."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


REQUEST = from_schema(closed(ChatCompletionRequest.model_json_schema()))


@st.composite
def valid_ish(draw: st.DrawFn) -> dict[str, Any]:
    """A body drawn from the request model's schema; most of them are nudged towards a request
    the server accepts (the served model, n=1, no tools, a short budget), so that generation,
    streaming and structured output are reached too, not only validation."""
    body = draw(REQUEST)
    if draw(st.integers(0, 4)) < 4:
        body.update(model=MODEL, n=1, messages=body["messages"][:2],
                    max_tokens=draw(st.none() | st.integers(1, 12)))
        body.pop("tools", None)
        body.pop("max_completion_tokens", None)
    return body


@st.composite
def broken(draw: st.DrawFn) -> dict[str, Any]:
    """A valid-ish body with one field (possibly nested, possibly new) replaced by junk."""
    body = draw(valid_ish())
    path = draw(st.sampled_from(FIELDS)).split(".")
    node: Any = body
    for key in path[:-1]:
        if isinstance(node, list) and node and key.isdigit():
            node = node[0]
        elif isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            return body
    if isinstance(node, dict):
        node[path[-1]] = draw(junk)
    elif isinstance(node, list) and node:
        node[0] = draw(junk)
    return body


def check(client: httpx.Client, content: bytes, stream: bool = False) -> None:
    """POST ``content``; the answer must not be a 5xx, and must be read whole in bounded time."""
    headers = {"content-type": "application/json"}
    with client.stream("POST", "/v1/chat/completions", content=content, headers=headers) as resp:
        payload = resp.read()
    assert resp.status_code < 500, f"{resp.status_code} for {content[:300]!r}: {payload[:300]!r}"
    event(f"status {resp.status_code}")  # the mix shows under --hypothesis-show-statistics
    if resp.status_code >= 400:
        error = json.loads(payload)["error"]
        assert error["message"] and error["type"], payload
    elif stream:
        assert payload.rstrip().endswith(b"data: [DONE]") or b'"error"' in payload, payload[-300:]
    else:
        assert json.loads(payload)["object"] == "chat.completion"


def encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- properties


@fuzz_settings(25)
@given(body=valid_ish())
def test_valid_ish_requests(server: tuple[httpx.Client, _Errors], body: dict[str, Any]) -> None:
    check(server[0], encode(body), stream=body.get("stream") is True)


@fuzz_settings(50)
@given(body=broken())
def test_broken_fields(server: tuple[httpx.Client, _Errors], body: dict[str, Any]) -> None:
    check(server[0], encode(body), stream=body.get("stream") is True)


@fuzz_settings(30)
@given(content=st.binary(max_size=200) | junk.map(encode)
       | st.builds(lambda b, n: encode(b)[:n], valid_ish(), st.integers(0, 200)))
def test_other_bodies(server: tuple[httpx.Client, _Errors], content: bytes) -> None:
    check(server[0], content)
