"""Tags: invalidate a group of entries at once, in O(1) per tag.

An entry written with ``tags=[...]`` records, in its value envelope
(:mod:`cachepolicy.envelope`), each tag's *generation* at the time of the write.
:meth:`TagTable.invalidate` bumps a tag's generation: one dict update, however many entries
carry the tag. A read that finds an entry whose recorded generation is no longer its tag's
is a miss, and removes the entry then (lazily), so memory returns as the invalidated entries
are read, evicted or expire.

Why the guarantee holds: the generations are read *before* the value is computed or stored,
so an invalidation that happens during a write leaves the entry with an old generation (a
miss on the next read), and a read compares the generations after it has the entry, so it
never returns a value whose tag was invalidated after it was written and before it was read.

Costs: the tags are stored in the entry's bytes (counted in ``used_memory``: 10 bytes per tag
plus its UTF-8 length); the table holds one integer per tag ever invalidated (reported by
``info()`` as ``tags_invalidated_known``, outside ``used_memory``, which only the engine
keeps). Only tags that were invalidated are in the table: a tag never invalidated is at
generation 0.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Final

from .envelope import TagStamps
from .errors import TagError, short_repr

__all__ = ["MAX_TAGS_PER_ENTRY", "MAX_TAG_LENGTH", "TAG_COUNTERS", "TagTable", "check_tags"]

#: Tags one entry may carry. Every read of a tagged entry compares each of its tags (a dict
#: lookup each), and every tag costs its bytes in the entry: 32 keeps both small, and is more
#: than the few groupings (model, user, page) an entry belongs to in practice.
MAX_TAGS_PER_ENTRY: Final = 32
#: Characters in one tag: memcached's key limit (250), which Django already warns about.
MAX_TAG_LENGTH: Final = 250


def check_tags(tags: Any, limit: int | None = MAX_TAGS_PER_ENTRY) -> tuple[str, ...]:
    """``tags`` as a tuple of distinct non-empty ``str`` (at most ``limit``); TagError naming
    the problem."""
    if isinstance(tags, str | bytes) or not isinstance(tags, Iterable):
        raise TagError(
            f"tags must be a list (or other collection) of strings, got "
            f"{type(tags).__name__} {short_repr(tags)}; write tags=[{short_repr(tags)}] for one."
        )
    checked = tuple(dict.fromkeys(tags))
    for tag in checked:
        if type(tag) is not str or not tag or len(tag) > MAX_TAG_LENGTH:
            raise TagError(
                f"Each tag must be a non-empty str of at most {MAX_TAG_LENGTH} characters, got "
                f"{type(tag).__name__} {short_repr(tag)}."
            )
    if limit is not None and len(checked) > limit:
        raise TagError(
            f"An entry may carry at most {limit} tags, got {len(checked)}: "
            f"{short_repr(checked)}. Tag a coarser grouping instead."
        )
    return checked


#: The tag counters both tiers report in ``info()``: invalidations (one per tag named) and
#: reads that found an invalidated entry.
TAG_COUNTERS: Final[tuple[str, ...]] = ("tags_invalidated", "tags_invalidated_reads")


class TagTable:
    """Each invalidated tag's generation (absent = 0) and the tag counters of one store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generations: dict[str, int] = {}
        #: Invalidations (one per tag named) and reads that found an invalidated entry.
        self.invalidations = 0
        self.invalidated_reads = 0

    def stamps(self, tags: tuple[str, ...]) -> TagStamps:
        """The current generation of each tag, to record in an entry written now."""
        generations = self._generations
        return tuple((tag, generations.get(tag, 0)) for tag in tags)

    def current(self, stamps: TagStamps) -> bool:
        """Whether no tag of ``stamps`` was invalidated since they were taken."""
        generations = self._generations
        return all(generations.get(tag, 0) == generation for tag, generation in stamps)

    def invalidate(self, tags: Iterable[str]) -> None:
        """Bump each tag's generation: every entry carrying one becomes a miss. O(1) per tag.
        Every tag is checked first (TagError: nothing invalidated)."""
        checked = check_tags(tags, None)
        with self._lock:
            for tag in checked:
                self._generations[tag] = self._generations.get(tag, 0) + 1
                self.invalidations += 1

    def after_fork(self) -> None:
        """In a fork's child: a lock another parent thread held at the fork stays held in the
        child forever; start with a fresh one (the generations are kept)."""
        self._lock = threading.Lock()

    def count_invalidated_read(self) -> None:
        with self._lock:
            self.invalidated_reads += 1

    def counters(self) -> dict[str, int]:
        with self._lock:
            counts = (self.invalidations, self.invalidated_reads)
            return {
                **dict(zip(TAG_COUNTERS, counts, strict=True)),
                "tags_invalidated_known": len(self._generations),
            }

    def reset_counters(self) -> None:
        with self._lock:
            self.invalidations = self.invalidated_reads = 0
