"""Django's ``get_or_set`` on PolicyCache: single flight, Django's conventions kept."""

from __future__ import annotations

import asyncio
import pickle
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django_cachepolicy import PolicyCache, signals
from django_cachepolicy.options import validate_alias

from cachepolicy import OutOfMemoryError, release_shared_store
from cachepolicy.errors import TagError
from tests.herd import run_threads, wait_until

HERD = 64
MakeBackend = Callable[..., PolicyCache]


@pytest.fixture
def make_backend() -> Iterator[MakeBackend]:
    locations: list[str] = []

    def factory(**options: Any) -> PolicyCache:
        location = f"flight-{uuid.uuid4().hex}"
        locations.append(location)
        return PolicyCache(location, {"OPTIONS": options})

    yield factory
    for location in locations:
        release_shared_store(location)


def test_a_herd_of_threads_computes_once(make_backend: MakeBackend) -> None:
    cache = make_backend()
    made = cache.make_key("hot")
    flights = cache.view.store.flights
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        wait_until(lambda: flights.followers(0, made) == HERD - 1, "the herd")
        return "page"

    # One backend object per thread, as Django makes them: they share the store.
    backends = [PolicyCache(cache.location, {}) for _ in range(HERD)]
    results = run_threads(HERD, lambda i: backends[i].get_or_set("hot", compute, 60))
    assert calls == [1]
    assert results == ["page"] * HERD
    assert cache.get("hot") == "page"
    assert cache.info()["stampede_waited"] == HERD - 1


def test_a_value_default_keeps_djangos_meaning(make_backend: MakeBackend) -> None:
    cache = make_backend()
    assert cache.get_or_set("k", 42) == 42
    assert cache.get("k") == 42
    assert cache.info()["stampede_computed"] == 0


def test_unpicklable_value_is_djangos_pickling_error(make_backend: MakeBackend) -> None:
    cache = make_backend()
    with pytest.raises(pickle.PickleError):
        cache.get_or_set("k", lambda: lambda: 1)
    assert not cache.has_key("k")


def test_timeout_and_version_apply(make_backend: MakeBackend) -> None:
    cache = make_backend()
    assert cache.get_or_set("k", lambda: "v", timeout=30, version=2) == "v"
    assert cache.get("k", version=2) == "v" and cache.get("k") is None
    assert cache.view.ttl(cache.make_key("k", version=2)) == pytest.approx(30, abs=1)


def test_out_of_memory_follows_on_out_of_memory(make_backend: MakeBackend) -> None:
    full = {"MAXMEMORY": "2kb", "MAXMEMORY_POLICY": "noeviction"}
    raising = make_backend(**full)
    raising.set("small", 1)  # with nothing stored, the engine says ValueTooLargeError instead
    with pytest.raises(OutOfMemoryError):
        raising.get_or_set("k", lambda: "x" * 1500)
    dropping = make_backend(**full, ON_OUT_OF_MEMORY="drop")
    dropping.set("small", 1)
    assert dropping.get_or_set("k", lambda: "x" * 1500) == "x" * 1500
    assert not dropping.has_key("k")


@pytest.mark.parametrize(
    ("key", "value"),
    [("STAMPEDE_WAIT", 0), ("STAMPEDE_WAIT", "10"), ("STAMPEDE_ON_TIMEOUT", "never")],
)
def test_bad_stampede_options_are_named(key: str, value: Any) -> None:
    options, errors = validate_alias("default", "loc", {"OPTIONS": {key: value}})
    assert options is None
    assert [error.check_id for error in errors] == ["django_cachepolicy.E007"]
    assert key in errors[0].message and errors[0].hint
    with pytest.raises(ImproperlyConfigured, match=key):  # reported when used (checks first)
        PolicyCache(f"bad-{uuid.uuid4().hex}", {"OPTIONS": {key: value}}).get_or_set("k", int)


def test_stampede_options_reach_the_view(make_backend: MakeBackend) -> None:
    cache = make_backend(STAMPEDE_WAIT=2.5, STAMPEDE_ON_TIMEOUT="raise")
    assert (cache.view.stampede.wait, cache.view.stampede.on_timeout) == (2.5, "raise")


def test_tags_through_django(make_backend: MakeBackend) -> None:
    cache = make_backend()
    other = PolicyCache(cache.location, {})  # another thread's backend on the store
    cache.set("a", 1, tags=["user:1"])
    cache.set_many({"b": 2, "c": 3}, tags=["user:1", "page"])
    assert cache.get_or_set("d", lambda: 4, tags=["page"]) == 4
    assert cache.get_or_set("e", 5, tags=["user:1"]) == 5  # a value default, tagged
    other.invalidate_tags("user:1")
    assert cache.get_many(["a", "b", "c", "d", "e"]) == {"d": 4}
    assert not cache.has_key("a")
    with pytest.raises(TagError):
        cache.set("f", 1, tags="page")
    assert not cache.has_key("f")


def test_xfetch_and_grace_options_reach_the_view(make_backend: MakeBackend) -> None:
    cache = make_backend(XFETCH_BETA=None, STALE_GRACE=30)
    assert (cache.view.stampede.beta, cache.view.stampede.grace) == (None, 30.0)
    options, errors = validate_alias("default", "loc", {"OPTIONS": {"XFETCH_BETA": 0}})
    assert options is None and "XFETCH_BETA" in errors[0].message


def test_a_herd_of_tasks_computes_once(make_backend: MakeBackend) -> None:
    cache = make_backend()
    made = cache.make_key("hot")
    flights = cache.view.store.flights
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        while flights.followers(0, made) < HERD - 1:  # bounded by the herd's own progress
            await asyncio.sleep(0.001)
        return "page"

    async def herd() -> list[Any]:
        return await asyncio.gather(*(cache.aget_or_set("hot", compute, 60) for _ in range(HERD)))

    assert asyncio.run(asyncio.wait_for(herd(), 30)) == ["page"] * HERD
    assert calls == [1]
    assert asyncio.run(cache.aget_or_set("v", 7)) == 7  # a value default: Django's meaning


def test_computed_and_tag_invalidated_signals(make_backend: MakeBackend) -> None:
    cache = make_backend()
    received: list[tuple[str, str]] = []

    def recorder(sender: Any, *, event: str, key: str, **kwargs: Any) -> None:
        received.append((event, key))

    signals.computed.connect(recorder)
    signals.tag_invalidated.connect(recorder)
    try:
        cache.get_or_set("k", lambda: 1, tags=["t"])
        cache.invalidate_tags("t")
    finally:
        signals.computed.disconnect(recorder)
        signals.tag_invalidated.disconnect(recorder)
    assert received == [("computed", cache.make_key("k")), ("tag_invalidated", "t")]


def test_single_flight_cache_page_renders_once() -> None:
    from django.core.cache import caches
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django_cachepolicy.pages import single_flight_cache_page

    backend = caches["default"]
    assert isinstance(backend, PolicyCache)
    flights = backend.view.store.flights
    renders: list[int] = []
    prefix = uuid.uuid4().hex

    @single_flight_cache_page(60, key_prefix=prefix)
    def page(request: Any) -> HttpResponse:
        renders.append(1)
        wait_until(lambda: flights.in_flight() == 1 and _followers(flights) == 7, "the herd")
        return HttpResponse("rendered")

    factory = RequestFactory()
    results = run_threads(8, lambda i: page(factory.get("/hot")).content)
    assert results == [b"rendered"] * 8 and renders == [1]
    assert page(factory.get("/hot")).content == b"rendered" and renders == [1]  # a hit


def _followers(flights: Any) -> int:
    with flights._lock:
        return sum(flight.followers for flight in flights._flights.values())


def test_a_failing_page_ends_its_lease() -> None:
    from django.core.cache import caches
    from django.test import RequestFactory
    from django_cachepolicy.pages import single_flight_cache_page

    @single_flight_cache_page(60, key_prefix=uuid.uuid4().hex)
    def broken(request: Any) -> Any:
        raise RuntimeError("view failed")

    with pytest.raises(RuntimeError):
        broken(RequestFactory().get("/broken"))
    backend = caches["default"]
    assert isinstance(backend, PolicyCache)
    assert backend.view.store.flights.in_flight() == 0


def test_the_fragment_tag_renders_a_herds_fragment_once() -> None:
    """``{% load cachepolicy %}``'s ``{% cache %}``: Django's key, rendered once per herd."""
    from django.core.cache import caches
    from django.core.cache.utils import make_template_fragment_key
    from django.template import Context, Template

    backend = caches["default"]
    assert isinstance(backend, PolicyCache)
    flights = backend.view.store.flights
    name = f"frag{uuid.uuid4().hex}"
    renders: list[int] = []

    def expensive() -> str:
        renders.append(1)
        wait_until(lambda: flights.in_flight() == 1 and _followers(flights) == 7, "the herd")
        return "sidebar & more"  # escaped once, when rendered

    template = Template(
        "{% load cachepolicy %}{% cache 60 " + name + " user %}{{ body }}{% endcache %}"
    )
    context = {"user": "ada", "body": expensive}
    results = run_threads(8, lambda i: template.render(Context(context)))
    assert results == ["sidebar &amp; more"] * 8 and renders == [1]
    assert template.render(Context(context)) == "sidebar &amp; more" and renders == [1]  # a hit
    key = make_template_fragment_key(name, ["ada"])  # the key Django's own tag uses
    assert backend.get(key) == "sidebar &amp; more"
    assert 59 <= backend.view.ttl(backend.make_key(key)) <= 60  # type: ignore[operator]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("{% cache %}", "needs a timeout and a fragment name"),
        ("{% cache 'soon' f %}", "must be an integer"),
        ("{% cache 60 f using='nowhere' %}", "which CACHES does not define"),
    ],
)
def test_the_fragment_tag_names_bad_arguments(tag: str, message: str) -> None:
    from django.template import Context, Template, TemplateSyntaxError

    with pytest.raises(TemplateSyntaxError, match=message):
        Template("{% load cachepolicy %}" + tag + "x{% endcache %}").render(Context({}))
