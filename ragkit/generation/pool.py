"""Several OpenAI-compatible generation servers used as one :class:`Generator`.

Owns: choosing a server for each request (the fewest requests outstanding per unit of weight;
a conversation's turns go to the server that answered its earlier turns, whose prefix cache
holds them, unless that server is busier than the least loaded by more than
``affinity_slack`` requests), taking a server out after a failure and probing it (``GET
/v1/models``) before giving it requests again, with a back-off that doubles up to a minute,
retrying a request on another server when one fails before the first token (a connection
refused, a timeout, a 5xx or 429), and one error naming every server and what went wrong when
all of them fail. A failure after the first token is not retried: the text already streamed
cannot be taken back, so the stream ends with an error that says so.

Does not own HTTP, request bodies or parsing (``openai_client``), nor the servers.
The choice of server is a pure function, :func:`rank_backends`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ragkit.errors import GenerationError
from ragkit.generation.base import GenerationResult, SamplingParams, TextStream
from ragkit.generation.openai_client import OpenAICompatibleGenerator
from ragkit.types import Message

COOLDOWN_S = 2.0  # first back-off after a failure; doubles per failure in a row
MAX_COOLDOWN_S = 60.0
PROBE_TIMEOUT_S = 2.0
AFFINITY_SLACK = 1  # extra requests a conversation's server may carry before it moves


@dataclass
class BackendState:
    """What the pool knows about one server (guarded by the pool's lock)."""

    url: str
    weight: float = 1.0
    outstanding: int = 0
    served: int = 0
    failures: int = 0  # in a row
    down_until: float = 0.0  # monotonic time before which it gets no request
    last_error: str = ""

    def up(self, now: float) -> bool:
        return self.failures == 0 or now >= self.down_until


def affinity_key(messages: Sequence[Message]) -> str | None:
    """What a conversation's turns share: its system prompt and first user message."""
    system = next((m.content for m in messages if m.role == "system"), "")
    first = next((m.content for m in messages if m.role == "user"), None)
    if first is None:
        return None
    return hashlib.sha1(f"{system}\x00{first}".encode()).hexdigest()


def _affine(key: str, url: str) -> int:
    return int.from_bytes(hashlib.sha1(f"{key}\x00{url}".encode()).digest()[:8], "big")


def rank_backends(states: Sequence[BackendState], key: str | None, now: float,
                  slack: int = AFFINITY_SLACK) -> list[int]:
    """Indices of the servers to try, in order (pure).

    Servers that are up come first, least loaded (outstanding / weight) first; the
    conversation's own server (highest rendezvous hash of ``key`` among the up servers, so
    the mapping survives servers leaving and coming back) goes first while it carries at most
    ``slack`` more requests than the least loaded. Servers still cooling down after a failure
    follow, soonest back first, as a last resort.
    """
    up = [i for i, s in enumerate(states) if s.up(now)]
    up.sort(key=lambda i: (states[i].outstanding / states[i].weight, states[i].outstanding, i))
    if key is not None and up:
        own = max(up, key=lambda i: _affine(key, states[i].url))
        if states[own].outstanding <= states[up[0]].outstanding + slack:
            up.remove(own)
            up.insert(0, own)
    down = sorted((i for i, s in enumerate(states) if not s.up(now)),
                  key=lambda i: states[i].down_until)
    return up + down


def _retryable(err: GenerationError) -> bool:
    """A transport failure, an overloaded or failing server: another server may succeed.
    Other 4xx answers (a bad request, a wrong model name) would fail everywhere."""
    status = getattr(err, "status", None)
    return status is None or status == 429 or status >= 500


class GeneratorPool:
    """One generator over several OpenAI-compatible servers (``ragkit serve-model``, vLLM,
    SGLang, llama.cpp's server) serving the same model."""

    def __init__(self, backends: Sequence[OpenAICompatibleGenerator],
                 weights: Sequence[float] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not backends:
            raise GenerationError("a generator pool needs at least one server URL")
        weights = list(weights or [1.0] * len(backends))
        if len(weights) != len(backends) or any(w <= 0 for w in weights):
            raise GenerationError(f"give one positive weight per server ({len(backends)}); "
                                  f"got {weights}")
        self.backends = list(backends)
        self.states = [BackendState(b.base_url, float(w)) for b, w in zip(backends, weights,
                                                                          strict=True)]
        self.model_id = backends[0].model_id
        self._clock = clock
        self._lock = threading.Lock()

    # -- bookkeeping -------------------------------------------------------------------------
    def _order(self, messages: Sequence[Message]) -> list[int]:
        with self._lock:
            return rank_backends(self.states, affinity_key(messages), self._clock())

    def _take(self, i: int) -> bool:
        """Reserve server ``i`` for a request; one cooling down is probed first."""
        state = self.states[i]
        with self._lock:
            probe = not state.up(self._clock()) or state.failures > 0
        if probe and not self._healthy(i):
            return False
        with self._lock:
            state.outstanding += 1
        return True

    def _healthy(self, i: int) -> bool:
        try:
            response = self.backends[i].client.get("/models", timeout=PROBE_TIMEOUT_S)
            ok = response.status_code < 500
        except Exception as err:  # noqa: BLE001  (any transport failure means "not yet")
            self._failed(i, GenerationError(f"health check failed: {err}"), taken=False)
            return False
        if not ok:
            self._failed(i, GenerationError(f"health check answered {response.status_code}"),
                         taken=False)
        return ok

    def _release(self, i: int) -> None:
        with self._lock:
            self.states[i].outstanding -= 1

    def _done(self, i: int) -> None:
        with self._lock:
            state = self.states[i]
            state.outstanding -= 1
            state.served += 1
            state.failures, state.down_until = 0, 0.0

    def _failed(self, i: int, err: Exception, *, taken: bool = True) -> None:
        with self._lock:
            state = self.states[i]
            if taken:
                state.outstanding -= 1
            state.failures += 1
            wait = min(COOLDOWN_S * 2 ** (state.failures - 1), MAX_COOLDOWN_S)
            state.down_until = self._clock() + wait
            state.last_error = str(err)

    def _all_failed(self, tried: list[int]) -> GenerationError:
        lines = "; ".join(f"{self.states[i].url}: {self.states[i].last_error or 'unavailable'}"
                          for i in tried)
        return GenerationError(
            f"every generation server failed ({lines}). Start them (`ragkit serve-model "
            "--port N`) or fix the URLs; servers taken out are tried again after a back-off")

    def _call(self, messages: Sequence[Message], fn: Callable[[OpenAICompatibleGenerator], Any]
              ) -> Any:
        """``fn`` on the best server, retried on the next when it fails in a retryable way."""
        tried: list[int] = []
        for i in self._order(messages):
            if not self._take(i):
                tried.append(i)
                continue
            tried.append(i)
            try:
                out = fn(self.backends[i])
            except GenerationError as err:
                if not _retryable(err):  # the request's fault: the server stays in
                    self._release(i)
                    raise
                self._failed(i, err)
                continue
            except BaseException:
                self._release(i)
                raise
            self._done(i)
            return out
        raise self._all_failed(tried)

    # -- Generator protocol ------------------------------------------------------------------
    def stream(self, messages: Sequence[Message],
               params: SamplingParams | None = None) -> TextStream:
        return TextStream(self._stream(list(messages), params or SamplingParams()))

    def _stream(self, messages: list[Message], params: SamplingParams
                ) -> Iterator[str]:
        tried: list[int] = []
        for i in self._order(messages):
            tried.append(i)
            if not self._take(i):
                continue
            source = self.backends[i].stream(messages, params)
            try:
                first = next(source)
            except StopIteration:  # an empty answer: done
                self._done(i)
                return source.result
            except GenerationError as err:
                if not _retryable(err):  # the request's fault: the server stays in
                    self._release(i)
                    raise
                self._failed(i, err)
                continue  # nothing streamed yet: the next server takes the request
            except BaseException:
                self._release(i)
                raise
            try:
                yield first
                yield from source
            except GenerationError as err:
                self._failed(i, err)
                raise GenerationError(
                    f"{self.states[i].url} failed in the middle of the answer ({err}); the "
                    "text so far is all there is: send the request again") from err
            except BaseException:  # the caller stopped reading (GeneratorExit) or an error
                source.close()
                self._release(i)
                raise
            self._done(i)
            return source.result
        raise self._all_failed(tried)

    def generate(self, messages: Sequence[Message],
                 params: SamplingParams | None = None) -> GenerationResult:
        return self._call(messages, lambda b: b.generate(messages, params))

    def choose(self, messages: Sequence[Message],
               labels: Sequence[str]) -> tuple[str, dict[str, float]]:
        return self._call(messages, lambda b: b.choose(messages, labels))

    def generate_json(self, messages: Sequence[Message], schema: dict[str, Any],
                      params: SamplingParams | None = None) -> Any:
        return self._call(messages, lambda b: b.generate_json(messages, schema, params))

    def info(self) -> dict[str, Any]:
        return {"backend": "openai-compatible pool", "model": self.model_id,
                "servers": [s.url for s in self.states]}

    def stats(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            return {"servers": [{"url": s.url, "weight": s.weight, "up": s.up(now),
                                 "outstanding": s.outstanding, "served": s.served,
                                 "failures": s.failures, "last_error": s.last_error}
                                for s in self.states]}

    def close(self) -> None:
        for b in self.backends:
            b.close()
