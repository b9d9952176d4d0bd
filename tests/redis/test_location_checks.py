"""Every part of LOCATION and CLIENT_OPTIONS is checked when the cache is configured
(issue 23, item 3): a ConfigError naming the option, a Django system check (E201) instead of a
crash, a ConfigError from Flask's ``Cache(app)``. Before, these raised raw ``ValueError`` /
``TypeError`` from redis-py on the first request, or were silently ignored.
"""

from __future__ import annotations

from typing import Any

import pytest

from cachepolicy import ConfigError
from cachepolicy.redis.client import _cluster_kwargs
from cachepolicy.redis.settings import parse_redis_settings

BAD: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("redis://127.0.0.1:99999", {}, "LOCATION", ("Port out of range",)),
    ("redis://127.0.0.1:notaport", {}, "LOCATION", ("'notaport'",)),
    ("redis://127.0.0.1:0", {}, "LOCATION", ("1 to 65535",)),
    ("redis://[::1", {}, "LOCATION", ("IPv6",)),
    ("redis://127.0.0.1:6379?socket_timeout=abc", {}, "LOCATION", ("'socket_timeout'", "'abc'")),
    ("redis://127.0.0.1:6379?sockt_timeout=1", {}, "LOCATION", ("Did you mean 'socket_timeout'",)),
    ("redis://127.0.0.1:6379?protocol=9", {}, "LOCATION", ("2 or 3",)),
    ("redis://127.0.0.1:6379?max_connections=0", {}, "LOCATION", ("at least 1",)),
    ("redis://127.0.0.1:6379/99", {}, "LOCATION", ("0 to 15",)),
    ("redis://127.0.0.1:6379", {"bogus": 1}, "CLIENT_OPTIONS", ("'bogus'",)),
    ("redis://127.0.0.1:6379", {"socket_timout": 1}, "CLIENT_OPTIONS", ("'socket_timeout'",)),
    ("redis://127.0.0.1:6379", {"max_connections": "many"}, "CLIENT_OPTIONS", ("'many'",)),
    ("redis://127.0.0.1:6379", {"socket_timeout": -1}, "CLIENT_OPTIONS", ("above 0",)),
    ("redis://127.0.0.1:6379", {"retry_on_timeout": "yes"}, "CLIENT_OPTIONS", ("True or False",)),
    ("redis://127.0.0.1:6379", {"protocol": 9}, "CLIENT_OPTIONS", ("2 or 3",)),
    ("redis://127.0.0.1:6379", {"retry": 3}, "CLIENT_OPTIONS", ("Retry",)),
    ("redis://127.0.0.1:6379", {"db": 2}, "CLIENT_OPTIONS", ("DATABASE",)),
    ("redis://127.0.0.1:6379", {"decode_responses": True}, "CLIENT_OPTIONS", ("bytes",)),
    ("redis://127.0.0.1:6379", {1: 2}, "CLIENT_OPTIONS", ("keyword",)),
    ("redis://a:1,redis://b:2", {"read_from_replica": True}, "CLIENT_OPTIONS", ("replicas",)),
]


@pytest.mark.parametrize(("location", "client_options", "option", "words"), BAD)
def test_a_malformed_location_or_client_option_is_a_named_error(
    location: str, client_options: dict[str, Any], option: str, words: tuple[str, ...]
) -> None:
    options = {"CLIENT_OPTIONS": client_options} if client_options else {}
    with pytest.raises(ConfigError) as caught:
        parse_redis_settings(location, options)
    assert caught.value.option == option
    for word in words:
        assert word in str(caught.value)


def test_good_locations_and_client_options_pass() -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    for location in (
        "redis://[::1]:6379",
        "redis://:secret@127.0.0.1:6379/2?socket_timeout=0.5&protocol=3",
        "rediss://127.0.0.1:6380?ssl_cert_reqs=none",
        "unix:///tmp/redis.sock?db=1",
    ):
        parse_redis_settings(location, {"EVENTS": ()})
    options = {"socket_timeout": 1, "retry": Retry(NoBackoff(), 1), "max_connections": 8}
    parse_redis_settings("redis://127.0.0.1:6379", {"CLIENT_OPTIONS": options})
    cluster = {"read_from_replicas": False, "require_full_coverage": False, **options}
    parse_redis_settings("redis://a:1,redis://b:2", {"CLIENT_OPTIONS": cluster})


def test_a_clusters_url_query_options_are_applied_not_ignored() -> None:
    settings = parse_redis_settings("redis://a:1?socket_timeout=0.5,redis://b:2", {"EVENTS": ()})
    kwargs = _cluster_kwargs(settings)
    assert kwargs["socket_timeout"] == 0.5
    assert kwargs["startup_nodes"] == [("a", 1), ("b", 2)]


@pytest.mark.parametrize(("location", "client_options", "option", "words"), BAD[:12])
def test_django_check_reports_e201_instead_of_crashing(
    location: str, client_options: dict[str, Any], option: str, words: tuple[str, ...]
) -> None:
    from django_cachepolicy.redis_backend import E_INVALID, check_redis_caches

    options = {"CLIENT_OPTIONS": client_options} if client_options else {}
    caches = {
        "default": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": location,
            "OPTIONS": options,
        }
    }
    [error] = check_redis_caches(caches)
    assert error.id == E_INVALID and option in error.msg
    for word in words:
        assert word in error.msg


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"CACHE_REDIS_URL": "redis://127.0.0.1:99999"}, "CACHE_REDIS_URL"),
        ({"CACHE_REDIS_URL": "redis://[::1"}, "CACHE_REDIS_URL"),
        (
            {
                "CACHE_REDIS_URL": "redis://127.0.0.1:6379",
                "CACHE_OPTIONS": {"client_options": {"bogus": 1}},
            },
            "CACHE_OPTIONS",
        ),
    ],
)
def test_flask_raises_a_config_error_naming_the_key(config: dict[str, Any], key: str) -> None:
    import flask
    from flask_caching import Cache as FlaskCache

    app = flask.Flask(__name__)
    app.config.update(CACHE_TYPE="flask_cachepolicy.RedisPolicyCache", **config)
    with pytest.raises(ConfigError) as caught:
        FlaskCache(app)
    assert key in str(caught.value)


@pytest.mark.parametrize(
    "location",
    [
        "redis://:hunter2secret@127.0.0.1:99999",
        "redis://user:hunter2secret@127.0.0.1:6379/abc",
        "redis://:hunter2secret@[::1",
        "redis://:hunter2secret@127.0.0.1:6379?bogus=1",
    ],
)
def test_configuration_errors_never_show_the_password(location: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_redis_settings(location)
    assert "hunter2secret" not in str(caught.value) and "***" in str(caught.value)
