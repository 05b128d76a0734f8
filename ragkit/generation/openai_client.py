"""A :class:`~ragkit.generation.base.Generator` that talks to an OpenAI-compatible server.

Owns: building chat-completion requests from ragkit messages and sampling settings, parsing
server-sent events into a :class:`TextStream`, reading ``usage`` (cached prompt tokens from
``prompt_tokens_details``), ``choose()`` over HTTP (log-probabilities when the server gives them,
else "answer with one label" and match), ``generate_json()`` (``response_format`` json_schema,
validated with jsonschema, one retry), and mapping transport/HTTP failures to
:class:`GenerationError` with a hint. Sticks to the OpenAI subset that vLLM, SGLang, llama.cpp's
server and ``ragkit serve-model`` all accept. Does not own prompts, retries beyond the one JSON
repair, or redaction.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from ragkit.errors import GenerationError
from ragkit.generation.base import GenerationResult, SamplingParams, TextStream
from ragkit.types import Message, Usage

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def request_body(model: str, messages: Sequence[Message], params: SamplingParams,
                 stream: bool) -> dict[str, Any]:
    """The JSON body of a chat-completion request (pure)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "stream": stream,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    if params.stop:
        body["stop"] = list(params.stop)
    if params.top_k:
        body["top_k"] = params.top_k
    if params.forbid_han:  # ragkit's servers honour it; others ignore unknown fields
        body["ragkit_forbid_han"] = True
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def parse_usage(data: dict[str, Any] | None) -> Usage:
    """An OpenAI ``usage`` object as a ragkit :class:`Usage` (pure)."""
    data = data or {}
    details = data.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=int(data.get("prompt_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
        completion_tokens=int(data.get("completion_tokens") or 0),
    )


def parse_json_reply(text: str) -> Any:
    """Parse a JSON reply, tolerating a surrounding Markdown code fence (pure)."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    return json.loads(fenced.group(1) if fenced else stripped)


def match_label(reply: str, labels: Sequence[str]) -> str | None:
    """The label a free-text reply names: exact, then prefix, then first mention (pure)."""
    def norm(s: str) -> str:
        return re.sub(r"\s+", " ", s.strip().strip("\"'`.*:!").strip()).casefold()

    text = norm(reply)
    by_norm = {norm(label): label for label in labels}
    if text in by_norm:
        return by_norm[text]
    for key in sorted(by_norm, key=len, reverse=True):
        if key and text.startswith(key):
            return by_norm[key]
    found = [(text.find(key), -len(key), by_norm[key]) for key in by_norm if key and key in text]
    return min(found)[2] if found else None


def label_logprobs(top: list[dict[str, Any]], labels: Sequence[str]) -> dict[str, float]:
    """Score each label by the best first-token alternative that starts it (pure)."""
    scores = {label: -math.inf for label in labels}
    for alt in top:
        token = str(alt.get("token", "")).strip().casefold()
        if not token:
            continue
        for label in labels:
            if label.strip().casefold().startswith(token):
                scores[label] = max(scores[label], float(alt.get("logprob", -math.inf)))
    return scores


class OpenAICompatibleGenerator:
    """Generator over HTTP. ``base_url`` like ``http://127.0.0.1:8000`` or ``.../v1``."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 300.0) -> None:
        url = base_url.rstrip("/")
        self.base_url = url if url.endswith("/v1") else url + "/v1"
        self.model_id = model
        self.api_key = api_key
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._logprobs_ok: bool | None = None  # learned on the first choose()
        self.last_usage: Usage | None = None

    # -- transport --------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(base_url=self.base_url, headers=headers,
                                        timeout=httpx.Timeout(self.timeout, connect=10.0))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _fail(self, err: Exception) -> GenerationError:
        if isinstance(err, httpx.ConnectError):
            return GenerationError(
                f"could not connect to {self.base_url} ({err}). Is the server running at "
                f"{self.base_url}? Start one with `ragkit serve-model`.")
        if isinstance(err, httpx.TimeoutException):
            return GenerationError(
                f"{self.base_url} did not answer within {self.timeout:g} s; the server may be "
                "overloaded: retry, or pass a larger timeout=")
        return GenerationError(f"request to {self.base_url} failed: {err}; check the server")

    def _http_error(self, status: int, raw: bytes) -> GenerationError:
        try:
            body = json.loads(raw)
            err = body.get("error", body) if isinstance(body, dict) else body
            message = err.get("message") if isinstance(err, dict) else str(err)
        except (ValueError, AttributeError):
            message = raw.decode("utf-8", "replace")[:500]
        hint = {
            401: "check the api_key",
            403: "check the api_key",
            404: f"check the model name ('{self.model_id}') and the base URL (GET {self.base_url}/models)",
            429: "the server is busy: retry later",
        }.get(status, "fix the request" if status < 500 else "check the server's log")
        error = GenerationError(f"the server at {self.base_url} answered {status}: {message} ({hint})")
        error.status = status  # type: ignore[attr-defined]
        return error

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.client.post("/chat/completions", json=body)
        except httpx.HTTPError as err:
            raise self._fail(err) from err
        if response.status_code >= 400:
            raise self._http_error(response.status_code, response.content)
        try:
            return response.json()
        except ValueError as err:
            raise GenerationError(f"{self.base_url} answered with something other than JSON; "
                                  "is it an OpenAI-compatible server?") from err

    # -- Generator protocol ---------------------------------------------------------------
    def stream(self, messages: Sequence[Message], params: SamplingParams | None = None) -> TextStream:
        return TextStream(self._stream(list(messages), params or SamplingParams()))

    def _stream(self, messages: list[Message], params: SamplingParams) -> Iterator[str]:
        body = request_body(self.model_id, messages, params, stream=True)
        t0 = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        finish = "stop"
        usage: Usage | None = None
        try:
            with self.client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    raise self._http_error(response.status_code, response.read())
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments, "event:" lines
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as err:
                        raise GenerationError(
                            f"{self.base_url} sent a malformed event ({data[:80]!r}); is it an "
                            "OpenAI-compatible server?") from err
                    if "error" in chunk:
                        raise self._http_error(500, data.encode())
                    if chunk.get("usage"):
                        usage = parse_usage(chunk["usage"])
                    for choice in chunk.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            if first is None:
                                first = time.perf_counter()
                            parts.append(delta)
                            yield delta
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
        except httpx.HTTPError as err:
            raise self._fail(err) from err
        return self._result("".join(parts), finish, usage, t0, first, len(parts))

    def _result(self, text: str, finish: str, usage: Usage | None, t0: float,
                first: float | None, pieces: int) -> GenerationResult:
        end = time.perf_counter()
        usage = usage or Usage(completion_tokens=pieces)
        usage.total_time_s = end - t0
        usage.time_to_first_token_s = (first or end) - t0
        decode = end - (first or end)
        if usage.completion_tokens > 1 and decode > 0:
            usage.tokens_per_second = (usage.completion_tokens - 1) / decode
        self.last_usage = usage
        reason = finish if finish in ("stop", "length") else "stop"
        return GenerationResult(text=text, finish_reason=reason, usage=usage)  # type: ignore[arg-type]

    def generate(self, messages: Sequence[Message], params: SamplingParams | None = None) -> GenerationResult:
        t0 = time.perf_counter()
        data = self._post(request_body(self.model_id, messages, params or SamplingParams(), False))
        choice = (data.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        usage = parse_usage(data.get("usage"))
        return self._result(text, choice.get("finish_reason") or "stop", usage, t0, None, 0)

    def choose(self, messages: Sequence[Message], labels: Sequence[str]) -> tuple[str, dict[str, float]]:
        if not labels:
            raise GenerationError("choose() needs at least one label")
        asked = list(messages)
        instruction = ("Answer with exactly one of the following, and nothing else: "
                       + " | ".join(labels))
        if asked and asked[-1].role == "user":
            asked[-1] = Message("user", f"{asked[-1].content}\n\n{instruction}")
        else:
            asked.append(Message("user", instruction))
        longest = max(len(label) for label in labels)
        params = SamplingParams(max_tokens=min(64, longest + 8), temperature=0.0)
        body = request_body(self.model_id, asked, params, stream=False)
        data: dict[str, Any] | None = None
        if self._logprobs_ok is not False:
            try:
                data = self._post({**body, "logprobs": True, "top_logprobs": 20})
                self._logprobs_ok = True
            except GenerationError as err:
                if getattr(err, "status", None) not in (400, 422):
                    raise
                self._logprobs_ok = False  # server refuses logprobs: plain answer instead
        if data is None:
            data = self._post(body)
        choice = (data.get("choices") or [{}])[0]
        reply = (choice.get("message") or {}).get("content") or ""
        content = ((choice.get("logprobs") or {}).get("content")) or []
        scores = label_logprobs(content[0].get("top_logprobs") or [], labels) if content else {}
        picked = match_label(reply, labels)
        if picked is None and scores and max(scores.values()) > -math.inf:
            picked = max(scores, key=lambda k: scores[k])
        if picked is None:
            raise GenerationError(
                f"the model answered {reply[:80]!r}, which is none of {list(labels)}; "
                "rephrase the question or use a stronger model")
        if not scores or max(scores.values()) == -math.inf:
            scores = {label: (0.0 if label == picked else -math.inf) for label in labels}
        return picked, scores

    def generate_json(self, messages: Sequence[Message], schema: dict[str, Any],
                      params: SamplingParams | None = None) -> Any:
        import jsonschema

        params = params or SamplingParams(temperature=0.0)
        fmt = {"type": "json_schema",
               "json_schema": {"name": "response", "schema": schema, "strict": True}}
        asked = list(messages)
        problem = ""
        for _attempt in range(2):
            body = {**request_body(self.model_id, asked, params, False), "response_format": fmt}
            data = self._post(body)
            choice = (data.get("choices") or [{}])[0]
            reply = (choice.get("message") or {}).get("content") or ""
            self.last_usage = parse_usage(data.get("usage"))
            try:
                value = parse_json_reply(reply)
                jsonschema.validate(value, schema)
                return value
            except json.JSONDecodeError as err:
                problem = f"it is not valid JSON ({err})"
            except jsonschema.ValidationError as err:
                problem = f"it does not match the schema: {err.message}"
            asked = [*list(messages), Message("assistant", reply), Message(
                "user", f"That reply cannot be used because {problem}. Reply again with only "
                f"JSON that matches this schema: {json.dumps(schema)}")]
        raise GenerationError(
            f"the model at {self.base_url} did not produce JSON matching the schema twice "
            f"(last reply: {problem}); simplify the schema or use a stronger model")

    def info(self) -> dict[str, Any]:
        return {"backend": "openai-compatible", "base_url": self.base_url, "model": self.model_id}

    def stats(self) -> dict[str, Any]:
        return {"last_usage": self.last_usage}
