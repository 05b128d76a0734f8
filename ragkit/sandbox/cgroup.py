"""A cgroup per sandbox run: one memory cap and one process cap for all its processes together.

Owns :func:`create` and :class:`RunGroup` (launcher side). Per-process rlimits cannot bound a
run that forks: 32 processes of 1 GiB each may take 32 GiB. A cgroup caps the sum: memory
(``memory.max``, swap off where the file exists) and tasks (``pids.max``). cgroup v2 is used
when its memory and pids controllers can be enabled under the caller's own cgroup, else the v1
``memory`` and ``pids`` hierarchies; the group is made under the caller's own cgroup, so any
limit the caller lives under still applies. Where neither can be made (not root, read-only
/sys/fs/cgroup, a v2 group holding processes) :func:`create` says why and the launcher falls
back to a smaller process cap. It knows nothing about tests; the runner is moved into the
group before it reads its job, so every process of the run starts inside it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RunGroup:
    """The cgroup directories of one run and the file whose ``oom_kill`` line counts kills."""

    kind: str  # "cgroup2" | "cgroup1"
    dirs: tuple[str, ...]
    events: str

    def join(self, pid: int) -> None:
        for d in self.dirs:
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    def remove(self) -> None:
        """Kill whatever is left inside, then remove the directories."""
        for d in self.dirs:
            kill_until_gone(lambda d=d: _pids(d), rounds=100)
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # the last tasks are still exiting


def kill_until_gone(list_pids: Callable[[], list[int]], rounds: int) -> None:
    """SIGKILL every pid ``list_pids`` returns, again and again until it returns none or
    ``rounds`` pass (a fork bomb races the killing)."""
    for _ in range(rounds):
        pids = list_pids()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as fh:
        fh.write(value)


def _pids(d: str) -> list[int]:
    try:
        with open(os.path.join(d, "cgroup.procs"), encoding="ascii") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) of every cgroup file system."""
    found = []
    with open("/proc/self/mounts", encoding="ascii", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) > 3 and parts[2] in ("cgroup", "cgroup2"):
                found.append((parts[1], parts[2], set(parts[3].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup per controller ("" for v2) from /proc/self/cgroup."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup", encoding="ascii", errors="replace") as fh:
        for line in fh:
            _hid, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                own[c] = path
    return own


def _v2(name: str, memory: int, tasks: int, mounts: list, own: dict[str, str]) -> RunGroup:
    point = next(m for m, kind, _ in mounts if kind == "cgroup2")
    parent = os.path.join(point, own[""].lstrip("/"))
    with open(os.path.join(parent, "cgroup.subtree_control"), encoding="ascii") as fh:
        enabled = set(fh.read().split())
    if not {"memory", "pids"} <= enabled:
        _write(os.path.join(parent, "cgroup.subtree_control"), "+memory +pids")
    d = os.path.join(parent, name)
    os.mkdir(d)
    try:
        _write(os.path.join(d, "memory.max"), str(memory))
        if os.path.exists(os.path.join(d, "memory.swap.max")):
            _write(os.path.join(d, "memory.swap.max"), "0")
        _write(os.path.join(d, "pids.max"), str(tasks))
    except OSError:
        os.rmdir(d)
        raise
    return RunGroup("cgroup2", (d,), os.path.join(d, "memory.events"))


def _v1(name: str, memory: int, tasks: int, mounts: list, own: dict[str, str]) -> RunGroup:
    made: list[str] = []
    try:
        for ctl in ("memory", "pids"):
            point = next(m for m, kind, opts in mounts if kind == "cgroup" and ctl in opts)
            d = os.path.join(point, own.get(ctl, "/").lstrip("/"), name)
            os.mkdir(d)
            made.append(d)
        mem, pids = made
        _write(os.path.join(mem, "memory.limit_in_bytes"), str(memory))
        if os.path.exists(os.path.join(mem, "memory.memsw.limit_in_bytes")):
            _write(os.path.join(mem, "memory.memsw.limit_in_bytes"), str(memory))
        _write(os.path.join(pids, "pids.max"), str(tasks))
    except (OSError, StopIteration):
        for d in made:
            with contextlib.suppress(OSError):
                os.rmdir(d)
        raise
    return RunGroup("cgroup1", tuple(made), os.path.join(mem, "memory.oom_control"))


def create(memory_bytes: int, tasks: int) -> tuple[RunGroup | None, str]:
    """A new cgroup capped at ``memory_bytes`` and ``tasks``, or (None, why not)."""
    name = f"ragkit-sbx-{secrets.token_hex(6)}"
    try:
        mounts, own = _mounts(), _own_paths()
    except (OSError, ValueError) as exc:
        return None, f"cgroups unreadable ({exc})"
    errors = []
    for make in (_v2, _v1):
        try:
            return make(name, memory_bytes, tasks, mounts, own), ""
        except (OSError, StopIteration, KeyError) as exc:
            errors.append(f"{make.__name__.strip('_')}: {exc or 'not mounted'}")
    return None, "no cgroup could be made (" + "; ".join(errors) + ")"
