"""Prompt-lookup drafting: guess the next tokens from an earlier occurrence of the latest n-gram.

Owns :class:`NgramDrafter`, a pure index over one token sequence (the prompt, then every token
generated after it). For the sequence's last ``n`` tokens (``n`` from ``max_ngram`` down to
``min_ngram``) it finds their most recent earlier occurrence and proposes the tokens that
followed it there. A grounded answer quotes its sources and a code repair repeats most of the
previous code, so such drafts are often right; the engine checks a whole draft in one forward
pass and keeps the longest prefix the model itself would have produced, so greedy output is
the same as without drafting (Saxena's prompt-lookup decoding; the speculative decoding of
Leviathan et al. with the prompt as the draft model).
Does not: run the model or decide what is accepted (``engine.py`` does).
"""

from __future__ import annotations

from collections.abc import Iterable


class NgramDrafter:
    """Incremental n-gram index: ``push`` each token, ``propose`` a draft for what follows.

    Each n-gram maps to the position right after its latest occurrence that is not the
    sequence's own tail, so a lookup costs one dict probe per n-gram size and pushing a token
    costs one insert per size: cheap enough to run at every decode step.
    """

    def __init__(self, tokens: Iterable[int] = (), min_ngram: int = 2, max_ngram: int = 4) -> None:
        if not 1 <= min_ngram <= max_ngram:
            raise ValueError("need 1 <= min_ngram <= max_ngram")
        self.min_n, self.max_n = min_ngram, max_ngram
        self.seq: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}
        for tok in tokens:
            self.push(tok)

    def push(self, tok: int) -> None:
        # Register the n-grams ending at the current end (they are followed by `tok`, which
        # will sit at index len(seq)) before appending: the tail itself is never indexed, so
        # a lookup finds only earlier occurrences.
        end = len(self.seq)
        for n in range(self.min_n, min(self.max_n, end) + 1):
            self._after[tuple(self.seq[end - n :])] = end
        self.seq.append(tok)

    def propose(self, k: int) -> list[int]:
        """Up to ``k`` tokens that followed the longest matching n-gram; [] when none matches."""
        if k <= 0:
            return []
        end = len(self.seq)
        for n in range(min(self.max_n, end), self.min_n - 1, -1):
            start = self._after.get(tuple(self.seq[end - n :]))
            if start is not None:
                return self.seq[start : start + k]
        return []
