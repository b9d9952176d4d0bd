"""``flask cachepolicy``: inspect the application's cachepolicy caches from the command line.

``flask cachepolicy info`` prints, for every ``PolicyCache`` the application initialised, the
same Redis-INFO-style report as the Django ``cacheinfo`` management command (the core's
``info_text()``), followed by a ``# Flask`` section saying which prefix, store and database the
backend uses. ``--json`` prints the same data as one JSON document for scripts and monitoring.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import AppGroup

from cachepolicy.curve import curve_text

if TYPE_CHECKING:
    from flask import Flask


__all__ = ["cachepolicy_cli", "policy_backends", "register_cli"]

cachepolicy_cli = AppGroup("cachepolicy", help="Inspect cachepolicy caches (Redis-style INFO).")


def policy_backends(app: Flask) -> list[Any]:
    """The ``PolicyCache`` and ``RedisPolicyCache`` backends of ``app``, in the order their
    ``Cache`` was initialised (both have ``info()`` and ``info_text()``)."""
    from .backend import PolicyCache

    kinds: tuple[type, ...] = (PolicyCache,)
    try:
        from .redis_backend import RedisPolicyCache
    except ImportError:  # redis-py not installed: there can be no RedisPolicyCache either
        pass
    else:
        kinds = (PolicyCache, RedisPolicyCache)
    caches: dict[Any, Any] = getattr(app, "extensions", {}).get("cache", {})
    return [backend for backend in caches.values() if isinstance(backend, kinds)]


@cachepolicy_cli.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
@click.option(
    "--curve",
    is_flag=True,
    help="Also print the estimated hit ratio at other CACHE_MAXMEMORY sizes (needs CACHE_RECORD).",
)
def info_command(as_json: bool, curve: bool) -> None:
    """Print Redis INFO-style memory, eviction and keyspace statistics for each cache."""
    backends = policy_backends(current_app)
    if not backends:
        raise click.ClickException(
            "This application has no cache with CACHE_TYPE='flask_cachepolicy.PolicyCache' "
            "or 'flask_cachepolicy.RedisPolicyCache'."
        )
    if as_json:
        report = [backend.info() for backend in backends]
        click.echo(json.dumps({"caches": report}, indent=2, sort_keys=True, default=str))
        return
    for number, backend in enumerate(backends):
        if number:
            click.echo("")
        click.echo(f"# Cache {number}: {backend!r}")
        click.echo(backend.info_text().replace("\r\n", "\n"), nl=False)
        if curve:
            click.echo(curve_text(backend.info()), nl=False)


def register_cli(app: Flask) -> None:
    """Add the ``cachepolicy`` command group to ``app`` once (several caches may call this)."""
    if cachepolicy_cli.name not in app.cli.commands:
        app.cli.add_command(cachepolicy_cli)
