"""ragkit.syncplan.plan_sync: what a sync adds, updates, deletes, leaves and skips, decided from
states alone (no files, no database)."""

from __future__ import annotations

from ragkit.syncplan import FileState, SyncPlan, plan_sync, under

ROOT = "/data/docs"
S = "chunker-1"  # this run's settings hash


def stored(source: str, chash: str, mtime: float = 1.0, settings: str = S) -> FileState:
    return FileState(source, chash, mtime, settings)


def found(source: str, chash: str, mtime: float = 1.0) -> FileState:
    return FileState(source, chash, mtime)


def plan(old: dict, new: dict, **kw) -> SyncPlan:
    return plan_sync(old, new, settings_hash=S, roots=kw.pop("roots", [ROOT]), **kw)


def test_new_changed_same_and_gone_files() -> None:
    old = {f"{ROOT}/a.md": stored("docs/a.md", "h-a"), f"{ROOT}/b.md": stored("docs/b.md", "h-b"),
           f"{ROOT}/c.md": stored("docs/c.md", "h-c")}
    new = {f"{ROOT}/a.md": found("docs/a.md", "h-a"), f"{ROOT}/b.md": found("docs/b.md", "h-B"),
           f"{ROOT}/d.md": found("docs/d.md", "h-d")}
    p = plan(old, new)
    assert p.add == (f"{ROOT}/d.md",)
    assert p.update == (f"{ROOT}/b.md",)
    assert p.delete == (f"{ROOT}/c.md",)
    assert p.unchanged == (f"{ROOT}/a.md",) and p.touch == () and p.skipped == ()
    assert p.changes == {"added": ["docs/d.md"], "updated": ["docs/b.md"],
                         "removed": ["docs/c.md"]}


def test_other_settings_or_rebuild_update_unchanged_content() -> None:
    old = {f"{ROOT}/a.md": stored("docs/a.md", "h-a", settings="chunker-0"),
           f"{ROOT}/b.md": stored("docs/b.md", "h-b")}
    new = {f"{ROOT}/a.md": found("docs/a.md", "h-a"), f"{ROOT}/b.md": found("docs/b.md", "h-b")}
    assert plan(old, new).update == (f"{ROOT}/a.md",)
    assert plan(old, new, rebuild=True).update == (f"{ROOT}/a.md", f"{ROOT}/b.md")
    assert plan(old, new, rebuild=True).unchanged == ()


def test_moved_mtime_or_display_path_is_a_touch_not_a_change() -> None:
    old = {f"{ROOT}/a.md": stored("docs/a.md", "h-a", mtime=1.0),
           f"{ROOT}/b.md": stored("old/b.md", "h-b")}
    new = {f"{ROOT}/a.md": found("docs/a.md", "h-a", mtime=2.0),
           f"{ROOT}/b.md": found("docs/b.md", "h-b")}
    p = plan(old, new)
    assert p.unchanged == p.touch == (f"{ROOT}/a.md", f"{ROOT}/b.md")
    assert p.add == p.update == p.delete == ()


def test_unreadable_file_is_skipped_and_keeps_its_document() -> None:
    old = {f"{ROOT}/a.md": stored("docs/a.md", "h-a")}
    p = plan(old, {}, unreadable={f"{ROOT}/a.md": ("docs/a.md", "permission denied")})
    assert p.delete == () and p.skipped == (("docs/a.md", "permission denied"),)
    # without the unreadable entry the same file counts as gone
    assert plan(old, {}).delete == (f"{ROOT}/a.md",)


def test_refused_entries_are_skipped_and_their_documents_removed() -> None:
    old = {f"{ROOT}/link.md": stored("docs/link.md", "h")}
    p = plan(old, {}, refused=[("docs/link.md", "symlink to a file outside")])
    assert p.skipped == (("docs/link.md", "symlink to a file outside"),)
    assert p.delete == (f"{ROOT}/link.md",)


def test_documents_outside_the_synced_roots_are_left_alone() -> None:
    old = {"/data/other/x.md": stored("other/x.md", "h"),
           "/data/docs2/y.md": stored("docs2/y.md", "h"),  # a sibling, not under /data/docs
           f"{ROOT}/z.md": stored("docs/z.md", "h")}
    p = plan(old, {})
    assert p.delete == (f"{ROOT}/z.md",)
    assert plan(old, {}, roots=["/data/other/x.md"]).delete == ("/data/other/x.md",)


def test_empty_inputs_make_an_empty_plan() -> None:
    assert plan({}, {}) == SyncPlan()


def test_under_compares_whole_path_components() -> None:
    assert under("/a/b", "/a/b") and under("/a/b/c", "/a/b") and under("/a/b/c", "/a/b/")
    assert not under("/a/bc", "/a/b") and not under("/a", "/a/b")
