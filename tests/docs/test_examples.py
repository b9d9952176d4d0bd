"""Every ```python block of the docs and the README runs.

Blocks of one page run in order in one namespace, as a reader types them into one session, so a
page may build on its earlier blocks. After a page's blocks ran, what they configured is put to
work the way the framework would use it:

* a ``CACHES`` setting: every ``PolicyCache`` alias (others, such as a "before" example's
  ``LocMemCache``, only ran as Python) is validated as ``manage.py check`` does
  (``validate_alias``, no error), built as Django builds it, and used for a set and a get;
* a Flask ``app`` with a Flask-Caching ``cache``: a set and a get inside an application
  context;
* ``redis.Redis()`` (a page that assumes a local Redis): connects to the suite's private
  server instead (``tests/redis/servers.py``).

Each page starts with no shared store and only the built-in policies, as a new process would,
and what it created or registered is removed afterwards, so pages and other tests do not see
each other's keys or policies. A block that must not run (shell sessions, output) is fenced
as ``sh`` or ``text``, never as ``python``.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachepolicy import policy_names, register_policy, release_shared_store
from cachepolicy.eviction import BUILTIN_POLICIES
from cachepolicy.eviction.registry import policy_spec, unregister_policy
from cachepolicy.shared import shared_store_names

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
#: The README and every docs page with at least one ```python block.
PAGES = sorted(
    (
        page
        for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
        if _BLOCK.search(page.read_text(encoding="utf-8"))
    ),
    key=lambda path: path.relative_to(ROOT).as_posix(),
)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, source)`` of each ```python block."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


def test_the_readme_and_the_docs_have_examples() -> None:
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    assert {"README.md", "docs/django.md", "docs/flask.md", "docs/policies/lfu.md"} <= names


def test_the_extractor_finds_blocks() -> None:
    text = "intro\n```python\nx = 1\n```\n\n```sh\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (10, "y = 2\n")]


@pytest.fixture
def fresh_stores() -> Iterator[None]:
    """A page starts as a new process would: no shared stores, only the built-in policies.

    Policies other tests registered (``allkeys-size-lfu`` by the custom-policy tests) are taken
    out for the page, which registers its own, and put back afterwards.
    """
    before = set(shared_store_names())
    saved = {name: policy_spec(name) for name in policy_names() if name not in BUILTIN_POLICIES}
    for name in saved:
        unregister_policy(name)
    yield
    for name in set(shared_store_names()) - before:
        release_shared_store(name)
    for name in policy_names():
        if name not in BUILTIN_POLICIES:
            unregister_policy(name)
    for name, spec in saved.items():
        register_policy(name, spec.default, spec.exact)


def _private_redis() -> Any:
    """``redis`` for a page that writes ``redis.Redis()``: the same module, whose ``Redis()``
    connects to the suite's private server (the shared one on 6379 is never flushed; the
    examples may call ``clear()``)."""
    redis = pytest.importorskip("redis")
    from tests.redis.servers import session_server

    server = session_server()

    def connect(**options: Any) -> Any:
        return redis.Redis(**{**options, "host": server.host, "port": server.port})

    return types.SimpleNamespace(**{**vars(redis), "Redis": connect})


def _exercise_django(caches: dict[str, Any]) -> None:
    pytest.importorskip("django")
    from django_cachepolicy import PolicyCache
    from django_cachepolicy.options import validate_alias

    for alias, params in caches.items():
        if params.get("BACKEND") != "django_cachepolicy.PolicyCache":
            continue
        options, errors = validate_alias(alias, params.get("LOCATION", ""), params)
        assert errors == [], [error.message for error in errors]
        assert options is not None
        backend = PolicyCache(params.get("LOCATION", ""), dict(params))
        backend.set("docs-example", alias)
        assert backend.get("docs-example") == alias


def _exercise_flask(namespace: dict[str, Any]) -> None:
    from flask import Flask
    from flask_caching import Cache

    app, cache = namespace["app"], namespace["cache"]
    assert isinstance(app, Flask) and isinstance(cache, Cache)
    with app.app_context():
        assert cache.set("docs-example", 1) is True
        assert cache.get("docs-example") == 1


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.relative_to(ROOT).as_posix())
@pytest.mark.usefixtures("fresh_stores")
def test_page_examples_run(page: Path) -> None:
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    name = page.relative_to(ROOT).as_posix()
    namespace: dict[str, Any] = {"__name__": f"docs_example_{page.stem}"}
    if any("redis.Redis(" in source for _, source in blocks):
        namespace["redis"] = _private_redis()
    for line, source in blocks:
        namespace.pop("CACHES", None)
        try:
            exec(compile(source, f"{name}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"the example at {name}:{line} fails: {exc!r}") from exc
        if isinstance(namespace.get("CACHES"), dict):
            _exercise_django(namespace["CACHES"])
    if "app" in namespace and "cache" in namespace:
        _exercise_flask(namespace)
