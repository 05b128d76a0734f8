"""Stopping running generations from the page's Stop buttons.

Owns the per-run stop flags (:class:`Stops`: a flag per chat thread or code-agent run, plus
an optional way to interrupt the run at once) and :class:`Interruptible`, a generator wrapper
that ends a blocking reply at its next token. Knows nothing about Gradio or formatting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from ragkit.errors import RagkitError


class Stops:
    """Stop flags by run key; Gradio's Stop handler and the running handler share them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}
        self._interrupts: dict[str, Callable[[], None]] = {}

    def flag(self, key: str) -> threading.Event:
        """The (cleared) flag of a run starting under ``key``."""
        with self._lock:
            flag = self._flags.setdefault(key, threading.Event())
        flag.clear()
        return flag

    def running(self, key: str, interrupt: Callable[[], None] | None) -> None:
        """Register how to interrupt the run ``key`` at once (None: between steps only)."""
        with self._lock:
            if interrupt is None:
                self._interrupts.pop(key, None)
            else:
                self._interrupts[key] = interrupt

    def stop(self, key: str) -> None:
        """Set the run's flag and interrupt it when it registered a way to."""
        with self._lock:
            flag = self._flags.get(key)
            interrupt = self._interrupts.pop(key, None)
        if flag is not None:
            flag.set()
        if interrupt is not None:
            interrupt()


class Stopped(RagkitError):
    """A run ended by the Stop button (not shown as an error)."""


class Interruptible:
    """A generator whose streams end at the next token once ``stop`` is set.

    The code agent calls ``generate``/``stream_tokens`` and blocks until a reply is complete;
    wrapping its generator lets the Stop button end a long reply at once (the stream is
    closed, then :class:`Stopped` unwinds the agent). Everything else is the wrapped generator.
    """

    def __init__(self, generator: Any, stop: threading.Event) -> None:
        self._gen = generator
        self._stop = stop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gen, name)

    def _watch(self, stream: Any) -> Any:
        from ragkit.generation.base import TextStream

        def source() -> Iterator[str]:
            for delta in stream:
                if self._stop.is_set():
                    stream.close()
                    raise Stopped("stopped")
                yield delta
            return stream.result

        return TextStream(source())

    def stream(self, messages: Any, params: Any = None) -> Any:
        return self._watch(self._gen.stream(messages, params))

    def stream_tokens(self, prompt: Any, params: Any = None) -> Any:
        return self._watch(self._gen.stream_tokens(prompt, params))

    def generate(self, messages: Any, params: Any = None) -> Any:
        return self.stream(messages, params).collect()
