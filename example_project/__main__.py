"""``python -m example_project``: serve the Django site, the Flask app, or run the demo.

Usage::

    python -m example_project [django] [--port 8000] [--maxmemory 4mb] [--policy allkeys-lru]
    python -m example_project flask    [--port 5000] [--maxmemory 4mb] [--policy allkeys-lru]
    python -m example_project demo     [--requests 2000] [--seed 7] [--maxmemory 512kb] [--info]
    python -m example_project manage   <manage.py arguments, e.g. check, cacheinfo --json>

Both servers listen on 127.0.0.1 only: they are development servers with a fixed secret key.
The Django server runs without the autoreloader because the cache lives in the server process:
a reload would start a fresh, empty store and a reader watching ``/cache/`` would see the numbers
vanish. It runs threaded, so several per-thread backend objects share the one store, as in
production.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# Nothing here imports cachepolicy (nor example_project.dashboard, which does) at module level:
# `python -m example_project` first lets an installed cachepolicy win over the checkout's
# sources (prefer_installed_cachepolicy).

__all__ = ["main", "prefer_installed_cachepolicy"]

HOST = "127.0.0.1"
SETTINGS = "example_project.djangosite.settings"

DJANGO_PAGES = (
    ("/", "home: bestsellers via cache.get_or_set()"),
    ("/products/", "catalogue: @cache_page in the 'pages' alias (see X-Cache)"),
    ("/products/1/", "a product: {% cache %} fragment + a session-backed cart form"),
    ("/report/", "slow sales report, cached whole"),
    ("/cart/", "cart stored in the session, i.e. in the cache"),
    ("/cache/", "cache report: used_memory, hits, evictions, keyspace (also /cache.json)"),
    ("/dashboard/", "live dashboard: press 'Generate load', switch policy or maxmemory"),
)
FLASK_PAGES = (
    ("/", "home: @cache.cached"),
    ("/products/", "catalogue: @cache.cached(query_string=True)"),
    ("/products/1", "a product: cached page, invalidated by a rating"),
    ("/report/", "sales report rows via @cache.memoize"),
    ("/cache", "cache report (also /cache.json)"),
    ("/dashboard", "live dashboard: press 'Generate load', switch policy or maxmemory"),
)


def _memory_options(parser: argparse.ArgumentParser, maxmemory: str | None) -> None:
    """``--maxmemory``/``--policy``; ``None`` defaults leave the settings' own defaults alone.

    The Django site reads its budget from ``EXAMPLE_MAXMEMORY``/``EXAMPLE_MAXMEMORY_POLICY``
    (4mb, allkeys-lru when unset); only options actually given override the environment.
    """
    from example_project.dashboard import DEFAULT_MAXMEMORY

    parser.add_argument(
        "--maxmemory",
        default=maxmemory,
        help="byte budget in Redis units such as 1mb or 500k "
        f"(default {maxmemory or DEFAULT_MAXMEMORY})",
    )
    parser.add_argument(
        "--policy",
        default=None if maxmemory is None else "allkeys-lru",
        help="maxmemory-policy: one of Redis's ten (default allkeys-lru)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m example_project",
        description="cachepolicy example project: a Django site and a Flask app sharing the "
        "embedded in-process cache's memory management. Without a command, serves the "
        "Django site.",
        epilog="python -m example_project manage <args> runs Django's manage.py.",
    )
    commands = parser.add_subparsers(dest="command")
    django_cmd = commands.add_parser("django", help="serve the Django site (the default)")
    django_cmd.add_argument("--port", type=int, default=8000)
    _memory_options(django_cmd, None)
    flask_cmd = commands.add_parser("flask", help="serve the Flask app")
    flask_cmd.add_argument("--port", type=int, default=5000)
    _memory_options(flask_cmd, None)
    demo = commands.add_parser("demo", help="simulate traffic on both apps and print reports")
    demo.add_argument("--requests", type=int, default=2000, help="requests per app")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--info", action="store_true", help="also print the full INFO text")
    _memory_options(demo, "512kb")
    commands.add_parser("manage", help="Django's manage.py (arguments are passed through)")
    return parser


def build_line() -> str:
    """Which cachepolicy runs: version, build (compiled or pure) and where it was imported from."""
    import cachepolicy
    from cachepolicy.introspection import BUILD_NOTES, build

    return (
        f"cachepolicy {cachepolicy.__version__}, {build()} build, from "
        f"{Path(cachepolicy.__file__ or '').parent}\n  ({BUILD_NOTES[build()]})"
    )


def _banner(title: str, port: int, pages: Sequence[tuple[str, str]], cached: str) -> None:
    """Print the URLs to visit before the server's own start-up lines."""
    base = f"http://{HOST}:{port}"
    print(f"cachepolicy example: {title} on {base}/", flush=True)
    print(build_line(), flush=True)
    width = max(len(path) for path, _ in pages) + len(base)
    for path, what in pages:
        print(f"  {base + path:<{width}}  {what}", flush=True)
    print(
        f"Try: curl -sI {base}{cached} | grep X-Cache   (twice: MISS, then HIT)\n"
        "Stop with Ctrl+C. Other commands: python -m example_project flask | demo | manage ...\n",
        flush=True,
    )


def _use_memory(maxmemory: str | None, policy: str | None) -> None:
    """Hand the options given to the Django settings, which read them from the environment."""
    if maxmemory is not None:
        os.environ["EXAMPLE_MAXMEMORY"] = maxmemory
    if policy is not None:
        os.environ["EXAMPLE_MAXMEMORY_POLICY"] = policy


def manage(args: Sequence[str]) -> int:
    """Django's ``manage.py`` with the example site's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["python -m example_project manage", *args])
    return 0


def serve_django(port: int) -> int:
    """Django's runserver on 127.0.0.1, without the autoreloader (see the module docstring)."""
    _banner("Django site", port, DJANGO_PAGES, cached="/report/")
    return manage(["runserver", "--noreload", f"{HOST}:{port}"])


def serve_flask(port: int, maxmemory: str, policy: str) -> int:
    """The Flask development server on 127.0.0.1, without the reloader."""
    from example_project.flaskapp import create_app

    app = create_app(maxmemory=maxmemory, maxmemory_policy=policy)
    _banner("Flask app", port, FLASK_PAGES, cached="/products/")
    app.run(host=HOST, port=port, debug=False, use_reloader=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch a command line; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "manage":
        # Everything after "manage" belongs to Django, including options argparse would eat.
        return manage(args[1:])
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help")):
        args.insert(0, "django")
    options = _parser().parse_args(args)
    if options.command == "flask":
        from example_project.dashboard import DEFAULT_MAXMEMORY

        return serve_flask(
            options.port, options.maxmemory or DEFAULT_MAXMEMORY, options.policy or "allkeys-lru"
        )
    if options.command == "demo":
        from example_project.demo import run_demo

        run_demo(
            options.requests,
            options.seed,
            options.maxmemory,
            options.policy,
            full_info=options.info,
        )
        return 0
    _use_memory(options.maxmemory, options.policy)
    return serve_django(options.port)


def prefer_installed_cachepolicy(
    path: list[str], checkout: Path, installed: Path | None, cwd: Path
) -> list[str]:
    """``path`` (a ``sys.path``) with the checkout moved last when cachepolicy is installed
    elsewhere (``installed``: the installed package's directory, or None).

    Why: ``python -m example_project``, run from the checkout as the README says, puts the
    checkout first on ``sys.path``, so ``import cachepolicy`` would find the checkout's pure
    sources before the compiled package ``pip install .`` put in site-packages. The example
    itself is only in the checkout, so it is still found last. An editable install (whose
    package *is* the checkout) leaves ``path`` as it is."""
    if installed is None or installed.resolve().parent == checkout:
        return path
    at_checkout = [entry for entry in path if (cwd / entry).resolve() == checkout]
    return [entry for entry in path if entry not in at_checkout] + at_checkout


def _installed_package() -> Path | None:
    """The directory of a regularly installed cachepolicy, or None (editable, or none)."""
    try:
        located = Path(str(importlib.metadata.distribution("cachepolicy").locate_file("")))
    except importlib.metadata.PackageNotFoundError:
        return None
    package = located / "cachepolicy"
    return package if (package / "__init__.py").is_file() else None


if __name__ == "__main__":
    sys.path[:] = prefer_installed_cachepolicy(
        sys.path, Path(__file__).resolve().parent.parent, _installed_package(), Path.cwd()
    )
    sys.exit(main())
