"""``python -m cachepolicy``: which cachepolicy is installed, which build runs, and where to go.

Prints the version, the engine's build (compiled or pure, and why a pure one is slower), where
the package was imported from, which framework adapters and extras are importable, and the
entry points (settings names, commands, docs). ``--info`` adds the INFO report of a small demo
cache. Imports neither Django nor Flask: it only asks whether they could be imported.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

import cachepolicy

from .introspection import BUILD_NOTES, build

__all__ = ["describe", "main"]

#: (what, how to use it): printed as the entry points.
ENTRY_POINTS = (
    ("core API", 'from cachepolicy import Cache; Cache(maxmemory="64mb")'),
    ("Django", '"BACKEND": "django_cachepolicy.PolicyCache"; app "django_cachepolicy"'),
    ("Django command", "python manage.py cacheinfo [--json]"),
    ("Flask", 'CACHE_TYPE="flask_cachepolicy.PolicyCache"'),
    ("Flask command", "flask cachepolicy info"),
    ("Redis tier", "django_cachepolicy.RedisPolicyCache / flask_cachepolicy.RedisPolicyCache"),
    ("example", "python -m example_project [flask | demo] (from a checkout)"),
    ("docs", "docs/ in the repository (mkdocs serve: http://127.0.0.1:8001/)"),
)

#: Importable module -> what it enables (the extras of pyproject.toml).
OPTIONAL = (
    ("django", "[django]: django_cachepolicy"),
    ("flask_caching", "[flask]: flask_cachepolicy"),
    ("redis", "[redis]: the Redis tier"),
)


def describe() -> list[str]:
    """The lines ``python -m cachepolicy`` prints (without ``--info``)."""
    lines = [
        f"cachepolicy {cachepolicy.__version__}",
        f"build: {build()} ({BUILD_NOTES[build()]})",
        f"from: {Path(cachepolicy.__file__ or '').parent}",
        f"python: {sys.version.split()[0]}",
        "extras: "
        + ", ".join(
            f"{what} {'yes' if importlib.util.find_spec(module) else 'no'}"
            for module, what in OPTIONAL
        ),
        "entry points:",
    ]
    width = max(len(what) for what, _ in ENTRY_POINTS)
    lines += [f"  {what:<{width}}  {how}" for what, how in ENTRY_POINTS]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cachepolicy", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--info", action="store_true", help="also print INFO of a small demo cache")
    options = parser.parse_args(argv)
    print("\n".join(describe()))
    if options.info:
        with cachepolicy.Cache(maxmemory="1mb", seed=1) as cache:
            for i in range(100):
                cache.set(f"demo:{i}", "x" * 100, ttl=60 if i % 2 else None)
            print()
            print(cache.info_text().rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
