"""Every part of ``LOCATION`` and ``CLIENT_OPTIONS``, checked when the cache is configured.

redis-py checks a URL's host, port and query options, and a client's keyword arguments, only
when it first connects (or never: an unknown query option becomes a connection keyword and
fails as a ``TypeError`` on the first request). Here they are checked at configuration time,
each refusal a :class:`~cachepolicy.ConfigError` naming the option (``LOCATION``,
``CLIENT_OPTIONS``, or the query option inside the URL), with a did-you-mean for a misspelt
name:

* a URL's host and port: a port that is not a number or not in 1..65535, an unclosed IPv6
  bracket (``[::1``);
* a URL's query options: redis-py's own parsers (``socket_timeout=abc`` is refused), the names
  redis-py's connection classes accept, and the value rules below;
* ``CLIENT_OPTIONS``: the names redis-py's client (and, on a cluster, its cluster client)
  accepts, and for the common ones the type and range (``max_connections`` a positive
  integer, timeouts positive numbers, ``protocol`` 2 or 3...).

The names accepted are read from redis-py's signatures, so they follow its version.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError, did_you_mean, short_repr

__all__ = ["check_client_options", "check_url", "redacted"]

# user:password@ in a URL (matched as text: it must work on a URL too malformed to parse).
_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")


def redacted(location: Any) -> str:
    """``location`` (a URL, a comma list, or a list of them) with every password shown as
    ``***``: for messages and logs, which must never carry a secret."""
    text = location if isinstance(location, str) else ", ".join(map(str, location))
    return _PASSWORD.sub(r"\1:***@", text)


def _number(minimum: float, *, none: bool, strict: bool) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None and none:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or (value <= minimum if strict else value < minimum)
        ):
            bound = f"{'above' if strict else 'at least'} {minimum:g}"
            return f"a number of seconds {bound}{' (or None)' if none else ''}"
        return None

    return check


def _integer(minimum: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return f"an integer of at least {minimum}"
        return None

    return check


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "a string (or None)"


def _protocol(value: Any) -> str | None:
    return None if value in (2, 3, "2", "3") and not isinstance(value, bool) else "2 or 3"


def _retry(value: Any) -> str | None:
    from redis.retry import Retry

    return None if value is None or isinstance(value, Retry) else "a redis.retry.Retry (or None)"


# The options whose values are checked, and what each must be (a phrase for the message).
_VALUE_RULES: Final[Mapping[str, Callable[[Any], str | None]]] = {
    "max_connections": _integer(1),
    "socket_read_size": _integer(1),
    "socket_timeout": _number(0, none=True, strict=True),
    "socket_connect_timeout": _number(0, none=True, strict=True),
    "timeout": _number(0, none=True, strict=True),
    "health_check_interval": _number(0, none=False, strict=False),
    "socket_keepalive": _flag,
    "retry_on_timeout": _flag,
    "ssl": _flag,
    "ssl_check_hostname": _flag,
    "username": _text,
    "password": _text,
    "client_name": _text,
    "protocol": _protocol,
    "retry": _retry,
}

# Options that would contradict the cache's own settings: refused, with what to use instead.
_REFUSED: Final[Mapping[str, str]] = {
    "db": "the database is LOCATION's ('/3' or '?db=3') or the DATABASE / CACHE_REDIS_DB setting",
    "host": "the server is LOCATION's",
    "port": "the server is LOCATION's",
    "path": "the server is LOCATION's (a unix:// URL)",
    "url": "the server is LOCATION's",
    "startup_nodes": "a cluster's startup nodes are LOCATION's URLs",
    "connection_pool": "the cache makes its own pool (one per process and settings)",
    "decode_responses": "the cache stores bytes; decoded replies would corrupt every value",
}


def _parameters(*functions: Any) -> frozenset[str]:
    names: set[str] = set()
    for function in functions:
        for name, parameter in inspect.signature(function).parameters.items():
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                names.add(name)
    names.discard("self")
    return frozenset(names)


@functools.cache
def _connection_names() -> frozenset[str]:
    """What a redis-py connection pool and its connection classes take (TCP, TLS, Unix)."""
    import redis.connection as connection

    return _parameters(
        connection.ConnectionPool.__init__,
        connection.AbstractConnection.__init__,
        connection.Connection.__init__,
        connection.SSLConnection.__init__,
        connection.UnixDomainSocketConnection.__init__,
    ) | {"single_connection_client"}


@functools.cache
def _cluster_names() -> frozenset[str]:
    """What ``RedisCluster`` takes: its own arguments and every node client's."""
    import redis
    import redis.cluster

    return (
        _parameters(redis.cluster.RedisCluster.__init__, redis.Redis.__init__) | _connection_names()
    )


def _check_value(name: str, value: Any, where: str, option: str) -> None:
    if name in _REFUSED:
        raise ConfigError(
            f"{where} cannot set {name!r}: {_REFUSED[name]}.",
            option=option,
        )
    rule = _VALUE_RULES.get(name)
    wanted = rule(value) if rule is not None else None
    if wanted is not None:
        raise ConfigError(
            f"{where}: {name!r} must be {wanted}, got {short_repr(value)}.",
            option=option,
        )


def check_url(url: str, option: str = "LOCATION") -> None:
    """Refuse a URL whose host, port or query options redis-py would refuse (or ignore)."""
    entry = f"{option} entry {short_repr(redacted(url))}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an unclosed IPv6 bracket, a port that is not a number
        raise ConfigError(f"{entry} is not a valid URL: {exc}.", option=option) from exc
    if parts.scheme != "unix":
        if port is not None and not 1 <= port <= 65535:
            raise ConfigError(
                f"{entry} has port {port}: a port is 1 to 65535.",
                option=option,
            )
        if parts.netloc and not parts.hostname:
            raise ConfigError(f"{entry} has no host name.", option=option)
    from redis.connection import URL_QUERY_ARGUMENT_PARSERS

    known = _connection_names()
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        where = f"{entry}, query option {name!r}"
        if name not in known and name not in URL_QUERY_ARGUMENT_PARSERS:
            raise ConfigError(
                f"{where} is not a redis-py connection option.{did_you_mean(name, known)}",
                option=option,
            )
        if name == "db":
            continue  # the database: checked by location_database()
        parser: Any = URL_QUERY_ARGUMENT_PARSERS.get(name)
        value: Any = values[-1]
        if parser is not None:
            try:
                value = parser(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{where}: {short_repr(values[-1])} is not a valid value ({exc}).",
                    option=option,
                ) from exc
        _check_value(name, value, where, option)


def check_client_options(
    options: Mapping[Any, Any], *, cluster: bool, option: str = "CLIENT_OPTIONS"
) -> None:
    """Refuse a ``CLIENT_OPTIONS`` name redis-py's client would refuse, a value of the wrong
    type or range for the common ones, and the names that contradict the cache's settings."""
    known = _cluster_names() if cluster else _connection_names()
    for name, value in options.items():
        if not isinstance(name, str):
            raise ConfigError(
                f"{option} keys are redis-py keyword argument names, got {short_repr(name)}.",
                option=option,
            )
        if name not in known and name not in _REFUSED:
            client = "RedisCluster" if cluster else "redis.Redis (its connection pool)"
            raise ConfigError(
                f"{option} has {name!r}, which {client} does not take.{did_you_mean(name, known)}",
                option=option,
            )
        _check_value(name, value, f"{option}", option)
