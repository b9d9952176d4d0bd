"""Conftest for cachelib's generic test mixins, run against ``flask_cachepolicy.PolicyCache``.

Upstream's conftest becomes ``upstream_conftest.py``; its mixins import ``TestData`` and
``under_uwsgi`` from the module named ``conftest``, i.e. from this file, so we re-export all of
it. Its server fixtures need pytest-xprocess, never used by the mixins we run: stub it.

Only ``test_policycache_mixins.py`` (ours) is collected: upstream's ``test_*.py`` modules test
cachelib's own backends (SimpleCache, Redis, Memcached, ...).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

collect_ignore = [
    path.name
    for path in Path(__file__).parent.glob("test_*.py")
    if path.name != "test_policycache_mixins.py"
]

if "xprocess" not in sys.modules:
    _stub = types.ModuleType("xprocess")
    _stub.ProcessStarter = type("ProcessStarter", (), {})  # type: ignore[attr-defined]
    sys.modules["xprocess"] = _stub

from upstream_conftest import *  # noqa: E402,F403  (TestData, under_uwsgi, key_prefix, ...)


def pytest_configure(config: object) -> None:
    """Register upstream's ``network`` mark (``TestInterfaceUniformity`` carries it); warnings
    are errors here, and an unknown mark is a warning."""
    config.addinivalue_line(  # type: ignore[attr-defined]
        "markers", "network: upstream test of backends that need a server"
    )
