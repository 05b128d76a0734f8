"""Token-aware chunking of parsed documents: pure, no I/O, no model loading.

Owns: cutting a :class:`~ragkit.types.ParsedDocument` into :class:`~ragkit.types.Chunk` s,
the text each chunk is embedded as (:func:`embedding_text`) and stable chunk ids
(:func:`chunk_id`). Lengths are measured with a ``count_tokens`` callable supplied by the caller
(the embedder's tokenizer, special tokens and passage prompt included), and
``count_tokens(embedding_text(chunk)) <= max_tokens`` holds for every chunk returned.

Rules:
- a chunk never spans sections with different heading paths or pages; a section that fits is
  one chunk;
- inside a larger section, whole paragraphs are packed greedily (a short label line such as a
  heading stays with the paragraph after it) and a paragraph over the budget is packed
  sentence by sentence on its own, so chunks end at paragraph breaks. An edit therefore changes
  only the chunks of the run of paragraphs packed with the edited one (and the next chunk's
  overlap); it shifts later chunks only when it changes how many paragraphs fit together;
- consecutive chunks of a section share whole trailing sentences, up to ``overlap_tokens``;
- a sentence over the budget is split at whitespace or punctuation (anywhere in CJK text),
  with lengths found by binary search on ``count_tokens``;
- atomic sections (FAQ pairs) are one chunk, split like the rest only when over ``max_tokens``;
- packing is greedy, so a short closing paragraph joins the chunk before it whenever it fits;
- each chunk's text is ``doc.text[start:end]``, surrounding whitespace trimmed;
- chunk ``title`` and ``heading_path`` are the document's, except that a heading line taking
  more than half of ``max_tokens`` is shortened (longest part halved until it fits).

Sentence costs are counted once each and summed as an estimate; every chunk is then measured
exactly, so the number of ``count_tokens`` calls grows linearly with the text.

Does not own parsing (``ragkit.ingest``) or tokenizers (``ragkit.embedder``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from ragkit.errors import ConfigError, IngestError
from ragkit.text import is_cjk, split_sentences
from ragkit.types import Chunk, ParsedDocument, Section

CountTokens = Callable[[str], int]
HEADER_MAX_CHARS = 120  # the context line of embedding_text never exceeds this


def embedding_header(title: str, heading_path: tuple[str, ...]) -> str:
    """``"Title > H1 > H2"`` (a title equal to the first heading is said once), most specific
    parts kept when it would exceed :data:`HEADER_MAX_CHARS`."""
    parts: list[str] = []
    for p in (title, *heading_path):
        p = " ".join(p.split())
        if p and (not parts or parts[-1].casefold() != p.casefold()):
            parts.append(p)
    while len(parts) > 1 and len(" > ".join(parts)) > HEADER_MAX_CHARS:
        parts.pop(0)
    header = " > ".join(parts)
    if len(header) > HEADER_MAX_CHARS:
        header = header[: HEADER_MAX_CHARS - 1] + "…"
    return header


def embedding_text(chunk: Chunk) -> str:
    """What gets embedded: the title and heading path on a first line, then the chunk text."""
    header = embedding_header(chunk.title, chunk.heading_path)
    return f"{header}\n{chunk.text}" if header else chunk.text


def chunk_id(doc_path: str, heading_path: tuple[str, ...], text: str, occurrence: int) -> str:
    """First 24 hex digits of sha256 over the fields; ``occurrence`` counts earlier chunks of the
    same document with the same heading path and text."""
    blob = json.dumps([doc_path, list(heading_path), text, occurrence], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


@dataclass
class _Unit:
    """A sentence (or a piece of an over-long one) with its approximate token cost."""

    start: int
    end: int
    cost: int
    para_end: bool


_BREAK_RE = re.compile(r"[\s,;:.!?，、；：。！？)\]）」』”]")


class _Chunker:
    def __init__(self, doc: ParsedDocument, count: CountTokens, max_tokens: int, overlap: int):
        self.doc, self.count, self.max_tokens, self.overlap = doc, count, max_tokens, overlap
        self.base = count("")  # special tokens / prompt counted for every string

    def cost(self, start: int, end: int) -> int:
        return max(0, self.count(self.doc.text[start:end]) - self.base)

    def trim(self, start: int, end: int) -> tuple[int, int]:
        text = self.doc.text
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return start, end

    def exact(self, header: str, start: int, end: int) -> int:
        s, e = self.trim(start, end)
        body = self.doc.text[s:e]
        return self.count(f"{header}\n{body}" if header else body)

    # -- splitting a span that is over budget ------------------------------------------------
    def longest_prefix(self, pos: int, end: int, budget: int, guess: int) -> int:
        """A near-longest ``n`` with ``cost(pos, pos + n) <= budget`` (at least 1): bracketed
        from ``guess`` in steps of an eighth, then bisected to within 1/32 (the caller moves the
        cut back to a word break anyway, so the last few characters do not matter)."""
        fits = lambda n: self.cost(pos, pos + n) <= budget  # noqa: E731
        limit = end - pos
        g = min(max(guess, 1), limit)
        if fits(g):
            lo, hi = g, limit
            while lo < limit:
                nxt = min(limit, lo + max(1, lo // 8))
                if not fits(nxt):
                    hi = nxt - 1
                    break
                lo = nxt
        else:
            lo, hi = 1, g - 1
            while hi > 1:
                nxt = max(1, hi * 7 // 8)
                if fits(nxt):
                    lo = nxt
                    break
                hi = nxt - 1
        while hi - lo > lo // 32:
            mid = (lo + hi + 1) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo

    def hard_split(self, start: int, end: int, budget: int) -> list[_Unit]:
        """Pieces of ``text[start:end]`` of at most ``budget`` tokens each, cut after whitespace
        or punctuation in the second half of a piece where there is some (not in CJK text)."""
        text, units = self.doc.text, []
        budget = max(budget, 1)
        sample = min(end - start, budget * 8)
        chars_per_token = sample / max(1, self.cost(start, start + sample))
        pos = start
        while pos < end:
            if end - pos <= budget * chars_per_token * 1.5 and (
                (rest := self.cost(pos, end)) <= budget
            ):
                units.append(_Unit(pos, end, rest, False))
                break
            n = self.longest_prefix(pos, end, budget, int(budget * chars_per_token))
            cut = pos + n
            if cut < end and not is_cjk(text[cut - 1]) and not is_cjk(text[cut]):
                for m in reversed(list(_BREAK_RE.finditer(text, pos + n // 2, cut))):
                    cut = m.end()
                    break
            piece = self.cost(pos, cut)
            units.append(_Unit(pos, cut, piece, False))
            chars_per_token = n / max(1, piece)
            pos = cut
        return units

    def units(self, start: int, end: int, budget: int) -> list[_Unit]:
        text, out = self.doc.text, []
        for a, b in split_sentences(text[start:end]):
            a, b = a + start, b + start
            para_end = "\n\n" in text[a:b].replace(" ", "")
            # Counting a huge sentence whole would cost a full tokenizer pass: split it first.
            c = self.cost(a, b) if b - a <= budget * 32 else budget + 1
            if c > budget:
                pieces = self.hard_split(a, b, budget)
                pieces[-1].para_end = para_end
                out.extend(pieces)
            else:
                out.append(_Unit(a, b, c, para_end))
        if out:
            out[-1].para_end = True
        return out

    # -- packing --------------------------------------------------------------------------------
    def fits(self, header: str, units: list[_Unit], first: int, end: int) -> bool:
        return self.exact(header, units[first].start, units[end - 1].end) <= self.max_tokens

    def overlap_start(self, units: list[_Unit], spans: list[list[int]], new: int) -> int:
        """First unit of a chunk whose new content starts at ``new``: whole trailing sentences
        of the previous chunk, up to ``overlap`` tokens, never all of it."""
        first = new
        if spans and self.overlap and spans[-1][2] == new:
            prev_first, acc = spans[-1][0], 0
            while first - 1 > prev_first and acc + units[first - 1].cost <= self.overlap:
                first -= 1
                acc += units[first].cost
        return first

    @staticmethod
    def paragraph_end(units: list[_Unit], i: int) -> int:
        while not units[i].para_end:
            i += 1
        return i + 1

    def is_label(self, unit: _Unit, budget: int) -> bool:
        """A short one-line paragraph that ends no sentence, such as a heading or "Steps:"."""
        line = self.doc.text[unit.start : unit.end].strip()
        return unit.cost * 4 <= budget and "\n" not in line and line[-1:] not in ".!?。！？"

    def pack(self, start: int, end: int, header: str, budget: int) -> list[tuple[int, int]]:
        """Whole paragraphs are packed together; a paragraph over the budget is cut into
        sentences on its own. Chunk ends thus sit at paragraph breaks, so an edit moves no
        chunk boundary beyond the paragraphs packed with the edited one."""
        units = self.units(start, end, budget)
        spans: list[list[int]] = []  # [first unit, first new unit, end unit, extendable]
        i = 0
        while i < len(units):
            j = self.paragraph_end(units, i)
            if j - i == 1 and j < len(units) and self.is_label(units[i], budget):
                j = self.paragraph_end(units, j)  # a heading line stays with what follows it
            if sum(u.cost for u in units[i:j]) > budget:
                j = self.greedy(units, spans, i, j, header, budget)
            elif (
                spans
                and spans[-1][3]
                and spans[-1][2] == i
                and sum(u.cost for u in units[spans[-1][0] : j]) <= budget
                and self.fits(header, units, spans[-1][0], j)
            ):
                spans[-1][2] = j
            else:
                first = self.overlap_start(units, spans, i)
                while first < i and sum(u.cost for u in units[first:j]) > budget:
                    first += 1
                if self.fits(header, units, first, j):
                    spans.append([first, i, j, 1])
                elif self.fits(header, units, i, j):
                    spans.append([i, i, j, 1])
                else:  # over once measured exactly
                    j = self.greedy(units, spans, i, j, header, budget)
            i = j
        return [(units[f].start, units[e - 1].end) for f, _, e, _ in spans]

    def greedy(
        self, units: list[_Unit], spans: list[list[int]], lo: int, hi: int, header: str, budget: int
    ) -> int:
        """Sentence-level packing of units[lo:hi] into new spans; returns the (possibly moved)
        end index, since a unit found too long when measured exactly is split in place."""
        i = lo
        while i < hi:
            first = self.overlap_start(units, spans, i)
            total = sum(u.cost for u in units[first:i])
            j = i
            while j < hi and total + units[j].cost <= budget:
                total += units[j].cost
                j += 1
            if j == i:  # the overlap leaves no room for the next sentence
                first, j = i, i + 1
            while (
                excess := self.exact(header, units[first].start, units[j - 1].end) - self.max_tokens
            ) > 0:
                if j - i > 1:
                    j -= 1
                elif first < i:
                    first = i
                else:  # one unit too long once measured exactly: split it smaller
                    u = units[i]
                    if u.end - u.start <= 1:
                        raise IngestError(
                            self.doc.path,
                            f"chunking.max_tokens={self.max_tokens} cannot hold one character "
                            f"after the heading line {header!r}; raise chunking.max_tokens",
                        )
                    pieces = self.hard_split(u.start, u.end, max(1, u.cost - excess))
                    if len(pieces) == 1:  # no shorter prefix fits by estimate: halve it
                        mid = (u.start + u.end) // 2
                        pieces = [
                            _Unit(u.start, mid, self.cost(u.start, mid), False),
                            _Unit(mid, u.end, self.cost(mid, u.end), False),
                        ]
                    pieces[-1].para_end = u.para_end
                    units[i : i + 1] = pieces
                    hi += len(pieces) - 1
                    j = i + 1
            spans.append([first, i, j, 0])
            i = j
        return hi

    def fit_header(self, title: str, path: tuple[str, ...]) -> tuple[str, tuple[str, ...], int]:
        """Title, heading path and the tokens their heading line costs; the first two are
        shortened (longest part halved until it fits) only when that line would take more than
        half of ``max_tokens``."""
        parts = [title, *path]
        while True:
            header = embedding_header(parts[0], tuple(parts[1:]))
            cost = self.count(f"{header}\n" if header else "")
            i = max(range(len(parts)), key=lambda k: len(parts[k]))
            if cost <= self.max_tokens // 2 or not parts[i]:
                return parts[0], tuple(parts[1:]), cost
            parts[i] = parts[i][: len(parts[i]) // 2].rstrip()

    def run(self) -> list[Chunk]:
        doc, chunks = self.doc, []
        seen: dict[tuple[tuple[str, ...], str], int] = {}
        for group in _groups(doc.sections):
            first, last = group[0], group[-1]
            start, end = first.start, last.start + len(last.text)
            path, page = first.heading_path, first.page
            if _only_heading(doc.text[start:end], path):
                continue
            title, path, header_cost = self.fit_header(doc.title, path)
            header = embedding_header(title, path)
            budget = self.max_tokens - header_cost
            if end - start <= self.max_tokens * 32 and self.exact(header, start, end) <= (
                self.max_tokens
            ):  # the whole section fits
                spans = [(start, end)]
            else:
                spans = self.pack(start, end, header, budget)
            for a, b in spans:
                a, b = self.trim(a, b)
                if a == b:
                    continue
                text = doc.text[a:b]
                occ = seen.get((path, text), 0)
                seen[(path, text)] = occ + 1
                chunks.append(
                    Chunk(
                        id=chunk_id(doc.path, path, text, occ),
                        doc_path=doc.path,
                        ordinal=len(chunks),
                        text=text,
                        start=a,
                        end=b,
                        heading_path=path,
                        page=page,
                        title=title,
                    )
                )
        return chunks


def _groups(sections: tuple[Section, ...]) -> list[list[Section]]:
    """Runs of adjacent non-atomic sections with the same heading path and page; atomic
    sections stand alone."""
    groups: list[list[Section]] = []
    for s in sections:
        g = groups[-1] if groups else None
        if (
            g
            and not s.atomic
            and not g[-1].atomic
            and (g[-1].heading_path, g[-1].page) == (s.heading_path, s.page)
            and g[-1].start + len(g[-1].text) == s.start
        ):
            g.append(s)
        else:
            groups.append([s])
    return groups


def _only_heading(text: str, path: tuple[str, ...]) -> bool:
    """A section that holds nothing but its own heading line adds nothing searchable."""
    body = text.strip().lstrip("#").strip()
    return not body or (bool(path) and "\n" not in body and body == path[-1])


def chunk_document(
    doc: ParsedDocument, count_tokens: CountTokens, max_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Cut ``doc`` into chunks whose :func:`embedding_text` fits in ``max_tokens`` tokens."""
    if overlap_tokens >= max_tokens:
        raise ConfigError("chunking.overlap_tokens must be smaller than chunking.max_tokens")
    return _Chunker(doc, count_tokens, max_tokens, overlap_tokens).run()
