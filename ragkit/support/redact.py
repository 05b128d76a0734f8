"""PII redaction: emails, phone numbers, card numbers (Luhn-checked) and postal addresses.

Owns: :func:`redact` (text -> text with ``[EMAIL_1]``-style placeholders plus the mapping back),
:func:`restore`, a logging filter that redacts every record of the support loggers, and
:class:`RedactingGenerator`, which wraps a remote generator backend so it only ever sees
placeholders while the customer sees the real values in the reply.

Does not own: deciding what is logged or which backend is remote (the assistant decides).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ragkit.generation.base import GenerationResult, Generator, SamplingParams, TextStream
from ragkit.support.slots import luhn_ok
from ragkit.types import Message

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_PHONE = re.compile(r"(?<![A-Za-z0-9-])\+?\(?\d[\d\s().-]{6,18}\d(?![A-Za-z0-9-])")
_STREET = (r"street|st|road|rd|avenue|ave|lane|ln|way|drive|dr|boulevard|blvd|close|court|"
           r"place|square|terrace|crescent|gracht|straat|weg|strasse|straße|laan|plein")
_ADDRESS_EN = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][\w'-]*\s+){{0,4}}(?:{_STREET})\b\.?"
    rf"(?:,?\s*(?!please|thanks)[\w'-]+(?:\s(?!please|thanks)[\w'-]+){{0,3}}){{0,3}}"
    rf"|\b[A-Z][a-z]+(?:{_STREET})\s+\d{{1,5}}[A-Za-z]?\b(?:,?\s*[\w'-]+(?:\s[\w'-]+){{0,3}}){{0,3}}",
    re.IGNORECASE)
_ADDRESS_ZH = re.compile(r"(?:(?![把改成为到是寄送址的我帮请在])[\u4e00-\u9fff]){2,6}(?:省|市|自治区)[\u4e00-\u9fff\w-]{0,30}?"
                         r"(?:路|街|道|巷|弄)[\w-]{0,12}?号(?:[\w-]{0,12}(?:室|楼|层|单元))?")
_PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|CARD|ADDRESS)_\d+\]")
_ID = re.compile(r"(?i)\b(?:BC|RT|WC|TK)-\d{6}\b")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def redact(text: str, mapping: dict[str, str] | None = None,
           known: Iterable[str] = ()) -> tuple[str, dict[str, str]]:
    """Replace PII with placeholders; ``mapping`` (placeholder -> value) is extended and reused
    so the same value always gets the same placeholder. ``known`` values (an address the
    customer gave earlier) are replaced wherever they occur."""
    mapping = dict(mapping or {})
    reverse = {v: k for k, v in mapping.items()}
    counts: dict[str, int] = {}
    for k in mapping:
        kind = k[1:].split("_")[0]
        counts[kind] = max(counts.get(kind, 0), int(k[1:-1].split("_")[1]))

    def token(kind: str, value: str) -> str:
        if value in reverse:
            return reverse[value]
        counts[kind] = counts.get(kind, 0) + 1
        ph = f"[{kind}_{counts[kind]}]"
        mapping[ph] = value
        reverse[value] = ph
        return ph

    ids: dict[str, str] = {}

    def protect(m: re.Match[str]) -> str:  # order ids are not PII; keep them out of the way
        key = f"\x00{len(ids)}\x00"
        ids[key] = m.group(0)
        return key

    out = _ID.sub(protect, text)
    for value in sorted({v for v in known if v and len(v) >= 6}, key=len, reverse=True):
        if value in out:
            out = out.replace(value, token("ADDRESS", value))
    out = _EMAIL.sub(lambda m: token("EMAIL", m.group(0)), out)

    def card(m: re.Match[str]) -> str:
        d = _digits(m.group(0))
        return token("CARD", m.group(0)) if 13 <= len(d) <= 19 and luhn_ok(d) else m.group(0)

    out = _CARD.sub(card, out)

    def phone(m: re.Match[str]) -> str:
        d = _digits(m.group(0))
        if not 8 <= len(d) <= 15 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.group(0).strip()):
            return m.group(0)
        return token("PHONE", m.group(0))

    out = _ADDRESS_EN.sub(lambda m: token("ADDRESS", m.group(0).rstrip(" ,.")) +
                          m.group(0)[len(m.group(0).rstrip(" ,.")):], out)
    out = _ADDRESS_ZH.sub(lambda m: token("ADDRESS", m.group(0)), out)
    out = _PHONE.sub(phone, out)
    for key, value in ids.items():
        out = out.replace(key, value)
    return out, mapping


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the original values back (unknown placeholders are left as they are)."""
    return _PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


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
