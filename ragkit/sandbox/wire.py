"""The byte format between the test process and the candidate process (stdlib only; inlined).

Owns :func:`dumps` / :func:`loads` and the length-prefixed frames around them. Only plain
literals travel by value: None, bool, int, float, complex, str, bytes, and list / tuple / dict /
set / frozenset of those (exact types only: a subclass of int with its own ``__eq__`` is not an
int here), at most :data:`MAX_DEPTH` levels and :data:`MAX_ITEMS` values per message. Anything
else goes through the ``other`` callback of :func:`dumps` (a handle, or a refusal) and comes
back through the ``handle`` callback of :func:`loads`. Decoding never runs code from the bytes
(no pickle, no marshal, no eval): the test process reads what a hostile candidate wrote with
this decoder only, and a frame over :data:`MAX_FRAME` bytes is refused before it is read.

It knows nothing about processes or tests; ``remote.py`` uses it on both sides.
"""

from __future__ import annotations

import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

MAX_DEPTH = 32
MAX_ITEMS = 200_000
MAX_FRAME = 16 << 20
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_C128 = struct.Struct("<dd")
_SEQS = {list: b"l", tuple: b"t", set: b"S", frozenset: b"Z"}
_MAKE = {b"l": list, b"t": tuple, b"S": set, b"Z": frozenset}


class WireError(Exception):
    """Bytes that are not a well-formed message (or a message over the limits)."""


class NotLiteral(Exception):  # noqa: N818 - a signal, not an error
    """A value that cannot travel by value; ``other`` decides what to do with it."""


def dumps(value: Any, other: Callable[[Any], bytes] | None = None) -> bytes:
    """Encode ``value``; a non-literal part becomes ``other(part)`` (NotLiteral without it,
    and for a message over the limits)."""
    out: list[bytes] = []
    count = [0]

    def put(v: Any, depth: int) -> None:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise NotLiteral("too deep or too large")
        t = type(v)
        if v is None:
            out.append(b"N")
        elif t is bool:
            out.append(b"T" if v else b"F")
        elif t is int:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            out.append(b"i" + _U32.pack(len(raw)) + raw)
        elif t is float:
            out.append(b"f" + _F64.pack(v))
        elif t is complex:
            out.append(b"c" + _C128.pack(v.real, v.imag))
        elif t is str or t is bytes:
            raw = v.encode("utf-8", "surrogatepass") if t is str else v
            out.append((b"s" if t is str else b"b") + _U32.pack(len(raw)) + raw)
        elif t in _SEQS:
            out.append(_SEQS[t] + _U32.pack(len(v)))
            for item in v:
                put(item, depth + 1)
        elif t is dict:
            out.append(b"d" + _U32.pack(len(v)))
            for k, item in v.items():
                put(k, depth + 1)
                put(item, depth + 1)
        elif other is not None:
            out.append(other(v))
        else:
            raise NotLiteral(t.__name__)

    put(value, 0)
    return b"".join(out)


def loads(data: bytes, handle: Callable[[bytes, int], tuple[Any, int]] | None = None,
          pos: int = 0) -> tuple[Any, int]:
    """Decode one value at ``pos``: (value, next position). ``handle(data, pos)`` decodes a
    tag this module does not own (``h``/``m``, from ``remote.py``); without it they are errors."""
    count = [0]

    def need(at: int, n: int) -> None:
        if at + n > len(data):
            raise WireError("message cut short")

    def get(at: int, depth: int, key: bool) -> tuple[Any, int]:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise WireError("message too deep or too large")
        need(at, 1)
        tag = data[at : at + 1]
        at += 1
        if tag in (b"N", b"T", b"F"):
            return {b"N": None, b"T": True, b"F": False}[tag], at
        if tag == b"f":
            need(at, 8)
            return _F64.unpack_from(data, at)[0], at + 8
        if tag == b"c":
            need(at, 16)
            re, im = _C128.unpack_from(data, at)
            return complex(re, im), at + 16
        need(at, 4)
        (n,) = _U32.unpack_from(data, at)
        at += 4
        if tag in (b"i", b"s", b"b"):
            need(at, n)
            raw = bytes(data[at : at + n])
            if tag == b"i":
                return int.from_bytes(raw, "little", signed=True), at + n
            if tag == b"s":
                return raw.decode("utf-8", "surrogatepass"), at + n
            return raw, at + n
        if tag in _MAKE:
            items = []
            for _ in range(n):
                item, at = get(at, depth + 1, key or tag in (b"S", b"Z"))
                items.append(item)
            return _MAKE[tag](items), at
        if tag == b"d":
            pairs = []
            for _ in range(n):
                k, at = get(at, depth + 1, True)
                v, at = get(at, depth + 1, key)
                pairs.append((k, v))
            return dict(pairs), at
        if handle is not None and not key:
            return handle(data, at - 5)
        raise WireError(f"unexpected tag {tag!r}")

    try:
        return get(pos, 0, False)
    except (ValueError, TypeError, UnicodeDecodeError, struct.error, RecursionError,
            MemoryError) as exc:
        raise WireError(f"bad message: {type(exc).__name__}") from None


def send_frame(fd: int, payload: bytes) -> None:
    """Write one length-prefixed frame (all of it)."""
    view = memoryview(_U32.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def recv_frame(fd: int, limit: int = MAX_FRAME) -> bytes | None:
    """Read one frame; None at end of file. A frame over ``limit`` is a WireError."""
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (size,) = _U32.unpack(head)
    if size > limit:
        raise WireError(f"a reply of {size} bytes is over the limit of {limit}")
    body = _read_exact(fd, size)
    if body is None:
        return None
    return body


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
