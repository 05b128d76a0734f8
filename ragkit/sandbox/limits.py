"""Resource limits and isolation switches for one sandbox run.

Owns :class:`SandboxLimits` (validated at construction) and the small helpers that turn it into
the plain data the in-child runner reads: which paths the candidate may see (an allow-list:
the interpreter, its standard library and site-packages, the system's shared libraries and
tools, and the work dir; everything else is absent from the sandbox's file system). It does not
start processes (``launcher``) or interpret what comes back (``result``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragkit.errors import ConfigError

MIB = 1024 * 1024

#: Directories never hidden, whatever a caller asks: hiding them would break the interpreter.
SYSTEM_DIRS = frozenset(
    {"/", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr", "/etc", "/proc", "/sys", "/dev",
     "/run", "/var", "/opt"}
)

#: System paths bound read-only into the sandbox's new root (where they exist): shared
#: libraries, common tools, time zones, the dynamic linker's cache. Nothing else of the host is.
SYSTEM_VISIBLE = ("/usr/bin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/share/zoneinfo",
                  "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache",
                  "/etc/localtime")

#: Device nodes bound into the sandbox's own /dev.
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


@dataclass(frozen=True)
class SandboxLimits:
    """What one :func:`ragkit.sandbox.run_tests` call may use.

    ``timeout_s`` bounds the whole run (wall clock); ``test_timeout_s`` bounds each test
    (defaults to whatever is left of ``timeout_s``). ``cpu_s``, ``memory_mb``, ``file_size_mb``,
    ``max_processes`` and ``max_open_files`` become per-process rlimits in every process that runs
    candidate code. ``run_memory_mb`` bounds the memory of the whole run (every process
    together, a cgroup where one can be made; otherwise the process cap is lowered so that
    processes x ``memory_mb`` fits in it), and ``max_processes`` is then also the run's process
    cap. ``work_dir_mb`` is the size of the work dir (a tmpfs). ``isolate_network`` /
    ``isolate_files`` / ``drop_privileges`` ask for the namespace and uid protections (files
    also brings a PID namespace); each is applied only where the OS allows it and the result
    reports what was applied (``SandboxResult.isolation``). ``hide_paths`` adds directories to
    hide even where they lie inside a visible path (the defaults: project checkout,
    RAGKIT_HOME, the home directory, the caller's working directory).
    """

    timeout_s: float = 10.0
    test_timeout_s: float | None = None
    cpu_s: int = 10
    memory_mb: int = 1024
    file_size_mb: int = 16
    max_processes: int = 32
    max_open_files: int = 256
    max_output_bytes: int = 16_384
    run_memory_mb: int = 2048
    work_dir_mb: int = 64
    isolate_network: bool = True
    isolate_files: bool = True
    drop_privileges: bool = True
    hide_paths: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        checks: list[tuple[str, float, float]] = [
            ("timeout_s", self.timeout_s, 0.1),
            ("cpu_s", self.cpu_s, 1),
            ("memory_mb", self.memory_mb, 64),
            ("file_size_mb", self.file_size_mb, 1),
            ("max_processes", self.max_processes, 1),
            ("max_open_files", self.max_open_files, 16),
            ("max_output_bytes", self.max_output_bytes, 256),
            ("run_memory_mb", self.run_memory_mb, 64),
            ("work_dir_mb", self.work_dir_mb, 1),
        ]
        if self.test_timeout_s is not None:
            checks.append(("test_timeout_s", self.test_timeout_s, 0.1))
        for name, value, low in checks:
            if not isinstance(value, int | float) or value < low:
                raise ConfigError(
                    f"SandboxLimits.{name}={value!r} is too small: use a number >= {low}."
                )
        for p in self.hide_paths:
            if not os.path.isabs(p):
                raise ConfigError(
                    f"SandboxLimits.hide_paths entry {p!r} is relative: give absolute paths."
                )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hide_paths"] = list(self.hide_paths)
        return d


def _project_root() -> Path | None:
    """The source checkout holding the ``ragkit`` package, when it is not inside an install."""
    pkg = Path(__file__).resolve().parents[1]
    root = pkg.parent
    if "site-packages" in root.parts or "dist-packages" in root.parts:
        return None
    return root


def default_hidden_paths(extra: tuple[str, ...] = ()) -> list[str]:
    """Directories the candidate must not see even inside a visible path: the project checkout,
    RAGKIT_HOME, home, cwd (the interpreter may live under one of them, e.g. ~/.pyenv)."""
    from ragkit.config import ragkit_home

    found: list[Path] = []
    root = _project_root()
    if root is not None:
        found.append(root)
    for getter in (ragkit_home, Path.home, Path.cwd):
        try:
            found.append(Path(getter()))
        except (OSError, RuntimeError, KeyError):
            continue
    found.extend(Path(p) for p in extra)
    out: list[str] = []
    for p in found:
        s = str(p.resolve())
        if s not in SYSTEM_DIRS and s not in out:
            out.append(s)
    return out


def visible_paths() -> list[str]:
    """What the candidate may see (read-only): the interpreter's prefixes, the standard library
    and site-packages on ``sys.path``, and :data:`SYSTEM_VISIBLE`. Symlinks are kept as links
    (e.g. /lib -> usr/lib), so a path may appear twice: as the link and as its target."""
    keep = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    keep |= {
        os.path.realpath(p)
        for p in sys.path
        if p and os.path.isdir(p) and ("site-packages" in p or p.startswith(sys.base_prefix))
    }
    keep |= {p for p in SYSTEM_VISIBLE if os.path.lexists(p)}
    return sorted(keep)
