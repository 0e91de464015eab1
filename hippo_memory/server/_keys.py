"""API keys: each bound to a namespace prefix and scopes, stored hashed in a JSON file.

A key is ``hm_<id>_<secret>``: ``id`` (8 hex digits) names the record, ``secret`` is
32 random bytes. Only ``sha256(key)`` is stored; for a random 256-bit token a plain
hash is as strong as a slow KDF (there is nothing to guess from a dictionary). The
file is rewritten atomically with mode 0600, and re-read when it changes on disk, so
``hippo-memory keys revoke`` takes effect on a running server.

The file lives next to a directory store (``./mem`` -> ``./mem.keys.json``); a
``postgresql://`` store needs an explicit path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .._errors import InvalidInputError, NotFoundError, StoreError

__all__ = ["SCOPES", "ApiKey", "KeyStore", "Principal", "Scope", "default_keys_path", "parse_prefix"]

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
_TOKEN_PREFIX = "hm_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a namespace prefix (``()`` for the whole store) and scopes.

    ``admin`` implies ``read`` and ``write``.
    """

    prefix: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset(SCOPES)
    key_id: str | None = None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or "admin" in self.scopes


OPEN = Principal()
"""The principal of a server without keys (loopback only): everything is allowed."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key record (never the key itself)."""

    id: str
    prefix: tuple[str, ...]
    scopes: tuple[str, ...]
    hash: str = field(repr=False)
    created_at: str
    revoked_at: str | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": list(self.prefix),
            "scopes": list(self.scopes),
            "hash": self.hash,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "label": self.label,
        }


def default_keys_path(store: str | os.PathLike[str]) -> Path:
    """The keys file beside a directory store: ``./mem`` -> ``./mem.keys.json``.

    Raises:
        InvalidInputError: ``store`` is a database URL (pass ``--keys FILE``).
    """
    text = os.fspath(store)
    if "://" in text:
        raise InvalidInputError("a database store has no directory to keep keys beside: pass --keys FILE")
    path = Path(text).resolve()
    return path.with_name(path.name + ".keys.json")


def parse_prefix(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"users/alice"`` -> ``("users", "alice")``; ``""`` or ``"/"`` is the whole store.

    Raises:
        InvalidNamespaceError: a label is invalid (e.g. holds a period).
    """
    from .._validation import validate_namespace

    labels = tuple(p for p in text.split("/") if p) if isinstance(text, str) else tuple(text)
    return validate_namespace(labels) if labels else ()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KeyStore:
    """The API keys of one server, in a JSON file.

    Args:
        path: The JSON file; it need not exist until :meth:`create` writes it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ApiKey] = {}

    # -- reading ------------------------------------------------------------------
    def _load(self) -> dict[str, ApiKey]:
        """The records, re-read when the file changed (size or mtime)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._keys = None, {}
            return self._keys
        except OSError as exc:
            raise StoreError(f"cannot read keys file {self.path}: {exc}") from exc
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                keys = {
                    rec["id"]: ApiKey(
                        id=rec["id"],
                        prefix=tuple(rec["prefix"]),
                        scopes=tuple(rec["scopes"]),
                        hash=rec["hash"],
                        created_at=rec["created_at"],
                        revoked_at=rec.get("revoked_at"),
                        label=rec.get("label"),
                    )
                    for rec in data["keys"]
                }
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise StoreError(f"keys file {self.path} is unreadable: {exc}") from exc
            self._stamp, self._keys = stamp, keys
        return self._keys

    def exists(self) -> bool:
        """Whether the keys file exists (then the server requires a key on every request)."""
        return self.path.exists()

    def list(self) -> list[ApiKey]:
        """Every record, revoked ones included, oldest first."""
        with self._lock:
            return sorted(self._load().values(), key=lambda k: (k.created_at, k.id))

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a presented key, or ``None`` when it is unknown, malformed or revoked."""
        if not token.startswith(_TOKEN_PREFIX) or len(token) > 200:
            return None
        key_id = token[len(_TOKEN_PREFIX) :].split("_", 1)[0]
        with self._lock:
            record = self._load().get(key_id)
        if record is None or record.revoked_at is not None:
            return None
        if not hmac.compare_digest(record.hash, _hash(token)):
            return None
        return Principal(prefix=record.prefix, scopes=frozenset(record.scopes), key_id=record.id)

    # -- writing ------------------------------------------------------------------
    def _save(self, keys: dict[str, ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        payload = json.dumps({"version": 1, "keys": [k.to_dict() for k in keys.values()]}, indent=2)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._stamp = None  # re-read on next use

    def create(
        self, prefix: str | Sequence[str], scopes: Sequence[str] = ("read",), *, label: str | None = None
    ) -> tuple[str, ApiKey]:
        """Make a key; returns ``(token, record)``. The token is shown once and never stored.

        Raises:
            InvalidInputError: an unknown scope or no scope.
            InvalidNamespaceError: a bad prefix.
        """
        wanted = tuple(dict.fromkeys(s.strip() for s in scopes if s.strip()))
        if not wanted or any(s not in SCOPES for s in wanted):
            raise InvalidInputError(f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {list(scopes)}")
        ns = parse_prefix(prefix)
        with self._lock:
            keys = dict(self._load())
            key_id = secrets.token_hex(4)
            while key_id in keys:
                key_id = secrets.token_hex(4)
            token = f"{_TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            record = ApiKey(key_id, ns, wanted, _hash(token), _now(), None, label)
            keys[key_id] = record
            self._save(keys)
        return token, record

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (kept in the file, marked revoked).

        Raises:
            NotFoundError: no key has this id.
        """
        with self._lock:
            keys = dict(self._load())
            record = keys.get(key_id)
            if record is None:
                raise NotFoundError(f"no API key with id {key_id!r} in {self.path}")
            if record.revoked_at is None:
                record = ApiKey(
                    record.id, record.prefix, record.scopes, record.hash, record.created_at, _now(), record.label
                )
                keys[key_id] = record
                self._save(keys)
        return record
