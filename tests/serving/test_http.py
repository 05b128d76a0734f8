"""The OpenAI-compatible server over real HTTP on loopback, wrapping a real LocalGenerator on a
tiny Qwen2 model, exercised with raw httpx requests and with OpenAICompatibleGenerator."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jsonschema
import pytest

from ragkit.errors import GenerationError
from ragkit.generation.base import SamplingParams
from ragkit.types import Message
from tests.serving.conftest import MODEL_NAME, long_running_prompt

QUESTION = [Message("system", "You are a helpful assistant."),
            Message("user", "How do I reset my password?")]
GREEDY = SamplingParams(max_tokens=24, temperature=0.0)


def post(base_url: str, body: Any, raw: bool = False) -> httpx.Response:
    if raw:
        return httpx.post(f"{base_url}/v1/chat/completions", content=body,
                          headers={"content-type": "application/json"}, timeout=60)
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL_NAME, "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 8, "temperature": 0, **extra}


def test_health_and_models(base_url: str) -> None:
    assert httpx.get(f"{base_url}/health").json()["status"] == "ok"
    listing = httpx.get(f"{base_url}/v1/models").json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [MODEL_NAME]
    assert httpx.get(f"{base_url}/v1/models/{MODEL_NAME}").json()["id"] == MODEL_NAME


def test_blocking_equals_streaming_equals_local(client: Any, local_generator: Any) -> None:
    local = local_generator.generate(QUESTION, GREEDY)
    blocking = client.generate(QUESTION, GREEDY)
    stream = client.stream(QUESTION, GREEDY)
    pieces = list(stream)
    assert local.text  # a random tiny model still says something
    assert blocking.text == local.text
    assert "".join(pieces) == local.text
    assert stream.result is not None and stream.result.text == local.text
    assert blocking.finish_reason == local.finish_reason
    assert blocking.usage.completion_tokens == local.usage.completion_tokens
    assert stream.result.usage.prompt_tokens == local.usage.prompt_tokens > 0


def test_usage_fields_and_cached_tokens_on_second_turn(base_url: str) -> None:
    turn1 = [{"role": "system", "content": "You are a helpful assistant. " * 8},
             {"role": "user", "content": "Refunds are issued within how many days?"}]
    first = post(base_url, {"model": MODEL_NAME, "messages": turn1, "max_tokens": 8,
                            "temperature": 0}).json()
    usage1 = first["usage"]
    assert set(usage1) >= {"prompt_tokens", "completion_tokens", "total_tokens",
                           "prompt_tokens_details"}
    assert usage1["total_tokens"] == usage1["prompt_tokens"] + usage1["completion_tokens"]
    reply = first["choices"][0]["message"]["content"]
    turn2 = [*turn1, {"role": "assistant", "content": reply},
             {"role": "user", "content": "And how do I reset my password?"}]
    second = post(base_url, {"model": MODEL_NAME, "messages": turn2, "max_tokens": 8,
                             "temperature": 0}).json()
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert 0 < cached < second["usage"]["prompt_tokens"]
    assert cached >= usage1["prompt_tokens"] // 2  # the shared system turn at least


def test_sse_format_with_usage_chunk(base_url: str) -> None:
    body = chat(stream=True, stream_options={"include_usage": True}, max_tokens=6)
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=60) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL_NAME for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] in ("stop", "length")
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] >= 1
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_key(base_url: str) -> None:
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=chat(stream=True),
                      timeout=60) as resp:
        chunks = [json.loads(x[6:]) for x in resp.iter_lines() if x and x != "data: [DONE]"]
    assert chunks and all("usage" not in c for c in chunks)


def test_content_parts_and_developer_role_are_accepted(base_url: str, local_generator: Any) -> None:
    body = {"model": MODEL_NAME, "max_tokens": 8, "temperature": 0, "messages": [
        {"role": "developer", "content": "You are a helpful assistant."},
        {"role": "user", "content": [{"type": "text", "text": "How do I reset "},
                                     {"type": "text", "text": "my password?"}]}]}
    reply = post(base_url, body).json()["choices"][0]["message"]["content"]
    assert reply == local_generator.generate(QUESTION, SamplingParams(max_tokens=8)).text


def test_stop_string_cuts_the_reply(client: Any) -> None:
    full = client.generate(QUESTION, SamplingParams(max_tokens=40)).text
    visible = full.strip()
    assert len(visible) >= 6, f"the tiny model said too little to test stop strings: {full!r}"
    stop = visible[len(visible) // 2:len(visible) // 2 + 2]
    expected = full[:full.index(stop)]
    cut = client.generate(QUESTION, SamplingParams(max_tokens=40, stop=(stop,)))
    assert cut.text == expected
    assert cut.finish_reason == "stop"
    streamed = "".join(client.stream(QUESTION, SamplingParams(max_tokens=40, stop=(stop,))))
    assert streamed == expected


def test_max_tokens_gives_length(client: Any) -> None:
    result = client.generate(QUESTION, SamplingParams(max_tokens=3))
    assert result.usage.completion_tokens <= 3
    if result.usage.completion_tokens == 3:
        assert result.finish_reason == "length"


def test_json_schema_response_format(base_url: str, client: Any) -> None:
    # A closed schema: LocalGenerator answers it by scoring the options, so even a random tiny
    # model returns valid JSON. Free-form schemas depend on the model's skill.
    schema = {"type": "object",
              "properties": {"intent": {"enum": ["refund", "password", "shipping"]},
                             "urgent": {"type": "boolean"}},
              "required": ["intent", "urgent"]}
    body = chat(response_format={"type": "json_schema",
                                 "json_schema": {"name": "triage", "schema": schema}})
    resp = post(base_url, body)
    assert resp.status_code == 200, resp.text
    jsonschema.validate(json.loads(resp.json()["choices"][0]["message"]["content"]), schema)
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json={**body, "stream": True},
                      timeout=60) as streamed:
        lines = [x for x in streamed.iter_lines() if x.startswith("data: {")]
    text = "".join((json.loads(x[6:])["choices"] or [{}])[0].get("delta", {}).get("content", "")
                   for x in lines)
    jsonschema.validate(json.loads(text), schema)
    value = client.generate_json(QUESTION, schema, SamplingParams(max_tokens=64))
    jsonschema.validate(value, schema)


def test_json_object_is_routed_to_generate_json(base_url: str) -> None:
    resp = post(base_url, chat(max_tokens=32, response_format={"type": "json_object"}))
    if resp.status_code == 200:
        assert isinstance(json.loads(resp.json()["choices"][0]["message"]["content"]), dict)
    else:  # the random tiny model rarely writes JSON; the engine's JSON error is passed on
        assert resp.status_code == 400
        assert "JSON" in resp.json()["error"]["message"]


def test_logprobs_match_the_local_model_and_greedy_picks_the_top_token(
    base_url: str, local_generator: Any,
) -> None:
    resp = post(base_url, chat(max_tokens=12, temperature=0, logprobs=True, top_logprobs=5))
    assert resp.status_code == 200, resp.text
    choice = resp.json()["choices"][0]
    rows = choice["logprobs"]["content"]
    text = choice["message"]["content"]
    assert rows
    local = local_generator.logprobs([Message("user", "hello")], text, top=5)
    assert len(local) == len(rows)
    # The random model may emit partial UTF-8; a replacement character in the text re-tokenises
    # differently from what was generated, so compare up to the first one.
    clean = next((i for i, r in enumerate(rows) if "\ufffd" in r["token"]), len(rows))
    assert "".join(r["token"] for r in rows[:clean]) == text[: len("".join(
        r["token"] for r in rows[:clean]))]
    for row, mine in zip(rows[:clean], local[:clean], strict=True):
        assert len(row["top_logprobs"]) == 5
        assert row["logprob"] <= 0
        assert row["logprob"] == pytest.approx(mine["logprob"], abs=1e-4)
        # greedy decoding took the most likely token at every step
        assert row["logprob"] == pytest.approx(row["top_logprobs"][0]["logprob"], abs=1e-4)
        assert row["bytes"] == list(row["token"].encode("utf-8"))


def test_choose_over_http_uses_the_served_logprobs(client: Any) -> None:
    try:
        label, scores = client.choose(QUESTION, ["refund", "password", "shipping"])
    except GenerationError as err:  # no label starts any top-20 token of the random model
        assert "none of" in str(err)
    else:
        assert label in scores
    assert client._logprobs_ok is True


class _NoLogprobs:
    """A real generator seen through an interface without ``logprobs`` (like a remote one)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.model_id = inner.model_id

    def __getattr__(self, name: str) -> Any:
        if name == "logprobs":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_choose_falls_back_to_matching_when_a_server_refuses_logprobs(
    local_generator: Any,
) -> None:
    """A server without logprobs answers 400; the client asks the model to answer with one label
    and matches its reply. The tiny random model answers gibberish: the client must say so,
    naming the labels, rather than invent a choice."""
    from ragkit.generation.openai_client import OpenAICompatibleGenerator
    from tests.serving.conftest import running_server

    with running_server(_NoLogprobs(local_generator), MODEL_NAME) as (url, _):
        remote = OpenAICompatibleGenerator(url, MODEL_NAME)
        with pytest.raises(GenerationError, match=r"none of \['refund', 'password', 'shipping'\]"):
            remote.choose(QUESTION, ["refund", "password", "shipping"])
        assert remote._logprobs_ok is False
        remote.close()


@pytest.mark.parametrize(("body", "status", "param"), [
    ("{not json", 400, None),
    ('{"model": "tiny-qwen2"}', 400, "messages"),
    ('{"model": "tiny-qwen2", "messages": []}', 400, "messages"),
    ('{"messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
    ('{"model": "gpt-17", "messages": [{"role": "user", "content": "hi"}]}', 404, "model"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hi"}], "n": 2}', 400, "n"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hi"}], '
     '"temperature": 3}', 400, "temperature"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hi"}], '
     '"max_tokens": 0}', 400, "max_tokens"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hi"}], '
     '"top_p": 0}', 400, "top_p"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "wizard", "content": "hi"}]}', 400,
     "messages.0.role"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hi"}], '
     '"logprobs": true, "stream": true}', 400, "logprobs"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hi"}], '
     '"top_logprobs": 3}', 400, "top_logprobs"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hi"}], '
     '"logprobs": true, "top_logprobs": 21}', 400, "top_logprobs"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": [{"type": "image_url", '
     '"image_url": {"url": "x"}}]}]}', 400, "messages.0.content"),
    ('{"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hi"}], '
     '"response_format": {"type": "json_schema"}}', 400, None),
])
def test_errors_are_openai_shaped(base_url: str, body: str, status: int, param: str | None) -> None:
    resp = post(base_url, body, raw=True)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unknown_route_is_openai_shaped_404(base_url: str) -> None:
    resp = httpx.get(f"{base_url}/v1/completions-that-do-not-exist")
    assert resp.status_code == 404
    assert "/v1/chat/completions" in resp.json()["error"]["message"]


def test_client_maps_http_errors(base_url: str) -> None:
    from ragkit.generation.openai_client import OpenAICompatibleGenerator

    wrong = OpenAICompatibleGenerator(base_url, "no-such-model")
    with pytest.raises(GenerationError, match="404.*no-such-model"):
        wrong.generate(QUESTION)
    with pytest.raises(GenerationError, match="404"):
        list(wrong.stream(QUESTION))


def test_client_disconnect_stops_generation(served: tuple[str, Any], local_generator: Any) -> None:
    base_url, app = served
    prompt = long_running_prompt(local_generator, 300)
    body = chat(stream=True, max_tokens=1000, temperature=0)
    body["messages"] = [{"role": "user", "content": prompt}]
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=60) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: {") and '"content":""' not in line and '"content"' in line:
                cid = json.loads(line[6:])["id"]
                break
    # Leaving the block closed the connection mid-stream.
    deadline = time.monotonic() + 60
    entries: list[dict[str, Any]] = []
    while not entries and time.monotonic() < deadline:
        entries = [e for e in app.state.request_log if e["id"] == cid]
        time.sleep(0.05)
    assert entries, "the server never stopped the abandoned request"
    assert entries[0]["finish_reason"] == "cancelled"
    assert entries[0]["completion_tokens"] < 300  # it would have run past 300 on its own


def test_concurrent_requests_are_served_and_serialized(base_url: str, local_generator: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    prompts = ["How do I reset my password?", "Refunds?", "退款多久到账？"]
    want = [local_generator.generate([Message("user", p)], SamplingParams(max_tokens=16)).text
            for p in prompts]

    def ask(prompt: str) -> str:
        body = chat(max_tokens=16, messages=[{"role": "user", "content": prompt}])
        return post(base_url, body).json()["choices"][0]["message"]["content"]

    with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
        futures = [pool.submit(ask, p) for p in prompts]
        assert httpx.get(f"{base_url}/health", timeout=30).status_code == 200  # loop not blocked
        got = [f.result(timeout=120) for f in futures]
    assert got == want


@pytest.mark.real_model
def test_choose_over_http_agrees_with_local_scoring_on_the_real_model(real_generator: Any) -> None:
    from ragkit.generation.openai_client import OpenAICompatibleGenerator
    from tests.serving.conftest import running_server

    asked = [Message("user", "I want my money back for a broken kettle. Which team handles "
                             "this: refunds, passwords or shipping?")]
    labels = ["refunds", "passwords", "shipping"]
    local_label, _ = real_generator.choose(asked, labels)
    with running_server(real_generator, "qwen") as (url, _):
        remote = OpenAICompatibleGenerator(url, "qwen")
        label, scores = remote.choose(asked, labels)
        remote.close()
    assert remote._logprobs_ok is True
    assert label == local_label == "refunds"
    assert scores["refunds"] > scores["shipping"]
