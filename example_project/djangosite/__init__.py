"""The example Django site: a small shop whose pages, fragments and sessions share one budget.

See ``settings.py`` for the cache layout and ``views.py`` for each caching technique.
"""
