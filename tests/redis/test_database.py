"""One source of truth for the database (issue 23, item 2).

The URL's path (``/3``) or query (``?db=4``), else DATABASE / CACHE_REDIS_DB, else 0. Before,
the URL's database took the data while the backend, its keyspace listener and Flask's INFO all
said 0, a conflicting explicit setting was silently ignored, and ``/abc`` meant 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cachepolicy import ConfigError
from cachepolicy.redis.settings import parse_redis_settings
from tests.redis.servers import RedisProcess, require_redis_server, wait_until
from tests.redis.test_events import Received


@pytest.fixture
def server() -> Iterator[RedisProcess]:
    """A server of its own: the backends turn on its keyspace notifications."""
    process = RedisProcess(require_redis_server())
    yield process
    process.close()


def _django(location: str, **options: Any) -> Any:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    return RedisPolicyCache(
        location,
        {"KEY_PREFIX": f"db{uuid.uuid4().hex[:6]}", "OPTIONS": {"EVENTS": (), **options}},
    )


@pytest.mark.parametrize("suffix", ["/3", "?db=3", "/3?db=3"])
def test_the_urls_database_is_the_backends(server: RedisProcess, suffix: str) -> None:
    cache = _django(server.url + suffix)
    assert cache.database == 3
    cache.set("k", 1)
    assert server.client(db=3).exists(cache.make_key("k")) == 1
    assert server.client(db=0).exists(cache.make_key("k")) == 0


def test_the_same_database_twice_is_fine_and_an_explicit_one_is_used(server: RedisProcess) -> None:
    assert _django(server.url + "/2", DATABASE=2).database == 2
    cache = _django(server.url, DATABASE=5)
    assert cache.database == 5
    cache.set("k", 1)
    assert server.client(db=5).exists(cache.make_key("k")) == 1


@pytest.mark.parametrize(
    ("location", "options", "named"),
    [
        ("redis://127.0.0.1:6379/3", {"DATABASE": 4}, ("DATABASE", "LOCATION")),
        ("redis://127.0.0.1:6379/3?db=4", {}, ("LOCATION", "/3?db=4")),
        ("redis://127.0.0.1:6379/abc", {}, ("LOCATION", "'abc'")),
        ("redis://127.0.0.1:6379?db=x", {}, ("LOCATION", "'x'")),
        ("redis://a:1/1,redis://b:2/2", {}, ("LOCATION", "1", "2")),
        ("redis://127.0.0.1:6379/99", {}, ("LOCATION", "0 to 15")),
        ("redis://a:1/3,redis://b:2/3", {}, ("only database 0",)),
    ],
)
def test_a_conflicting_or_malformed_database_is_a_configuration_error(
    location: str, options: dict[str, Any], named: tuple[str, ...]
) -> None:
    from django_cachepolicy.redis_backend import redis_settings_for

    with pytest.raises(ConfigError) as caught:
        redis_settings_for(location, {"OPTIONS": options})
    for word in named:
        assert word in str(caught.value)


def test_the_django_system_check_reports_a_conflict() -> None:
    from django_cachepolicy.redis_backend import E_INVALID, check_redis_caches

    caches = {
        "default": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": "redis://127.0.0.1:6379/3",
            "OPTIONS": {"DATABASE": 4},
        }
    }
    [error] = check_redis_caches(caches)
    assert error.id == E_INVALID and "DATABASE" in error.msg and "LOCATION" in error.msg


def test_the_keyspace_listener_subscribes_to_the_urls_database(
    server: RedisProcess,
) -> None:
    from django_cachepolicy import signals

    received = Received()
    signals.expired.connect(received, weak=False)
    try:
        cache = _django(server.url + "/3", APPLY_CONFIG=True, EVENTS=("expired",))
        cache.set("short", "v", 0.05)
        made = cache.make_key("short")
        wait_until(lambda: made in received.keys("expired"), 10, "the expired signal from db 3")
        assert next(e for e in received.events if e["key"] == made)["database"] == 3
    finally:
        signals.expired.disconnect(received)


def _flask(server: RedisProcess, url_suffix: str, **config: Any) -> Any:
    import flask
    from flask_caching import Cache as FlaskCache

    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.RedisPolicyCache",
        CACHE_REDIS_URL=server.url + url_suffix,
        CACHE_KEY_PREFIX="dbtest:",
        CACHE_OPTIONS={"events": ()},
        **config,
    )
    return FlaskCache(app).cache


def test_flask_reports_the_urls_database(server: RedisProcess) -> None:
    cache = _flask(server, "/5")
    assert cache.info()["flask_db"] == 5
    cache.set("k", 1)
    assert server.client(db=5).exists("dbtest:k") == 1
    assert _flask(server, "", CACHE_REDIS_DB=6).info()["flask_db"] == 6


def test_flask_refuses_a_conflict_naming_both_settings(server: RedisProcess) -> None:
    with pytest.raises(ConfigError) as caught:
        _flask(server, "/5", CACHE_REDIS_DB=2)
    assert "CACHE_REDIS_DB" in str(caught.value) and "CACHE_REDIS_URL" in str(caught.value)
    assert caught.value.option == "CACHE_REDIS_DB"


def test_a_unix_socket_path_is_not_a_database() -> None:
    settings = parse_redis_settings("unix:///tmp/redis.sock?db=2", {"EVENTS": ()})
    assert settings.db == 2
    assert parse_redis_settings("unix:///tmp/redis.sock", {"EVENTS": ()}).db == 0
