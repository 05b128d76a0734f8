"""An OpenAI-compatible HTTP server in front of any :class:`~ragkit.generation.base.Generator`.

Owns: the FastAPI app (``/v1/models``, ``/v1/chat/completions`` with and without server-sent
events, ``/health``) and :func:`serve` which runs it with uvicorn. The wire format (request
models, response, usage and error bodies) is :mod:`ragkit.generation.openai_wire`.
Does not own models, prompts or decoding: the wrapped generator does all of that and serializes
concurrent calls itself; requests here are handled on a thread pool.

Only the common OpenAI subset is served: text messages, ``max_tokens``/``max_completion_tokens``,
``temperature``, ``top_p``, ``seed``, ``stop``, ``n=1``, ``stream`` (+ ``stream_options``), and
``response_format`` ``json_object``/``json_schema`` (routed to ``Generator.generate_json``), and
``logprobs``/``top_logprobs`` on non-streaming requests to a local model.
Settings ragkit cannot honour (``n>1``, ``tools``, streamed ``logprobs``) are refused with a
400, never silently ignored. Against a local model the prompt plus ``max_tokens`` must fit the
context window (else a 400 ``context_length_exceeded``, as OpenAI answers; without
``max_tokens`` the default is clamped to the room left). A client that disconnects stops its
free-text generation at the next delta, streaming or not (a JSON answer runs to its end).
Request bodies over ``max_body_bytes`` (default 4 MiB) get a 413 before they are read whole.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from ragkit.errors import BusyError, GenerationError, RagkitError
from ragkit.generation.base import (
    GenerationResult,
    Generator,
    HasStats,
    SamplingParams,
    ScoresText,
    TextStream,
    TokenLevel,
)
from ragkit.generation.openai_wire import (
    ApiError,
    ChatCompletionRequest,
    chunk_body,
    completion_body,
    completion_budget,
    logprobs_body,
    sse,
    validation_error,
)
from ragkit.types import Message, Usage

log = logging.getLogger("ragkit.server")
T = TypeVar("T")

# ---------------------------------------------------------------- the app (I/O)


DEFAULT_MAX_BODY_BYTES = 4 * 2**20


def create_app(
    generator: Generator, model_name: str, *, default_max_tokens: int = 512,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """Build the FastAPI app serving ``generator`` under the model id ``model_name``.

    Request bodies over ``max_body_bytes`` are refused with a 413 before they are read whole."""
    app = FastAPI(title="ragkit", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.state.generator = generator
    app.state.model_name = model_name
    # Recent requests (id, finish_reason, completion tokens): for logs and tests.
    app.state.request_log = deque(maxlen=64)
    started = int(time.time())

    def _refused(request: Request, api: ApiError) -> JSONResponse:
        log.info("refused %s %s: %d %s", request.method, request.url.path, api.status,
                 api.message[:300].replace("\n", " "))  # one line, whatever the request held
        return JSONResponse(api.body(), status_code=api.status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return _refused(request, err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        return _refused(request, validation_error(err))

    @app.exception_handler(Exception)
    async def _bug(_: Request, err: Exception) -> JSONResponse:
        log.error("request failed", exc_info=err)
        api = ApiError(500, f"internal error ({type(err).__name__}: {err}); see the server log",
                       "server_error")
        return JSONResponse(api.body(), status_code=500)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, err: HTTPException) -> JSONResponse:
        message, code = str(err.detail), None
        if err.status_code == 404:
            message, code = (f"there is no {request.method} {request.url.path} here; this server "
                             "offers GET /v1/models, POST /v1/chat/completions and GET /health",
                             "not_found")
        return _refused(request, ApiError(err.status_code, message, code=code))

    @app.get("/health")
    def health() -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok", "model": model_name}
        if isinstance(generator, HasStats):  # streams running and waiting, prefix-cache bytes
            out["stats"] = generator.stats()
        return out

    def model_card() -> dict[str, Any]:
        return {"id": model_name, "object": "model", "created": started, "owned_by": "ragkit"}

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    def get_model(model_id: str) -> dict[str, Any]:
        if model_id != model_name:
            raise _unknown_model(model_id, model_name)
        return model_card()

    def _record(cid: str, finish: str, tokens: int) -> None:
        app.state.request_log.append({"id": cid, "finish_reason": finish, "completion_tokens": tokens})
        log.info("%s finished (%s, %d tokens)", cid, finish, tokens)

    def _fit_context(messages: list[Message], params: SamplingParams,
                     asked: tuple[str, int] | None) -> SamplingParams:
        """Bound max_tokens by the context window (a 400 when the request cannot fit)."""
        if not isinstance(generator, TokenLevel):
            return params  # a remote backend: its own server enforces its context
        prompt = len(generator.render(messages))
        budget = completion_budget(prompt, generator.context_window(), asked, default_max_tokens)
        return replace(params, max_tokens=budget)

    def _complete(messages: list[Message], schema: dict[str, Any] | None,
                  params: SamplingParams, cancel: threading.Event | None = None
                  ) -> GenerationResult:
        """The whole answer; a free-text one stops at the next delta once ``cancel`` is set."""
        if schema is None:
            stream = generator.stream(messages, params)
            parts: list[str] = []
            for delta in stream:
                if cancel is not None and cancel.is_set():
                    stream.close()  # stops generation (the generator's finally runs now)
                    return GenerationResult("".join(parts), "cancelled",
                                            Usage(completion_tokens=len(parts)))
                parts.append(delta)
            if stream.result is None:
                raise GenerationError("the backend ended its stream without a result")
            return stream.result
        t0 = time.perf_counter()
        text = json.dumps(generator.generate_json(messages, schema, params), ensure_ascii=False)
        usage = _last_usage(generator) or Usage()
        usage.total_time_s = usage.total_time_s or time.perf_counter() - t0
        return GenerationResult(text=text, finish_reason="stop", usage=usage)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        if body.model != model_name:
            raise _unknown_model(body.model, model_name)
        try:
            params = body.sampling(default_max_tokens)
            schema = body.json_schema()
        except GenerationError as err:
            raise ApiError(400, str(err)) from err
        messages = [m.to_message() for m in body.messages]
        params = await run_in_threadpool(_fit_context, messages, params, body.asked_tokens())
        if body.logprobs and (body.stream or not isinstance(generator, ScoresText)):
            raise ApiError(400, "logprobs are served for non-streaming requests by a local model "
                           "only; set stream=false or leave logprobs out", param="logprobs")
        if body.top_logprobs and not body.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs=true", param="top_logprobs")
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not body.stream:
            try:
                result = await _until_disconnect(request, _complete, messages, schema, params)
            except RagkitError as err:
                raise _refusal(err) from err
            _record(cid, result.finish_reason, result.usage.completion_tokens)
            if result.finish_reason == "cancelled":  # nobody is left to read the answer
                return completion_body(cid, model_name, created, result)
            scored = None
            if body.logprobs:
                rows = await run_in_threadpool(
                    generator.logprobs, messages, result.text, body.top_logprobs or 0)  # type: ignore[attr-defined]
                scored = logprobs_body(rows)
            return completion_body(cid, model_name, created, result, scored)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = None
        if schema is None:  # take a slot now: a busy generator is a 429, not a broken stream
            try:
                stream = await run_in_threadpool(generator.stream, messages, params)
            except RagkitError as err:
                raise _refusal(err) from err
        events = _events(cid, created, messages, schema, params, include_usage, stream)
        return StreamingResponse(events, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events(
        cid: str, created: int, messages: list[Message], schema: dict[str, Any] | None,
        params: SamplingParams, include_usage: bool, stream: TextStream | None,
    ) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any] | None, finish: str | None = None,
                  usage: Usage | None = None) -> str:
            return sse(chunk_body(cid, model_name, created, delta, finish, usage, include_usage))

        yield chunk({"role": "assistant", "content": ""})
        # JSON answers are produced whole (scored or validated), then sent as one delta.
        sent, outcome = 0, "cancelled"
        try:
            if stream is None:
                result = await run_in_threadpool(_complete, messages, schema, params)
                yield chunk({"content": result.text})
            else:
                while (delta := await run_in_threadpool(_next_delta, stream)) is not None:
                    if delta:
                        sent += 1
                        yield chunk({"content": delta})
                result = stream.collect()
            outcome = "done"
        except RagkitError as err:
            outcome = "error"
            _record(cid, "error", sent)
            yield sse(ApiError(400, str(err)).body())
            return
        finally:
            if outcome == "cancelled":  # the client went away (this task is cancelled)
                if stream is not None:
                    with anyio.CancelScope(shield=True):
                        await run_in_threadpool(stream.close)  # stops generation
                _record(cid, "cancelled", sent)
        _record(cid, result.finish_reason, result.usage.completion_tokens)
        finish = "stop" if result.finish_reason == "cancelled" else result.finish_reason
        yield chunk({}, finish)
        if include_usage:
            yield chunk(None, usage=result.usage)
        yield sse("[DONE]")

    return app


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets an OpenAI-shaped 413.

    A declared ``Content-Length`` over the limit is refused before any of the body is read; a
    body without one (chunked) is counted as it arrives and refused once past the limit. A body
    within it is buffered (the app would read it whole anyway) and handed on."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        message = await receive()
        while message["type"] == "http.request":  # else the client left before sending it all
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
            message = await receive()
        pending = [message]

        async def replay() -> AsgiMessage:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        log.info("refused a request body over %d bytes", self.limit)
        api = ApiError(413, f"the request body is over this server's limit of "
                       f"{self.limit / 2**20:g} MiB; send a shorter prompt, or start the server "
                       "with a larger --max-body-mb", code="request_too_large")
        await JSONResponse(api.body(), status_code=413)(scope, receive, send)


async def _until_disconnect(request: Request, work: Callable[..., T], *args: Any) -> T:
    """``work(*args, cancel)`` on the thread pool, with ``cancel`` set if the client leaves.

    Starlette stops a streaming response when its client goes away, but a plain one runs to
    the end: this watches the connection (the ASGI ``http.disconnect`` message, which arrives
    once the request body has been read) while the work runs, and stops watching after."""
    cancel = threading.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancel.set()

    failure: Exception | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        try:
            result = await run_in_threadpool(work, *args, cancel)
        except Exception as err:  # re-raised below, outside the task group (no ExceptionGroup)
            failure = err
        tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


def _next_delta(stream: Any) -> str | None:
    try:
        return next(stream)
    except StopIteration:
        return None


def _last_usage(generator: Generator) -> Usage | None:
    """The usage of the generator's last call, when the backend exposes ``stats()``."""
    if not isinstance(generator, HasStats):
        return None
    try:
        value = generator.stats()
    except Exception:  # noqa: BLE001 - optional introspection only
        return None
    usage = value.get("last_usage") if isinstance(value, dict) else getattr(value, "last_usage", None)
    return usage if isinstance(usage, Usage) else None


def _refusal(err: RagkitError) -> ApiError:
    """A generator's refusal as an HTTP error: busy is a 429 (retry later), the rest a 400."""
    if isinstance(err, BusyError):
        return ApiError(429, str(err), "rate_limit_error", code="server_busy")
    return ApiError(400, str(err))


def _unknown_model(asked: str, served: str) -> ApiError:
    return ApiError(404, f"the model '{asked}' does not exist on this server; use '{served}' "
                    "(see GET /v1/models)", param="model", code="model_not_found")


def serve(generator: Generator, host: str = "127.0.0.1", port: int = 8000, *,
          model_name: str | None = None, log_level: str = "warning",
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Serve ``generator`` until interrupted (blocking)."""
    import uvicorn

    name = model_name or generator.model_id
    app = create_app(generator, name, max_body_bytes=max_body_bytes)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
