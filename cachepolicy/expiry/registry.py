"""Expiry strategies selectable by name or dotted path."""

from __future__ import annotations

import threading

from ..dotted import import_dotted
from ..errors import ConfigError, did_you_mean
from .active import ActiveExpiry
from .base import ExpiryStrategy, LazyExpiry
from .timed import BackgroundExpiry, TimedExpiry

__all__ = ["expiry_names", "register_expiry", "resolve_expiry"]

_REGISTRY: dict[str, type[ExpiryStrategy]] = {
    "lazy": LazyExpiry,
    "active": ActiveExpiry,
    "timed": TimedExpiry,
    "background": BackgroundExpiry,
}
_LOCK = threading.Lock()


def register_expiry(name: str, cls: type[ExpiryStrategy], *, replace: bool = False) -> None:
    """Make ``cls`` selectable as ``expiry=name``."""
    if not (isinstance(cls, type) and issubclass(cls, ExpiryStrategy)):
        raise TypeError(f"register_expiry({name!r}) needs an ExpiryStrategy subclass, got {cls!r}.")
    with _LOCK:
        if name in _REGISTRY and not replace and _REGISTRY[name] is not cls:
            raise ConfigError(f"An expiry strategy named {name!r} is already registered.")
        _REGISTRY[name] = cls


def expiry_names() -> list[str]:
    return list(_REGISTRY)


def resolve_expiry(spec: str | type[ExpiryStrategy]) -> type[ExpiryStrategy]:
    """Name, dotted path or class -> strategy class; ConfigError with suggestions otherwise."""
    if isinstance(spec, type) and issubclass(spec, ExpiryStrategy):
        return spec
    if not isinstance(spec, str):
        raise ConfigError(
            f"Option 'expiry' must be a strategy name or dotted path, got {spec!r}.",
            option="expiry",
        )
    found = _REGISTRY.get(spec.strip().lower())
    if found is not None:
        return found
    if "." in spec:
        target = import_dotted(
            spec, option="expiry", accepted="a registered strategy name", names=expiry_names()
        )
        if isinstance(target, type) and issubclass(target, ExpiryStrategy):
            return target
        raise ConfigError(
            f"Option 'expiry' = {spec!r} is not an ExpiryStrategy subclass.", option="expiry"
        )
    raise ConfigError(
        f"Option 'expiry' has unknown strategy {spec!r}. Valid strategies: "
        f"{', '.join(expiry_names())}, or a dotted path.{did_you_mean(spec, expiry_names())}",
        option="expiry",
    )
