"""OpenAICompatibleGenerator on its own: request building and reply parsing (pure functions),
and what the user sees when no server is listening."""

from __future__ import annotations

import math

import pytest

from ragkit.errors import GenerationError
from ragkit.generation.base import SamplingParams
from ragkit.generation.openai_client import (
    OpenAICompatibleGenerator,
    label_logprobs,
    match_label,
    parse_json_reply,
    parse_usage,
    request_body,
)
from ragkit.types import Message
from tests.serving.conftest import free_port


def test_connection_refused_names_the_url_and_the_fix() -> None:
    port = free_port()  # nothing listens there once the probe socket is closed
    gen = OpenAICompatibleGenerator(f"http://127.0.0.1:{port}", "m")
    with pytest.raises(GenerationError) as err:
        gen.generate([Message("user", "hi")])
    message = str(err.value)
    assert f"http://127.0.0.1:{port}/v1" in message
    assert "ragkit serve-model" in message
    with pytest.raises(GenerationError, match="is the server running|Is the server running"):
        list(gen.stream([Message("user", "hi")]))


def test_base_url_gets_v1_once() -> None:
    assert OpenAICompatibleGenerator("http://h:1", "m").base_url == "http://h:1/v1"
    assert OpenAICompatibleGenerator("http://h:1/v1/", "m").base_url == "http://h:1/v1"


def test_request_body_passes_sampling_through() -> None:
    params = SamplingParams(max_tokens=7, temperature=0.3, top_p=0.9, seed=5, stop=("END",))
    body = request_body("m", [Message("system", "s"), Message("user", "u")], params, stream=True)
    assert body["messages"] == [{"role": "system", "content": "s"},
                                {"role": "user", "content": "u"}]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (7, 0.3, 0.9, 5)
    assert body["stop"] == ["END"]
    assert body["stream_options"] == {"include_usage": True}
    assert "seed" not in request_body("m", [], SamplingParams(), stream=False)
    assert "stream_options" not in request_body("m", [], SamplingParams(), stream=False)


def test_forbid_han_travels_to_a_ragkit_server_only_when_set() -> None:
    """The client sends ragkit's extension field only when asked (other servers never see
    it) and ragkit's wire reads it back into the sampling settings."""
    from ragkit.generation.openai_wire import ChatCompletionRequest

    assert "ragkit_forbid_han" not in request_body("m", [], SamplingParams(), stream=False)
    body = request_body("m", [Message("user", "u")], SamplingParams(forbid_han=True),
                        stream=False)
    assert body["ragkit_forbid_han"] is True
    assert ChatCompletionRequest(**body).sampling(16).forbid_han is True
    assert ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "u"}]
                                 ).sampling(16).forbid_han is False


def test_parse_usage_reads_cached_tokens_from_details() -> None:
    usage = parse_usage({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
                         "prompt_tokens_details": {"cached_tokens": 8}})
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (10, 8, 3)
    assert parse_usage({"prompt_tokens": 4, "prompt_tokens_details": None}).cached_tokens == 0
    assert parse_usage(None).prompt_tokens == 0


def test_parse_json_reply_accepts_fenced_json() -> None:
    assert parse_json_reply('{"a": 1}') == {"a": 1}
    assert parse_json_reply('```json\n{"a": [1, 2]}\n```') == {"a": [1, 2]}
    with pytest.raises(ValueError):
        parse_json_reply("not json")


def test_match_label() -> None:
    labels = ["refund", "password reset", "other"]
    assert match_label("Refund.", labels) == "refund"
    assert match_label("  password reset ", labels) == "password reset"
    assert match_label("password reset, clearly", labels) == "password reset"
    assert match_label("I think this is about a refund", labels) == "refund"
    assert match_label("no idea", labels) is None


def test_label_logprobs_takes_best_matching_first_token() -> None:
    top = [{"token": "ref", "logprob": -0.1}, {"token": " pass", "logprob": -2.0},
           {"token": "Ref", "logprob": -3.0}, {"token": "xyz", "logprob": -0.01}]
    scores = label_logprobs(top, ["refund", "password", "other"])
    assert scores["refund"] == -0.1 and scores["password"] == -2.0
    assert scores["other"] == -math.inf
