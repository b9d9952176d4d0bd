"""Runs the contract mixins against every registered policy in both eviction modes.

Classes are generated from the registry, so a newly registered built-in policy is covered
without touching this file.
"""

from __future__ import annotations

from typing import Any

from cachepolicy.eviction import BUILTIN_POLICIES

from .contract import contract_mixins


def _class_name(policy: str, mode: str) -> str:
    words = policy.replace("-", " ").title().replace(" ", "")
    return f"Test{words}{mode.title()}"


for _policy in BUILTIN_POLICIES:
    for _mode in ("sampled", "exact"):
        _options: dict[str, Any] = {"maxmemory_policy": _policy, "eviction_mode": _mode}
        _name = _class_name(_policy, _mode)
        globals()[_name] = type(_name, contract_mixins(_policy), {"options": _options})
