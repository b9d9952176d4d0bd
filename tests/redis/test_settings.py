"""Option validation: the in-process options accepted the same way, Redis-incapable ones refused."""

from __future__ import annotations

import pytest

from cachepolicy import CacheConfig, ConfigError
from cachepolicy.eviction.sampled import AllKeysLRU
from cachepolicy.redis.settings import parse_redis_settings

URL = "redis://127.0.0.1:1/0"


def test_memory_spellings_are_the_in_process_ones() -> None:
    settings = parse_redis_settings(URL, {"MAXMEMORY": "1kb", "maxmemory-policy": "ALLKEYS-LFU"})
    assert settings.server_config == {
        "maxmemory": str(CacheConfig(maxmemory="1kb").maxmemory),
        "maxmemory-policy": "allkeys-lfu",
    }
    assert settings.server_config["maxmemory"] == "1024"
    assert settings.option_for["maxmemory"] == "MAXMEMORY"


def test_only_given_options_are_compared() -> None:
    assert parse_redis_settings(URL, {}).server_config == {}


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"MAXMEMORY": "12 apples"}, "maxmemory"),
        ({"MAXMEMORY_SAMPLES": 0}, "maxmemory_samples"),
        ({"ACTIVE_EXPIRE_EFFORT": 11}, "active_expire_effort"),
        ({"LFU_LOG_FACTOR": "ten"}, "lfu_log_factor"),
    ],
)
def test_invalid_values_get_the_in_process_error(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as redis_error:
        parse_redis_settings(URL, options)
    with pytest.raises(ConfigError) as core_error:
        CacheConfig.from_options(options)
    assert str(core_error.value) in str(redis_error.value)
    assert redis_error.value.option == next(iter(options))
    assert core_error.value.option == named


class MyLRU(AllKeysLRU):
    """A Python policy: valid in-process, impossible inside Redis."""


def test_a_python_policy_cannot_run_in_redis() -> None:
    path = f"{__name__}.MyLRU"
    CacheConfig(maxmemory_policy=path)  # the in-process backend accepts it
    with pytest.raises(ConfigError, match="not a policy Redis can run") as error:
        parse_redis_settings(URL, {"MAXMEMORY_POLICY": path})
    assert error.value.option == "MAXMEMORY_POLICY"


def test_a_misspelt_policy_suggests_the_redis_name() -> None:
    with pytest.raises(ConfigError, match="allkeys-lru"):
        parse_redis_settings(URL, {"MAXMEMORY_POLICY": "allkeys-lur"})


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("EVICTION_MODE", "exact", "always ranks a sample"),
        ("EXPIRY", "timed", "expires keys lazily"),
        ("MAX_ENTRIES", 10, "no entry-count bound"),
        ("CULL_FREQUENCY", 3, "nothing to cull"),
        ("ADMISSION", "tinylfu", "admission runs in the in-process backend only"),
        ("MAXMEMORY_POLICY", "allkeys-wtinylfu", "only runs in the in-process backend"),
        ("MAXMEMORY_POLICY", "allkeys-gdsf", "only runs in the in-process backend"),
        ("MAXMEMORY_POLCY", "allkeys-lru", "Did you mean 'maxmemory_policy'"),
        ("TOPOLOGY", "sharded", "one of"),
        ("SIGNING_KEY", "short", "at least 16"),
        ("EVENTS", ["set"], "may name"),
        ("APPLY_CONFIG", "maybe", "True or False"),
    ],
)
def test_what_redis_cannot_do_is_a_named_error(name: str, value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as error:
        parse_redis_settings(URL, {name: value})
    assert error.value.option is not None


def test_topology_follows_the_urls() -> None:
    assert parse_redis_settings(URL).topology == "standalone"
    assert parse_redis_settings(f"{URL},redis://127.0.0.1:2").topology == "cluster"
    assert parse_redis_settings([URL], {"TOPOLOGY": "cluster"}).cluster
    with pytest.raises(ConfigError, match="standalone"):
        parse_redis_settings(f"{URL},redis://127.0.0.1:2", {"TOPOLOGY": "standalone"})
    with pytest.raises(ConfigError, match="only database 0"):
        parse_redis_settings("redis://127.0.0.1:1", {"TOPOLOGY": "cluster"}, db=3)
    with pytest.raises(ConfigError, match="not a Redis URL"):
        parse_redis_settings("http://example.com")


def test_lazyfree_threshold_switches_redis_lazyfree_flags() -> None:
    on = parse_redis_settings(URL, {"LAZYFREE_THRESHOLD": "1mb"}).server_config
    assert on["lazyfree-lazy-eviction"] == "yes" and on["lazyfree-lazy-user-del"] == "yes"
    off = parse_redis_settings(URL, {"LAZYFREE_THRESHOLD": 0, "LAZYFREE_LAZY_EXPIRE": True})
    assert off.server_config["lazyfree-lazy-eviction"] == "no"
    assert off.server_config["lazyfree-lazy-expire"] == "yes"


def test_an_lrm_policy_refused_by_an_older_server_says_which_redis_it_needs() -> None:
    """Redis 7 answers CONFIG SET maxmemory-policy allkeys-lrm with an error: the ConfigError
    names the option and says LRM needs Redis 8.6."""
    import redis

    from cachepolicy.redis.server_config import apply_server_config

    class OldServer:
        def config_set(self, parameter: str, value: object) -> None:
            raise redis.ResponseError("CONFIG SET failed (possibly related to argument 'x')")

    settings = parse_redis_settings(URL, {"MAXMEMORY_POLICY": "allkeys-lrm"})
    with pytest.raises(ConfigError, match=r"need Redis 8\.6") as error:
        apply_server_config([("old:6379", OldServer())], settings)
    assert error.value.option == "MAXMEMORY_POLICY"
