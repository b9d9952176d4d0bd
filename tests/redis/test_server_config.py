"""CONFIG GET read-back (mismatches: Django check W201, Flask warning) vs opt-in CONFIG SET."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from cachepolicy import ConfigError
from cachepolicy.redis.client import RedisClient
from cachepolicy.redis.server_config import (
    apply_server_config,
    check_server_config,
    missing_notify_flags,
)
from cachepolicy.redis.settings import parse_redis_settings

PARAMETERS = (
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "lfu-log-factor",
    "active-expire-effort",
    "notify-keyspace-events",
    "lazyfree-lazy-eviction",
)
WANTED = {
    "MAXMEMORY": "100mb",
    "MAXMEMORY_POLICY": "allkeys-lfu",
    "MAXMEMORY_SAMPLES": 7,
    "LFU_LOG_FACTOR": 12,
    "ACTIVE_EXPIRE_EFFORT": 3,
}


def _servers(location: str) -> list[Any]:
    return RedisClient(parse_redis_settings(location, {"EVENTS": ()})).primaries()


@pytest.fixture
def restored(location: str) -> Iterator[str]:
    """The private server(s) with their configuration put back after the test."""
    servers = _servers(location)
    saved = [{p: server.config_get(p)[p] for p in PARAMETERS} for _n, server in servers]
    yield location
    for (_name, server), values in zip(servers, saved, strict=True):
        for parameter, value in values.items():
            server.config_set(parameter, value)


def test_read_back_reports_each_difference_per_node(restored: str) -> None:
    settings = parse_redis_settings(restored, WANTED)
    servers = _servers(restored)
    mismatches = check_server_config(servers, settings)
    assert {(m.parameter, m.wanted) for m in mismatches} == {
        ("maxmemory", "104857600"),
        ("maxmemory-policy", "allkeys-lfu"),
        ("maxmemory-samples", "7"),
        ("lfu-log-factor", "12"),
        ("active-expire-effort", "3"),
    }
    assert len(mismatches) == 5 * len(servers)
    assert "MAXMEMORY_POLICY = 'allkeys-lfu'" in next(
        m.sentence() for m in mismatches if m.parameter == "maxmemory-policy"
    )


def test_apply_sets_every_primary_then_read_back_agrees(restored: str) -> None:
    settings = parse_redis_settings(restored, {**WANTED, "LAZYFREE_LAZY_EVICTION": True})
    servers = _servers(restored)
    apply_server_config(servers, settings)
    assert check_server_config(servers, settings) == []
    for _name, server in servers:
        assert server.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lfu"
        assert server.config_get("lazyfree-lazy-eviction")["lazyfree-lazy-eviction"] == "yes"


def test_a_refused_config_set_names_the_option(restored: str) -> None:
    settings = parse_redis_settings(restored, {"MAXMEMORY": "100mb"})
    # Redis refuses maxmemory-samples 0 (the core refuses it too); force it past validation.
    bad = type(settings)(**{**settings.__dict__, "server_config": {"maxmemory-samples": "0"}})
    object.__setattr__(bad, "option_for", {"maxmemory-samples": "MAXMEMORY_SAMPLES"})
    with pytest.raises(ConfigError, match="MAXMEMORY_SAMPLES") as error:
        apply_server_config(_servers(restored), bad)
    assert error.value.option == "MAXMEMORY_SAMPLES"


def test_django_check_warns_about_mismatches_and_missing_notifications(restored: str) -> None:
    from django_cachepolicy.checks import check_redis_caches

    caches = {
        "default": {"BACKEND": "django_cachepolicy.PolicyCache", "LOCATION": "x"},
        "redis": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": restored,
            "OPTIONS": {"MAXMEMORY_POLICY": "allkeys-lfu"},
        },
        "bad": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": restored,
            "OPTIONS": {"MAXMEMORY_POLICY": "myapp.policies.TinyLFU"},
        },
        "down": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": "redis://127.0.0.1:1",
        },
    }
    for _name, server in _servers(restored):
        server.config_set("notify-keyspace-events", "")
    with override_settings(CACHES=caches):
        messages = check_redis_caches()
    ids = sorted((m.obj, m.id) for m in messages)
    nodes = len(_servers(restored))
    assert ids.count(("CACHES['redis']", "django_cachepolicy.W201")) == nodes
    assert ids.count(("CACHES['redis']", "django_cachepolicy.W202")) == nodes
    assert ("CACHES['bad']", "django_cachepolicy.E201") in ids
    assert ("CACHES['down']", "django_cachepolicy.W203") in ids
    assert not any(obj == "CACHES['default']" for obj, _id in ids)
    bad = next(m for m in messages if m.id == "django_cachepolicy.E201")
    assert "MAXMEMORY_POLICY" in bad.msg


def test_flask_logs_mismatches_at_start_up(restored: str, caplog: pytest.LogCaptureFixture) -> None:
    from flask_cachepolicy.redis_backend import RedisPolicyCache

    with caplog.at_level(logging.WARNING, logger="flask_cachepolicy"):
        backend = RedisPolicyCache(restored, maxmemory_policy="allkeys-lfu", events=["expired"])
    assert len(backend.mismatches) == len(_servers(restored))
    assert "maxmemory-policy" in caplog.text and "apply_config" in caplog.text
    assert "notify-keyspace-events" in caplog.text


def test_apply_enables_notifications_keeping_existing_classes(restored: str) -> None:
    from flask_cachepolicy.redis_backend import RedisPolicyCache

    for _name, server in _servers(restored):
        server.config_set("notify-keyspace-events", "Kg")
    RedisPolicyCache(restored, apply_config=True, events=["expired", "evicted"])
    for _name, server in _servers(restored):
        flags = server.config_get("notify-keyspace-events")["notify-keyspace-events"]
        assert (
            set("Kg") <= set(flags) and missing_notify_flags(server, ("expired", "evicted")) == ""
        )
