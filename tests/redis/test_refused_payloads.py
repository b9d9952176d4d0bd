"""Refused payloads (issue 23, item 5): counted on every path, JSON's foreign payloads refused
by name, and one bad value in a ``get_many`` batch.

Decided (docs/redis.md, "Serialization and trust"): ``get`` of a refused value raises
:class:`UntrustedPayloadError`; ``get_many`` returns the values that decode and leaves a refused
one out as a miss (Django's contract is to return what is found), counting it in
``rejected_payloads`` and logging it. Before, ``aget``/``aget_many`` refusals were counted in a
counter nobody reported, JSON raised a raw ``UnicodeDecodeError``/``JSONDecodeError``, and one
tampered value failed the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import uuid
from typing import Any

import pytest

from cachepolicy.redis import UntrustedPayloadError

KEY = "s" * 32


def _django(location: str, **options: Any) -> Any:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    return RedisPolicyCache(
        location,
        {"KEY_PREFIX": f"rp{uuid.uuid4().hex[:8]}", "OPTIONS": {"EVENTS": (), **options}},
    )


def _tamper(cache: Any, name: str) -> None:
    remote = cache.client.remote
    made = cache.make_key(name)
    raw = remote.get(made)
    remote.set(made, raw[:-1] + bytes([raw[-1] ^ 1]))


def test_async_refusals_are_counted_in_rejected_payloads(location: str) -> None:
    cache = _django(location, SIGNING_KEY=KEY)
    cache.set_many({"good": "g", "bad": "b"})
    _tamper(cache, "bad")

    async def read() -> dict[str, Any]:
        with pytest.raises(UntrustedPayloadError):
            await cache.aget("bad")
        found: dict[str, Any] = await cache.aget_many(["good", "bad"])
        await cache.async_client.aclose()
        return found

    assert asyncio.run(read()) == {"good": "g"}
    assert cache.info()["rejected_payloads"] == 2  # the aget and the aget_many
    cache.clear()


def test_get_many_returns_what_decodes_and_counts_the_rest(
    location: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = _django(location, SIGNING_KEY=KEY)
    cache.set_many({"a": 1.5, "b": [2], "c": "3"})
    _tamper(cache, "b")
    with caplog.at_level(logging.WARNING, logger="cachepolicy.redis"):
        assert cache.get_many(["a", "b", "c", "missing"]) == {"a": 1.5, "c": "3"}
    assert cache.make_key("b") in caplog.text
    assert cache.info()["rejected_payloads"] == 1
    with pytest.raises(UntrustedPayloadError):
        cache.get("b")  # one key: the caller is told
    assert cache.info()["rejected_payloads"] == 2
    cache.clear()


@pytest.mark.parametrize(
    "foreign", [pickle.dumps({"planted": 1}), b"\xff\xfe not utf-8", b"{not json"]
)
def test_json_refuses_a_foreign_payload_by_name(location: str, foreign: bytes) -> None:
    cache = _django(location, SERIALIZER="json")
    cache.set("ok", {"x": [1, None]})
    cache.client.remote.set(cache.make_key("foreign"), foreign)
    with pytest.raises(UntrustedPayloadError, match="not UTF-8 JSON"):
        cache.get("foreign")
    assert cache.get_many(["ok", "foreign"]) == {"ok": {"x": [1, None]}}
    assert cache.info()["rejected_payloads"] == 2
    cache.clear()


def test_flask_counts_refusals_too(redis_server: Any) -> None:
    from flask_cachepolicy.redis_backend import RedisPolicyCache

    prefix = f"rpf{uuid.uuid4().hex[:8]}:"
    cache = RedisPolicyCache(redis_server.url, key_prefix=prefix, serializer="json", events=())
    cache.set("ok", "v")
    cache.client.remote.set(prefix + "foreign", pickle.dumps("planted"))
    assert cache.get_many("ok", "foreign") == ["v", None]
    assert cache.info()["rejected_payloads"] == 1
    cache.clear()
