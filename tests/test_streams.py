"""The one stream type (ragkit.streams.Stream): where its result comes from, and the two ways
of stopping it early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ragkit.errors import GenerationError
from ragkit.streams import Stream


def test_the_result_is_what_the_source_returns() -> None:
    def source() -> Iterator[str]:
        yield "a"
        yield "b"
        return "ab!"

    stream: Stream[str, str] = Stream(source())
    assert stream.result is None
    assert list(stream) == ["a", "b"] and stream.result == "ab!"
    assert list(stream) == [] and stream.collect() == "ab!"  # exhausted: stays ended


def test_finish_builds_the_result_once_after_the_source_ends() -> None:
    seen: list[str] = []
    calls: list[int] = []

    def source() -> Iterator[str]:
        for part in ("x", "y"):
            seen.append(part)
            yield part

    def finish() -> str:
        calls.append(1)
        return "".join(seen)

    stream = Stream(source(), finish)
    assert stream.collect() == "xy" and stream.collect() == "xy" and calls == [1]


def test_close_without_a_cancel_event_closes_the_source() -> None:
    exits: list[str] = []

    def source() -> Iterator[str]:
        try:
            while True:
                yield "tok"
        except GeneratorExit:
            exits.append("closed")
            raise

    stream: Stream[str, str] = Stream(source())
    assert next(stream) == "tok"
    stream.close()
    assert exits == ["closed"] and list(stream) == []
    with pytest.raises(GenerationError, match="run it again"):
        stream.collect()


def test_close_with_a_cancel_event_from_another_thread_drains_and_has_no_result() -> None:
    cancel = threading.Event()
    produced = threading.Event()
    finished_bookkeeping: list[bool] = []

    def source() -> Iterator[str]:
        i = 0
        while not cancel.is_set():
            i += 1
            produced.set()
            yield str(i)
        finished_bookkeeping.append(True)  # the graph's own cleanup still runs

    stream = Stream(source(), lambda: "never", cancel, unfinished="closed; ask again")
    deltas: list[str] = []

    def consume() -> None:
        deltas.extend(stream)

    t = threading.Thread(target=consume)
    t.start()
    assert produced.wait(10)
    stream.close()
    t.join(10)
    assert not t.is_alive() and deltas and stream.cancelled
    assert finished_bookkeeping == [True] and stream.result is None
    with pytest.raises(GenerationError, match="closed; ask again"):
        stream.collect()


def test_close_before_iterating_runs_the_source_to_its_end_without_yielding() -> None:
    cancel = threading.Event()
    ran: list[str] = []

    def source() -> Iterator[str]:
        ran.append("started")
        if not cancel.is_set():
            yield "text"

    stream = Stream(source(), lambda: "done", cancel)
    stream.close()
    assert ran == ["started"] and list(stream) == [] and stream.result is None
