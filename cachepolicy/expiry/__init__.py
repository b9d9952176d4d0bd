"""Expiry strategies: lazy (always on), plus active reclamation strategies."""

from .base import ExpiryStrategy, LazyExpiry
from .registry import expiry_names, register_expiry, resolve_expiry

__all__ = ["ExpiryStrategy", "LazyExpiry", "expiry_names", "register_expiry", "resolve_expiry"]
