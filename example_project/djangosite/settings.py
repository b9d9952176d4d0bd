"""Settings of the example Django site: one cachepolicy store behind three cache aliases.

The cache layout is the point of the example::

    LOCATION "example-shop"  one store, one maxmemory budget (4mb, allkeys-lru by default)
      db 0  alias "default"             sessions + low-level cache.get_or_set()
      db 1  alias "pages"               whole pages from @cache_page(cache="pages")
      db 2  alias "template_fragments"  {% cache %} fragments (Django uses this alias
                                        name for fragments when it exists)
      db 3  alias "load"                the keys the dashboard's "generate load" writes

Like databases of one Redis server, the three aliases keep their keys apart (``clear()`` on
"pages" leaves sessions alone) but draw on one memory budget, so a burst of page caching
evicts cold fragments instead of overflowing a second, separately sized cache. Aliases that
share a ``LOCATION`` must agree on every memory option (the ``django_cachepolicy`` system check
says so at start-up), hence the one ``_STORE`` dict spread into each alias.

Sessions live in the cache (``SESSION_ENGINE``): no database is needed to run the example. Under
memory pressure an evicting cache may drop a session like any other key, exactly as a Redis
``allkeys-*`` policy would; a production site keeps sessions with ``cached_db`` or in a store
whose policy never evicts them.

``EXAMPLE_MAXMEMORY`` and ``EXAMPLE_MAXMEMORY_POLICY`` in the environment change the budget and
policy without editing this file (``python -m example_project --maxmemory 1mb`` sets the first).
The 4mb default is small on purpose: the live dashboard's load button (``/dashboard/``) fills it
within a second, so eviction is there to watch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from example_project.dashboard import DEFAULT_MAXMEMORY, record_options

BASE_DIR = Path(__file__).resolve().parent

# A fixed key is fine for a site that only ever listens on 127.0.0.1; never deploy it.
SECRET_KEY = "example-project-only-not-a-secret"
# DEBUG shows Django's error pages while the reader experiments; set EXAMPLE_DEBUG=0 to see
# the site as it would run in production (caching works the same either way).
DEBUG = os.environ.get("EXAMPLE_DEBUG", "1") != "0"
# "testserver" is the test client's host: the ``demo`` command drives the site through it.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django_cachepolicy",  # system checks on CACHES, ``manage cacheinfo``, keyspace signals
    "example_project.djangosite",  # templates
]

MIDDLEWARE = [
    "example_project.djangosite.middleware.XCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

ROOT_URLCONF = "example_project.djangosite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# No DATABASES on purpose: nothing here is stored in SQL, so there is nothing to migrate.
DATABASES: dict[str, Any] = {}

#: The shared store's options; every alias on LOCATION "example-shop" must use the same ones.
_STORE: dict[str, Any] = {
    "MAXMEMORY": os.environ.get("EXAMPLE_MAXMEMORY", DEFAULT_MAXMEMORY),
    "MAXMEMORY_POLICY": os.environ.get("EXAMPLE_MAXMEMORY_POLICY", "allkeys-lru"),
    **record_options(),
}
_LOCATION = "example-shop"

CACHES = {
    "default": {
        "BACKEND": "django_cachepolicy.PolicyCache",
        "LOCATION": _LOCATION,
        "TIMEOUT": 300,
        "OPTIONS": {**_STORE, "DATABASE": 0},
    },
    "pages": {
        "BACKEND": "django_cachepolicy.PolicyCache",
        "LOCATION": _LOCATION,
        "TIMEOUT": 120,
        "OPTIONS": {**_STORE, "DATABASE": 1},
    },
    "template_fragments": {
        "BACKEND": "django_cachepolicy.PolicyCache",
        "LOCATION": _LOCATION,
        "TIMEOUT": 300,
        "OPTIONS": {**_STORE, "DATABASE": 2},
    },
    "load": {
        "BACKEND": "django_cachepolicy.PolicyCache",
        "LOCATION": _LOCATION,
        "TIMEOUT": 300,
        "OPTIONS": {**_STORE, "DATABASE": 3},
    },
}

#: What each database holds, shown next to its keyspace line on /cache/.
CACHE_DATABASE_LABELS = {
    0: "default: sessions, get_or_set",
    1: "pages: @cache_page",
    2: "template_fragments: {% cache %}",
    3: "load: the dashboard's generated load",
}

SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_CACHE_ALIAS = "default"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # The adapter logs writes it drops for lack of memory here; show them.
    "loggers": {"django_cachepolicy": {"handlers": ["console"], "level": "WARNING"}},
}
