"""The one stream type: :class:`Stream`, an iterator of deltas whose final value is
:attr:`Stream.result` once it ends.

Owns iteration, the result, early stopping and ``collect()`` for everything in ragkit that
streams: a generator's text (``Stream[str, GenerationResult]``, kept as
``ragkit.generation.TextStream``), a RAG answer (``Stream[str, Answer]``, ``AnswerStream``), a
support reply (``Stream[str, Reply]``, ``ReplyStream``) and the code agent's events
(``Stream[AgentEvent, SolveResult]``). Knows nothing about what produces the deltas.

The result comes from one of two places: the value the source generator returns
(``return result`` inside it), or, when a ``finish`` function is given, what ``finish()``
builds after the source has ended (a graph's final state turned into a record).

Stopping early, two ways. Without a ``cancel`` event, ``close()`` closes the source generator
(a backend sees ``GeneratorExit`` and stops decoding). With one, ``close()`` sets the event
and is safe from any thread while another iterates: the source is run to its end so a graph
finishes its own bookkeeping (it checks the event and stops generating), and the stream then
ends without a result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from ragkit.errors import GenerationError

D = TypeVar("D")  # what each step yields: a text delta, an event
T = TypeVar("T")  # the final result

UNFINISHED = "the stream ended without a result (it was closed early or its source stopped); " \
             "run it again"


class Stream(Iterator[D], Generic[D, T]):
    """Deltas of type ``D``; :attr:`result` (a ``T``) is set once the stream is exhausted.

    ``unfinished`` is the message :meth:`collect` raises with when there is no result.
    """

    def __init__(self, source: Iterator[D], finish: Callable[[], T] | None = None,
                 cancel: threading.Event | None = None, *, unfinished: str = UNFINISHED
                 ) -> None:
        self._source = source
        self._finish = finish
        self._cancel = cancel
        self._unfinished = unfinished
        self._busy = threading.Lock()
        self._done = False
        self.result: T | None = None

    def __iter__(self) -> Stream[D, T]:
        return self

    def __next__(self) -> D:
        if self._done:
            raise StopIteration
        with self._busy:
            try:
                if self.cancelled:
                    raise StopIteration
                return next(self._source)
            except StopIteration as stop:
                self._end(stop.value)
                raise

    def _end(self, returned: Any) -> None:
        """Run the source to its end (a graph finishes cleanly), then set the result unless
        the stream was cancelled."""
        if self._done:
            return
        self._done = True
        for _ in self._source:
            pass
        if self.cancelled:
            return
        self.result = self._finish() if self._finish is not None else returned

    @property
    def cancelled(self) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    def close(self) -> None:
        """Stop early (see the module docstring for the two ways)."""
        if self._cancel is None:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()
            return
        self._cancel.set()
        if self._busy.acquire(blocking=False):  # nobody is iterating: finish here
            try:
                self._end(None)
            finally:
                self._busy.release()

    def collect(self) -> T:
        """Drain the stream and return its result."""
        for _ in self:
            pass
        if self.result is None:
            raise GenerationError(self._unfinished)
        return self.result
