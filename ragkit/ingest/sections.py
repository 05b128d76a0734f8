"""The section builder every structured format shares.

Owns: turning a finished document text plus the places where headings or pages start into
:class:`~ragkit.types.Section` objects that tile the text end to end, each carrying the heading
path above it (a heading closes every open heading of its level or deeper) and its page. The
formats decide where the marks go; chunking (``ragkit.chunking``) decides how sections split.

Invariant of :meth:`SectionBuilder.sections`: ``text[s.start:s.start + len(s.text)] == s.text``
for every section, sections are in order, adjacent, and cover ``text``; empty spans are left
out. Marks must be added in increasing offset order.
"""

from __future__ import annotations

from ragkit.types import Section


class SectionBuilder:
    """Accumulates section starts and heading paths over a text that is written separately."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, tuple[str, ...], int | None]] = []
        self.stack: list[tuple[int, str]] = []

    def heading(self, offset: int, level: int, title: str) -> None:
        """A heading of ``level`` (1 outermost) starts a section at ``offset``."""
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))
        self.mark(offset)

    def mark(self, offset: int, page: int | None = None) -> None:
        """A section starts at ``offset`` under the current headings (on ``page``, if paged)."""
        self.marks.append((offset, tuple(t for _, t in self.stack), page))

    def sections(self, text: str) -> tuple[Section, ...]:
        """The sections of ``text``: one before the first mark (if not empty), one per mark."""
        marks = [(0, (), None), *self.marks]
        out: list[Section] = []
        for i, (start, path, page) in enumerate(marks):
            end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
            if end > start:
                out.append(Section(text[start:end], start, path, page))
        return tuple(out)


def whole(text: str) -> tuple[Section, ...]:
    """One section holding all of ``text`` (a format without structure)."""
    return (Section(text, 0),)
