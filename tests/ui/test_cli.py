"""`ragkit ui`: option checks, creating a missing knowledge base, first launch on the sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ragkit
from ragkit.cli import app
from ragkit.cli.ui import ensure_kb
from ragkit.data import sample_store, support_domain

ROOT = Path(__file__).resolve().parents[2]


def test_bad_quantization_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["ui", "--kb", str(tmp_path / "kb"), "--quantization", "int3"])
    assert res.exit_code != 0
    assert "none, int8 or int4" in str(res.exception) + res.output
    assert not (tmp_path / "kb").exists()  # nothing created before the options are valid


def test_missing_domain_file_is_refused(tmp_path: Path, tiny_kb: Path) -> None:
    res = CliRunner().invoke(app, ["ui", "--kb", str(tiny_kb), "--domain", str(tmp_path / "x")])
    assert res.exit_code != 0 and "does not exist" in str(res.exception)


def test_a_missing_kb_other_than_the_default_is_created_empty(tmp_path: Path) -> None:
    ensure_kb(tmp_path / "new", sample=None)
    assert (tmp_path / "new" / "ragkit.json").exists()


def test_bundled_files_are_package_data_found_from_any_working_directory(tmp_path: Path) -> None:
    """The sample store and domain come from the installed package, not the working directory
    (tests/test_wheel.py checks the same from a wheel installed outside the checkout)."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        pkg = Path(ragkit.__file__).parent
        assert sample_store() == pkg / "data" / "store"
        assert (sample_store() / "policies" / "returns.md").is_file()
        assert support_domain().is_file() and support_domain().parent == pkg / "data"
        # the repository's knowledge/ links to the same files, for the tools and eval sets
        assert (ROOT / "knowledge" / "store").resolve() == sample_store().resolve()
    finally:
        os.chdir(cwd)


@pytest.mark.real_model
def test_first_launch_indexes_the_sample_and_prints_the_url(tmp_path: Path,
                                                            real_embedder) -> None:
    from tests.e2e.conftest import Server

    srv = Server(["--no-preload"], cwd=tmp_path)  # default --kb .ragkit/kb under tmp_path
    try:
        log = srv.log()
        assert "first launch: indexing the sample knowledge base" in log
        assert srv.url.startswith("http://127.0.0.1:")
        assert (tmp_path / ".ragkit" / "kb" / "ragkit.json").exists()
        import urllib.request

        with urllib.request.urlopen(srv.url, timeout=30) as resp:
            assert resp.status == 200
    finally:
        srv.stop()
