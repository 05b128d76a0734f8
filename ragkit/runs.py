"""Which process an indexing run belongs to, and whether that process still lives.

Owns: the identity recorded with a run while it is 'running' (host, pid, and the process's start
time, so that a pid reused by another program is not taken for the run) and the check that
``ragkit status`` makes to show a run whose process is gone (kill -9, a crash) as
'interrupted' instead of 'running' forever. Does not own the runs table (``ragkit.store``),
which also marks such runs 'interrupted' for good when the next run takes the write lock.

A run recorded on another host cannot be checked from here and stays 'running' until then.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) from ``/proc/PID/stat``, or None without one."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()  # after "pid (comm) ": field 3 onwards
    return fields[0], int(fields[19])


def this_process() -> dict:
    """The identity to record with a run this process starts."""
    stat = _stat(os.getpid())
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "start": stat[1] if stat else None}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def running_status(owner: dict) -> str:
    """'interrupted' when the process that recorded ``owner`` is gone, else 'running'."""
    pid, host = owner.get("pid"), owner.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return "running"  # recorded elsewhere (or by an older ragkit): cannot tell
    if not _alive(pid):
        return "interrupted"
    stat = _stat(pid)
    if stat is None:
        return "running"  # no /proc: the pid exists, assume it is the run
    state, start = stat
    if state == "Z" or (owner.get("start") is not None and start != owner["start"]):
        return "interrupted"  # a zombie, or the pid now belongs to another process
    return "running"
