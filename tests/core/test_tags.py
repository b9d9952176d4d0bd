"""Tags: ``set(..., tags=...)``, ``invalidate_tags`` in O(1) per tag, lazy removal."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachepolicy import Cache, ManualClock
from cachepolicy.envelope import HEADER_SIZE
from cachepolicy.errors import TagError
from cachepolicy.tags import MAX_TAGS_PER_ENTRY
from tests.conftest import MakeCache


def test_invalidating_a_tag_makes_its_entries_misses(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set("a", 1, tags=["user:1", "page"])
    cache.set("b", 2, tags=["user:2"])
    cache.set("plain", 3)
    cache.invalidate_tags("user:1")
    assert cache.get("a") is None and cache.get("b") == 2 and cache.get("plain") == 3
    assert "a" not in cache  # removed when read: lazily
    assert len(cache) == 2
    info = cache.info()
    assert (info["tags_invalidated"], info["tags_invalidated_reads"]) == (1, 1)
    cache.set("a", 4, tags=["user:1"])  # written after the invalidation: valid
    assert cache.get("a") == 4


def test_every_read_path_respects_invalidation(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set_many({"x": 1, "y": 2}, 60, tags=["t"])
    assert cache.get_many(["x", "y"]) == {"x": 1, "y": 2}
    cache.invalidate_tags("t")
    assert "x" not in cache and cache.get_many(["x", "y"]) == {}
    assert cache.prefixed_getter()("y") is None
    with pytest.raises(KeyError):
        cache.incr("x")


def test_tags_are_store_wide(make_cache: MakeCache) -> None:
    cache = make_cache()
    other = cache.select(1)
    other.set("k", "v", tags=["t"])
    cache.invalidate_tags("t")
    assert other.get("k") is None


def test_get_or_set_with_tags(make_cache: MakeCache) -> None:
    cache = make_cache()
    assert cache.get_or_set("k", lambda: "first", 60, tags=["t"]) == "first"
    assert cache.get_or_set("k", lambda: "second", 60, tags=["t"]) == "first"
    cache.invalidate_tags("t")
    assert cache.get_or_set("k", lambda: "third", 60, tags=["t"]) == "third"


def test_an_invalidation_during_the_computation_wins(make_cache: MakeCache) -> None:
    cache = make_cache()

    def compute() -> str:
        cache.invalidate_tags("t")  # the data changed while it was being read
        return "outdated"

    assert cache.get_or_set("k", compute, 60, tags=["t"]) == "outdated"
    assert cache.get("k") is None


def test_tags_are_counted_in_used_memory(make_cache: MakeCache) -> None:
    plain, tagged = make_cache(), make_cache()
    plain.set("k", "v" * 50)
    tagged.set("k", "v" * 50, tags=["ab", "cde"])
    per_tag = 8 + 2  # generation (uint64) and length (uint16)
    expected = HEADER_SIZE + 1 + 2 * per_tag + len("ab") + len("cde")
    assert tagged.info()["used_memory"] - plain.info()["used_memory"] == expected


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ("user:1", "list"),
        ([1], "non-empty str"),
        ([""], "non-empty str"),
        (["x" * 251], "at most 250"),
        ([f"t{i}" for i in range(MAX_TAGS_PER_ENTRY + 1)], "at most 32 tags"),
    ],
)
def test_bad_tags_are_refused_and_nothing_is_written(
    make_cache: MakeCache, tags: Any, message: str
) -> None:
    cache = make_cache()
    for write in (
        lambda: cache.set("k", 1, tags=tags),
        lambda: cache.set_many({"k": 1}, tags=tags),
        lambda: cache.get_or_set("k", lambda: 1, 60, tags=tags),
    ):
        with pytest.raises(TagError, match=message):
            write()
        assert "k" not in cache


def test_bad_tags_to_invalidate_invalidate_nothing(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set("k", 1, tags=["good"])
    with pytest.raises(TagError):
        cache.invalidate_tags("good", 7)  # type: ignore[arg-type]
    assert cache.get("k") == 1
    cache.invalidate_tags(*[f"t{i}" for i in range(100)])  # no per-call bound on invalidation


def test_keepttl_with_tags(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set("k", 1, 60)
    cache.set("k", 2, keepttl=True, tags=["t"])
    assert cache.ttl("k") == 60 and cache.get("k") == 2
    with pytest.raises(ValueError, match="not both"):
        cache.set("k", 3, 5, keepttl=True, tags=["t"])


# One operation of the property test: write a key with tags, invalidate a tag, or read a key.
KEYS = st.sampled_from(["a", "b", "c"])
TAGS = st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=3)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, TAGS),
        st.tuples(st.just("set_many"), KEYS, TAGS),
        st.tuples(st.just("get_or_set"), KEYS, TAGS),
        st.tuples(st.just("invalidate"), st.sampled_from(["t1", "t2", "t3"]), st.just([])),
        st.tuples(st.just("get"), KEYS, st.just([])),
        st.tuples(st.just("tick"), KEYS, st.just([])),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_a_read_never_returns_a_value_invalidated_after_it_was_written(ops: list[Any]) -> None:
    clock = ManualClock(1_000.0)
    cache = Cache(clock=clock, seed=1)
    try:
        written: dict[int, tuple[int, list[str]]] = {}  # value -> (step written, its tags)
        invalidated: dict[str, int] = {}  # tag -> last step it was invalidated
        for step, (name, subject, tags) in enumerate(ops, start=1):
            if name == "set":
                cache.set(subject, step, 30, tags=tags)
                written[step] = (step, tags)
            elif name == "set_many":
                cache.set_many({subject: step}, 30, tags=tags)
                written[step] = (step, tags)
            elif name == "get_or_set":
                value = cache.get_or_set(subject, functools.partial(int, step), 30, tags=tags)
                written.setdefault(value, (step, tags))
            elif name == "invalidate":
                cache.invalidate_tags(subject)
                invalidated[subject] = step
            elif name == "tick":
                clock.advance(10)
            if name in ("get", "get_or_set"):
                value = cache.get(subject)
                if value is not None:
                    when, value_tags = written[value]
                    assert all(invalidated.get(tag, 0) < when for tag in value_tags)
        assert cache.check() == []
    finally:
        cache.close()
