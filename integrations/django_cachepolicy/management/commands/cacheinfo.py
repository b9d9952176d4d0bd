"""``manage.py cacheinfo [alias] [--json] [--curve]``: Redis-INFO-style report of PolicyCache
aliases.

Reports the shared store behind each alias: memory (``used_memory``, ``maxmemory``),
``maxmemory_policy``, ``keyspace_hits``/``keyspace_misses``, ``evicted_keys``,
``expired_keys`` and the keyspace (``db0:keys=...``), using Redis's field names so the
output reads like ``redis-cli INFO``. ``--json`` prints one object keyed by alias for
scripts and monitoring. ``--curve`` adds the live LRU curve of an alias whose store records
(``OPTIONS["RECORD"]``): its estimated hit ratio at 0.25x to 4x its ``MAXMEMORY``.

The numbers are those of this process: a store lives in the memory of the process that uses
it, so run the command inside the server process (e.g. from a view or a shell attached to it)
to see a running site's cache; a fresh ``manage.py`` process shows a fresh store.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, cast

from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cachepolicy.curve import curve_text
from django_cachepolicy.backend import PolicyCache
from django_cachepolicy.checks import policy_aliases


def _redis_aliases() -> list[str]:
    """RedisPolicyCache aliases (none when redis-py is not installed)."""
    from django.conf import settings

    try:
        from django_cachepolicy.redis_backend import redis_aliases
    except ImportError:
        return []
    return redis_aliases(settings.CACHES)


def _describe(backend: Any) -> tuple[str, int, dict[str, Any], str]:
    """(location, database, INFO dict, INFO text) of either backend."""
    if isinstance(backend, PolicyCache):
        return backend.location, backend.options.database, backend.info(), ""
    report = backend.info()
    from cachepolicy.redis.info import redis_info_text

    return backend.location, backend.database, report, redis_info_text(report)


class Command(BaseCommand):
    help = "Show Redis-INFO-style statistics of cachepolicy caches (all of them by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("alias", nargs="?", help="a CACHES alias using PolicyCache")
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        parser.add_argument(
            "--curve",
            action="store_true",
            help="also print the estimated hit ratio at other MAXMEMORY sizes (needs RECORD)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        aliases = policy_aliases() + _redis_aliases()
        alias: str | None = options["alias"]
        if alias is not None:
            if alias not in aliases:
                raise CommandError(self._unknown(alias, aliases))
            aliases = [alias]
        elif not aliases:
            raise CommandError(
                "No cache alias uses django_cachepolicy.PolicyCache or RedisPolicyCache; set "
                "BACKEND to 'django_cachepolicy.PolicyCache' in CACHES."
            )
        reports: dict[str, dict[str, Any]] = {}
        texts: dict[str, str] = {}
        for name in aliases:
            backend = caches[name]
            location, database, info, text = _describe(backend)
            texts[name] = text or cast(PolicyCache, backend).view.info_text()
            info["alias"] = name
            info["location"] = location
            info["database"] = database
            reports[name] = info
        if options["json"]:
            self.stdout.write(json.dumps(reports, indent=2, sort_keys=True, default=str))
            return
        for index, name in enumerate(aliases):
            if index:
                self.stdout.write("")
            self.stdout.write(
                f"# Alias\nalias:{name}\nlocation:{reports[name]['location']}\n"
                f"database:{reports[name]['database']}\n"
            )
            self.stdout.write(texts[name])
            if options["curve"]:
                self.stdout.write(curve_text(reports[name]))

    @staticmethod
    def _unknown(alias: str, aliases: list[str]) -> str:
        from django.conf import settings

        if alias in settings.CACHES:
            return (
                f"Cache alias {alias!r} does not use django_cachepolicy.PolicyCache "
                f"(its BACKEND is {settings.CACHES[alias].get('BACKEND')!r}). "
                f"PolicyCache aliases: {', '.join(aliases) or 'none'}."
            )
        close = difflib.get_close_matches(alias, aliases, n=1)
        suggestion = f"Did you mean {close[0]!r}?" if close else ""
        return (
            f"There is no cache alias {alias!r}. PolicyCache aliases: "
            f"{', '.join(aliases) or 'none'}. {suggestion}"
        ).rstrip()
