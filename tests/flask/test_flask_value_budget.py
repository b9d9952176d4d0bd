"""Flask: an oversized value is refused while serializing (issue 11, defect 4).

With the default serializer (a :class:`~flask_cachepolicy.backend.CoreSerializer`, pickling done
once by the core) refusing a 200 MB value allocates a few MB, not 200; with a
``CACHE_SERIALIZER`` the application's serializer runs in full (its output is what is stored),
but the core refuses those bytes from their length instead of pickling them a second time.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from cachelib.serializers import SimpleSerializer
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


def test_an_application_serializer_is_not_pickled_twice(
    make_backend: MakeBackend, pieces: list[bytes]
) -> None:
    backend = make_backend(maxmemory="8mb")
    backend.serializer = SimpleSerializer()
    value = pieces[:60]  # 60 MB pickled once by the application's serializer, then refused
    result, peak = _peak(lambda: backend.set("big", value))
    assert result is False
    assert peak < 75 * MB, f"refusing cost {peak / MB:.1f} MB (the serializer's 60 MB + a copy?)"
