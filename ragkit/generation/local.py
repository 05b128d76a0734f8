"""The in-process generator: :class:`LocalGenerator`, ragkit's default :class:`Generator`.

Owns the text side of generation: chat-template rendering, streaming complete UTF-8 text,
stop strings, usage figures, ``choose()`` and ``generate_json()`` (via ``structured.py``),
statistics and ``info()`` for the UI and prefix-cache persistence. Concurrent streams are
decoded together by one :class:`~ragkit.generation.batching.Batcher` (continuous batching,
``max_batch`` at a time); label scoring and log-probabilities run on the batcher's thread
between its steps, through the :class:`~ragkit.generation.engine.Engine`.
The constructor only stores the config; the model loads in :meth:`load` or on first use.
Does not: implement the model, the KV caches or the sampling maths.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ragkit.errors import GenerationError
from ragkit.generation.base import GenerationResult, SamplingParams, TextStream
from ragkit.generation.batching import Batcher, Ticket
from ragkit.generation.config import GeneratorConfig
from ragkit.generation.engine import Engine
from ragkit.generation.kvcache import PrefixCache
from ragkit.generation.load import ModelBundle, load_bundle
from ragkit.generation.sampling import IncrementalDecoder, StopFilter
from ragkit.types import Message, Usage

CACHE_FILE = "prefix-cache.safetensors"


class LocalGenerator:
    def __init__(self, config: GeneratorConfig | None = None) -> None:
        self.config = config or GeneratorConfig()
        self.model_id = self.config.model
        self._load_lock = threading.Lock()
        self._bundle: ModelBundle | None = None
        self._engine: Engine | None = None
        self._batcher: Batcher | None = None
        self._prefix: PrefixCache | None = None
        self._requests = 0

    # -- loading -------------------------------------------------------------------------
    def load(self) -> LocalGenerator:
        with self._load_lock:
            if self._engine is not None:
                return self
            bundle = load_bundle(self.config)
            prefix = None
            if self.config.kv_cache_budget_mb > 0:
                prefix = PrefixCache(
                    int(self.config.kv_cache_budget_mb * 2**20), self._fingerprint(bundle)
                )
                if self.config.kv_cache_dir is not None:
                    prefix.load(self._cache_path(), bundle.device)
            c = self.config
            engine = Engine(bundle, prefix, c.prefill_chunk)
            persist = None
            if c.kv_cache_dir is not None and prefix is not None:
                method = weakref.WeakMethod(self._persist)  # the thread must not keep us alive

                def persist() -> None:
                    bound = method()
                    if bound is not None:
                        bound()

            self._batcher = Batcher(bundle, prefix, max_batch=c.max_batch,
                                    max_queue=c.max_queue, step_tokens=c.batch_tokens,
                                    draft_tokens=c.draft_tokens, after_request=persist)
            self._bundle, self._prefix, self._engine = bundle, prefix, engine
            return self

    def close(self) -> None:
        """Stop the batcher thread (streams still running end with an error)."""
        if self._batcher is not None:
            self._batcher.close()

    def _ready(self) -> tuple[ModelBundle, Engine]:
        if self._engine is None:
            self.load()
        assert self._bundle is not None and self._engine is not None
        return self._bundle, self._engine

    def _model(self) -> Batcher:
        """The one thread that runs the model (loads it first)."""
        self._ready()
        assert self._batcher is not None
        return self._batcher

    def _persist(self) -> None:
        if self._prefix is not None and self.config.kv_cache_dir is not None:
            self._prefix.save(self._cache_path())

    def _fingerprint(self, bundle: ModelBundle) -> str:
        c = self.config
        parts = [
            str(bundle.path),
            str(bundle.dtype),
            c.quantization,
            c.rope_scaling.model_dump_json() if c.rope_scaling else "",
            str(bundle.device.type),
        ]
        for f in sorted(bundle.path.glob("*.safetensors")):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    def _cache_path(self) -> Path:
        assert self.config.kv_cache_dir is not None
        return Path(self.config.kv_cache_dir) / CACHE_FILE

    def save_cache(self) -> Path | None:
        """Write the prefix cache to ``kv_cache_dir`` (atomic); None when persistence is off."""
        if self._prefix is None or self.config.kv_cache_dir is None:
            return None
        self._model().call(self._persist)  # on the model thread, between steps
        return self._cache_path()

    # -- tokens --------------------------------------------------------------------------
    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of ``messages`` under the model's chat template."""
        bundle, _ = self._ready()
        tok = bundle.tokenizer
        data = [{"role": m.role, "content": m.content} for m in messages]
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(
                data, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        else:  # base models: a plain transcript
            text = "".join(f"{m['role']}: {m['content']}\n" for m in data)
            text += "assistant: " if add_generation_prompt else ""
        return list(tok.encode(text, add_special_tokens=False))

    def count_tokens(self, text: str) -> int:
        bundle, _ = self._ready()
        return len(bundle.tokenizer.encode(text, add_special_tokens=False))

    def context_window(self) -> int:
        """Tokens the context holds, prompt and completion together (the server's budget)."""
        bundle, _ = self._ready()
        return bundle.max_context

    def encode(self, text: str) -> list[int]:
        bundle, _ = self._ready()
        return list(bundle.tokenizer.encode(text, add_special_tokens=False))

    # -- generation ----------------------------------------------------------------------
    def stream(
        self, messages: Sequence[Message], params: SamplingParams | None = None
    ) -> TextStream:
        """Text deltas of the reply. A busy generator (every stream and queue place taken)
        raises :class:`~ragkit.errors.BusyError` here, before anything is streamed."""
        return self.stream_tokens(self.render(messages), params)

    def stream_tokens(self, prompt: list[int], params: SamplingParams | None = None) -> TextStream:
        """Like :meth:`stream` for an already rendered prompt (token ids)."""
        params = params or SamplingParams()
        t0 = time.perf_counter()
        ticket = self._model().submit(list(prompt), params)
        return TextStream(self._run(ticket, params, t0))

    def generate(
        self, messages: Sequence[Message], params: SamplingParams | None = None
    ) -> GenerationResult:
        return self.stream(messages, params).collect()

    def _run(self, ticket: Ticket, params: SamplingParams, t0: float) -> Iterator[str]:
        bundle, _ = self._ready()
        decoder = IncrementalDecoder(bundle.tokenizer)
        stops = StopFilter(params.stop)
        parts: list[str] = []
        n_out, ttft, finished = 0, 0.0, False
        try:
            for tok in ticket.tokens():
                n_out += 1
                if n_out == 1:
                    ttft = time.perf_counter() - t0
                text = stops.feed(decoder.push(tok))
                if text:
                    parts.append(text)
                    yield text
                if stops.stopped:
                    break
            else:
                finished = True
            if not stops.stopped:
                tail = stops.feed(decoder.flush()) + stops.flush()
                if tail:
                    parts.append(tail)
                    yield tail
        finally:  # a stop string, a closed stream or an error: leave the batch now
            if not finished:
                ticket.cancel()
            self._requests += 1
        figures = ticket.figures()  # prompt figures are final once the request started
        total = time.perf_counter() - t0
        if n_out == 0:
            ttft = total
        decode_time = total - ttft
        usage = Usage(
            prompt_tokens=figures.prompt_tokens,
            cached_tokens=figures.reused,
            completion_tokens=n_out,
            time_to_first_token_s=ttft,
            total_time_s=total,
            tokens_per_second=(n_out - 1) / decode_time if n_out > 1 and decode_time > 0 else 0.0,
            extra={"prefill_tokens": figures.prompt_tokens - figures.reused,
                   "draft_passes": figures.draft_passes,
                   "draft_tokens": figures.draft_tokens,
                   "draft_accepted": figures.draft_accepted},
        )
        finish = "stop" if stops.stopped else figures.reason
        return GenerationResult(text="".join(parts), finish_reason=finish, usage=usage)  # type: ignore[arg-type]

    # -- scoring and structure -----------------------------------------------------------
    def label_tokens(self, messages: Sequence[Message], label: str) -> list[int]:
        """Tokens of ``label`` as the complete assistant reply (its end-of-turn token included)."""
        prompt = self.render(messages)
        full = self.render([*messages, Message("assistant", label)], add_generation_prompt=False)
        if full[: len(prompt)] != prompt:  # template re-tokenised differently: label alone
            return self.encode(label)
        bundle, _ = self._ready()
        cont = full[len(prompt) :]
        for i, t in enumerate(cont):
            if t in bundle.eos_ids:
                return cont[: i + 1]
        return cont

    def choose(
        self, messages: Sequence[Message], labels: Sequence[str]
    ) -> tuple[str, dict[str, float]]:
        if not labels:
            raise GenerationError("choose() needs at least one label")
        _, engine = self._ready()
        prompt = self.render(messages)
        conts = [self.label_tokens(messages, label) for label in labels]

        def run() -> list[float]:
            scores = engine.score(prompt, conts)
            engine.remember()
            return scores

        scores = self._model().call(run)
        by_label = dict(zip(labels, scores, strict=True))
        best = max(range(len(labels)), key=lambda i: scores[i])
        return labels[best], by_label

    def logprobs(self, messages: Sequence[Message], text: str, top: int = 0
                 ) -> list[dict[str, Any]]:
        """Per-token log-probabilities of ``text`` as the assistant's reply to ``messages``.

        Each item is ``{"token", "logprob", "top": [(token, logprob), ...]}`` with ``top`` best
        alternatives at that position (0-20). ``text`` is re-tokenised, so a reply this model
        produced scores exactly as it was generated.
        """
        if not 0 <= top <= 20:
            raise GenerationError("top must be between 0 and 20")
        bundle, engine = self._ready()
        prompt = self.render(messages)
        ids = self.encode(text)

        def run() -> list[tuple[float, list[tuple[int, float]]]]:
            rows = engine.completion_logprobs(prompt, ids, top)
            engine.remember()
            return rows

        rows = self._model().call(run)
        piece = bundle.tokenizer.decode
        return [
            {"token": piece([tok]), "logprob": lp,
             "top": [(piece([alt]), alp) for alt, alp in alts]}
            for tok, (lp, alts) in zip(ids, rows, strict=True)
        ]

    def score_continuations(self, prompt: list[int], continuations: list[list[int]]) -> list[float]:
        _, engine = self._ready()
        return self._model().call(lambda: engine.score(prompt, continuations))

    def generate_json(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        params: SamplingParams | None = None,
    ) -> Any:
        from ragkit.generation.structured import generate_json

        return generate_json(self, messages, schema, params)

    # -- introspection -------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        bundle, _ = self._ready()
        return dict(bundle.info)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": self._requests, "loaded": self._engine is not None}
        if self._prefix is not None:
            out["prefix_cache"] = self._prefix.stats()
        if self._batcher is not None:
            out["batch"] = self._batcher.stats()
        return out
