"""PII redaction for the support assistant's logs and remote generators.

Owns: a logging filter that redacts every record of the support loggers, and
:class:`RedactingGenerator`, which wraps a remote generator backend so it only ever sees
placeholders while the customer sees the real values in the reply.

Does not own: deciding what is logged or which backend is remote (the assistant decides).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ragkit.generation.base import GenerationResult, Generator, SamplingParams, TextStream
from ragkit.pii import redact, restore
from ragkit.types import Message


class RedactingFilter(logging.Filter):
    """Redacts the formatted message of every record passing through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())[0]
        record.args = None
        return True


def install_log_redaction(logger_name: str = "ragkit.support") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class RedactingGenerator:
    """A :class:`Generator` wrapper: PII out of the prompt, real values back in the reply."""

    def __init__(self, inner: Generator, known: Iterable[str] = ()) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.known = list(known)
        self.last_sent: list[Message] = []  # what the backend actually received (for tests)

    def _redact(self, messages: Sequence[Message]) -> tuple[list[Message], dict[str, str]]:
        mapping: dict[str, str] = {}
        out = []
        for m in messages:
            text, mapping = redact(m.content, mapping, self.known)
            out.append(Message(m.role, text))
        self.last_sent = out
        return out, mapping

    def stream(self, messages: Sequence[Message], params: SamplingParams | None = None
               ) -> TextStream:
        sent, mapping = self._redact(messages)
        inner = self.inner.stream(sent, params)

        def run() -> Iterator[str]:
            buf = ""
            for delta in inner:
                buf += delta
                cut = buf.rfind("[")
                if cut == -1 or "]" in buf[cut:]:
                    yield restore(buf, mapping)
                    buf = ""
                elif cut > 0:
                    yield restore(buf[:cut], mapping)
                    buf = buf[cut:]
            if buf:
                yield restore(buf, mapping)
            res = inner.result or GenerationResult("", "stop")
            return GenerationResult(restore(res.text, mapping), res.finish_reason, res.usage)

        return TextStream(run())

    def generate(self, messages: Sequence[Message], params: SamplingParams | None = None
                 ) -> GenerationResult:
        return self.stream(messages, params).collect()

    def choose(self, messages: Sequence[Message], labels: Sequence[str]
               ) -> tuple[str, dict[str, float]]:
        sent, _ = self._redact(messages)
        return self.inner.choose(sent, labels)

    def generate_json(self, messages: Sequence[Message], schema: dict[str, Any],
                      params: SamplingParams | None = None) -> Any:
        sent, mapping = self._redact(messages)
        value = self.inner.generate_json(sent, schema, params)
        return _restore_value(value, mapping)

    def __getattr__(self, name: str) -> Any:  # count_tokens, info, stats, ...
        return getattr(self.inner, name)


def _restore_value(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        return restore(value, mapping)
    if isinstance(value, list):
        return [_restore_value(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _restore_value(v, mapping) for k, v in value.items()}
    return value
