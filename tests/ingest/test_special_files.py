"""Only regular files are indexed: a named pipe named like a document and a link to /dev/zero are
reported per file instead of blocking the run or reading forever."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit.errors import IngestError
from ragkit.ingest import parse_file
from tests.helpers.docs import write_docs

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
MB = 2**20
SAFETY_WAIT_S = 60  # a safety net only: the fixed code returns at once


def _release(fifo: Path) -> None:
    """Unblock a reader stuck opening ``fifo`` (before the fix) by opening the write end."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def run_bounded(fn: Callable[[], object], fifos: list[Path] = ()) -> object:
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it does not end."""
    out: dict[str, object] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(SAFETY_WAIT_S)
    if t.is_alive():
        for f in fifos:
            _release(f)
        pytest.fail(f"still running after {SAFETY_WAIT_S}s: it blocked on a special file")
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


def test_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "notes.md"
    os.mkfifo(fifo)

    def parse() -> IngestError:
        with pytest.raises(IngestError) as err:
            parse_file(fifo, "notes.md", MB)
        return err.value

    err = run_bounded(parse, [fifo])
    assert err.reason == (
        "not a regular file (a named pipe); only regular files are indexed, "
        "remove it or --ignore it"
    )


def test_link_to_a_device_is_refused(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    with pytest.raises(IngestError, match=r"not a regular file \(a character device\)"):
        parse_file(link, "zero.txt", MB)


def test_sync_reports_special_files_and_indexes_the_rest(tmp_path, kb):
    docs = write_docs(tmp_path / "docs", {
        "good.md": "# Kettle\n\nDescale the kettle every month with citric acid.\n"})
    fifo = docs / "notes.md"
    os.mkfifo(fifo)
    (docs / "zero.txt").symlink_to("/dev/zero")  # outside the folder: not followed
    report = run_bounded(lambda: kb.sync([docs]), [fifo])
    assert report.added == 1
    failed = {f["path"]: f["error"] for f in report.failed}
    assert failed["docs/notes.md"].startswith("not a regular file (a named pipe)")
    assert failed["docs/zero.txt"].startswith("symlink to a file outside the indexed folders")
    # Opting in to links still refuses the device, and keeps what is stored.
    again = run_bounded(lambda: kb.sync([docs], follow_links=True), [fifo])
    failed = {f["path"]: f["error"] for f in again.failed}
    assert failed["docs/zero.txt"].startswith("not a regular file (a character device)")
    assert again.unchanged == 1 and kb.store.counts()["documents"] == 1
