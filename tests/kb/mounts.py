"""Run the real CLI against real read-only and full filesystems.

Tests run as root, where ``chmod`` stops no write, so read-only and full disks are made for
real: each scenario is a bash script run under ``unshare -m`` (a private mount namespace), where
it may bind-mount a folder read-only (``mount -o remount,ro,bind``, which stops root too: EROFS)
or mount a small ``tmpfs`` and fill it (ENOSPC). The mounts vanish with the namespace, so nothing
leaks onto the host even when a test dies. Without the privilege to mount, tests skip and say
why.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest


@functools.cache
def mount_unavailable() -> str | None:
    """Why private mounts cannot be made here, or None when they can."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "needs `unshare` and `mount` (util-linux)"
    with tempfile.TemporaryDirectory() as d:
        probe = f"mount -t tmpfs -o size=64k tmpfs {d} && mount --bind {d} {d} && " \
                f"mount -o remount,ro,bind {d} {d} && ! touch {d}/x 2>/dev/null"
        proc = subprocess.run(["unshare", "-m", "bash", "-c", probe], capture_output=True,
                              text=True, timeout=60)
    if proc.returncode != 0:
        return ("cannot make a private tmpfs / read-only bind mount here "
                f"(`unshare -m` + `mount` failed: {proc.stderr.strip()[:200] or proc.returncode});"
                " run as root on a host that allows mount namespaces")
    return None


def require_mounts() -> None:
    reason = mount_unavailable()
    if reason:
        pytest.skip(reason)


@dataclass(frozen=True)
class Step:
    returncode: int
    stdout: str
    stderr: str


RAGKIT = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "ragkit"))

PRELUDE = f"""set -u
export NO_COLOR=1 COLUMNS=200
ragkit() {{ {RAGKIT} "$@"; }}
# step NAME CMD...: run CMD, keeping its stdout, stderr and exit status under $OUT/NAME.*
step() {{ local n=$1 rc=0; shift; "$@" >"$OUT/$n.out" 2>"$OUT/$n.err" || rc=$?; echo $rc >"$OUT/$n.rc"; }}
# read_only DIR: bind DIR over itself, read-only (root cannot write to it either)
read_only() {{ mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1"; }}
# full_tmpfs DIR SIZE: a tmpfs of SIZE at DIR, to be filled with `fill DIR`
full_tmpfs() {{ mount -t tmpfs -o size="$2" tmpfs "$1"; }}
fill() {{ dd if=/dev/zero of="$1/.fill" bs=4k 2>/dev/null || true; }}
"""


def run_scenario(script: str, out: Path, timeout: int = 600) -> dict[str, Step]:
    """Run ``script`` (bash, after :data:`PRELUDE`) in a private mount namespace.

    Returns each ``step``'s result by name. A failing setup command fails the test.
    """
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OUT": str(out)}
    proc = subprocess.run(["unshare", "-m", "bash", "-e", "-c", PRELUDE + script],
                          capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"scenario setup failed ({proc.returncode}):\n{proc.stderr}")
    steps = {}
    for rc in sorted(out.glob("*.rc")):
        name = rc.stem
        steps[name] = Step(int(rc.read_text()), (out / f"{name}.out").read_text(),
                           (out / f"{name}.err").read_text())
    return steps
