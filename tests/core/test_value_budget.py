"""Oversized values are refused while serializing (issue 11, defect 4).

Refusing a value larger than ``maxmemory`` used to pickle it in full first (a 2 GB value cost
3 GB of allocation). Now ``str``/``bytes`` values are refused from their length and others by a
pickler that stops at the byte budget: the tests measure allocation with tracemalloc (peak
traced memory while refusing), never time.
"""

from __future__ import annotations

import pickle
import sys
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from cachepolicy import Cache, ValueTooLargeError
from cachepolicy.serializers import BudgetExceeded, PickleSerializer, dumps_within
from tests.conftest import MakeCache

MB = 1024 * 1024


def _peak_while(action: Callable[[], Any]) -> int:
    """Bytes allocated at the peak while ``action`` runs (it must raise ValueTooLargeError)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(ValueTooLargeError, match="maxmemory"):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def huge() -> bytes:
    return b"x" * (200 * MB)


@pytest.mark.parametrize(
    "call",
    [
        lambda c, v: c.set("k", v),
        lambda c, v: c.set("k", v, ttl=10),
        lambda c, v: c.add("k", v),
        lambda c, v: c.replace("k", v),
        lambda c, v: c.set("k", v, keepttl=True),
        lambda c, v: c.prefixed_setter("p:")("k", v, None),
    ],
    ids=["set", "set_ttl", "add", "replace", "set_keepttl", "prefixed_setter"],
)
@pytest.mark.parametrize(
    "shape",
    [
        lambda b: b,  # one bytes object: refused from its length
        lambda b: [b[i * MB : (i + 1) * MB] for i in range(200)],  # 200 MB in 1 MB pieces
        lambda b: {"blob": bytearray(b[: 100 * MB])},
    ],
    ids=["bytes", "list-of-1mb", "dict-bytearray"],
)
def test_a_200mb_value_is_refused_allocating_far_less(
    make_cache: MakeCache,
    huge: bytes,
    call: Callable[[Cache, Any], Any],
    shape: Callable[[bytes], Any],
) -> None:
    cache = make_cache(maxmemory="8mb")
    cache.set("k", "old")
    value = shape(huge)
    before = cache.info()["rejected_writes"]
    peak = _peak_while(lambda: call(cache, value))
    assert peak < 20 * MB, f"refusing cost {peak / MB:.1f} MB of allocation"
    assert cache.get("k") == "old"  # the cache is unchanged
    assert cache.info()["rejected_writes"] == before + 1
    assert cache.check() == []


def test_set_many_reports_a_refused_value_and_stores_the_rest(
    make_cache: MakeCache, huge: bytes
) -> None:
    cache = make_cache(maxmemory="8mb")
    big = [huge[i * MB : (i + 1) * MB] for i in range(20)]  # distinct: no memo shortcut
    failed = cache.set_many({"a": 1, "big": big, "b": 2})
    assert failed == ["big"]
    assert cache.get_many(["a", "big", "b"]) == {"a": 1, "b": 2}


def test_a_value_just_within_the_budget_is_stored_whole(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="8mb")
    value = [b"y" * 1000] * 3000  # 3 MB pickled, in many frames
    cache.set("k", value)
    assert cache.get("k") == value


def test_without_maxmemory_nothing_is_refused(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=0)
    value = [b"z" * MB] * 10
    cache.set("k", value)
    assert cache.get("k") == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "s" * 100_000,
        {"a": [1, 2.5, ("t", None)], "b": {1, 2}},
        [b"q" * 70_000, bytearray(b"r" * 200_000), "u" * 100_000],
        pickle.PickleBuffer(b"buffer" * 20_000),
    ],
    ids=["none", "str", "nested", "frames", "picklebuffer"],
)
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_dumps_within_is_pickle_dumps_under_the_budget(value: Any, protocol: int) -> None:
    if isinstance(value, pickle.PickleBuffer) and protocol < 5:
        pytest.skip("PickleBuffer needs protocol 5")
    expected = pickle.dumps(value, protocol)
    assert dumps_within(value, protocol, len(expected)) == expected
    with pytest.raises(BudgetExceeded) as raised:
        dumps_within(value, protocol, len(expected) - 1)
    assert raised.value.budget == len(expected) - 1
    assert dumps_within(value, protocol, len(expected)) == expected  # reusable after a stop


def test_dumps_within_survives_a_value_that_fails_midway_and_reentrancy() -> None:
    class Fails:
        def __reduce__(self) -> Any:
            raise ValueError("cannot pickle me")

    with pytest.raises(ValueError, match="cannot pickle me"):
        dumps_within([b"a" * 100_000, Fails()], 5, 10**9)
    assert dumps_within([1, 2], 5, 100) == pickle.dumps([1, 2], 5)

    inner: list[bytes] = []

    class Nested:
        def __reduce__(self) -> Any:
            inner.append(dumps_within({"inner": 1}, 5, 100))  # the same thread, mid-dump
            return (dict, ())

    assert pickle.loads(dumps_within([Nested(), "after"], 5, 1000)) == [{}, "after"]
    assert pickle.loads(inner[0]) == {"inner": 1}


def test_dumps_within_from_many_threads_never_mixes_two_pickles() -> None:
    """Each dump has a sink to itself: values pickled at once from several threads (switching
    as often as the interpreter allows) come out whole and unmixed."""
    values = [
        [f"thread {t}", list(range(t * 50, t * 50 + 200)), "x" * (1000 * t)] for t in range(4)
    ]
    failures: list[str] = []

    def work(value: list[Any]) -> None:
        expected = pickle.dumps(value, 5)
        for _ in range(2000):
            if dumps_within(value, 5, 10**6) != expected:
                failures.append(str(value[0]))
                return

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(value,)) for value in values]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(previous)
    assert failures == []


def test_an_accessor_with_its_own_serializer(make_cache: MakeCache, huge: bytes) -> None:
    """``Cache.accessor(serializer=...)``: a serializer declaring ``pickle_protocol`` is pickled
    within the budget; any other one's ``dumps`` is what runs, in full."""
    cache = make_cache(maxmemory="8mb")
    pieces = [huge[i * MB : (i + 1) * MB] for i in range(200)]
    declared = cache.accessor(serializer=PickleSerializer(4))
    assert declared.encode({"a": 1}, "k") == pickle.dumps({"a": 1}, 4)
    before = cache.info()["rejected_writes"]
    assert _peak_while(lambda: declared.encode(pieces, "k")) < 20 * MB
    assert cache.info()["rejected_writes"] == before + 1

    class Text:
        def dumps(self, value: Any) -> bytes:
            return repr(value).encode()

        def loads(self, payload: bytes) -> Any:
            return payload.decode()

    opaque = cache.accessor("t:", serializer=Text())
    assert opaque.encode([1, 2], "k") == b"[1, 2]"
    opaque.set("k", [1, 2], None)
    assert opaque.get("k") == "[1, 2]"
    assert cache.accessor().get_payload("t:k") == b"[1, 2]"  # stored as Text made it
