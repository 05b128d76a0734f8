"""Symlinks out of the indexed folders are not followed unless the user opts in
(``follow_links`` / ``ragkit index --follow-links``); links that stay inside keep working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragkit.config import KnowledgeBaseConfig
from ragkit.errors import IngestError
from ragkit.ingest import discover, parse_file, scan
from ragkit.kb import KnowledgeBase
from tests.helpers.docs import write_docs

SECRET = "root:x:0:0:root:/root:/bin/bash warranty invoice"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """docs/ with an inside link, a file link out (like passwd.txt -> /etc/passwd), a folder
    link out, and outside/ with a link cycle."""
    write_docs(tmp_path, {
        "docs/real.md": "# Kettle\n\nDescale the kettle every month with citric acid.\n",
        "outside/passwd": SECRET + "\n",
        "outside/private/notes.md": "# Private\n\nGift card points for the order.\n",
    })
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    (docs / "alias.md").symlink_to("real.md")
    (docs / "passwd.txt").symlink_to(outside / "passwd")
    (docs / "ext").symlink_to(outside / "private")
    (docs / "self").symlink_to(docs)  # inside: its files are found at their own path
    (outside / "private" / "loop").symlink_to(outside)  # a cycle once followed
    return tmp_path


def test_discover_leaves_out_links_out_of_the_folder(tree: Path) -> None:
    docs = tree / "docs"
    found = scan([docs], [])
    assert [p.name for p in found.files] == ["alias.md", "real.md"]
    skipped = {p.name: why for p, why in found.skipped}
    assert skipped == {
        "ext": "symlink to a folder outside the indexed folders "
               f"({tree / 'outside' / 'private'}); not followed, pass --follow-links "
               "(or set ingest.follow_links) to index it",
        "passwd.txt": "symlink to a file outside the indexed folders "
                      f"({tree / 'outside' / 'passwd'}); not followed, pass --follow-links "
                      "(or set ingest.follow_links) to index it",
    }
    assert discover([docs], []) == found.files


def test_follow_links_walks_out_once(tree: Path) -> None:
    docs = tree / "docs"
    found = scan([docs], [], follow_links=True)
    rels = [p.relative_to(docs).as_posix() for p in found.files]
    # ext/loop leads back to outside/, whose private/ was walked as ext/: once only, no cycle.
    assert rels == ["alias.md", "ext/notes.md", "passwd.txt", "real.md"]
    assert found.skipped == []


def test_read_refuses_a_link_switched_out_after_discovery(tree: Path) -> None:
    docs = tree / "docs"
    link = docs / "alias.md"
    assert parse_file(link, "docs/alias.md", 2**20, confine=[docs]).text.startswith("# Kettle")
    link.unlink()
    link.symlink_to(tree / "outside" / "private" / "notes.md")
    with pytest.raises(IngestError, match="outside the indexed folders"):
        parse_file(link, "docs/alias.md", 2**20, confine=[docs])


def _sources(kb: KnowledgeBase) -> set[str]:
    return {row.source for row in kb.store.documents().values()}


def test_sync_skips_links_out_unless_asked(tree: Path, kb: KnowledgeBase) -> None:
    docs = tree / "docs"
    report = kb.sync([docs])
    assert _sources(kb) == {"docs/alias.md", "docs/real.md"}
    assert {f["path"] for f in report.failed} == {"docs/ext", "docs/passwd.txt"}
    assert all("--follow-links" in f["error"] for f in report.failed)
    assert not kb.search("root bash", k=5, mode="keyword")
    # Opted in: the link targets are indexed under the links' paths.
    report = kb.sync([docs], follow_links=True)
    assert report.failed == [] and {"docs/passwd.txt", "docs/ext/notes.md"} <= _sources(kb)
    assert kb.search("root bash", k=5, mode="keyword")[0].source == "docs/passwd.txt"
    # Without the option again, what lies outside is dropped (and reported), the rest kept.
    report = kb.sync([docs])
    assert "docs/passwd.txt" in report.changes["removed"]
    assert _sources(kb) == {"docs/alias.md", "docs/real.md"}
    assert not kb.search("root bash", k=5, mode="keyword")


def test_config_follow_links_is_the_default_for_sync(tree: Path, tmp_path: Path,
                                                    tiny_embedder_dir: Path,
                                                    tiny_embedder) -> None:
    config = KnowledgeBaseConfig.model_validate({
        "embedder": str(tiny_embedder_dir), "ingest": {"follow_links": True}})
    with KnowledgeBase.open(tmp_path / "kb2", create=True, config=config,
                            embedder=tiny_embedder) as base:
        base.sync([tree / "docs"])
        assert "docs/passwd.txt" in _sources(base)


def _ragkit(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "ragkit", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_follow_links(tree: Path, tmp_path: Path, tiny_embedder_dir: Path) -> None:
    kb = tmp_path / "kb3"
    base = ("index", str(tree / "docs"), "--kb", str(kb), "--embedder", str(tiny_embedder_dir))
    plain = _ragkit(*base)
    assert plain.returncode == 0, plain.stderr
    assert "skipped docs/passwd.txt: symlink to a file outside the indexed folders" in plain.stderr
    followed = _ragkit(*base[:4], "--follow-links", "--json")
    assert followed.returncode == 0, followed.stderr
    report = json.loads(followed.stdout)
    assert report["failed"] == [] and report["added"] >= 2
