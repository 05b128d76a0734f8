"""A scripted :class:`~ragkit.generation.base.Generator` for routing tests only.

Graph tests use it to drive a specific path (an invented citation, a refusal, a repair round)
deterministically. It never stands in for the real model where output quality matters: those
tests use the ``real_generator`` fixture.

Replies come from a list (consumed in order; the last one repeats) or from a function of the
messages. Every call is recorded in ``calls`` so tests can assert what the graph sent, except
the RAG graph's translations (of a question, or of a quoted source): those are answered by
``translate`` (default: the text unchanged, which leaves retrieval as it was and adds no
rendering to a quote) and recorded in ``translations``, so that scripts of answers need not
know whether ``translate_query`` is on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ragkit.errors import GenerationError
from ragkit.generation.base import GenerationResult, SamplingParams, TextStream
from ragkit.types import Message, Usage

Reply = str | Callable[[Sequence[Message]], str]


def _translation_request(messages: Sequence[Message]) -> str | None:
    """The question, when ``messages`` is the RAG graph's request to translate one."""
    from ragkit.rag.prompts import LANGUAGES, render

    if len(messages) != 1:
        return None
    for lang in LANGUAGES:
        for head in (render("translate", lang, question="").strip(),
                     render("translate_text", lang, text="").strip()):
            if messages[0].content.startswith(head):
                return messages[0].content[len(head):].strip()
    return None


class ScriptedGenerator:
    model_id = "scripted"

    def __init__(self, replies: Sequence[str] | Callable[[Sequence[Message]], str] = ("",),
                 labels: Callable[[Sequence[Message], Sequence[str]], str] | None = None,
                 translate: Callable[[str], str] = lambda question: question) -> None:
        self._replies = replies
        self._labels = labels
        self._translate = translate
        self._next = 0
        self.calls: list[list[Message]] = []
        self.translations: list[tuple[str, str]] = []  # (question, translation)
        self.sampling: list[SamplingParams] = []  # the settings of every streamed call

    def _reply(self, messages: Sequence[Message]) -> str:
        question = _translation_request(messages)
        if question is not None:
            self.translations.append((question, self._translate(question)))
            return self.translations[-1][1]
        self.calls.append(list(messages))
        if callable(self._replies):
            return self._replies(messages)
        if not self._replies:
            raise GenerationError("ScriptedGenerator has no replies")
        i = min(self._next, len(self._replies) - 1)
        self._next += 1
        return self._replies[i]

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stream(self, messages: Sequence[Message], params: SamplingParams | None = None) -> TextStream:
        params = params or SamplingParams()
        self.sampling.append(params)
        text = self._reply(messages)
        for stop in params.stop:
            if stop in text:
                text = text[: text.index(stop)]

        def run() -> Iterator[str]:
            start = time.perf_counter()
            words = text.split(" ")
            for i, w in enumerate(words):
                yield w if i == 0 else " " + w
            n = len(words)
            return GenerationResult(
                text=text,
                finish_reason="stop",
                usage=Usage(
                    prompt_tokens=sum(self.count_tokens(m.content) for m in messages),
                    completion_tokens=n,
                    time_to_first_token_s=0.0,
                    total_time_s=time.perf_counter() - start,
                ),
            )

        return TextStream(run())

    def generate(self, messages: Sequence[Message], params: SamplingParams | None = None
                 ) -> GenerationResult:
        return self.stream(messages, params).collect()

    def choose(self, messages: Sequence[Message], labels: Sequence[str]
               ) -> tuple[str, dict[str, float]]:
        self.calls.append(list(messages))
        pick = self._labels(messages, labels) if self._labels else labels[0]
        return pick, {lab: (0.0 if lab == pick else -10.0) for lab in labels}

    def generate_json(self, messages: Sequence[Message], schema: dict[str, Any],
                      params: SamplingParams | None = None) -> Any:
        return json.loads(self._reply(messages))
