"""Tags and value envelopes on the Redis tier: the I/O-free half of the client's work.

The in-process tier keeps each tag's generation in a table of its store
(:mod:`cachepolicy.tags`); here the generations are **keys in Redis**, so every process agrees
on them at once:

* a tag's generation is the integer stored at ``<tag prefix><tag>`` (the client's
  ``tag_prefix``: the adapter's key prefix plus :data:`GENERATION_INFIX`, so a near cache's
  ``bcast`` tracking covers them and ``clear()`` removes them with the alias's keys);
* a tagged write reads its tags' generations (one ``MGET``) *before* it writes, creates the
  missing ones at a random value (``SET NX`` then ``GET``, pipelined), and stores them in the
  value's envelope (:mod:`cachepolicy.envelope`, the in-process tier's format);
* :meth:`invalidate_tags` is one ``INCR`` per tag (pipelined): O(1) per tag, however many
  entries carry it;
* a read of a tagged envelope fetches its tags' current generations (one ``MGET`` for every
  tagged value of the call, through the client's read seam, so a near cache answers it from
  its L1 and invalidates it by RESP3 tracking like any key) and treats any difference as a
  miss, deleting the entry if it still holds the bytes read (a compare-and-delete script:
  lazy removal).

Why generations start at a random value rather than 0: generation keys carry no TTL (so the
``volatile-*`` policies never evict them), but an ``allkeys-*`` policy may. A generation key
that disappears reads as *absent*, which matches no stamp (stamps are always read from an
existing key), so an evicted generation makes its entries misses instead of resurrecting
them; a re-created one starts at a fresh random value, which matches no earlier stamp either
(2**62 values).

Redis Cluster: generation keys hash to their own slots. Nothing here uses a multi-key command
across slots: the ``MGET`` goes through the client's ``_fetch_many`` (redis-py's
``mget_nonatomic``, one ``MGET`` per slot, pipelined per node), the creations and ``INCR``\\ s
through a non-transactional pipeline (grouped per node), the compare-and-delete script names
one key. A tagged read on a cluster therefore costs the value's ``GET`` and the generations'
round trip(s); on one server a tagged read is two round trips (``GET``, then ``MGET``), an
untagged one stays one.

The guarantee is the in-process tier's: the generations are read before the value is written
and after it is read, so a read never returns a value whose tag was invalidated after it was
written. With a near cache, a generation bumped by *another* process reaches this process's
L1 by its tracking push, i.e. within the near cache's staleness bound, like every other key;
one bumped by this process is forgotten locally at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Final

from ..envelope import MAGIC, Envelope, TagStamps, open_envelope
from ..tags import check_tags

__all__ = [
    "DELETE_IF_SAME",
    "GENERATION_INFIX",
    "Pending",
    "generation_keys",
    "is_envelope",
    "new_generation",
    "plain",
    "settle",
    "stamped",
    "tag_names",
]

#: Between the adapter's key prefix and the tag in a generation key's name.
GENERATION_INFIX: Final = "cachepolicy-tag:"
# Deletes KEYS[1] only if it still holds ARGV[1]: the lazy removal of an invalidated entry, and
# the release of a single-flight lock by its holder (cachepolicy.redis.flight).
DELETE_IF_SAME: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)
_FIRST: Final = MAGIC[:1]


def new_generation() -> int:
    """A fresh generation: random in [1, 2**62] (INCR has 2**62 steps of room above it)."""
    return secrets.randbelow(2**62) + 1


def tag_names(tags: object) -> tuple[str, ...]:
    """Checked tags (:func:`cachepolicy.tags.check_tags`), or () for None."""
    return () if tags is None else check_tags(tags)


def generation_keys(prefix: str, names: Sequence[str]) -> list[str]:
    return [prefix + name for name in names]


def stamped(names: Sequence[str], replies: Sequence[bytes | None]) -> TagStamps:
    """The stamps to record from the generations read (every one present by now)."""
    return tuple((name, int(reply or 0)) for name, reply in zip(names, replies, strict=True))


def is_envelope(payload: bytes) -> bool:
    return payload[:1] == _FIRST


def plain(payload: bytes) -> Envelope:
    """A plain payload as an envelope that is never stale and carries no tags."""
    return Envelope(float("nan"), 0.0, (), payload)


class Pending:
    """The payloads one read found, opened: the generation keys to fetch before judging."""

    __slots__ = ("entries", "keys", "prefix")

    def __init__(self, prefix: str, payloads: Sequence[bytes | None]) -> None:
        self.prefix = prefix
        self.entries: list[Envelope | None] = []
        wanted: dict[str, None] = {}
        for payload in payloads:
            if payload is None:
                self.entries.append(None)
                continue
            envelope = open_envelope(payload) if is_envelope(payload) else None
            if envelope is None:
                self.entries.append(plain(payload))
                continue
            self.entries.append(envelope)
            for tag, _generation in envelope.tags:
                wanted[prefix + tag] = None
        #: The generation keys to read (each once).
        self.keys = list(wanted)


def settle(
    pending: Pending, replies: Sequence[bytes | None]
) -> tuple[list[Envelope | None], list[int]]:
    """(each entry, None where a tag was invalidated; the indexes of the invalidated ones)."""
    generations = dict(zip(pending.keys, replies, strict=True))
    prefix = pending.prefix
    entries = pending.entries
    invalidated: list[int] = []
    for index, envelope in enumerate(entries):
        if envelope is None or not envelope.tags:
            continue
        for tag, generation in envelope.tags:
            found = generations.get(prefix + tag)
            if found is None or int(found) != generation:
                invalidated.append(index)
                entries[index] = None
                break
    return entries, invalidated
