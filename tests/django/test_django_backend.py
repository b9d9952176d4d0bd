"""PolicyCache's own contract, through Django's cache API.

Django's suite (``test_django_conformance.py``) checks that we behave like a Django cache; these
tests check what it cannot: the timeout translation, the inline key path's equivalence with
``make_and_validate_key``, store sharing per LOCATION, databases, ON_OUT_OF_MEMORY, the
async methods' lack of a thread hop, and time-dependent behaviour with a ``ManualClock``
(no ``sleep``).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.cache import CacheKeyWarning
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured
from django_cachepolicy import PolicyCache
from django_cachepolicy.options import django_timeout_to_ttl, parse_alias
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepolicy import (
    ManualClock,
    OutOfMemoryError,
    ValueTooLargeError,
    get_shared_store,
    release_shared_store,
)

MakeBackend = Callable[..., PolicyCache]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def make_backend(clock: ManualClock) -> Iterator[MakeBackend]:
    """Build PolicyCache objects on fresh, uniquely named stores driven by ``clock``.

    The store is created first with the clock (the core's ``get_shared_store(clock=...)``);
    the backend then finds it by LOCATION, exactly as a second thread's backend would.
    Every store is checked for invariant violations and released at the end.
    """
    first: dict[str, PolicyCache] = {}

    def factory(location: str | None = None, **params: Any) -> PolicyCache:
        if location is None:
            location = f"test-{uuid.uuid4().hex}"
        if location not in first:
            config = parse_alias(None, location, params).config
            get_shared_store(location, config, clock=clock)
        backend = PolicyCache(location, params)
        first.setdefault(location, backend)
        return backend

    yield factory
    problems = {}
    for location, backend in first.items():
        problems[location] = backend.view.check()
        release_shared_store(location)
    assert all(not found for found in problems.values()), problems


# ---------------------------------------------------------------------- timeouts


@pytest.mark.parametrize(
    ("timeout", "default", "expected"),
    [
        (DEFAULT_TIMEOUT, 300, 300.0),
        (DEFAULT_TIMEOUT, None, None),
        (DEFAULT_TIMEOUT, 0, 0.0),
        (None, 300, None),
        (0, 300, 0.0),
        (-5, 300, -5.0),
        (1, 300, 1.0),
        (100.2, 300, 100.2),
        (60 * 60 * 24 * 30 + 1, 300, 2592001.0),  # relative, not memcached's absolute
    ],
)
def test_django_timeout_to_ttl(timeout: Any, default: float | None, expected: float | None) -> None:
    assert django_timeout_to_ttl(timeout, default) == expected


def test_django_timeout_to_ttl_rejects_non_numbers() -> None:
    with pytest.raises((TypeError, ValueError)):
        django_timeout_to_ttl("soon", 300)


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, None), (300, 300), ("1", 1), (1.9, 1), (0, 0), (-1, -1)]
)
def test_timeout_setting_keeps_djangos_int_meaning(raw: Any, expected: int | None) -> None:
    assert parse_alias(None, "x", {"TIMEOUT": raw}).default_timeout == expected


@pytest.mark.parametrize("raw", ["5 minutes", [], True, object()])
def test_bad_timeout_setting_is_refused_not_replaced_by_300(raw: Any) -> None:
    cache = PolicyCache(f"bad-timeout-{uuid.uuid4().hex}", {"TIMEOUT": raw})
    with pytest.raises(ImproperlyConfigured, match="TIMEOUT"):
        cache.set("k", 1)


def test_misconfigured_backend_raises_on_every_use_when_checks_report_it() -> None:
    """With the app installed, the system check reports the error at start-up (Django's own
    checks build every cache, so the constructor must not crash them); any use raises."""
    cache = PolicyCache("misconfigured", {"OPTIONS": {"MAXMEMORY": "lots"}})
    for use in (
        lambda: cache.get("k"),
        lambda: cache.set("k", 1),
        lambda: cache.get_many(["k"]),
        lambda: cache.info(),
        lambda: asyncio.run(cache.aget("k")),
    ):
        with pytest.raises(ImproperlyConfigured, match="MAXMEMORY"):
            use()


def test_misconfigured_backend_raises_at_once_without_the_app() -> None:
    """Without the app (so without its check), the constructor raises: Django's own system
    checks build every cache at start-up, so the site still refuses to start."""
    with (
        mock.patch("django_cachepolicy.backend.apps.is_installed", return_value=False),
        pytest.raises(ImproperlyConfigured, match="MAXMEMORY"),
    ):
        PolicyCache("misconfigured", {"OPTIONS": {"MAXMEMORY": "lots"}})


def test_default_timeout_sets_a_ttl(make_backend: MakeBackend) -> None:
    cache = make_backend()
    cache.set("k", "v")
    assert cache.view.ttl(cache.make_key("k")) == pytest.approx(300)


def test_timeout_none_sets_no_ttl(make_backend: MakeBackend) -> None:
    cache = make_backend(TIMEOUT=None)
    cache.set("k", "v")
    assert cache.view.ttl(cache.make_key("k")) is None


def test_entries_expire_on_the_clock(make_backend: MakeBackend, clock: ManualClock) -> None:
    cache = make_backend()
    cache.set("short", 1, timeout=10)
    cache.set("forever", 2, timeout=None)
    clock.advance(9.5)
    assert cache.get("short") == 1
    clock.advance(1)
    assert cache.get("short") is None
    assert cache.has_key("short") is False
    assert cache.add("short", 3) is True
    assert cache.get("forever") == 2


def test_touch_sets_default_none_or_zero_timeout(
    make_backend: MakeBackend, clock: ManualClock
) -> None:
    cache = make_backend(TIMEOUT=60)
    cache.set("k", 1, timeout=5)
    assert cache.touch("k") is True  # Django: touch() without timeout means TIMEOUT
    assert cache.view.ttl(cache.make_key("k")) == pytest.approx(60)
    assert cache.touch("k", None) is True
    assert cache.view.ttl(cache.make_key("k")) is None
    assert cache.touch("k", 0) is True
    assert cache.get("k") is None
    assert cache.touch("missing") is False


def test_zero_timeout_writes_nothing(make_backend: MakeBackend) -> None:
    cache = make_backend()
    cache.set("k", 1)
    cache.set("k", 2, timeout=0)
    assert cache.get("k") is None
    assert cache.add("other", 1, timeout=0) is True
    assert cache.has_key("other") is False


def test_incr_and_decr_keep_the_ttl(make_backend: MakeBackend, clock: ManualClock) -> None:
    cache = make_backend()
    cache.set("n", 1, timeout=100)
    deadline = cache.view.expiretime(cache.make_key("n"))
    clock.advance(10)
    assert cache.incr("n") == 2
    assert cache.decr("n", 5) == -3
    assert cache.view.expiretime(cache.make_key("n")) == deadline
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")
    with pytest.raises(ValueError, match="not found"):
        cache.decr("missing")
    cache.set("text", "a")
    with pytest.raises(TypeError):
        cache.incr("text")


def test_incr_is_atomic_across_threads(make_backend: MakeBackend) -> None:
    location = f"test-{uuid.uuid4().hex}"
    make_backend(location).set("n", 0, timeout=None)

    def worker() -> None:
        cache = make_backend(location)  # one backend object per thread, as Django makes them
        for _ in range(500):
            cache.incr("n")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert make_backend(location).get("n") == 2000


# ---------------------------------------------------------------------- keys

_KEYS = st.one_of(st.text(max_size=300), st.integers(), st.sampled_from(["a b", "\x7f", "é" * 251]))


@settings(max_examples=300, deadline=None)
@given(key=_KEYS, prefix=st.text(max_size=10), version=st.one_of(st.none(), st.integers(-3, 3)))
def test_inline_key_path_equals_make_and_validate_key(
    key: Any, prefix: str, version: int | None
) -> None:
    """The fast path builds the same key and raises the same warnings as Django's path."""
    cache = PolicyCache("test-keys", {"KEY_PREFIX": prefix, "TIMEOUT": None})
    with warnings.catch_warnings(record=True) as fast:
        warnings.simplefilter("always")
        made_fast = cache._key(key, version)
    with warnings.catch_warnings(record=True) as slow:
        warnings.simplefilter("always")
        made_slow = BaseCache.make_and_validate_key(cache, key, version)
    assert made_fast == made_slow
    assert [str(w.message) for w in fast] == [str(w.message) for w in slow]
    assert all(issubclass(w.category, CacheKeyWarning) for w in fast)


@pytest.mark.parametrize(
    "operation",
    [
        lambda c, k: c.get(k),
        lambda c, k: c.set(k, 1),
        lambda c, k: c.add(k, 1),
        lambda c, k: c.touch(k),
        lambda c, k: c.delete(k),
        lambda c, k: c.has_key(k),
        lambda c, k: c.get_many([k]),
        lambda c, k: c.set_many({k: 1}),
        lambda c, k: c.delete_many([k]),
        lambda c, k: c.get_or_set(k, 1),
        lambda c, k: asyncio.run(c.aget(k)),
        lambda c, k: asyncio.run(c.aset(k, 1)),
    ],
)
def test_every_operation_warns_about_unportable_keys(
    make_backend: MakeBackend, operation: Callable[[PolicyCache, str], Any]
) -> None:
    cache = make_backend()
    with pytest.warns(CacheKeyWarning, match="memcached"):
        operation(cache, "key with spaces")


def test_key_function_and_subclass_overrides_are_honoured(make_backend: MakeBackend) -> None:
    cache = make_backend(KEY_FUNCTION=lambda key, prefix, version: f"custom/{key}")
    cache.set("k", 1)
    assert cache.view.get("custom/k") == 1

    class Quiet(PolicyCache):
        def validate_key(self, key: str) -> None:
            pass

    location = f"test-{uuid.uuid4().hex}"
    make_backend(location)
    quiet = Quiet(location, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.set("a key " * 60, 1)
    assert quiet.get("a key " * 60) == 1


def test_non_str_key_function_result_is_a_clear_error(make_backend: MakeBackend) -> None:
    cache = make_backend(KEY_FUNCTION=lambda key, prefix, version: (key, version))
    with pytest.raises(TypeError, match="KEY_FUNCTION must return a str"):
        cache.set("k", 1)


# ---------------------------------------------------------------------- many


def test_many_operations_map_keys_back(make_backend: MakeBackend) -> None:
    cache = make_backend(VERSION=3)
    assert cache.set_many({"a": 1, "b": None, 7: "seven"}) == []
    assert cache.get_many(["a", "b", 7, "missing"]) == {"a": 1, "b": None, 7: "seven"}
    assert cache.get_many(["a"], version=2) == {}
    cache.delete_many(["a", 7])
    assert cache.get_many(["a", "b", 7]) == {"b": None}
    assert cache.set_many({}) == []


# ---------------------------------------------------------------------- pickling


class Unpicklable:
    def __getstate__(self) -> Any:
        raise pickle.PickleError("no")


@pytest.mark.parametrize("value", [Unpicklable(), threading.Lock(), lambda: 1])
def test_unpicklable_values_raise_pickle_error_and_change_nothing(
    make_backend: MakeBackend, value: Any
) -> None:
    cache = make_backend()
    cache.set("k", "before")
    with pytest.raises(pickle.PickleError):
        cache.set("k", value)
    with pytest.raises(pickle.PickleError):
        cache.add("new", value)
    assert cache.get("k") == "before"
    assert cache.has_key("new") is False


class LockSpy:
    """Records whether the store lock is held while it is being pickled."""

    def __init__(self, cache: PolicyCache, seen: list[bool]) -> None:
        self.cache = cache
        self.seen = seen

    def __getstate__(self) -> dict[str, Any]:
        self.seen.append(self.cache.view.store.lock.locked())
        return {}


def test_pickling_happens_outside_the_store_lock(make_backend: MakeBackend) -> None:
    cache = make_backend()
    seen: list[bool] = []
    cache.set("set", LockSpy(cache, seen))
    assert cache.add("add", LockSpy(cache, seen)) is True
    assert seen == [False, False]


# ---------------------------------------------------------------------- sharing, databases


def test_backends_with_one_location_share_one_store(make_backend: MakeBackend) -> None:
    location = f"test-{uuid.uuid4().hex}"
    first = make_backend(location)
    first.set("k", "v")
    other_thread: list[PolicyCache] = []
    thread = threading.Thread(target=lambda: other_thread.append(make_backend(location)))
    thread.start()
    thread.join()
    second = other_thread[0]
    assert second is not first
    assert second.view.store is first.view.store
    assert second.get("k") == "v"
    first.close()
    asyncio.run(first.aclose())
    assert not first.view.store.closed
    assert second.get("k") == "v"


def test_conflicting_options_on_one_location_are_refused(make_backend: MakeBackend) -> None:
    location = f"test-{uuid.uuid4().hex}"
    make_backend(location, OPTIONS={"MAXMEMORY": "1mb"})
    with pytest.raises(ImproperlyConfigured, match="maxmemory"):
        PolicyCache(location, {"OPTIONS": {"MAXMEMORY": "2mb"}}).get("k")
    # Alias-level options may differ: same store, another database.
    other = PolicyCache(location, {"OPTIONS": {"MAXMEMORY": "1mb", "DATABASE": 3}})
    assert other.view.db == 3


def test_databases_are_separate_keyspaces(make_backend: MakeBackend) -> None:
    location = f"test-{uuid.uuid4().hex}"
    zero = make_backend(location)
    one = make_backend(location, OPTIONS={"DATABASE": 1})
    zero.set("k", 0)
    one.set("k", 1)
    assert (zero.get("k"), one.get("k")) == (0, 1)
    one.clear()
    assert (zero.get("k"), one.get("k")) == (0, None)


def test_max_entries_culls_like_locmem(make_backend: MakeBackend) -> None:
    cache = make_backend(OPTIONS={"MAX_ENTRIES": 30}, TIMEOUT=None)
    assert cache.view.config.max_entries == 30
    assert cache.view.config.cull_frequency == 3
    for i in range(1, 50):
        cache.set(f"k{i}", i)
    assert sum(cache.has_key(f"k{i}") for i in range(1, 50)) == 29


def test_cull_frequency_none_evicts_one_at_a_time(make_backend: MakeBackend) -> None:
    cache = make_backend(OPTIONS={"MAX_ENTRIES": 10, "CULL_FREQUENCY": None}, TIMEOUT=None)
    for i in range(25):
        cache.set(f"k{i}", i)
    assert len(cache.view) == 10


# ---------------------------------------------------------------------- out of memory


def _full_store(make_backend: MakeBackend, on_oom: str) -> PolicyCache:
    cache = make_backend(
        OPTIONS={"MAXMEMORY": "2kb", "MAXMEMORY_POLICY": "noeviction", "ON_OUT_OF_MEMORY": on_oom},
        TIMEOUT=None,
    )
    cache.set("first", "x" * 1000)
    return cache


def test_out_of_memory_raises_by_default(make_backend: MakeBackend) -> None:
    cache = _full_store(make_backend, "raise")
    with pytest.raises(OutOfMemoryError):
        cache.set("second", "y" * 1500)
    with pytest.raises(OutOfMemoryError):
        cache.add("second", "y" * 1500)
    assert cache.get("first") == "x" * 1000
    assert cache.set_many({"a": 1, "second": "y" * 1500}) == ["second"]


def test_out_of_memory_drop_logs_and_loses_the_write(
    make_backend: MakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    cache = _full_store(make_backend, "drop")
    with caplog.at_level(logging.WARNING, logger="django_cachepolicy"):
        cache.set("second", "y" * 1500)
        assert cache.add("third", "z" * 1500) is False
        assert cache.set_many({"fourth": "w" * 1500}) == ["fourth"]
    assert not cache.has_key("second") and not cache.has_key("third")
    assert len(caplog.records) == 3
    assert "ON_OUT_OF_MEMORY='drop'" in caplog.records[0].getMessage()


# ---------------------------------------------------------------------- async


def test_async_methods_do_not_hop_to_a_thread(make_backend: MakeBackend) -> None:
    cache = make_backend()

    async def scenario() -> None:
        await cache.aset("a", 1)
        assert await cache.aadd("a", 2) is False
        assert await cache.aget("a") == 1
        assert await cache.aget("missing", "d") == "d"
        assert await cache.ahas_key("a") is True
        assert await cache.aincr("a", 5) == 6
        assert await cache.adecr("a") == 5
        assert await cache.atouch("a", None) is True
        assert await cache.aset_many({"b": 2, "c": 3}) == []
        assert await cache.aget_many(["a", "b", "c"]) == {"a": 5, "b": 2, "c": 3}
        assert await cache.aget_or_set("d", lambda: 4) == 4
        assert await cache.aincr_version("d") == 2
        assert await cache.adelete("a") is True
        await cache.adelete_many(["b"])
        assert await cache.aget_many(["a", "b", "c"]) == {"c": 3}
        await cache.aclear()
        assert await cache.aget("c") is None
        await cache.aclose()

    with mock.patch(
        "django.core.cache.backends.base.sync_to_async",
        side_effect=AssertionError("an async method fell back to sync_to_async"),
    ):
        asyncio.run(scenario())


def test_dropped_overwrite_does_not_leave_the_old_value(make_backend: MakeBackend) -> None:
    cache = _full_store(make_backend, "drop")
    cache.set("first", "y" * 5000)  # larger than MAXMEMORY: refused and dropped
    assert cache.get("first") is None, "a stale earlier value must not be served"
    cache.set("ok", 1)
    assert cache.set_many({"ok": "z" * 5000}) == ["ok"]
    assert cache.get("ok") is None


def test_touch_that_needs_memory_follows_on_out_of_memory(make_backend: MakeBackend) -> None:
    probe = make_backend(OPTIONS={"MAXMEMORY": 0}, TIMEOUT=None)
    probe.set("p0", "x" * 50)
    one_entry = probe._view.info()["used_memory"]  # exactly one key without a TTL
    options = {"MAXMEMORY": one_entry, "MAXMEMORY_POLICY": "volatile-lru"}
    dropping = make_backend(OPTIONS={**options, "ON_OUT_OF_MEMORY": "drop"}, TIMEOUT=None)
    dropping.set("p0", "x" * 50)
    assert dropping.touch("p0", 60) is False  # the TTL's index bytes do not fit
    assert dropping.get("p0") == "x" * 50
    raising = make_backend(OPTIONS=options, TIMEOUT=None)
    raising.set("p0", "x" * 50)
    # The TTL's bytes do not fit and volatile-lru has no key it may evict (the tables the key
    # lives in are counted too, so the key alone with its TTL would fit an empty cache).
    with pytest.raises(OutOfMemoryError):
        raising.touch("p0", 60)
    assert raising.get("p0") == "x" * 50


class _ReduceRaises:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def __reduce__(self) -> Any:
        raise self.error


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        _ReduceRaises(ValueError("bad value")),
        _ReduceRaises(RuntimeError("bad state")),
        _ReduceRaises(TypeError("bad type")),
        _ReduceRaises(AttributeError("bad attribute")),
        lambda: None,  # pickle's own PicklingError
        _deep(100_000),  # RecursionError
    ],
    ids=["ValueError", "RuntimeError", "TypeError", "AttributeError", "lambda", "recursion"],
)
@pytest.mark.parametrize("method", ["set", "add", "set_many"])
def test_whatever_pickling_raises_is_a_pickle_error(
    make_backend: MakeBackend, value: Any, method: str
) -> None:
    """Issue 11, defect 7: Django promises pickle.PickleError; ValueError, RuntimeError and
    RecursionError raised while pickling used to come through raw. The cache is unchanged."""
    cache = make_backend()
    cache.set("k", "old")
    with pytest.raises(pickle.PickleError):
        if method == "set_many":
            cache.set_many({"a": 1, "k": value})
        else:
            getattr(cache, method)("k" if method == "set" else "new", value)
    assert cache.get("k") == "old"
    assert cache.get("a") is None and cache.get("new") is None


def test_the_stores_own_errors_are_not_reported_as_pickling_errors(
    make_backend: MakeBackend,
) -> None:
    """Only what the pickler raised is translated: an error from storing passes as it is."""
    cache = make_backend(OPTIONS={"MAXMEMORY": "1mb", "MAXMEMORY_POLICY": "noeviction"})
    with pytest.raises(OutOfMemoryError):
        for i in range(10_000):
            cache.set(f"k{i}", b"x" * 1000)
    with pytest.raises(ValueTooLargeError):
        cache.set("huge", [b"y" * 100_000 for _ in range(30)])
