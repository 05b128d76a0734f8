"""discover(): recursive, sorted, ignore patterns, supported suffixes only inside folders."""

from __future__ import annotations

from pathlib import Path

from ragkit.ingest import discover


def make_tree(root: Path) -> None:
    for rel in [
        "b.md",
        "a.txt",
        "notes.log",
        "image.png",
        ".hidden.md",
        ".git/config.md",
        "drafts/wip.md",
        "sub/drafts.md",
        "sub/deep/c.HTML",
        "sub/deep/faq.jsonl",
        "sub/deep/skip/x.md",
        "node_modules/pkg/readme.md",
        "docs/drafts/old.md",
    ]:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x", encoding="utf-8")


def rels(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_walk_with_ignore_patterns(tmp_path):
    make_tree(tmp_path)
    found = discover([tmp_path], [".*", "*.log", "drafts/", "node_modules", "sub/deep/skip"])
    assert rels(found, tmp_path) == [
        "a.txt",
        "b.md",
        "sub/deep/c.HTML",
        "sub/deep/faq.jsonl",
        "sub/drafts.md",  # "drafts/" matches folders only
    ]
    everything = rels(discover([tmp_path], []), tmp_path)
    assert "image.png" not in everything and "notes.log" not in everything  # unsupported
    assert {".hidden.md", ".git/config.md", "docs/drafts/old.md"} <= set(everything)


def test_explicit_files_are_kept_and_results_deduplicated(tmp_path):
    make_tree(tmp_path)
    found = discover(
        [
            tmp_path / "sub",
            tmp_path / "image.png",
            tmp_path / "sub/drafts.md",
            tmp_path / "nope.md",
        ],
        [".*"],
    )
    assert rels(found, tmp_path) == [
        "image.png",  # named explicitly: parse_file will report it as unsupported
        "nope.md",  # missing: parse_file reports it
        "sub/deep/c.HTML",
        "sub/deep/faq.jsonl",
        "sub/deep/skip/x.md",
        "sub/drafts.md",
    ]


def test_anchored_patterns_use_root(tmp_path):
    make_tree(tmp_path)
    found = discover([tmp_path / "sub"], ["sub/deep/*"], root=tmp_path)
    assert rels(found, tmp_path) == ["sub/drafts.md"]
    # without root the walk starts at sub/, so "sub/deep/*" matches nothing
    assert len(discover([tmp_path / "sub"], ["sub/deep/*"])) == 4


def test_walking_dot_does_not_ignore_everything(tmp_path, monkeypatch):
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path / "sub")
    assert [p.as_posix() for p in discover([Path(".")], [".*"])] == [
        "deep/c.HTML",
        "deep/faq.jsonl",
        "deep/skip/x.md",
        "drafts.md",
    ]
