"""Flask: an oversized value is refused while serializing (issue 11, defect 4).

With the default serializer (a :class:`~flask_cachepolicy.backend.CoreSerializer`, pickling done
once by the core) refusing a 200 MB value allocates a few MB, not 200. So it does with a
``CACHE_SERIALIZER`` known to pickle (cachelib's own pickle serializers, or one declaring
``pickle_protocol``): the core's budgeted pickler makes the same bytes and stops at the budget.
Any other serializer's ``dumps`` runs in full (its output is what is stored), but the core
refuses those bytes from their length instead of pickling them a second time.
"""

from __future__ import annotations

import logging
import pickle
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from cachelib.serializers import BaseSerializer, FileSystemSerializer, SimpleSerializer
from flask_cachepolicy import PolicyCache

MB = 1024 * 1024
MakeBackend = Callable[..., PolicyCache]


def _peak(action: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def pieces() -> list[bytes]:
    return [bytes([i]) * MB for i in range(200)]  # 200 MB in distinct 1 MB objects


@pytest.mark.parametrize("method", ["set", "add", "set_many"])
def test_default_serializer_refuses_early(
    make_backend: MakeBackend, pieces: list[bytes], method: str
) -> None:
    backend = make_backend(maxmemory="8mb")
    backend.set("k", "old")
    if method == "set_many":
        result, peak = _peak(lambda: backend.set_many({"big": pieces}))
        assert result == []
    else:
        result, peak = _peak(lambda: getattr(backend, method)("big", pieces))
        assert result is False
    assert peak < 20 * MB, f"refusing cost {peak / MB:.1f} MB"
    assert backend.get("k") == "old"
    assert backend.get("big") is None


class _Opaque(SimpleSerializer):
    """Overrides ``dumps``: the backend cannot know what it makes, so it runs in full."""

    def dumps(self, value: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes | None:
        return super().dumps(value, protocol)


class _Declared(_Opaque):
    """Overrides ``dumps`` but declares, as the core's serializers do, that it is pickle."""

    pickle_protocol = pickle.HIGHEST_PROTOCOL


class _Refuses:
    def __reduce__(self) -> Any:
        raise pickle.PicklingError("this object refuses to be pickled")


PICKLING = [SimpleSerializer, BaseSerializer, FileSystemSerializer, _Declared]


def _call(backend: PolicyCache, method: str, key: str, value: Any) -> Any:
    if method == "set_many":
        return backend.set_many({key: value})
    return getattr(backend, method)(key, value)


@pytest.mark.parametrize("method", ["set", "add", "set_many"])
@pytest.mark.parametrize("serializer", PICKLING, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("shape", ["list-of-1mb", "bytes"])
def test_a_pickling_serializer_refuses_early(
    make_backend: MakeBackend,
    pieces: list[bytes],
    method: str,
    serializer: type[BaseSerializer],
    shape: str,
) -> None:
    """It used to run in full: 200 MB of pickle made, then refused."""
    backend = make_backend(maxmemory="8mb")
    backend.serializer = serializer()
    backend.set("k", "old")
    value: Any = pieces if shape == "list-of-1mb" else pieces[0] * 50  # bytes: from its length
    before = backend.info()["rejected_writes"]
    result, peak = _peak(lambda: _call(backend, method, "big", value))
    assert result == ([] if method == "set_many" else False)
    assert peak < 20 * MB, f"refusing cost {peak / MB:.1f} MB"
    assert backend.info()["rejected_writes"] == before + 1
    assert backend.get("k") == "old" and backend.get("big") is None
    assert backend.core.check() == []


@pytest.mark.parametrize("serializer", PICKLING, ids=lambda cls: cls.__name__)
def test_a_pickling_serializer_stores_its_own_bytes(
    make_backend: MakeBackend, serializer: type[BaseSerializer]
) -> None:
    backend = make_backend(maxmemory="8mb")
    backend.serializer = serializer()
    values = {"n": 7, "s": "text", "b": b"\x00" * 70_000, "d": {"a": [1, 2.5, None]}}
    assert backend.set_many(values) == list(values)
    for key, value in values.items():
        assert backend.core.get(backend.make_key(key)) == _Opaque().dumps(value)
        assert backend.get(key) == value


def test_set_many_with_a_pickling_serializer_stores_all_that_fit(
    make_backend: MakeBackend, pieces: list[bytes]
) -> None:
    backend = make_backend(maxmemory="8mb")
    backend.serializer = SimpleSerializer()
    assert backend.set_many({"a": 1, "big": pieces[:20], "b": 2}) == ["a", "b"]
    assert backend.get_many("a", "big", "b") == [1, None, 2]


@pytest.mark.parametrize("serializer", [SimpleSerializer, _Opaque], ids=lambda c: c.__name__)
def test_pickling_errors_keep_cachelib_convention(
    make_backend: MakeBackend, serializer: type[BaseSerializer], caplog: pytest.LogCaptureFixture
) -> None:
    """Budgeted or not, a pickling error is cachelib's: logged, and the serializer's None kept."""
    backend = make_backend(maxmemory="8mb")
    backend.serializer = serializer()
    with caplog.at_level(logging.WARNING):
        assert backend.set("k", _Refuses()) is True
    assert "refuses to be pickled" in caplog.text
    assert backend.core.get(backend.make_key("k")) is None
    with pytest.raises(TypeError):  # not a pickling error: it propagates, nothing stored
        backend.set("lock", threading.Lock())
    assert backend.has("lock") is False


def test_an_opaque_serializer_runs_once_and_is_not_pickled_twice(
    make_backend: MakeBackend, pieces: list[bytes]
) -> None:
    """The documented bound for a serializer the backend cannot see into: one copy."""
    backend = make_backend(maxmemory="8mb")
    backend.serializer = _Opaque()
    value = pieces[:60]  # 60 MB pickled once by the application's serializer, then refused
    before = backend.info()["rejected_writes"]
    result, peak = _peak(lambda: backend.set("big", value))
    assert result is False
    assert peak < 75 * MB, f"refusing cost {peak / MB:.1f} MB (the serializer's 60 MB + a copy?)"
    assert backend.info()["rejected_writes"] == before + 1
