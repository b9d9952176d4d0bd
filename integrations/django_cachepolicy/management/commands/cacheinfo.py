"""``manage.py cacheinfo [alias] [--json]``: Redis-INFO-style report of PolicyCache aliases.

Reports the shared store behind each alias: memory (``used_memory``, ``maxmemory``),
``maxmemory_policy``, ``keyspace_hits``/``keyspace_misses``, ``evicted_keys``,
``expired_keys`` and the keyspace (``db0:keys=...``), using Redis's field names so the
output reads like ``redis-cli INFO``. ``--json`` prints one object keyed by alias for
scripts and monitoring.

The numbers are those of this process: a store lives in the memory of the process that uses
it, so run the command inside the server process (e.g. from a view or a shell attached to it)
to see a running site's cache; a fresh ``manage.py`` process shows a fresh store.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_cachepolicy.backend import PolicyCache
from django_cachepolicy.checks import policy_aliases


class Command(BaseCommand):
    help = "Show Redis-INFO-style statistics of cachepolicy caches (all of them by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("alias", nargs="?", help="a CACHES alias using PolicyCache")
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    def handle(self, *args: Any, **options: Any) -> None:
        aliases = policy_aliases()
        alias: str | None = options["alias"]
        if alias is not None:
            if alias not in aliases:
                raise CommandError(self._unknown(alias, aliases))
            aliases = [alias]
        elif not aliases:
            raise CommandError(
                "No cache alias uses django_cachepolicy.PolicyCache; set BACKEND to "
                "'django_cachepolicy.PolicyCache' in CACHES."
            )
        reports: dict[str, dict[str, Any]] = {}
        for name in aliases:
            backend = caches[name]
            assert isinstance(backend, PolicyCache)  # policy_aliases() checked the class
            info = backend.info()
            info["alias"] = name
            info["location"] = backend.location
            info["database"] = backend.options.database
            reports[name] = info
        if options["json"]:
            self.stdout.write(json.dumps(reports, indent=2, sort_keys=True, default=str))
            return
        for index, name in enumerate(aliases):
            backend = caches[name]
            assert isinstance(backend, PolicyCache)
            if index:
                self.stdout.write("")
            self.stdout.write(
                f"# Alias\nalias:{name}\nlocation:{backend.location}\n"
                f"database:{backend.options.database}\n"
            )
            self.stdout.write(backend.view.info_text())

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
