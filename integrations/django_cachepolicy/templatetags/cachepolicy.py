"""``{% load cachepolicy %}``: Django's ``{% cache %}`` fragment tag with single flight.

The tag takes Django's arguments (``{% cache timeout name [vary_on ...] [using="alias"] %}``)
and makes the same key (``make_template_fragment_key``), so swapping ``{% load cache %}`` for
``{% load cachepolicy %}`` changes one thing: the fragment is read and stored with the cache's
``get_or_set``. On a :class:`~django_cachepolicy.PolicyCache`, when many requests miss one
fragment at once, one renders it and the others wait for its output (``STAMPEDE_WAIT``), and
early refresh and serve-stale apply (:mod:`cachepolicy.flight`); on any other backend it is
Django's ``get_or_set``, which renders in every request that misses.
"""

from __future__ import annotations

from typing import cast

from django.core.cache import BaseCache, InvalidCacheBackendError, caches
from django.core.cache.utils import make_template_fragment_key
from django.template import Context, Library, Node, NodeList, TemplateSyntaxError
from django.template.base import FilterExpression, Parser, Token

__all__ = ["SingleFlightCacheNode", "register"]

register = Library()

#: The alias Django's ``{% cache %}`` prefers when no ``using=`` is given.
_FRAGMENT_ALIAS = "template_fragments"


class SingleFlightCacheNode(Node):
    """One ``{% cache %}`` block: its key and timeout resolved per render, its output read or
    computed once through the backend's ``get_or_set``."""

    def __init__(
        self,
        nodelist: NodeList,
        timeout: FilterExpression,
        name: str,
        vary_on: list[FilterExpression],
        alias: FilterExpression | None,
    ) -> None:
        self.nodelist = nodelist
        self.timeout = timeout
        self.name = name
        self.vary_on = vary_on
        self.alias = alias

    def render(self, context: Context) -> str:
        timeout = self._timeout(context)
        backend = self._backend(context)
        key = make_template_fragment_key(self.name, [var.resolve(context) for var in self.vary_on])
        return cast(str, backend.get_or_set(key, lambda: self.nodelist.render(context), timeout))

    def _timeout(self, context: Context) -> int | None:
        raw = self.timeout.resolve(context)
        if raw is None:
            return None
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise TemplateSyntaxError(
                f"The cache tag's timeout must be an integer number of seconds or None, got "
                f"{raw!r}."
            ) from None

    def _backend(self, context: Context) -> BaseCache:
        if self.alias is None:
            try:
                return caches[_FRAGMENT_ALIAS]
            except InvalidCacheBackendError:
                return caches["default"]
        alias = self.alias.resolve(context)
        try:
            return caches[alias]
        except InvalidCacheBackendError:
            raise TemplateSyntaxError(
                f"The cache tag names cache {alias!r} (using=), which CACHES does not define."
            ) from None


@register.tag("cache")
def cache(parser: Parser, token: Token) -> SingleFlightCacheNode:
    """``{% cache timeout name [vary_on ...] [using="alias"] %} ... {% endcache %}``."""
    nodelist = parser.parse(("endcache",))
    parser.delete_first_token()
    bits = token.split_contents()
    alias = None
    if len(bits) > 3 and bits[-1].startswith("using="):
        alias = parser.compile_filter(bits.pop()[len("using=") :])
    if len(bits) < 3:
        raise TemplateSyntaxError(
            f"{bits[0]!r} needs a timeout and a fragment name: "
            '{% cache timeout name [vary_on ...] [using="alias"] %}.'
        )
    return SingleFlightCacheNode(
        nodelist,
        parser.compile_filter(bits[1]),
        bits[2],  # a literal name, as in Django's tag
        [parser.compile_filter(bit) for bit in bits[3:]],
        alias,
    )
