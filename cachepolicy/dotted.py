"""Import the object a dotted path names (``"myapp.policies.SizeAwareLRU"``), for options.

Options that name a class or an object (``maxmemory_policy``, ``expiry``, ``serializer``, the
Redis tier's ``serializer``) accept a dotted path besides their registered names. This module is
the one place such a path is checked and imported, so every option refuses a malformed or
unimportable path the same way: a :class:`~cachepolicy.errors.ConfigError` naming the option,
listing the names it also accepts, with a did-you-mean. What the imported object must be (a
policy class, a serializer...) is the caller's check.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Final

from .errors import ConfigError, did_you_mean, short_repr

__all__ = ["import_dotted", "is_dotted_path"]


def is_dotted_path(text: str) -> bool:
    """``text`` is identifiers joined by single dots, at least two of them.

    ``"."``, ``".."``, ``".x"``, ``"a..b"`` or ``" a.b"`` are not: importlib would raise
    ValueError or TypeError for some of them, not ImportError.
    """
    parts = text.split(".")
    return len(parts) > 1 and all(part.isidentifier() for part in parts)


def import_dotted(path: str, *, option: str, accepted: str, names: Sequence[str] = ()) -> object:
    """The object ``path`` names; a ConfigError about ``option`` if there is none.

    ``accepted`` says in words what else the option takes (``"a registered policy name"``) and
    ``names`` lists those names: both go into the error, with the closest name suggested.
    """
    choices = _listed(names)
    suggestion = did_you_mean(path.strip().lower(), names) if names else ""
    if not is_dotted_path(path):
        raise ConfigError(
            f"Option {option!r} = {short_repr(path)} is not {accepted} or a dotted path such "
            f"as 'myapp.module.Name' (names separated by single dots).{choices}{suggestion}",
            option=option,
        )
    module_name, _, attribute = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"Option {option!r} = {short_repr(path)} could not be imported: {exc}.{choices}"
            f"{suggestion}",
            option=option,
        ) from exc


#: How many names an error lists before it says how many more there are: the error stays a
#: sentence however many policies an application registers (the closest is still suggested).
_LISTED: Final = 12


def _listed(names: Sequence[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:_LISTED])
    more = len(names) - _LISTED
    return f" Valid names: {shown}{f' and {more} more' if more > 0 else ''}."
