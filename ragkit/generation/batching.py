"""Continuous batching: every stream of a :class:`LocalGenerator` decoded together, one thread.

Owns :class:`Batcher`, the only thread that runs the model. Requests join and leave the
running batch at token granularity: each step runs, in one ragged forward pass
(:meth:`~ragkit.generation.model.Transformer.spans`), the next token (or the next checked
prompt-lookup draft) of every decoding sequence and a chunk of each newcomer's prompt, so a
newcomer's prefill is interleaved with the running streams instead of stalling them.
:func:`plan_prefill` (pure) splits the step's token budget between prompts still prefilling:
equal shares, unused shares passed on, so a long prompt cannot hold back a short one and a
long answer cannot hold back anyone (every decoding sequence gets a token every step).

Each sequence has its own :class:`~ragkit.generation.kvcache.KVCache`; the radix
:class:`~ragkit.generation.kvcache.PrefixCache` is shared: a newcomer starts from the longest
cached prefix of its prompt, and a prompt is offered to the cache as soon as its prefill ends
(a shared system prompt is prefilled once, not once per waiting user). Sampling, seeds and
draft acceptance are per sequence, so greedy output in a batch is the output alone.

Admission is bounded: at most ``max_batch`` sequences run and ``max_queue`` wait; past that,
:meth:`Batcher.submit` raises :class:`~ragkit.errors.BusyError` (the server's 429). A
cancelled ticket (a closed stream, a client gone) leaves the batch at the next step.
Tokens a request's sampling rules out (``forbid_han``) are masked before sampling and before
checking a draft, so a drafted token is accepted only where the request could have chosen it.
Work that needs the whole model (label scoring, log-probabilities) runs on the same thread
between steps through :meth:`Batcher.call`.
Does not: tokenize, render templates, cut stop strings or compute usage (``local.py``).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor

from ragkit.errors import BusyError, GenerationError
from ragkit.generation.base import SamplingParams
from ragkit.generation.engine import check_prompt
from ragkit.generation.kvcache import KVCache, PrefixCache
from ragkit.generation.load import ModelBundle
from ragkit.generation.lookup import NgramDrafter
from ragkit.generation.model import Span
from ragkit.generation.sampling import han_mask, make_generator, sample

T = TypeVar("T")
log = logging.getLogger("ragkit.generation")
_live: weakref.WeakSet[Batcher] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Stop every model thread before the interpreter tears torch down under it (a thread
    still inside torch at exit aborts the process)."""
    for batcher in list(_live):
        batcher.close()
MIN_CHUNK = 16  # a prefill share is never smaller (unless the prompt's rest is)
INITIAL_CACHE = 256  # positions a sequence's cache starts with (it doubles as needed)


def plan_prefill(remaining: list[int], budget: int) -> list[int]:
    """Tokens each prefilling prompt runs this step: equal shares of ``budget``, in order.

    ``remaining`` is how many prompt tokens each still has. A prompt needing less than its
    share passes the rest on; shares never drop below ``MIN_CHUNK``, so under a tight budget
    the oldest prompts go first and the rest wait a step.
    """
    out = [0] * len(remaining)
    left = max(budget, 0)
    todo = [i for i, r in enumerate(remaining) if r > 0]
    while todo and left > 0:  # each round either spends tokens or finishes a prompt
        share = max(left // len(todo), MIN_CHUNK)
        for i in todo:
            take = min(share, remaining[i] - out[i], left)
            out[i] += take
            left -= take
        todo = [i for i in todo if out[i] < remaining[i]]
    return out


@dataclass
class Finished:
    """The last item of a ticket: why it ended and what it cost."""

    reason: str  # "stop" | "length" | "cancelled"
    prompt_tokens: int
    reused: int
    draft_passes: int = 0
    draft_tokens: int = 0
    draft_accepted: int = 0


@dataclass(eq=False)
class _Seq:
    prompt: list[int]
    params: SamplingParams
    limit: int
    out: queue.SimpleQueue[int | Finished | BaseException]
    cancelled: bool = False
    cache: KVCache | None = None
    held: list[int] = field(default_factory=list)  # tokens whose keys/values are in cache
    pending: list[int] = field(default_factory=list)  # decode phase: the next span's tokens
    produced: int = 0
    gen: torch.Generator | None = None
    drafter: NgramDrafter | None = None
    room: int = 0
    stats: Finished = field(init=False)

    def __post_init__(self) -> None:
        self.stats = Finished("cancelled", len(self.prompt), 0)

    @property
    def prefilling(self) -> bool:
        return not self.pending


class Ticket:
    """A submitted request: iterate for token ids, then read :meth:`figures`."""

    def __init__(self, seq: _Seq, wake: Callable[[], None]) -> None:
        self._seq = seq
        self._wake = wake

    def tokens(self) -> Iterator[int]:
        """Token ids as they are sampled; ends when the request finishes."""
        while not isinstance(item := self._seq.out.get(), Finished):
            if isinstance(item, BaseException):
                raise item
            yield item

    def figures(self) -> Finished:
        """Prompt, reused and draft figures so far, and why it ended once it has."""
        return self._seq.stats

    def cancel(self) -> None:
        """Leave the batch at the next step (idempotent)."""
        self._seq.cancelled = True
        self._wake()

    def __del__(self) -> None:  # dropped unread (a client gone before streaming): free the slot
        self._seq.cancelled = True


@dataclass
class _Job:
    fn: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class Batcher:
    def __init__(self, bundle: ModelBundle, prefix: PrefixCache | None, *, max_batch: int,
                 max_queue: int, step_tokens: int, draft_tokens: int,
                 after_request: Callable[[], None] | None = None) -> None:
        self.b = bundle
        self.prefix = prefix
        self.max_batch, self.max_queue = max_batch, max_queue
        self.step_tokens = step_tokens
        self.draft_tokens = draft_tokens
        self.after_request = after_request
        self._cv = threading.Condition()
        self._waiting: deque[_Seq] = deque()
        self._jobs: list[_Job] = []
        self._running: list[_Seq] = []
        self._han: Tensor | None = None  # sampling.han_mask, built on first use
        self._stop = False
        self.steps = self.peak_batch = self.refused = 0
        self._thread = threading.Thread(target=Batcher._serve, args=(weakref.ref(self),),
                                        name="ragkit-batcher", daemon=True)
        self._thread.start()
        _live.add(self)

    # -- callers' side (any thread) ------------------------------------------------------
    def submit(self, prompt: list[int], params: SamplingParams) -> Ticket:
        check_prompt(prompt, self.b.max_context)
        ctx = self.b.max_context
        seq = _Seq(list(prompt), params, min(params.max_tokens, ctx - len(prompt)),
                   queue.SimpleQueue())
        with self._cv:
            if self._stop:
                raise GenerationError("the generator was closed; create a new one")
            if len(self._running) + len(self._waiting) >= self.max_batch + self.max_queue:
                self.refused += 1
                raise BusyError(
                    f"the generator is busy: {len(self._running)} requests are running and "
                    f"{len(self._waiting)} waiting (max_batch {self.max_batch}, max_queue "
                    f"{self.max_queue}); retry in a moment, or raise max_queue")
            self._waiting.append(seq)
            self._cv.notify()
        return Ticket(seq, self._wake)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the model thread between steps and return its result."""
        if threading.current_thread() is self._thread:
            return fn()
        job = _Job(fn)
        with self._cv:
            if self._stop:
                raise GenerationError("the generator was closed; create a new one")
            self._jobs.append(job)
            self._cv.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the model thread (after the step it is in); requests still running fail."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)

    def stats(self) -> dict[str, int]:
        with self._cv:
            return {"running": len(self._running), "waiting": len(self._waiting),
                    "max_batch": self.max_batch, "max_queue": self.max_queue,
                    "steps": self.steps, "peak_batch": self.peak_batch, "refused": self.refused}

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify()

    # -- the model thread ----------------------------------------------------------------
    @staticmethod
    def _serve(ref: weakref.ref[Batcher]) -> None:
        """The thread's body. It holds the batcher only for one tick at a time, so a batcher
        nobody uses any more (and its model) is freed and its thread ends within a second."""
        with torch.inference_mode():
            while True:
                batcher = ref()
                if batcher is None or not batcher._tick():
                    return
                del batcher

    def _tick(self) -> bool:
        """Admit, run queued jobs and one step; False once closed."""
        with self._cv:
            if not (self._stop or self._jobs or self._waiting or self._running):
                self._cv.wait(timeout=1.0)
            if self._stop:
                self._fail_all(GenerationError("the generator was closed during generation"))
                return False
            jobs, self._jobs = self._jobs, []
            while self._waiting and len(self._running) < self.max_batch:
                self._running.append(self._waiting.popleft())
            self.peak_batch = max(self.peak_batch, len(self._running))
        for job in jobs:
            try:
                job.value = job.fn()
            except BaseException as err:  # handed to the caller's thread
                job.error = err
            job.done.set()
        for seq in [s for s in self._running if s.cancelled]:
            self._finish(seq, "cancelled")
        if self._running:
            try:
                self._step()
            except Exception as err:  # a bug or out of memory: fail these, keep serving
                log.exception("a batched generation step failed")
                for seq in list(self._running):
                    seq.out.put(GenerationError(f"generation failed ({type(err).__name__}: "
                                                f"{err}); see the log"))
                self._running.clear()
        return True

    def _fail_all(self, err: GenerationError) -> None:
        for seq in [*self._running, *self._waiting]:
            seq.out.put(err)
        self._running.clear()
        self._waiting.clear()
        for job in self._jobs:
            job.error = err
            job.done.set()
        self._jobs = []

    def _start(self, seq: _Seq) -> None:
        """Give a sequence its cache, filled with the longest cached prefix of its prompt."""
        a = self.b.args
        seq.cache = KVCache(a.n_layers, a.n_kv_heads, a.head_dim, self.b.max_context,
                            self.b.dtype, self.b.device, initial=INITIAL_CACHE)
        matched = 0
        if self.prefix is not None:
            matched, segments = self.prefix.match(seq.prompt[:-1])  # the last token always runs
            pos = 0
            for k, v in segments:
                n = min(k.shape[2], matched - pos)
                seq.cache.write(pos, k[:, :, :n], v[:, :, :n])
                pos += n
            self.prefix.record(len(seq.prompt), matched)
        seq.held = seq.prompt[:matched]
        seq.gen = make_generator(seq.params)
        greedy = seq.params.temperature == 0
        if greedy and self.draft_tokens > 0:
            seq.drafter = NgramDrafter(seq.prompt)
            seq.room = self.draft_tokens
        seq.stats.reused = matched

    def _step(self) -> None:
        decoding = [s for s in self._running if not s.prefilling]
        prefilling = [s for s in self._running if s.prefilling]
        for s in prefilling:
            if s.cache is None:
                self._start(s)
        busy = sum(len(s.pending) for s in decoding)
        shares = plan_prefill([len(s.prompt) - len(s.held) for s in prefilling],
                              max(self.step_tokens - busy, MIN_CHUNK))
        ids: list[int] = []
        spans: list[Span] = []
        rows: list[int] = []  # which hidden rows need logits
        work: list[tuple[_Seq, int, int]] = []  # (seq, first row, n rows) in `rows`
        for s in decoding:
            assert s.cache is not None
            first = len(ids)
            spans.append(Span(s.cache, len(s.held), len(s.pending)))
            ids.extend(s.pending)
            work.append((s, len(rows), len(s.pending)))
            rows.extend(range(first, first + len(s.pending)))
        for s, n in zip(prefilling, shares, strict=True):
            if n == 0:
                continue
            assert s.cache is not None
            start = len(s.held)
            spans.append(Span(s.cache, start, n))
            ids.extend(s.prompt[start : start + n])
            if start + n == len(s.prompt):
                work.append((s, len(rows), 1))
                rows.append(len(ids) - 1)
            else:
                s.held = s.prompt[: start + n]
        if not spans:
            return
        for sp in spans:
            sp.cache.reserve(sp.start + sp.length)
        cos, sin = self._rotary(spans)
        x = torch.tensor(ids, dtype=torch.long, device=self.b.device)
        hidden = self.b.model.spans(x, spans, cos, sin)
        self.steps += 1
        if not rows:
            return
        logits = self.b.model.logits(hidden[torch.tensor(rows, dtype=torch.long,
                                                         device=hidden.device)])
        for s, first, n in work:
            if s.cancelled:
                continue  # finished at the next step's check
            if s.prefilling:
                s.held = list(s.prompt)
                if self.prefix is not None:
                    self.prefix.insert(s.held, s.cache)  # type: ignore[arg-type]
                self._next(s, logits[first])
            else:
                self._accept(s, logits[first : first + n])

    def _rotary(self, spans: list[Span]) -> tuple[Tensor, Tensor]:
        parts = [self.b.rotary.rows(sp.start, sp.start + sp.length) for sp in spans]
        if len(parts) == 1:
            return parts[0]
        return torch.cat([c for c, _ in parts]), torch.cat([s for _, s in parts])

    def _accept(self, s: _Seq, rows: Tensor) -> None:
        """After a decode span ``[tok, *draft]``: keep the draft the model agrees with."""
        tok, draft = s.pending[0], s.pending[1:]
        n = 0
        if draft:
            choice = self._allowed(s, rows).argmax(dim=-1).tolist()
            eos = self.b.eos_ids
            while n < len(draft) and choice[n] == draft[n] and draft[n] not in eos:
                n += 1
            assert s.drafter is not None
            s.stats.draft_passes += 1
            s.stats.draft_tokens += len(draft)
            s.stats.draft_accepted += n
            s.room = min(self.draft_tokens, n + 1)
        s.held.extend([tok, *draft[:n]])
        for d in draft[:n]:
            s.out.put(d)
            s.drafter.push(d)  # type: ignore[union-attr]
        s.produced += n
        self._next(s, rows[n])

    def _next(self, s: _Seq, logits: Tensor) -> None:
        """Sample the token after ``logits``; queue it, or finish the sequence."""
        tok = sample(self._allowed(s, logits), s.params, s.gen)
        if tok in self.b.eos_ids:
            self._finish(s, "stop")
            return
        s.out.put(tok)
        s.produced += 1
        if s.produced >= s.limit:
            self._finish(s, "length")
            return
        draft: list[int] = []
        if s.drafter is not None:
            s.drafter.push(tok)
            draft = s.drafter.propose(min(s.room, s.limit - s.produced - 1))
        s.pending = [tok, *draft]

    def _allowed(self, s: _Seq, logits: Tensor) -> Tensor:
        """``logits`` without the tokens the sequence's sampling rules out (``forbid_han``)."""
        if not s.params.forbid_han:
            return logits
        if self._han is None:
            self._han = han_mask(self.b.tokenizer, logits.shape[-1]).to(logits.device)
        return logits.masked_fill(self._han, float("-inf"))

    def _finish(self, s: _Seq, reason: str) -> None:
        self._running.remove(s)
        s.stats.reason = reason
        if self.prefix is not None and s.cache is not None and s.held:
            self.prefix.insert(s.held, s.cache)
        s.cache = None
        if self.after_request is not None:  # before the caller hears the request is over
            try:
                self.after_request()
            except Exception:  # persistence is best effort; the answer was delivered
                log.warning("saving the prefix cache failed", exc_info=True)
        s.out.put(s.stats)

