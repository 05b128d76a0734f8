"""Namespaces and mounts for the sandbox runner (stdlib only; inlined into the runner script).

Owns the part of the runner that runs as root before any test: a new network namespace (no
interface up), a new mount namespace in which hidden directories are covered by empty
root-owned tmpfs mounts, the interpreter and work dir are bound back, and every mount but the
work dir is made read-only. Each step is tried and reported: :func:`isolate` returns what was
really applied and notes for what was not. It knows nothing about tests or results.

The launcher sends this file's source followed by ``runner.py``'s as one ``-c`` script, so it
must not import ragkit and must stay importable on its own for tests.
"""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 0x1, 0x2, 0x4, 0x20
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
O_PATH = 0o10000000

libc = ctypes.CDLL(None, use_errno=True)


def _call(fn: Any, *args: Any) -> str:
    """Run a libc call; return '' on success or the error text."""
    if fn(*args) == 0:
        return ""
    return os.strerror(ctypes.get_errno())


def _mount(src: str, target: str, fstype: str | None, flags: int, data: str | None) -> str:
    enc = [None if v is None else v.encode() for v in (src, target, fstype, data)]
    return _call(libc.mount, enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3])


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def isolate(job: dict[str, Any]) -> dict[str, Any]:
    """Enter namespaces and hide paths as the job asks; return what was really applied."""
    info: dict[str, Any] = {"network": False, "files": False, "read_only": False, "hidden": [],
                            "notes": []}
    if job.get("uid") is None and os.geteuid() == 0:
        info["notes"].append("candidate runs as root: process-count limit NOT enforced")
    if not job["isolate_network"]:
        info["notes"].append("network isolation switched off: network is NOT blocked")
    if job["isolate_network"]:
        err = _call(libc.unshare, CLONE_NEWNET)
        info["network"] = not err
        if err:
            info["notes"].append(f"network namespace unavailable ({err}): network is NOT blocked")
    if not job["isolate_files"]:
        info["notes"].append("file isolation switched off: project files are NOT hidden")
        return info
    err = _call(libc.unshare, CLONE_NEWNS) or _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    if err:
        info["notes"].append(f"mount namespace unavailable ({err}): project files are NOT hidden")
        return info
    bound = _hide(job, info)
    _read_only(job, info, bound)
    return info


def _hide(job: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """Cover hidden dirs with empty root-owned tmpfs; bind kept paths back. Returns the binds."""
    keep_fds = {k: os.open(k, O_PATH) for k in job["keep"] if os.path.exists(k)}
    mounted: list[str] = []
    bound: list[str] = []
    for h in sorted(job["hide"], key=len):
        if not os.path.isdir(h) or _under(h, mounted):
            continue
        err = _mount("tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
        if err:
            info["notes"].append(f"could not hide {h} ({err})")
        else:
            mounted.append(h)
    for k, fd in keep_fds.items():
        if _under(k, mounted):
            os.makedirs(k, exist_ok=True)
            err = _mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC, None)
            if err:
                info["notes"].append(f"could not bind {k} back ({err})")
            else:
                bound.append(k)
        os.close(fd)
    info["hidden"] = [h for h in mounted if h not in keep_fds]
    info["files"] = bool(mounted)
    return bound


def _read_only(job: dict[str, Any], info: dict[str, Any], bound: list[str]) -> None:
    """Make every mount but the work dir read-only (covers world-writable dirs like /run/lock)."""
    work = job["workdir"]
    if work not in bound:
        err = _mount(work, work, None, MS_BIND | MS_REC, None)
        if err:
            info["notes"].append(f"work dir could not be bound ({err}): file system stays writable")
            return
    err = _mount("none", "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
    if err:
        info["notes"].append(f"could not make / read-only ({err}): world-writable dirs stay so")
        return
    for k in bound:
        if k != work:
            _mount("none", k, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
    info["read_only"] = True


def readable_by_others(path: str) -> bool:
    """Whether every directory down to ``path`` lets other users in (o+x, and o+r at the end)."""
    parts = os.path.abspath(path).split("/")
    for i in range(2, len(parts) + 1):
        mode = os.stat("/".join(parts[:i]) or "/").st_mode
        if not mode & 0o001:
            return False
    return bool(os.stat(path).st_mode & 0o004)
