"""The OpenAI chat-completions wire format, as ragkit's server speaks it (pure).

Owns: the request models (validated into ragkit messages and sampling settings), the response,
streamed-chunk, usage, logprobs and error bodies, server-sent-event framing, and turning
validation errors into one OpenAI 400 body. Does not own HTTP or the generator
(:mod:`ragkit.generation.server`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ragkit.errors import GenerationError
from ragkit.generation.base import GenerationResult, SamplingParams
from ragkit.generation.structured import check_schema_size
from ragkit.types import Message, Usage

# ---------------------------------------------------------------- request models (pure)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def to_message(self) -> Message:
        if self.content is None:
            text = ""
        elif isinstance(self.content, str):
            text = self.content
        else:
            text = "".join(part.text for part in self.content)
        return Message(role="system" if self.role == "developer" else self.role, content=text)


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = "response"
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None

    @field_validator("schema_")
    @classmethod
    def _bounded(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            check_schema_size(schema)  # a 400 here, before jsonschema recurses into it
        except GenerationError as err:
            raise ValueError(str(err)) from None
        return schema


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The body of ``POST /v1/chat/completions``. Unknown OpenAI fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0)  # extension (vLLM, llama.cpp); 0 disables it
    # extension (ragkit): no token that writes a Chinese character (SamplingParams.forbid_han)
    ragkit_forbid_han: bool = False
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**63)  # int64, as OpenAI's
    stop: str | list[str] | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = None

    @field_validator("messages", "stop")
    @classmethod
    def _utf8(cls, value: Any, info: ValidationInfo) -> Any:
        """JSON may carry a lone surrogate (``"\\ud800"``) that no tokenizer can encode: a 400
        naming the field, not a 500 from deep inside tokenization."""
        texts = [value] if isinstance(value, str) else []
        for item in value if isinstance(value, list) else []:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, ChatMessage):
                content = item.content
                texts.extend([content] if isinstance(content, str) else
                             [part.text for part in content or []])
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"'{info.field_name}' holds text that is not valid Unicode "
                                 "(a lone surrogate such as \\ud800); send UTF-8 text") from None
        return value

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is supported; send one request per choice")
        return n

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if isinstance(stop, list) and len(stop) > 16:
            raise ValueError("at most 16 stop strings are supported")
        return stop

    @field_validator("tools")
    @classmethod
    def _unsupported(cls, value: Any, info: ValidationInfo) -> Any:
        if value:  # refused rather than silently ignored
            raise ValueError(f"'{info.field_name}' is not supported by this server; leave it out")
        return value

    def sampling(self, default_max_tokens: int) -> SamplingParams:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return SamplingParams(
            max_tokens=self.max_completion_tokens or self.max_tokens or default_max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            seed=self.seed,
            forbid_han=self.ragkit_forbid_han,
            stop=tuple(s for s in stops if s),
        )

    def asked_tokens(self) -> tuple[str, int] | None:
        """The completion budget the client set (field name, value), or None for the default."""
        if self.max_completion_tokens is not None:
            return "max_completion_tokens", self.max_completion_tokens
        if self.max_tokens is not None:
            return "max_tokens", self.max_tokens
        return None

    def json_schema(self) -> dict[str, Any] | None:
        """The schema to route to ``generate_json``, or None for free text."""
        fmt = self.response_format
        if fmt is None or fmt.type == "text":
            return None
        if fmt.type == "json_object":
            return {"type": "object"}
        if fmt.json_schema is None:
            raise GenerationError(
                "response_format type 'json_schema' needs a json_schema object with a 'schema'"
            )
        return fmt.json_schema.schema_


# ---------------------------------------------------------------- response shapes (pure)


class ApiError(Exception):
    """An error answered as an OpenAI error body."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def completion_budget(prompt_tokens: int, window: int, asked: tuple[str, int] | None,
                      default: int) -> int:
    """The completion tokens a request may use: what it asked for when prompt and completion fit
    in the ``window``, else a 400 ``context_length_exceeded`` as OpenAI answers. Without an
    asked budget the ``default`` is clamped to the room left (pure)."""
    room = window - prompt_tokens
    if room < 1:
        raise ApiError(400, f"this model's context holds {window} tokens and the messages alone "
                       f"take {prompt_tokens}; shorten the messages", param="messages",
                       code="context_length_exceeded")
    if asked is None:
        return min(default, room)
    field, value = asked
    if value > room:
        raise ApiError(400, f"this model's context holds {window} tokens, but the request needs "
                       f"{prompt_tokens + value} ({prompt_tokens} in the messages, {value} in the "
                       f"completion); set {field} to at most {room} or shorten the messages",
                       param=field, code="context_length_exceeded")
    return value


def usage_body(usage: Usage) -> dict[str, Any]:
    """``usage`` exactly as OpenAI reports it (cached prompt tokens under the details)."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def logprobs_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """OpenAI's ``choices[].logprobs`` from :meth:`LocalGenerator.logprobs` rows (pure)."""

    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}

    return {"content": [
        {**entry(r["token"], r["logprob"]), "top_logprobs": [entry(t, lp) for t, lp in r["top"]]}
        for r in rows
    ]}


def completion_body(cid: str, model: str, created: int, result: GenerationResult,
                    logprobs: dict[str, Any] | None = None) -> dict[str, Any]:
    finish = "stop" if result.finish_reason == "cancelled" else result.finish_reason
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": result.text},
            "logprobs": logprobs,
            "finish_reason": finish,
        }],
        "usage": usage_body(result.usage),
    }


def chunk_body(
    cid: str, model: str, created: int, delta: dict[str, Any] | None,
    finish: str | None = None, usage: Usage | None = None, include_usage: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [] if delta is None else [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        ],
    }
    if include_usage:
        body["usage"] = usage_body(usage) if usage is not None else None
    return body


def sse(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False,
                                                            separators=(",", ":"))
    return f"data: {payload}\n\n"


_BRANCHES = {"str", "int", "float", "bool", "list", "dict", "none"}


def validation_error(err: ValidationError | RequestValidationError) -> ApiError:
    """Turn pydantic/FastAPI validation errors into one OpenAI 400 error (pure)."""
    errors = list(err.errors())
    if not errors:
        return ApiError(400, "the request body is invalid")
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", first.get("msg"))
        return ApiError(400, f"the request body is not valid JSON ({detail}); send a JSON object")
    # Drop union-branch names ("str", "list[TextPart]") that pydantic puts in the location.
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    loc = [p for p in loc if p not in _BRANCHES and "[" not in p]
    param = ".".join(loc) or None
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        msg = f"'{param}' is required"
    elif param and param.endswith(".content"):
        msg = (f"'{param}' must be a string or a list of text parts "
               '({"type": "text", "text": "..."}); other content types are not supported')
    elif first.get("type") == "too_short" and param == "messages":
        msg = "'messages' must hold at least one message"
    elif param:
        msg = f"invalid value for '{param}': {msg}"
    return ApiError(400, msg, param=param, code="invalid_value")
