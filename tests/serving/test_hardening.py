"""The server under hostile or careless requests, over real HTTP on loopback with the tiny Qwen2:
completion budgets bounded by the context window, generation stopped when a non-streaming
client leaves, request bodies bounded in size, and absurd JSON schemas refused with a 400."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import (
    MODEL_NAME,
    long_running_prompt,
    raw_request,
    read_response,
    running_server,
)

SMALL_CONTEXT = 64


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL_NAME, "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 8, "temperature": 0, **extra}


def wait_for(check: Any, what: str, limit_s: float = 120) -> Any:
    """Poll ``check()`` until it returns something truthy (a bounded safety net, not a timing)."""
    deadline = time.monotonic() + limit_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)
    return value


def post(base_url: str, body: Any) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=120)


@pytest.fixture(scope="module")
def small_url(tiny_lm_dir: Path) -> Iterator[str]:
    """The server over the same tiny model with a 64-token context, so budgets are cheap to hit."""
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    gen = LocalGenerator(GeneratorConfig(model=str(tiny_lm_dir), device="cpu",
                                         max_context=SMALL_CONTEXT)).load()
    with running_server(gen, MODEL_NAME) as (url, _):
        yield url


# ---------------------------------------------------------------- max_tokens vs the context


@pytest.mark.parametrize("stream", [False, True])
def test_huge_max_tokens_is_refused_as_context_length_exceeded(base_url: str, stream: bool) -> None:
    resp = post(base_url, chat(max_tokens=10**9, stream=stream))
    assert resp.status_code == 400, resp.text[:300]
    error = resp.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "max_tokens"
    assert "2048" in error["message"] and "1000000000" in error["message"]


def test_max_completion_tokens_is_bounded_too(base_url: str) -> None:
    resp = post(base_url, chat(max_tokens=None, max_completion_tokens=10**30))
    assert resp.status_code == 400, resp.text[:300]
    assert resp.json()["error"]["param"] == "max_completion_tokens"


def test_budget_boundary_is_exact(small_url: str) -> None:
    prompt = post(small_url, chat(max_tokens=1)).json()["usage"]["prompt_tokens"]
    room = SMALL_CONTEXT - prompt
    fits = post(small_url, chat(max_tokens=room))
    assert fits.status_code == 200, fits.text
    over = post(small_url, chat(max_tokens=room + 1))
    assert over.status_code == 400
    message = over.json()["error"]["message"]
    assert f"at most {room}" in message and f"{prompt} in the messages" in message


def test_default_max_tokens_is_clamped_to_the_room_left(small_url: str) -> None:
    """Without max_tokens the server's default (512) exceeds a 64-token context: OpenAI then
    means 'as much as fits', so it is clamped, not refused."""
    resp = post(small_url, chat(max_tokens=None))
    assert resp.status_code == 200, resp.text
    usage = resp.json()["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] <= SMALL_CONTEXT


@pytest.mark.parametrize("stream", [False, True])
def test_prompt_longer_than_the_context_is_a_400_before_any_stream(
    small_url: str, stream: bool,
) -> None:
    body = chat(stream=stream, messages=[{"role": "user", "content": "refund " * 200}])
    resp = post(small_url, body)
    assert resp.status_code == 400, resp.text[:300]
    error = resp.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"


# ---------------------------------------------------------------- client disconnects


def test_non_streaming_generation_stops_when_the_client_disconnects(
    served: tuple[str, Any], local_generator: Any,
) -> None:
    base_url, app = served
    max_tokens = 1500
    prompt = long_running_prompt(local_generator, 300)
    body = json.dumps(chat(max_tokens=max_tokens, messages=[{"role": "user", "content": prompt}]))
    seen = {e["id"] for e in app.state.request_log}
    sock = raw_request(base_url, body.encode(), {"Content-Length": str(len(body.encode()))})
    def running() -> int:
        return int(local_generator.stats()["batch"]["running"])

    wait_for(lambda: running() == 1, "the generation to start")
    sock.close()  # the client goes away without reading the answer

    entry = wait_for(lambda: [e for e in app.state.request_log if e["id"] not in seen],
                     "the abandoned request to end")[0]
    assert entry["finish_reason"] == "cancelled"
    assert entry["completion_tokens"] < max_tokens
    wait_for(lambda: running() == 0, "the generator to be free")  # its slot was freed
    after = post(base_url, chat())
    assert after.status_code == 200, after.text


# ---------------------------------------------------------------- request body size

SMALL_BODY_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_body_url(local_generator: Any) -> Iterator[str]:
    with running_server(local_generator, MODEL_NAME, max_body_bytes=SMALL_BODY_LIMIT) as (url, _):
        yield url


def test_declared_oversized_body_is_refused_before_it_is_sent(base_url: str) -> None:
    """Content-Length says 20 MiB (over the default 4 MiB): the 413 comes back after the first
    kilobyte, without waiting for (or buffering) the rest."""
    sock = raw_request(base_url, b'{"model": "' + b"x" * 1024,
                       {"Content-Length": str(20 * 2**20)})
    status, body = read_response(sock)
    assert status == 413
    error = body["error"]
    assert error["code"] == "request_too_large" and error["type"] == "invalid_request_error"
    assert "4 MiB" in error["message"] and "--max-body-mb" in error["message"]


def test_chunked_body_is_counted_and_cut_off_at_the_limit(small_body_url: str) -> None:
    """No Content-Length (chunked): the server counts what arrives and answers 413 once past the
    limit, while the client is still sending (the last chunk never comes)."""
    sock = raw_request(small_body_url, b"", {"Transfer-Encoding": "chunked"})
    piece = b"x" * 8192
    for _ in range(SMALL_BODY_LIMIT // len(piece) + 1):  # just past it: nothing left unread
        sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    status, body = read_response(sock)
    assert status == 413
    assert body["error"]["code"] == "request_too_large"


def test_body_under_the_limit_is_served(small_body_url: str) -> None:
    text = "refund " * ((SMALL_BODY_LIMIT - 1024) // 7)
    resp = post(small_body_url, chat(messages=[{"role": "user", "content": text}]))
    assert resp.status_code == 400  # read and parsed: it is the context that is too small
    assert resp.json()["error"]["code"] == "context_length_exceeded"
    assert post(small_body_url, chat()).status_code == 200


# ---------------------------------------------------------------- absurd JSON schemas


def test_deep_json_schema_is_a_400_with_one_log_line(
    base_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(150):
        schema = {"type": "object", "properties": {"a": schema}}
    body = chat(response_format={"type": "json_schema",
                                 "json_schema": {"name": "deep", "schema": schema}})
    with caplog.at_level("INFO", logger="ragkit.server"):
        resp = post(base_url, body)
    assert resp.status_code == 400, resp.text[:300]
    error = resp.json()["error"]
    assert error["param"] == "response_format.json_schema.schema"
    assert "301 levels deep" in error["message"]
    records = [r for r in caplog.records if r.name == "ragkit.server"]
    assert len(records) == 1 and records[0].exc_info is None
    assert "\n" not in records[0].getMessage() and "levels deep" in records[0].getMessage()


# ---------------------------------------------------------------- found by tests/fuzz


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 10**30])
def test_seed_outside_int64_is_a_400(base_url: str, seed: int) -> None:
    resp = post(base_url, chat(temperature=0.7, seed=seed))
    assert resp.status_code == 400, resp.text[:300]
    assert resp.json()["error"]["param"] == "seed"


@pytest.mark.parametrize("where", ["content", "part", "stop"])
def test_lone_surrogate_is_a_400_not_a_500(base_url: str, where: str) -> None:
    """Found by the adversarial pass: ``"\\ud800"`` in the content reached the tokenizer and
    came back as a 500 with a traceback in the log."""
    if where == "content":
        body = '{"role": "user", "content": "hi \\ud800"}'
    else:
        body = '{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}' \
            if where == "part" else '{"role": "user", "content": "hi"}'
    stop = ', "stop": ["\\ud800"]' if where == "stop" else ""
    raw = (f'{{"model": "{MODEL_NAME}", "max_tokens": 4, "messages": [{body}]{stop}}}')
    resp = httpx.post(f"{base_url}/v1/chat/completions", content=raw.encode(),
                      headers={"Content-Type": "application/json"}, timeout=60)
    assert resp.status_code == 400, resp.text[:300]
    assert "not valid Unicode" in resp.json()["error"]["message"]
    assert post(base_url, chat()).status_code == 200  # and the server is fine


# ---------------------------------------------------------------- many clients at once


def test_a_burst_of_requests_is_queued_or_refused_with_429_never_crashing(
    tiny_lm_dir: Any,
) -> None:
    """50 requests at once on a generator with 2 streams and 3 queue places: each is answered
    200 or 429 (with a message saying to retry), none fails, and the server serves afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator
    from tests.serving.conftest import long_running_prompt, running_server

    gen = LocalGenerator(GeneratorConfig(model=str(tiny_lm_dir), device="cpu", max_batch=2,
                                         max_queue=3)).load()
    prompt = long_running_prompt(gen, 200)  # each answer holds its slot for 200 steps
    with running_server(gen, MODEL_NAME) as (base_url, _):
        def one(i: int) -> tuple[int, dict[str, Any]]:
            body = chat(max_tokens=200, stream=i % 2 == 0,
                        messages=[{"role": "user", "content": prompt}])
            with httpx.Client(timeout=120) as http:
                resp = http.post(f"{base_url}/v1/chat/completions", json=body)
            if resp.status_code == 200 and body["stream"]:
                assert resp.text.rstrip().endswith("data: [DONE]")
                return 200, {}
            return resp.status_code, resp.json()

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(one, range(50)))
        codes = [code for code, _ in answers]
        assert set(codes) <= {200, 429}, codes
        assert codes.count(429) > 0 and codes.count(200) >= 5
        refused = next(body for code, body in answers if code == 429)
        assert refused["error"]["code"] == "server_busy" and "retry" in refused["error"]["message"]
        assert gen.stats()["batch"]["peak_batch"] == 2  # two streams decoded together
        assert post(base_url, chat()).status_code == 200
    gen.close()
