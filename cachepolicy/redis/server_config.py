"""Apply the cache's memory settings to the Redis server, or read them back and compare.

Opt-in apply (``apply_config=True``): ``CONFIG SET`` every given parameter on the server (on
every primary of a cluster), because on a shared server that changes everybody's eviction.
Otherwise (the default) ``CONFIG GET`` them and report each difference as a
:class:`Mismatch`, which the adapters turn into a Django system-check warning or a logged Flask
start-up warning. Only the options the user gave are compared (see
:mod:`cachepolicy.redis.settings`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ConfigError
from .settings import RedisSettings

__all__ = [
    "NOTIFY_FLAGS",
    "Mismatch",
    "apply_server_config",
    "check_server_config",
    "enable_notify_flags",
    "missing_notify_flags",
]

#: notify-keyspace-events classes each relayed event needs: E (keyevent channel) plus x
#: (expired) or e (evicted); "A" is the alias of every class including both.
NOTIFY_FLAGS = {"expired": "x", "evicted": "e"}


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One server parameter whose value differs from what the settings ask for."""

    node: str
    parameter: str
    option: str
    wanted: str
    actual: str

    def sentence(self) -> str:
        return (
            f"Redis server {self.node} has {self.parameter} = {self.actual!r}, but the cache "
            f"settings ask for {self.option} = {self.wanted!r}."
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _server_values(server: Any, parameters: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for parameter in parameters:
        for name, value in server.config_get(parameter).items():
            values[_text(name)] = _text(value)
    return values


def check_server_config(servers: list[tuple[str, Any]], settings: RedisSettings) -> list[Mismatch]:
    """Compare each server's CONFIG GET with the wanted values; empty when all agree."""
    wanted = settings.server_config
    mismatches: list[Mismatch] = []
    for node, server in servers:
        actual = _server_values(server, list(wanted))
        for parameter, value in wanted.items():
            have = actual.get(parameter, "")
            if have.lower() != value.lower():
                mismatches.append(
                    Mismatch(node, parameter, settings.option_for[parameter], value, have)
                )
    return mismatches


def apply_server_config(servers: list[tuple[str, Any]], settings: RedisSettings) -> None:
    """CONFIG SET every wanted parameter on every server; a refusal names the option."""
    import redis

    for node, server in servers:
        for parameter, value in settings.server_config.items():
            try:
                server.config_set(parameter, value)
            except redis.ResponseError as exc:
                hint = ""
                if parameter == "maxmemory-policy" and str(value).endswith("-lrm"):
                    hint = " The LRM policies need Redis 8.6 or later."
                raise ConfigError(
                    f"Redis server {node} refused CONFIG SET {parameter} {value} (from option "
                    f"{settings.option_for[parameter]!r}): {exc}.{hint}",
                    option=settings.option_for[parameter],
                ) from exc


def missing_notify_flags(server: Any, events: tuple[str, ...]) -> str:
    """The notify-keyspace-events classes the server lacks for ``events`` ('' if none)."""
    if not events:
        return ""
    current = _server_values(server, ["notify-keyspace-events"]).get("notify-keyspace-events", "")
    needed = "" if "E" in current else "E"
    if "A" not in current:
        needed += "".join(
            NOTIFY_FLAGS[event] for event in events if NOTIFY_FLAGS[event] not in current
        )
    return needed


def enable_notify_flags(server: Any, events: tuple[str, ...]) -> None:
    """Add what ``events`` need to notify-keyspace-events, keeping the classes already set."""
    current = _server_values(server, ["notify-keyspace-events"]).get("notify-keyspace-events", "")
    missing = missing_notify_flags(server, events)
    if missing:
        server.config_set("notify-keyspace-events", current + missing)
