"""How values become Redis strings, and the trust model for reading them back.

Integers are stored as plain decimal text (``b"42"``) whatever the serializer, as Django's and
cachelib's Redis backends do: that is what lets ``incr``/``decr`` run as Redis's atomic
``INCRBY`` and keep the key's TTL. Reading decimal text back can never run code, so integers
need no signature. Every other value goes through the configured serializer:

``pickle`` (default)
    Django's and cachelib's default, and it round-trips any picklable object. **Unpickling runs
    code**: use it only when everything that can write to the server (every process with its
    address and password) is trusted as much as your own code.
``json``
    Values other processes or languages write: ``None``, ``bool``, numbers, ``str``, lists and
    dicts with string keys. Reading it runs no code; a value JSON cannot encode raises
    ``TypeError`` on write (never a silent ``str()``). Tuples come back as lists. A stored
    payload that is not UTF-8 JSON (another serializer's, another application's) raises
    :class:`UntrustedPayloadError` and is counted, like a signature failure.
signed (``signing_key`` given)
    Wraps either serializer: every payload carries an HMAC-SHA256 tag made with the key from
    settings, checked with a constant-time comparison *before* the payload is decoded. A
    tampered payload, or one written without the key (another application, an attacker with
    write access to Redis but not to your settings), raises :class:`UntrustedPayloadError` and
    is counted in ``rejected_payloads``; it is never unpickled. Several keys may be given: the
    first signs, all verify, so keys can be rotated without a flush.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import threading
from typing import Any, Final

from ..dotted import import_dotted
from ..errors import CachePolicyError, ConfigError, short_repr
from ..serializers import Serializer

__all__ = [
    "JSONSerializer",
    "PayloadCodec",
    "PickleSerializer",
    "RejectionCounter",
    "SignedSerializer",
    "UntrustedPayloadError",
    "resolve_redis_serializer",
]

# Integers within Redis's signed 64-bit range are stored as text so INCRBY can work on them;
# larger ones go through the serializer (INCRBY would refuse them anyway).
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# Marks a signed payload and its format version, so a later format can be told apart.
_SIGNED_MAGIC: Final = b"cps1"
_TAG_SIZE: Final = 32  # HMAC-SHA256 digest bytes


class UntrustedPayloadError(CachePolicyError, ValueError):
    """A stored value failed its signature check: tampered, or written without the key."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class PickleSerializer:
    """pickle at the highest protocol (what Django's and cachelib's Redis backends do)."""

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    def loads(self, payload: bytes) -> Any:
        return pickle.loads(payload)


class JSONSerializer:
    """Compact UTF-8 JSON: safe to read whoever wrote it."""

    def dumps(self, value: Any) -> bytes:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"The JSON serializer cannot store {type(value).__name__} "
                f"{short_repr(value)}: {exc}. Use JSON types or SERIALIZER='pickle'."
            ) from exc

    def loads(self, payload: bytes) -> Any:
        try:
            return json.loads(payload)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise UntrustedPayloadError(
                f"Refused a cached value of {len(payload)} bytes: it is not UTF-8 JSON (written "
                f"by another serializer or application: {exc})."
            ) from exc


class SignedSerializer:
    """HMAC-SHA256 over another serializer's bytes; ``keys[0]`` signs, every key verifies."""

    def __init__(self, inner: Serializer, keys: tuple[bytes, ...]) -> None:
        if not keys:
            raise ConfigError("A signed serializer needs a signing key.", option="signing_key")
        self.inner = inner
        self.keys = keys
        self._lock = threading.Lock()
        #: Payloads refused since start-up (tampered or foreign).
        self.rejected = 0

    def _tag(self, key: bytes, body: bytes) -> bytes:
        return hmac.new(key, body, hashlib.sha256).digest()

    def dumps(self, value: Any) -> bytes:
        body = self.inner.dumps(value)
        return _SIGNED_MAGIC + self._tag(self.keys[0], body) + body

    def loads(self, payload: bytes) -> Any:
        head = len(_SIGNED_MAGIC)
        if payload[:head] == _SIGNED_MAGIC and len(payload) >= head + _TAG_SIZE:
            tag = payload[head : head + _TAG_SIZE]
            body = payload[head + _TAG_SIZE :]
            for key in self.keys:
                if hmac.compare_digest(tag, self._tag(key, body)):
                    return self.inner.loads(body)
            reason = "its signature does not match any signing key (tampered, or another key)"
        else:
            reason = "it is not signed (written by a client without the signing key)"
        with self._lock:
            self.rejected += 1
        raise UntrustedPayloadError(
            f"Refused a cached value of {len(payload)} bytes: {reason}. It was not decoded."
        )


class RejectionCounter:
    """Payloads refused (:class:`UntrustedPayloadError`) by every codec of one cache: its sync
    and async clients share one, so ``rejected_payloads`` counts both paths."""

    __slots__ = ("_lock", "count")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


class PayloadCodec:
    """The bytes<->value step of the client: integers as text, the rest via a serializer.

    Every payload the serializer refuses is counted in ``rejections`` (shared by the clients
    of one cache; a private counter when none is given)."""

    __slots__ = ("rejections", "serializer")

    def __init__(self, serializer: Serializer, rejections: RejectionCounter | None = None) -> None:
        self.serializer = serializer
        self.rejections = rejections if rejections is not None else RejectionCounter()

    def dumps(self, value: Any) -> bytes | int:
        # exact int only: bool is an int subclass, and True must come back as True.
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            return value
        return self.serializer.dumps(value)

    def loads(self, payload: bytes) -> Any:
        # Decimal text is an int stored by dumps() (or by INCRBY); nothing else starts with a
        # digit or '-' followed only by digits (pickle starts with 0x80, signed with 'cps1').
        if payload[:1].isdigit() or (payload[:1] == b"-" and payload[1:2].isdigit()):
            try:
                return int(payload)
            except ValueError:
                pass
        try:
            return self.serializer.loads(payload)
        except UntrustedPayloadError:
            self.rejections.add()
            raise

    @property
    def rejected(self) -> int:
        return self.rejections.count


def resolve_redis_serializer(spec: Any, signing_keys: tuple[bytes, ...] = ()) -> Serializer:
    """``"pickle"``, ``"json"``, a dotted path, or an object; wrapped in HMAC when keyed."""
    inner: object
    if isinstance(spec, str) and spec.strip().lower() in ("pickle", "json"):
        inner = PickleSerializer() if spec.strip().lower() == "pickle" else JSONSerializer()
    elif isinstance(spec, str):
        target = import_dotted(
            spec, option="serializer", accepted="'pickle', 'json'", names=["pickle", "json"]
        )
        inner = target() if isinstance(target, type) else target
    else:
        inner = spec
    if not isinstance(inner, Serializer):
        raise ConfigError(
            f"Option 'serializer' = {short_repr(spec)} has no dumps()/loads() methods; use "
            "'pickle', 'json' or a serializer object.",
            option="serializer",
        )
    return SignedSerializer(inner, signing_keys) if signing_keys else inner
