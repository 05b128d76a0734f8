"""A knowledge base on hostile storage, through the real CLI: a read-only mount, a corrupt,
truncated or zero-byte ``kb.sqlite``, and a full disk (for SQLite and for the FAISS files).
Each must give one clear line (no traceback), and reading must never need to write."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.docs import write_docs
from tests.kb.mounts import require_mounts, run_scenario
from tests.kb.test_cli import index, ragkit
from tests.kb.test_sync import DOCS


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_embedder_dir: Path) -> tuple[Path, Path]:
    """(docs, kb): the sample documents indexed once by the CLI; tests copy the kb."""
    root = tmp_path_factory.mktemp("built")
    docs = write_docs(root / "docs", DOCS)
    index(docs, root / "kb", tiny_embedder_dir)
    return docs, root / "kb"


@pytest.fixture()
def kb(built: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(built[1], tmp_path / "kb"))


def one_line_error(proc, *needles: str) -> str:
    """Assert a failed run printed one `error:` message (no traceback) holding ``needles``."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    text = " ".join(proc.stderr.split())
    assert text.startswith("error:") or "\nerror:" in proc.stderr, proc.stderr
    for n in needles:
        assert n in text, text
    return text


# -- read-only ---------------------------------------------------------------------------------


def test_read_only_kb_can_be_searched_and_indexing_it_says_why(
    built: tuple[Path, Path], kb: Path, tmp_path: Path
) -> None:
    require_mounts()
    stale = Path(shutil.copytree(kb, tmp_path / "stale"))
    shutil.rmtree(stale / "index")  # search must rebuild it in memory, not on disk
    before = sorted(p.name for p in stale.rglob("*"))
    steps = run_scenario(f"""
read_only {kb}; read_only {stale}
step status ragkit status --kb {kb} --json
step human_status ragkit status --kb {kb}
step search ragkit search "citric acid" --kb {kb} --json
step stale ragkit search "citric acid" --kb {stale} --json
step index ragkit index {built[0]} --kb {kb}
""", tmp_path / "out")
    for name in ("status", "human_status", "search", "stale"):
        assert steps[name].returncode == 0, steps[name].stderr
        assert "Traceback" not in steps[name].stderr
    assert json.loads(steps["status"].stdout)["documents"] == 4
    assert json.loads(steps["search"].stdout)[0]["source"] == "docs/manuals/kettle.txt"
    assert json.loads(steps["stale"].stdout)[0]["source"] == "docs/manuals/kettle.txt"
    assert sorted(p.name for p in stale.rglob("*")) == before
    one_line_error(steps["index"], str(kb), "read-only", "writable")


# -- corrupt, truncated, zero bytes ------------------------------------------------------------


@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_corrupt_database_is_one_clear_error(kb: Path, built: tuple[Path, Path],
                                             damage: str) -> None:
    db = kb / "kb.sqlite"
    if damage == "random":
        db.write_bytes(os.urandom(64 * 1024))
    else:
        db.write_bytes(db.read_bytes()[: 3 * 4096])
    for args in (("status",), ("search", "citric acid"), ("index", str(built[0]))):
        proc = ragkit(*args, "--kb", str(kb), check=False)
        one_line_error(proc, str(db), "corrupt", "ragkit index")


def test_zero_byte_database_is_refused_not_opened_as_empty(kb: Path,
                                                          built: tuple[Path, Path]) -> None:
    db = kb / "kb.sqlite"
    db.write_bytes(b"")
    for args in (("status",), ("search", "citric acid"), ("index", str(built[0]))):
        proc = ragkit(*args, "--kb", str(kb), check=False)
        one_line_error(proc, str(db), "empty (0 bytes)")
    assert db.stat().st_size == 0  # left as found


def test_missing_database_is_refused_by_readers_and_rebuilt_by_index(
    kb: Path, built: tuple[Path, Path]
) -> None:
    (kb / "kb.sqlite").unlink()
    one_line_error(ragkit("status", "--kb", str(kb), check=False), "kb.sqlite", "ragkit index")
    report = json.loads(ragkit("index", str(built[0]), "--kb", str(kb), "--json").stdout)
    assert report["added"] == 4


# -- full disk ---------------------------------------------------------------------------------


def test_full_disk_search_still_works_and_index_fails_clearly(
    built: tuple[Path, Path], kb: Path, tmp_path: Path
) -> None:
    require_mounts()
    disk = tmp_path / "disk"
    disk.mkdir()
    new = write_docs(tmp_path / "new", {"gift.md": "# Gift cards\n\nGift cards never expire.\n"})
    steps = run_scenario(f"""
full_tmpfs {disk} 1m
cp -r {kb} {disk}/kb
cp -r {kb} {disk}/stale && rm -r {disk}/stale/index
fill {disk}
step search ragkit search "citric acid" --kb {disk}/kb --json
step stale ragkit search "citric acid" --kb {disk}/stale --json
step status ragkit status --kb {disk}/kb --json
step index ragkit index {new} --kb {disk}/kb
rm {disk}/.fill
step after ragkit status --kb {disk}/kb --json
step again ragkit index {new} --kb {disk}/kb --json
step found ragkit search "gift cards" --kb {disk}/kb --mode keyword --json
""", tmp_path / "out")
    for name in ("search", "stale", "status"):
        assert steps[name].returncode == 0, steps[name].stderr
    assert json.loads(steps["search"].stdout)[0]["source"] == "docs/manuals/kettle.txt"
    assert json.loads(steps["stale"].stdout)[0]["source"] == "docs/manuals/kettle.txt"
    one_line_error(steps["index"], str(disk), "full", "Nothing already stored was lost")
    assert steps["after"].returncode == 0, steps["after"].stderr
    assert json.loads(steps["after"].stdout)["documents"] == 4
    assert steps["again"].returncode == 0, steps["again"].stderr
    assert json.loads(steps["found"].stdout)[0]["source"] == "new/gift.md"


def test_full_disk_under_the_index_files(built: tuple[Path, Path], kb: Path,
                                         tmp_path: Path) -> None:
    """Only the FAISS files' disk is full: the database commit succeeds, saving the index
    fails with a clear error, search still answers (rebuilding in memory) and the next run on
    a disk with room completes without re-embedding."""
    require_mounts()
    new = write_docs(tmp_path / "new", {"gift.md": "# Gift cards\n\nGift cards never expire.\n"})
    steps = run_scenario(f"""
cp -r {kb}/index {tmp_path}/saved
full_tmpfs {kb}/index 64k
cp {tmp_path}/saved/* {kb}/index/
fill {kb}/index
step index ragkit index {new} --kb {kb}
step found ragkit search "gift cards" --kb {kb} --json
""", tmp_path / "out")
    text = one_line_error(steps["index"], str(kb / "index"), "full",
                          "Nothing already stored was lost")
    assert "close error" not in text  # FAISS wrote no short file behind our back
    assert steps["found"].returncode == 0, steps["found"].stderr
    assert json.loads(steps["found"].stdout)[0]["source"] == "new/gift.md"
    again = json.loads(ragkit("index", str(tmp_path / "new"), "--kb", str(kb), "--json").stdout)
    assert again["unchanged"] == 1 and again["chunks_embedded"] == 0
    status = json.loads(ragkit("status", "--kb", str(kb), "--json").stdout)
    assert status["documents"] == 5 and status["index_up_to_date"]
