"""The in-process generator: :class:`LocalGenerator`, ragkit's default :class:`Generator`.

Owns the text side of generation: chat-template rendering, streaming complete UTF-8 text,
stop strings, usage figures, ``choose()`` and ``generate_json()`` (via ``structured.py``),
statistics and ``info()`` for the UI, prefix-cache persistence, and a lock that serialises
concurrent callers (one sequence at a time; the engine keeps one working KV cache).
The constructor only stores the config; the model loads in :meth:`load` or on first use.
Does not: implement the model, the KV caches or the sampling maths.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ragkit.errors import GenerationError
from ragkit.generation.base import GenerationResult, SamplingParams, TextStream
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
        self._lock = threading.Lock()  # a plain Lock: a stream may finish on another thread
        self._load_lock = threading.Lock()
        self._bundle: ModelBundle | None = None
        self._engine: Engine | None = None
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
            engine = Engine(bundle, prefix, self.config.prefill_chunk, self.config.draft_tokens)
            self._bundle, self._prefix, self._engine = bundle, prefix, engine
            return self

    def _ready(self) -> tuple[ModelBundle, Engine]:
        if self._engine is None:
            self.load()
        assert self._bundle is not None and self._engine is not None
        return self._bundle, self._engine

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
        with self._lock:
            if self._prefix is None or self.config.kv_cache_dir is None:
                return None
            path = self._cache_path()
            self._prefix.save(path)
            return path

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
        return TextStream(self._run(self.render(messages), params or SamplingParams()))

    def stream_tokens(self, prompt: list[int], params: SamplingParams | None = None) -> TextStream:
        """Like :meth:`stream` for an already rendered prompt (token ids)."""
        return TextStream(self._run(list(prompt), params or SamplingParams()))

    def generate(
        self, messages: Sequence[Message], params: SamplingParams | None = None
    ) -> GenerationResult:
        return self.stream(messages, params).collect()

    def _run(self, prompt: list[int], params: SamplingParams) -> Iterator[str]:
        bundle, engine = self._ready()
        with self._lock:
            t0 = time.perf_counter()
            prepared = engine.prepare(prompt)
            decoder = IncrementalDecoder(bundle.tokenizer)
            stops = StopFilter(params.stop)
            parts: list[str] = []
            n_out, ttft, finish = 0, 0.0, "length"
            t_first = t0
            try:
                for tok in engine.decode(prepared, params, params.max_tokens):
                    n_out += 1
                    if n_out == 1:
                        t_first = time.perf_counter()
                        ttft = t_first - t0
                    text = stops.feed(decoder.push(tok))
                    if text:
                        parts.append(text)
                        yield text
                    if stops.stopped:
                        finish = "stop"
                        break
                else:
                    finish = "length" if n_out >= params.max_tokens else "stop"
                if not stops.stopped:
                    tail = stops.feed(decoder.flush()) + stops.flush()
                    if tail:
                        parts.append(tail)
                        yield tail
            except GeneratorExit:
                finish = "cancelled"
                raise
            finally:
                engine.remember()
                self._requests += 1
                if self.config.kv_cache_dir is not None and self._prefix is not None:
                    self._prefix.save(self._cache_path())
            total = time.perf_counter() - t0
            if n_out == 0:
                ttft = total
            decode_time = total - ttft
            usage = Usage(
                prompt_tokens=prepared.prompt_tokens,
                cached_tokens=prepared.reused,
                completion_tokens=n_out,
                time_to_first_token_s=ttft,
                total_time_s=total,
                tokens_per_second=(n_out - 1) / decode_time
                if n_out > 1 and decode_time > 0
                else 0.0,
                extra={"prefill_tokens": prepared.prompt_tokens - prepared.reused,
                       "draft_passes": engine.draft_stats.passes,
                       "draft_tokens": engine.draft_stats.drafted,
                       "draft_accepted": engine.draft_stats.accepted},
            )
            return GenerationResult(text="".join(parts), finish_reason=finish, usage=usage)

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
        with self._lock:
            scores = engine.score(prompt, conts)
            engine.remember()
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
        with self._lock:
            rows = engine.completion_logprobs(prompt, ids, top)
            engine.remember()
        piece = bundle.tokenizer.decode
        return [
            {"token": piece([tok]), "logprob": lp,
             "top": [(piece([alt]), alp) for alt, alp in alts]}
            for tok, (lp, alts) in zip(ids, rows, strict=True)
        ]

    def score_continuations(self, prompt: list[int], continuations: list[list[int]]) -> list[float]:
        _, engine = self._ready()
        with self._lock:
            return engine.score(prompt, continuations)

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
        return out
