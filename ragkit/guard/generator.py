"""A generator behind the guard: what the OpenAI-compatible server (and any caller holding
a bare generator) serves when guardrails are on.

Owns :class:`GuardedGenerator`, which wraps any :class:`~ragkit.generation.base.Generator`:
the last user message is checked (blocked or handed over: the reply is the guard's safe text
with ``finish_reason="content_filter"``, and the model is not called); personal data in
every user message is replaced by placeholders before the model reads it; the model's text
is held back a sentence at a time, placeholders put back, and each sentence screened
(personal data that neither the request nor the user gave is masked; list terms take their
action) before it is passed on. Everything else the wrapped generator offers (token counts,
stats, rendering) is forwarded.

Does not decide anything itself (:mod:`ragkit.guard.guard`) or store anything (the caller
records verdicts through ``on_verdict``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ragkit import pii
from ragkit.generation.base import GenerationResult, SamplingParams, TextStream
from ragkit.guard.guard import Guard, Verdict
from ragkit.text import detect_language, split_sentences
from ragkit.types import Message, Usage

SAFE_REPLY = {
    "block": {"en": "I can't help with that request.", "zh": "抱歉，这个请求我无法处理。"},
    "handoff": {"en": "I'm sorry you're going through this. Please talk to someone you trust, "
                      "or call your local emergency number or a crisis line now.",
                "zh": "听到你这样说，我很难过。请和你信任的人聊一聊，或立即拨打当地的急救电话或"
                      "心理援助热线。"},
}


def safe_reply(action: str, text: str) -> str:
    lang = "zh" if detect_language(text) == "zh" else "en"
    return SAFE_REPLY["handoff" if action == "handoff" else "block"][lang]


class GuardedGenerator:
    def __init__(self, inner: Any, guard: Guard,
                 on_verdict: Callable[[Verdict], None] | None = None) -> None:
        self.inner = inner
        self.guard = guard.load()
        self.model_id = inner.model_id
        self._record = on_verdict or (lambda v: None)

    def __getattr__(self, name: str) -> Any:  # optional features of the wrapped generator
        return getattr(self.inner, name)

    # -- the guard on the way in ----------------------------------------------------------
    def _screen_in(self, messages: Sequence[Message]
                   ) -> tuple[Verdict | None, list[Message], dict[str, str]]:
        """(a stopping verdict or None, the messages to send, placeholder -> value)."""
        users = [i for i, m in enumerate(messages) if m.role == "user"]
        if not users:
            return None, list(messages), {}
        v = self.guard.check_input(messages[users[-1]].content)
        self._record(v)
        if v.stops:
            return v, [], {}
        mapping: dict[str, str] = {}
        out = list(messages)
        for i in users:
            text = v.text if i == users[-1] else messages[i].content
            redacted, mapping = pii.redact(text, mapping)
            out[i] = replace(messages[i], content=redacted)
        return None, out, mapping

    def _screen_out(self, sentence: str, mapping: dict[str, str], sources: str) -> str:
        v = self.guard.check_output(pii.restore(sentence, mapping), sources)
        self._record(v)
        if v.stops:
            return ""
        return v.text

    # -- Generator ------------------------------------------------------------------------
    def stream(self, messages: Sequence[Message], params: SamplingParams | None = None
               ) -> TextStream:
        stopped, sent, mapping = self._screen_in(messages)
        if stopped is not None:
            reply = safe_reply(stopped.action, messages[-1].content if messages else "")
            result = GenerationResult(reply, "content_filter", Usage())
            return TextStream(iter([reply]), lambda: result)
        # what the request holds (a pasted document) and what the user gave may come back
        sources = "\n".join([m.content for m in messages] + list(mapping.values()))
        inner = self.inner.stream(sent, params)
        shown: list[str] = []

        def deltas() -> Iterator[str]:
            buffer = ""
            for delta in inner:
                buffer += delta
                spans = split_sentences(buffer)
                if len(spans) < 2:
                    continue
                cut = spans[-1][0]  # everything before the last (unfinished) sentence
                out = self._screen_out(buffer[:cut], mapping, sources)
                buffer = buffer[cut:]
                if out:
                    shown.append(out)
                    yield out
            if buffer.strip():
                out = self._screen_out(buffer, mapping, sources)
                if out:
                    shown.append(out)
                    yield out

        def finish() -> GenerationResult:
            res = inner.result or GenerationResult("", "stop", Usage())
            return GenerationResult("".join(shown), res.finish_reason, res.usage)

        stream = TextStream(deltas(), finish)
        stream.close = inner.close  # type: ignore[method-assign]  # stops the model
        return stream

    def generate(self, messages: Sequence[Message], params: SamplingParams | None = None
                 ) -> GenerationResult:
        return self.stream(messages, params).collect()

    def choose(self, messages: Sequence[Message], labels: Sequence[str]
               ) -> tuple[str, dict[str, float]]:
        return self.inner.choose(messages, labels)

    def generate_json(self, messages: Sequence[Message], schema: dict[str, Any],
                      params: SamplingParams | None = None) -> Any:
        """Structured output: the question is screened (a stopped one raises); the JSON
        value is the model's (a schema decides its shape, not the lists)."""
        from ragkit.errors import GenerationError

        stopped, sent, _ = self._screen_in(messages)
        if stopped is not None:
            raise GenerationError("the request was stopped by the guard "
                                  f"({stopped.findings[0].category})")
        return self.inner.generate_json(sent, schema, params)
