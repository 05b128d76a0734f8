"""Personal data at rest: finding it, redacting it, sealing what a tool still needs, and
files only their owner can read.

Owns: the PII detectors (emails, phone numbers, Luhn-checked card numbers, postal addresses in
English and Chinese) behind :func:`redact` / :func:`restore`; :func:`scrub`, which redacts every
string inside a nested value (dicts, lists, tuples, dataclasses, pydantic models) and seals the
values under named keys instead; :class:`Sealer`, authenticated encryption (Fernet) of those
values with a key kept in an owner-only file; :class:`RedactingSerializer`, a LangGraph
checkpoint serializer that scrubs on the way to disk and unseals on the way back; and
:func:`private_file`, which creates or narrows a file (and SQLite's ``-wal``/``-shm``) to mode
0600.

The rule it serves (``SECURITY.md``): what a customer types is stored redacted; a value a tool
needs in a later turn (the email or phone that proves an order, an address awaiting
confirmation) is stored sealed, readable only with the key; files holding either are
owner-only. Does not decide which values a tool needs: callers name the keys.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# \w is Unicode: 张伟@例子.中国 is an email too; "x [at] y [dot] cn" is one written to dodge
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,}"
                    r"|[\w.%+-]+\s*[\[(]\s*at\s*[\])]\s*[\w-]+(?:\s*[\[(]\s*dot\s*[\])]\s*[\w-]+)+",
                    re.IGNORECASE)
# digits grouped by spaces, dashes, dots, slashes or no-break spaces (Luhn-checked below)
_CARD = re.compile(r"(?<!\d)(?:\d[ \-./\u00a0\u3000]?){12,18}\d(?!\d)")
_PHONE = re.compile(r"(?<![A-Za-z0-9-])\+?\(?\d[\d\s().-]{6,18}\d(?![A-Za-z0-9-])")
_STREET = (r"street|st|road|rd|avenue|ave|lane|ln|way|drive|dr|boulevard|blvd|close|court|"
           r"place|square|terrace|crescent|gracht|straat|weg|strasse|straße|laan|plein")
_ADDRESS_EN = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][\w'-]*\s+){{0,4}}(?:{_STREET})\b\.?"
    rf"(?:,?\s*(?!please|thanks)[\w'-]+(?:\s(?!please|thanks)[\w'-]+){{0,3}}){{0,3}}"
    rf"|\b[A-Z][a-z]+(?:{_STREET})\s+\d{{1,5}}[A-Za-z]?\b(?:,?\s*[\w'-]+(?:\s[\w'-]+){{0,3}}){{0,3}}",
    re.IGNORECASE)
# house numbers may be set off by spaces ("张杨路 1288 弄 5 号 602 室")
_ADDRESS_ZH = re.compile(r"(?:(?![把改成为到是寄送址的我帮请在])[\u4e00-\u9fff]){2,6}(?:省|市|自治区|区|县)[\u4e00-\u9fff\w -]{0,30}?"
                         r"(?:路|街|道|巷|弄)[\w -]{0,12}?号(?:[\w -]{0,12}(?:室|楼|层|单元))?")
# a long number that the text itself calls a card or identity number, checksum or not
_CARD_CUE = re.compile(r"(?:card (?:number|no\.?|#)|card ending in|id (?:card )?number|"
                       r"passport (?:number|no\.?)|卡号|银行卡|信用卡|身份证(?:号码?)?|证件号码?)"
                       r"[^\d\n]{0,12}((?:\d[ \-]?){12,18}[\dXx])(?![\dXx])", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|CARD|ADDRESS)_\d+\]")
_ID = re.compile(r"(?i)\b(?:BC|RT|WC|TK)-\d{6}\b")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def redact(text: str, mapping: dict[str, str] | None = None,
           known: Iterable[str] = ()) -> tuple[str, dict[str, str]]:
    """Replace PII with placeholders; ``mapping`` (placeholder -> value) is extended and reused
    so the same value always gets the same placeholder. ``known`` values (an address the
    customer gave earlier) are replaced wherever they occur."""
    mapping = dict(mapping or {})
    reverse = {v: k for k, v in mapping.items()}
    counts: dict[str, int] = {}
    for k in mapping:
        kind = k[1:].split("_")[0]
        counts[kind] = max(counts.get(kind, 0), int(k[1:-1].split("_")[1]))

    def token(kind: str, value: str) -> str:
        if value in reverse:
            return reverse[value]
        counts[kind] = counts.get(kind, 0) + 1
        ph = f"[{kind}_{counts[kind]}]"
        mapping[ph] = value
        reverse[value] = ph
        return ph

    ids: dict[str, str] = {}

    def protect(m: re.Match[str]) -> str:  # order ids are not PII; keep them out of the way
        key = f"\x00{len(ids)}\x00"
        ids[key] = m.group(0)
        return key

    out = _ID.sub(protect, text)
    for value in sorted({v for v in known if v and len(v) >= 6}, key=len, reverse=True):
        if value in out:
            out = out.replace(value, token("ADDRESS", value))
    out = _EMAIL.sub(lambda m: token("EMAIL", m.group(0)), out)

    def card(m: re.Match[str]) -> str:
        d = _digits(m.group(0))
        return token("CARD", m.group(0)) if 13 <= len(d) <= 19 and luhn_ok(d) else m.group(0)

    out = _CARD.sub(card, out)
    out = _CARD_CUE.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)]
                        + token("CARD", m.group(1)), out)

    def phone(m: re.Match[str]) -> str:
        d = _digits(m.group(0))
        if not 8 <= len(d) <= 15 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.group(0).strip()):
            return m.group(0)
        return token("PHONE", m.group(0))

    out = _ADDRESS_EN.sub(lambda m: token("ADDRESS", m.group(0).rstrip(" ,.")) +
                          m.group(0)[len(m.group(0).rstrip(" ,.")):], out)
    out = _ADDRESS_ZH.sub(lambda m: token("ADDRESS", m.group(0)), out)
    out = _PHONE.sub(phone, out)
    for key, value in ids.items():
        out = out.replace(key, value)
    return out, mapping


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the original values back (unknown placeholders are left as they are)."""
    return _PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number (12 digits at least)."""
    total, odd = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if odd:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        odd = not odd
    return len(digits) >= 12 and total % 10 == 0


def contains_pii(text: str) -> bool:
    """True when :func:`redact` would replace anything in ``text``."""
    return bool(redact(text)[1])


# -- sealing ------------------------------------------------------------------------------
SEALED_PREFIX = "pii:v1:"
REDACTED = "[REDACTED]"
KEY_ENV = "RAGKIT_PII_KEY"


def private_file(path: Path) -> Path:
    """Create ``path`` if missing, owner-only (0600), and narrow an existing file and its
    SQLite side files to 0600 when this user owns them. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
              path.with_name(path.name + "-journal")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            st = p.stat()
            if st.st_uid == os.getuid() and st.st_mode & 0o077:
                os.chmod(p, st.st_mode & 0o700)
    return path


def default_key_path() -> Path:
    from ragkit.config import ragkit_home

    return ragkit_home() / "pii.key"


class Sealer:
    """Seal and unseal short strings with a Fernet key (AES-128-CBC + HMAC-SHA256).

    The key comes from ``$RAGKIT_PII_KEY`` (a urlsafe base64 Fernet key, for several
    processes sharing one store) or from ``key_path`` (default ``RAGKIT_HOME/pii.key``),
    created on first use with mode 0600 by an exclusive create, so two processes racing to
    create it end up with the same key."""

    def __init__(self, key_path: Path | None = None) -> None:
        from cryptography.fernet import Fernet

        env = os.environ.get(KEY_ENV)
        key = env.encode("ascii") if env else self._file_key(key_path or default_key_path())
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            from ragkit.errors import ConfigError

            source = f"${KEY_ENV}" if env else str(key_path or default_key_path())
            raise ConfigError(f"the PII key in {source} is not a valid Fernet key; remove it to "
                              "make a new one (sealed values stored with it become unreadable)"
                              ) from None

    @staticmethod
    def _file_key(path: Path) -> bytes:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        key = base64.urlsafe_b64encode(secrets.token_bytes(32))
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        return key

    def seal(self, value: str) -> str:
        if value.startswith(SEALED_PREFIX):
            return value
        return SEALED_PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def unseal(self, value: str) -> str:
        """The plain value; :data:`REDACTED` when it was sealed with another key."""
        from cryptography.fernet import InvalidToken

        if not value.startswith(SEALED_PREFIX):
            return value
        try:
            return self._fernet.decrypt(value[len(SEALED_PREFIX):].encode("ascii")).decode()
        except (InvalidToken, ValueError):
            log.warning("a sealed value could not be opened with this PII key; it is shown "
                        "as %s", REDACTED)
            return REDACTED


# -- deep walks ---------------------------------------------------------------------------
def _walk(value: Any, fn: Callable[[str, str | None], str], key: str | None = None) -> Any:
    """``value`` with every string ``s`` replaced by ``fn(s, key)`` (``key``: the dict key it
    sits under, if any). Containers and dataclasses/pydantic models are rebuilt, others kept."""
    if isinstance(value, str):
        return fn(value, key)
    if isinstance(value, dict):
        return {k: _walk(v, fn, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn, key) for v in value]
    if isinstance(value, tuple):
        items = [_walk(v, fn, key) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _walk(getattr(value, f.name), fn, f.name)
                   for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if hasattr(value, "model_copy") and hasattr(type(value), "model_fields"):
        return value.model_copy(update={name: _walk(getattr(value, name), fn, name)
                                        for name in type(value).model_fields})
    return value


_UUID_OR_HEX = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                          r"[0-9a-fA-F]{12}|[0-9a-fA-F]{16,}")


def _is_identifier(s: str, key: str | None) -> bool:
    """Machine identifiers are not personal data, and must survive intact: a value under
    ``id`` or a ``*_id`` key, or a string that is a UUID or a long hex digest."""
    return key == "id" or bool(key and key.endswith("_id")) or bool(_UUID_OR_HEX.fullmatch(s))


def scrub(value: Any, *, sealer: Sealer | None = None, sealed_keys: Iterable[str] = ()
          ) -> Any:
    """Redact PII in every string of ``value``; strings under a key in ``sealed_keys`` are
    sealed whole instead (reversible with the key), so a tool can still use them."""
    keep = frozenset(sealed_keys)

    def fn(s: str, key: str | None) -> str:
        if s.startswith(SEALED_PREFIX) or _is_identifier(s, key):
            return s
        if sealer is not None and key in keep and s:
            return sealer.seal(s)
        return redact(s)[0] if s else s

    return _walk(value, fn)


def unseal_all(value: Any, sealer: Sealer) -> Any:
    return _walk(value, lambda s, _k: sealer.unseal(s) if s.startswith(SEALED_PREFIX) else s)


class RedactingSerializer:
    """A LangGraph ``SerializerProtocol``: checkpoints reach the disk scrubbed (see
    :func:`scrub`), and sealed values are opened again when a checkpoint is loaded."""

    def __init__(self, inner: Any = None, *, sealer: Sealer | None = None,
                 sealed_keys: Iterable[str] = ()) -> None:
        if inner is None:
            from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

            inner = JsonPlusSerializer()
        self.inner = inner
        self.sealer = sealer
        self.sealed_keys = frozenset(sealed_keys)

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, dict) and "channel_values" in obj and "id" in obj:
            # a checkpoint: only the graph's state is content; ids and channel versions are
            # the checkpointer's own bookkeeping and must round-trip unchanged
            obj = {**obj, "channel_values": self._scrub(obj["channel_values"])}
            return self.inner.dumps_typed(obj)
        return self.inner.dumps_typed(self._scrub(obj))  # a pending write's value

    def _scrub(self, value: Any) -> Any:
        return scrub(value, sealer=self.sealer, sealed_keys=self.sealed_keys)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        obj = self.inner.loads_typed(data)
        return unseal_all(obj, self.sealer) if self.sealer is not None else obj
