"""Tests and candidate code in two processes: the candidate's server and the tests' proxies.

Owns both ends of the channel between the candidate process C (runs the code as module
``solution``; :func:`serve`) and the test process T (runs the tests and reports the verdict;
:func:`connect`). They run as two different unprivileged uids, so C cannot signal, trace or
read T, and C never holds T's report pipe: whatever the code does, the verdict is T's.

T sees the module ``solution`` (and the tests' globals) as proxies: a function is a
:class:`Remote` handle, and calling it, reading an attribute, comparing (``==``, ``<``, ...),
``len``, ``in``, indexing, iterating (the items come back as a list), ``bool``, ``repr``/``str``,
``hash`` and arithmetic are sent to C, which does them and answers. A result that is a plain
literal (``wire.py``: None, bool, numbers, str, bytes and containers of them) comes back by
value; anything else stays in C and comes back as a new handle. The module's own lists, dicts
and sets are handles too, so they stay live (what the code appends, the tests see). An exception
the code raises comes back as (type name, args, where) and is raised in T as that builtin
exception (ValueError, KeyError, AssertionError, StopIteration, ...), else as
:class:`CandidateError` naming the type: ``pytest.raises``-style checks and ``try/except`` work.

Limits of the split (each fails the test with a message, never a wrong verdict): a value that
is not a literal or a handle (a lambda, a class or instance the tests define, a generator)
cannot be sent to C (:class:`CandidateError` "could not be sent to the candidate process"); an
``async def`` of the code cannot be awaited by the tests; iterating gives at most
:data:`MAX_ITER` items; the tests' copy of a module-level int or str does not follow later
changes made by the code (read ``solution.NAME`` for the live value); ``isinstance(x, cls)``
works for a class of the code, ``type(x) is cls`` does not; a handle compares with the
candidate's own ``__eq__`` (as it would in one process). When C dies or closes the channel, T
reports the test as an error (the runner then names what happened to C), even if the test
caught the exception. Both files are stdlib-only and inlined into the runner script.
"""

from __future__ import annotations

import builtins
import os
import sys

from ragkit.sandbox.wire import (  # sandbox: inline
    _U32,
    MAX_FRAME,
    NotLiteral,
    WireError,
    dumps,
    loads,
    recv_frame,
    send_frame,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_ITER = 100_000
#: Standard-library modules the tests side never imports when the code names them.
NO_IMPORT = frozenset({"antigravity", "this", "__hello__", "__phello__", "idlelib", "tkinter",
                       "turtle", "turtledemo"})
_BINARY = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lshift",
           "rshift", "and", "or", "xor", "divmod")
_CMP = ("eq", "ne", "lt", "le", "gt", "ge")
_UNARY = ("neg", "pos", "abs", "invert", "len", "bool", "repr", "str", "hash", "int", "float",
          "index", "dir", "next")


class CandidateError(Exception):
    """Raised in the tests for an exception of the code that is not a builtin one, a value that
    cannot be sent to the candidate process, or a candidate process that is gone."""


def _operators() -> dict[str, Any]:
    import operator

    ops: dict[str, Any] = {name: getattr(operator, name if name not in ("and", "or") else
                                         name + "_") for name in _BINARY + _CMP
                           if name != "divmod"}
    ops.update(divmod=divmod, neg=operator.neg, pos=operator.pos, abs=abs, invert=operator.invert,
               len=len, bool=bool, repr=repr, str=str, hash=hash, int=int, float=float,
               index=operator.index, dir=dir, next=next, contains=operator.contains,
               getitem=operator.getitem, setitem=operator.setitem, delitem=operator.delitem,
               format=format, round=round, isinstance=isinstance, getattr=getattr,
               setattr=setattr, delattr=delattr)
    return ops


# ---- candidate side (C) ------------------------------------------------------------------


def serve(code: str, rfd: int, wfd: int) -> None:
    """Run ``code`` as module ``solution``, then answer T's requests until T hangs up."""
    mod = type(sys)("solution")
    sys.modules["solution"] = mod
    handles: dict[int, Any] = {0: mod}
    failure: BaseException | None = None
    try:
        exec(compile(code, "<solution>", "exec"), mod.__dict__)  # noqa: S102
    except BaseException as exc:  # noqa: BLE001 - reported to T at its first request
        failure = exc
    ops = _operators()

    def keep(obj: Any, modules: bool = False) -> bytes:
        name = getattr(obj, "__name__", "") if isinstance(obj, type(sys)) else ""
        if (modules and isinstance(name, str) and name.split(".")[0] in sys.stdlib_module_names
                and name.split(".")[0] not in NO_IMPORT):
            return b"m" + dumps(name)
        hid = len(handles) + 1
        while hid in handles:
            hid += 1
        handles[hid] = obj
        return b"h" + _U32.pack(hid) + dumps(type(obj).__name__[:100])

    def whole(obj: Any, modules: bool = False) -> bytes:
        try:
            data = dumps(obj)
        except NotLiteral:
            return keep(obj, modules)
        return data if len(data) < MAX_FRAME // 2 else keep(obj)

    def resolve(data: bytes, at: int) -> tuple[Any, int]:
        if data[at : at + 1] != b"h" or at + 5 > len(data):
            raise WireError("unexpected tag")
        return handles[_U32.unpack_from(data, at + 1)[0]], at + 5

    def answer(op: str, args: tuple) -> bytes:
        if op == "init":
            if failure is not None:
                raise failure
            names = [(k, v) for k, v in mod.__dict__.items() if not k.startswith("__")]
            return b"l" + _U32.pack(len(names)) + b"".join(
                b"t" + _U32.pack(2) + dumps(k) + (keep(v) if type(v) in (list, dict, set)
                                                 else whole(v, modules=True))
                for k, v in names)
        if op == "call":
            obj, pos, kw = args
            return whole(obj(*pos, **kw))
        if op == "iter":
            items, it = [], iter(args[0])
            for item in it:
                if len(items) == MAX_ITER:
                    raise RuntimeError(f"the code's iterable has over {MAX_ITER} items: too "
                                       "many to send to the tests")
                items.append(whole(item))
            return b"l" + _U32.pack(len(items)) + b"".join(items)
        return whole(ops[op](*args))

    while True:
        try:
            frame = recv_frame(rfd)
        except (OSError, WireError):
            frame = None
        if frame is None:
            _flush()
            os._exit(0)
        seq = 0
        try:
            (seq, op, args, released), _ = loads(frame, resolve)
            for hid in released:
                if hid:
                    handles.pop(hid, None)
            reply = dumps((seq, "ok")) + answer(op, args)
        except BaseException as exc:  # noqa: BLE001 - every failure is data for T
            if isinstance(exc, MemoryError):
                import resource

                _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
                resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
            reply = _exception_reply(seq, exc, code)
        _flush()
        send_frame(wfd, reply)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib would add import time
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed or broken stream is no matter
            pass


def _exception_reply(seq: int, exc: BaseException, code: str) -> bytes:
    """(seq, "exc", type name, args, where, traceback text, last line), all literals."""
    try:
        import traceback

        lines = code.splitlines()
        where, tb = "", exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<solution>":
                n = tb.tb_lineno
                text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
                where = f" at solution line {n}: {text}"
            tb = tb.tb_next
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<solution>"]
        tb_text = "".join(traceback.format_list(frames))
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        args = exc.args
        try:
            dumps(args)
        except NotLiteral:
            args = (str(exc),)
        return dumps((seq, "exc", type(exc).__name__, args, where, tb_text[-3000:], last[:2000]))
    except BaseException:  # noqa: BLE001 - an exception whose str() raises, and the like
        return dumps((seq, "exc", "CandidateError", (), "", "", "CandidateError"))


# ---- test side (T) -----------------------------------------------------------------------


class Channel:
    """T's end: one request at a time, replies matched by sequence number."""

    def __init__(self, wfd: int, rfd: int) -> None:
        self.wfd, self.rfd, self.seq = wfd, rfd, 0
        self.released: list[int] = []
        self.gone = ""  # why the candidate process cannot answer any more

    def _ref(self, value: Any) -> bytes:
        if type(value) is Remote:
            return b"h" + _U32.pack(object.__getattribute__(value, "_sbx_id"))
        raise CandidateError(f"a {type(value).__name__} value could not be sent to the candidate "
                             "process (tests and code run apart: pass literals or values the "
                             "code returned)")

    def _handle(self, data: bytes, at: int) -> tuple[Any, int]:
        tag = data[at : at + 1]
        if tag == b"h" and at + 5 <= len(data):
            hid = _U32.unpack_from(data, at + 1)[0]
            kind, at = loads(data, None, at + 5)
            return Remote(hid, str(kind)), at
        if tag == b"m":
            name, at = loads(data, None, at + 1)
            if (not isinstance(name, str) or name.split(".")[0] not in sys.stdlib_module_names
                    or name.split(".")[0] in NO_IMPORT):
                raise WireError("bad module name")
            __import__(name)
            return sys.modules[name], at
        raise WireError(f"unexpected tag {tag!r}")

    def call(self, op: str, *args: Any) -> Any:
        if self.gone:
            raise CandidateError(self.gone)
        self.seq += 1
        released, self.released = tuple(self.released), []
        try:
            payload = dumps((self.seq, op, args, released), self._ref)
        except NotLiteral:
            raise CandidateError("a value too large or too deep to send to the candidate "
                                 "process") from None
        try:
            send_frame(self.wfd, payload)
            while True:
                frame = recv_frame(self.rfd)
                if frame is None:
                    break
                head, at = loads(frame)
                if type(head) is tuple and head[:1] == (self.seq,):
                    break
        except BrokenPipeError:
            frame = None
        except WireError as exc:
            self.gone = f"the candidate process sent a bad reply ({exc})"
            raise CandidateError(self.gone) from None
        except BaseException:
            self.gone = "an earlier call to the candidate process was interrupted"
            raise
        if frame is None:
            self.gone = "the candidate process ended while the test was calling it"
            raise CandidateError(self.gone)
        if head[1:2] == ("ok",):
            try:
                return loads(frame, self._handle, at)[0]
            except WireError as exc:
                self.gone = f"the candidate process sent a bad reply ({exc})"
                raise CandidateError(self.gone) from None
        raise _rebuild(head)


def _rebuild(head: tuple) -> BaseException:
    """The exception the code raised, as a builtin exception of T where it is one."""
    _seq, _exc, name, args, where, tb, last = (head + ("",) * 7)[:7]
    cls = getattr(builtins, str(name), None)
    exc: BaseException = CandidateError(str(last))
    if (isinstance(cls, type) and issubclass(cls, BaseException) and cls is not CandidateError
            and isinstance(args, tuple)):
        try:  # noqa: SIM105 - contextlib would add import time
            exc = cls(*args)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs typed args
            pass
    exc._sbx_remote = (str(where), str(tb))  # type: ignore[attr-defined]
    return exc


_CHANNEL: Channel | None = None


def _remote_call(op: str, *args: Any) -> Any:
    assert _CHANNEL is not None
    return _CHANNEL.call(op, *args)


class Remote:
    """A value that lives in the candidate process; every use is a request to it."""

    __slots__ = ("__weakref__", "_sbx_id", "_sbx_type")

    def __init__(self, hid: int, kind: str) -> None:
        object.__setattr__(self, "_sbx_id", hid)
        object.__setattr__(self, "_sbx_type", kind)

    def __del__(self) -> None:
        if _CHANNEL is not None:
            _CHANNEL.released.append(object.__getattribute__(self, "_sbx_id"))

    def __getattr__(self, name: str) -> Any:
        return _remote_call("getattr", self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        _remote_call("setattr", self, name, value)

    def __delattr__(self, name: str) -> None:
        _remote_call("delattr", self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _remote_call("call", self, args, kwargs)

    def __iter__(self) -> Any:
        return iter(_remote_call("iter", self))

    def __contains__(self, item: Any) -> bool:
        return bool(_remote_call("contains", self, item))

    def __getitem__(self, key: Any) -> Any:
        return _remote_call("getitem", self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        _remote_call("setitem", self, key, value)

    def __delitem__(self, key: Any) -> None:
        _remote_call("delitem", self, key)

    def __format__(self, spec: str) -> str:
        return _remote_call("format", self, spec)

    def __round__(self, ndigits: Any = None) -> Any:
        return _remote_call("round", self) if ndigits is None else _remote_call("round", self, ndigits)

    def __instancecheck__(self, instance: Any) -> bool:
        try:
            return bool(_remote_call("isinstance", instance, self))
        except CandidateError:
            return False

    def __enter__(self) -> Any:
        return self.__getattr__("__enter__")()

    def __exit__(self, *exc: Any) -> Any:
        return self.__getattr__("__exit__")(None, None, None)


def _unary(op: str) -> Any:
    return lambda self: _remote_call(op, self)


def _binary(op: str, reflected: bool) -> Any:
    if reflected:
        return lambda self, other: _remote_call(op, other, self)
    return lambda self, other: _remote_call(op, self, other)


for _name in _UNARY:
    setattr(Remote, f"__{_name}__", _unary(_name))
for _name in _CMP:
    setattr(Remote, f"__{_name}__", _binary(_name, False))
for _name in _BINARY:
    setattr(Remote, f"__{_name}__", _binary(_name, False))
    setattr(Remote, f"__r{_name}__", _binary(_name, True))


def connect(wfd: int, rfd: int, module: str = "solution") -> dict[str, Any]:
    """In T: open the channel, install the proxy module as ``solution`` (and as ``module``,
    the code file's own name) and return the tests' globals (the code's names). Raises what
    the code raised if its top level failed."""
    global _CHANNEL
    _CHANNEL = Channel(wfd, rfd)
    names = _CHANNEL.call("init")
    mod = type(sys)("solution")
    root = Remote(0, "module")
    mod.__getattr__ = lambda name: _remote_call("getattr", root, name)  # type: ignore[attr-defined]
    ns: dict[str, Any] = {}
    for name, value in names:
        setattr(mod, name, value)
        # the code's names reach the tests' globals, except those that would shadow a
        # built-in the tests call (a code defining ``abs`` to return 0 made a wrong ``add``
        # pass ``assert abs(add(1, 2) - 3) < 1e-9``); ``solution.NAME`` still reaches them
        if not hasattr(builtins, name):
            ns[name] = value
    sys.modules["solution"] = sys.modules[module] = mod
    return ns


def channel_gone() -> str:
    """Why the candidate process stopped answering ("" when it did not)."""
    return _CHANNEL.gone if _CHANNEL is not None else ""
