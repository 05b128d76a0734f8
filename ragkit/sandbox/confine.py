"""Namespaces and the sandbox's own root file system (stdlib only; inlined into the runner).

Owns the part of the runner that runs as root before any test: a new network namespace (no
interface up), a new mount namespace whose root is a fresh read-only tmpfs holding only
read-only bind mounts of the allowed paths (``job["visible"]``: interpreter, standard library,
site-packages, shared libraries and tools), a few device nodes, an empty /tmp, a fresh /proc
and the work dir as a size-limited tmpfs owned by the run's uid; ``pivot_root`` then makes it
the only tree there is (the host's root is detached). A PID namespace is entered by the
runner (:func:`enter_pid_namespace`, then :func:`mount_proc` in its first child). Each step
is tried and reported: :func:`isolate` returns what was really applied and notes for what was
not. It knows nothing about tests or results.

The launcher sends this file's source followed by ``runner.py``'s as one ``-c`` script, so it
must not import ragkit and must stay importable on its own for tests.
"""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
MNT_DETACH = 2
#: pivot_root has no libc wrapper; its syscall number per architecture.
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

libc = ctypes.CDLL(None, use_errno=True)


def _call(fn: Any, *args: Any) -> str:
    """Run a libc call; return '' on success or the error text."""
    if fn(*args) == 0:
        return ""
    return os.strerror(ctypes.get_errno())


def _mount(src: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> str:
    enc = [None if v is None else v.encode() for v in (src, target, fstype, data)]
    return _call(libc.mount, enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3])


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def isolate(job: dict[str, Any]) -> dict[str, Any]:
    """Enter namespaces and build the new root as the job asks; return what was applied."""
    info: dict[str, Any] = {"network": False, "files": False, "read_only": False, "pids": False,
                            "hidden": [], "visible": [], "notes": []}
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
        info["notes"].append("file isolation switched off: host files are NOT hidden, "
                             "no PID namespace")
        return info
    err = _call(libc.unshare, CLONE_NEWNS) or _mount(None, "/", None, MS_REC | MS_PRIVATE)
    if err:
        info["notes"].append(f"mount namespace unavailable ({err}): host files are NOT hidden, "
                             "no PID namespace")
        return info
    err = _build_root(job, info)
    if err:
        info["notes"].append(f"{err}: host files are NOT hidden, no PID namespace")
        return info
    info["files"] = info["read_only"] = True
    return info


def _bind(src: str, target: str) -> str:
    """Bind ``src`` (file, dir or symlink as a link) read-only at ``target``."""
    if os.path.islink(src):
        os.symlink(os.readlink(src), target)
        return ""
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        open(target, "ab").close()  # noqa: SIM115 - an empty mount point
    return _mount(src, target, None, MS_BIND | MS_REC) or _mount(
        None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _build_root(job: dict[str, Any], info: dict[str, Any]) -> str:
    """A tmpfs at ``job["root"]`` with only the visible paths, then pivot into it."""
    root = job["root"]
    err = _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    if err:
        return f"could not mount the new root ({err})"
    for path in sorted(job["visible"], key=len):
        if _under(path, info["visible"]) or not os.path.lexists(path):
            continue  # inside a path already bound (with its sub-mounts)
        os.makedirs(root + os.path.dirname(path), exist_ok=True)
        err = _bind(path, root + path)
        if err:
            info["notes"].append(f"could not bind {path} ({err}): it is not visible")
        else:
            info["visible"].append(path)
    for h in job["hide"]:
        flags = MS_NOSUID | MS_NODEV | MS_RDONLY
        if (_under(h, info["visible"]) and os.path.isdir(root + h)
                and not _mount("tmpfs", root + h, "tmpfs", flags, "size=4k")):
            info["hidden"].append(h)
    os.makedirs(root + "/dev", exist_ok=True)
    if err := _mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=4k"):
        return f"could not mount /dev ({err})"
    for dev in job["devices"]:
        if os.path.exists(dev):
            open(root + dev, "ab").close()  # noqa: SIM115 - an empty mount point
            _mount(dev, root + dev, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    _mount(None, root + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=4k")
    for d in ("/proc", "/tmp", job["workdir"]):
        os.makedirs(root + d, exist_ok=True)
    err = _mount("tmpfs", root + job["workdir"], "tmpfs", MS_NOSUID | MS_NODEV,
                 f"mode=755,uid=0,gid=0,size={job['limits']['work_dir_mb']}m")
    if err:
        return f"could not mount the work dir ({err})"
    uids = (job.get("uid"), job.get("test_uid"))
    make_work_dirs(root + job["workdir"], None if uids[0] is None else uids)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m")
    return _pivot(root, info)


def _pivot(root: str, info: dict[str, Any]) -> str:
    """Make ``root`` the root of this mount namespace; the old one is detached (chroot when
    ``pivot_root`` is refused: then the old root stays mounted but out of reach)."""
    os.chdir(root)
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    err = "unknown architecture" if number is None else _call(libc.syscall, number, b".", b".")
    if not err:
        err = _call(libc.umount2, b".", MNT_DETACH)
    else:
        info["notes"].append(f"pivot_root refused ({err}): chroot instead")
        os.chroot(".")
        err = ""
    os.chdir("/")
    return err and f"could not detach the host's root ({err})"


def make_work_dirs(workdir: str, uids: tuple[Any, Any] | None) -> None:
    """``code/`` (the candidate's: cwd, HOME, TMPDIR) and ``tests/`` (the tests'), mode 0700,
    owned by their side's uid; ``workdir`` itself stays the caller's (neither side can rename
    or replace the other's directory)."""
    if uids is not None:
        os.chmod(workdir, 0o711)
    for side, uid in zip(("code", "tests"), uids or (None, None), strict=True):
        path = os.path.join(workdir, side)
        os.mkdir(path, 0o700)
        if uid is not None:
            os.chown(path, uid, uid)


def set_oom_score(value: int) -> None:
    """-1000: the OOM killer never picks this process; 0: the default."""
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write(str(value))
    except OSError:
        pass


def oom_kills(fd: int | None) -> int:
    """How many processes the run's cgroup lost to its memory limit so far."""
    if fd is None:
        return 0
    try:
        os.lseek(fd, 0, 0)
        for line in os.read(fd, 8192).decode("ascii", "replace").splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def open_oom_counter(job: dict[str, Any]) -> int | None:
    """The cgroup's memory events file, opened while the host's file system is still here."""
    path = job.get("oom_events")
    try:
        return os.open(path, os.O_RDONLY) if path else None
    except OSError:
        return None


def pid_namespace(info: dict[str, Any], out: int) -> None:
    """Fork into a new PID namespace: the child (its pid 1) returns and runs the tests; this
    process only waits and exits with the child's status. When pid 1 dies, the kernel kills
    every process left in the namespace."""
    err = _call(libc.unshare, CLONE_NEWPID)
    if err:
        info["notes"].append(f"PID namespace unavailable ({err}): /proc shows host processes")
        return
    pid = os.fork()
    if pid:
        os.close(out)
        status = os.waitpid(pid, 0)[1]
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
    err = _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    info["pids"] = not err
    if err:
        info["notes"].append(f"could not mount /proc in the PID namespace ({err}): it is empty")


def readable_by_others(path: str) -> bool:
    """Whether every directory down to ``path`` lets other users in (o+x, and o+r at the end)."""
    parts = os.path.abspath(path).split("/")
    for i in range(2, len(parts) + 1):
        mode = os.stat("/".join(parts[:i]) or "/").st_mode
        if not mode & 0o001:
            return False
    return bool(os.stat(path).st_mode & 0o004)
