"""The access recorder: a compact binary trace of what a store is asked, for the simulator.

``record="/var/lib/myapp/recordings"`` (Django ``OPTIONS["RECORD"]``, Flask ``CACHE_RECORD``)
makes the store note every ``get`` (hit or miss), write, delete, touch and expire of a sample of
its keys; ``python -m cachepolicy.simulate`` replays the files under any policy and size.

What is written, and what is not
================================

A key is never written. Each record holds the key's **keyed hash** (BLAKE2b, 8 bytes, keyed
with a secret): keys carry user ids and URLs, and without the secret a hash cannot be tested
against guessed keys. Processes given the same secret (``record_key``; by default one random
secret kept in the recording directory, ``.cachepolicy-record-key``, created once with mode
0600) write the same hash for the same key, so one deployment's files can be merged. Beside
the hash: the key's length (the simulator gives its stand-in key the same length, so byte
budgets are charged alike), the value's serialized size, the operation, the TTL and the time
(:data:`RECORD`). A file starts with :data:`HEADER` (sampling rate, start time, a fingerprint
of the secret, pid, and the store's count of gets when the file began and ended: the simulator
corrects a sample's count with it).

Sampling (SHARDS)
=================

``record_rate`` (default 0.01) keeps the keys whose sampling hash
(:func:`cachepolicy._core.sampling.sample_hash`: the key's bytes modulo 2**61 - 1, mixed with a
seed derived from the secret) falls below ``rate x 2**32``: a key is recorded always or never,
in every process given the same secret (spatial sampling, Waldspurger et al., FAST 2015), so
reuse distances in the sample are the full trace's scaled by the rate and the simulator runs
caches ``rate`` times as large to estimate the full ones. The test runs compiled inside the
view's read and write paths (:class:`~cachepolicy._core.sampling.SampledAccessor`): a key that
is not sampled costs a native hash of its characters and one comparison, no interpreted frame;
a sampled one a compiled call that queues the record with that hash (the writer and the curve
reuse it: no key is hashed twice for the sample). The BLAKE2b hash is computed by the writer,
for the sampled keys only, from a state keyed once and copied (the same digest as hashing
with the key each time), and kept for the 4,096 most recently recorded keys
(:data:`cachepolicy._core.shards.DIGESTS`, in memory only). The live curve may
sample more keys than the file holds, in small key spaces (:mod:`cachepolicy.curve`); those
records feed the curve and are never written.

Never in the way
================

The request path appends a tuple to a bounded queue (:data:`BUFFER_RECORDS`) and returns
(:class:`~cachepolicy._core.sampling.Gate`, compiled); a daemon thread, started on the first
record, hashes, packs and writes them every :data:`FLUSH_INTERVAL` (sooner when the queue is
half full), feeding the live curve on the way, all of a batch in one compiled loop
(:func:`cachepolicy._core.shards.drain`). When the queue is full the record
is dropped and counted (``record_dropped`` in ``info()``): recording never blocks a request.
Each process writes its own file, named by its pid (a forked child starts a new one and
discards the parent's queued records, which are the parent's to write); a file reaching
``record_max_bytes`` is renamed ``NAME.1`` (replacing the previous one) and a new one started.
``close()`` writes what is queued. With recording off, nothing here runs: views bind the
engine's own methods (:meth:`cachepolicy.Cache._bind`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import math
import os
import secrets
import struct
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from ._core.accessor import Accessor
from ._core.sampling import (
    DELETE,
    EXPIRE,
    GET_HIT,
    GET_MISS,
    SET,
    TOUCH,
    Gate,
    Queued,
    SampledAccessor,
    sample_hash,
)
from ._core.shards import ShardsCurve, drain, hashed_key, keyed
from .errors import ConfigError, short_repr
from .sizing import format_bytes, parse_memory

if TYPE_CHECKING:
    from .clock import Clock
    from .config import CacheConfig

__all__ = [
    "DELETE",
    "EXPIRE",
    "GET_HIT",
    "GET_MISS",
    "HEADER",
    "MAGIC",
    "RECORD",
    "SET",
    "SUFFIX",
    "TOUCH",
    "Recorder",
    "check_record_options",
]

#: The first bytes of a recording; the last one is the format version.
MAGIC: Final = b"CPREC\x00\x00\x02"
#: magic, sampling rate, start time (epoch s), fingerprint of the secret, pid, and the store's
#: reads (gets of every key, sampled or not) when the file was started and when it was closed
#: (NaN until then): what the simulator corrects a sample's count with (SHARDS_adj).
HEADER: Final = struct.Struct("<8sdd8sIdd")
#: key hash, key length, value size (bytes), operation, TTL (s; inf = none, nan = kept), time.
RECORD: Final = struct.Struct("<QHIBdd")
#: What the writer packs: :data:`RECORD` with the key hash given as its 8 bytes (the BLAKE2b
#: digest, read little-endian), so the same bytes without converting the digest to an int.
_RECORD_DIGEST: Final = struct.Struct("<8sHIBdd")
#: Operations: GET_HIT, GET_MISS, SET, DELETE, TOUCH, EXPIRE (0-5, from the compiled sampler).
SUFFIX: Final = ".cprec"
KEY_FILE: Final = ".cachepolicy-record-key"
#: TTL fields: no TTL, and "keep the key's TTL" (SET KEEPTTL, TOUCH without a TTL).
NO_TTL: Final = math.inf
KEEP_TTL: Final = math.nan

#: Records the queue holds before it drops: at 1 s flushes, 16k sampled accesses per second
#: (1.6 M/s of traffic at 1%) before a drop; about 1.5 MB of queued tuples at most.
BUFFER_RECORDS: Final = 16384
#: Records the live curve alone may queue per second (keys above the recording's rate, in small
#: key spaces). Past it the rest are skipped, the writer is woken, and it lowers the curve's
#: share of the keys in proportion. A budget, as Redis gives eviction and expiry: 2,000 such
#: records a second cost a few ms of a core, where a small cache read 300,000 times a second
#: would otherwise send the curve a fifth of its reads.
CURVE_BUDGET: Final = 2048
#: Seconds between the writer's flushes: what a crash can lose.
FLUSH_INTERVAL: Final = 1.0
#: Seconds close() waits for the writer before giving up on the queued records.
_CLOSE_TIMEOUT: Final = 5.0
_FULL: Final = 1 << 32
#: Where ``info()`` reads the live curve: these multiples of ``maxmemory``.
CURVE_POINTS: Final = (0.25, 0.5, 1.0, 2.0, 4.0)
_MIN_SECRET: Final = 16


def check_record_options(config: CacheConfig) -> None:
    """Validate (and normalize) the ``record*`` options of ``config``; ConfigError naming the
    option otherwise. Called by :class:`cachepolicy.CacheConfig`."""
    target = config.record
    if target is not None:
        if isinstance(target, os.PathLike):
            target = os.fspath(target)
        if not isinstance(target, str):
            raise ConfigError(
                f"Option 'record' must be a directory or a '{SUFFIX}' file path, got "
                f"{type(target).__name__} {short_repr(target)}.",
                option="record",
            )
        path = Path(target)
        if not path.is_dir() and not (path.suffix == SUFFIX and path.parent.is_dir()):
            raise ConfigError(
                f"Option 'record' = {short_repr(target)} is neither an existing directory nor "
                f"a path ending in '{SUFFIX}' in one.",
                option="record",
            )
        object.__setattr__(config, "record", target)
    rate = config.record_rate
    try:
        number = float(rate) if not isinstance(rate, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not 0 < number <= 1:
        raise ConfigError(
            f"Option 'record_rate' must be a number above 0 and at most 1, got {short_repr(rate)}.",
            option="record_rate",
        )
    object.__setattr__(config, "record_rate", number)
    size = parse_memory(config.record_max_bytes, option="record_max_bytes")
    if size < 64 * 1024:
        raise ConfigError(
            f"Option 'record_max_bytes' must be at least 64kb (65536), got "
            f"{short_repr(config.record_max_bytes)}.",
            option="record_max_bytes",
        )
    object.__setattr__(config, "record_max_bytes", size)
    secret = config.record_key
    if secret is not None and (not isinstance(secret, str | bytes) or len(secret) < _MIN_SECRET):
        length = f" of length {len(secret)}" if isinstance(secret, str | bytes) else ""
        raise ConfigError(  # the secret itself is never shown
            f"Option 'record_key' must be a secret of at least {_MIN_SECRET} characters (a str "
            f"or bytes), got {type(secret).__name__}{length}.",
            option="record_key",
        )


def _secret(config: CacheConfig, directory: Path) -> bytes:
    """The hash secret: the option's, else the one kept in ``directory`` (made once)."""
    given = config.record_key
    if given is not None:
        return given.encode() if isinstance(given, str) else given
    path = directory / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Option 'record': cannot read the hash secret {str(path)!r} ({exc}); remove it or "
            f"set record_key.",
            option="record_key",
        ) from exc
    # Written to a temporary file, then linked into place: the link fails if another process
    # got there first, and then its secret is the one everybody uses.
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".record-key-")
        try:
            with os.fdopen(handle, "w") as file:
                file.write(secrets.token_hex(32) + "\n")
            os.chmod(temporary, 0o600)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
        return bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        raise ConfigError(
            f"Option 'record': cannot create the hash secret in {str(directory)!r} ({exc}); "
            f"make the directory writable or set record_key.",
            option="record",
        ) from exc


def key_hash(key: str, secret: bytes) -> int:
    """The keyed hash a recording holds for ``key``: BLAKE2b of its UTF-8 bytes, 8 bytes,
    keyed with ``secret`` (:func:`cachepolicy._core.shards.hashed_key`), as a number."""
    return int.from_bytes(hashed_key(keyed(secret), key), "little")


def sample_seed(secret: bytes) -> int:
    """The sampling hash's 64-bit seed, derived from the secret (so it is the deployment's)."""
    digest = hashlib.blake2b(b"cachepolicy sample", digest_size=8, key=secret).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)  # a native i64 when compiled


def fingerprint(secret: bytes) -> bytes:
    """8 bytes identifying the secret (not revealing it): files with equal fingerprints hash
    keys alike."""
    return hashlib.blake2b(b"cachepolicy recording", digest_size=8, key=secret).digest()


class Recorder:
    """One store's recorder (built by :class:`~cachepolicy.store.CacheStore` when ``record`` is
    set). :meth:`note` is the request path; everything else runs in the writer thread or at
    close and fork."""

    def __init__(
        self,
        config: CacheConfig,
        clock: Clock,
        *,
        buffer_records: int = BUFFER_RECORDS,
        flush_interval: float = FLUSH_INTERVAL,
        entry_overhead: int = 0,
        reads: Callable[[], int] | None = None,
    ) -> None:
        assert config.record is not None
        target = Path(config.record)
        self._directory = target if target.is_dir() else target.parent
        self._stem = "cachepolicy" if target.is_dir() else target.stem
        self.rate = config.record_rate
        self.max_bytes = config.record_max_bytes
        self._secret = _secret(config, self._directory)
        #: The recording's sample: keys whose sampling hash with ``seed`` is below
        #: ``threshold``.
        self.seed = sample_seed(self._secret)
        self.threshold = min(_FULL, int(self.rate * _FULL))
        self._time = clock.time
        self._interval = flush_interval
        #: The BLAKE2b state keyed with the secret, copied for each recorded key, and the
        #: recently recorded keys' hashes (:func:`cachepolicy._core.shards.drain`).
        self._keyed = keyed(self._secret)
        self._digests: dict[str, bytes] = {}
        #: Bytes the engine charges an entry beyond its key's characters and value's bytes: what
        #: the live curve weighs each key with.
        self.entry_overhead = entry_overhead
        #: The store's count of reads (for the headers), and what survives a reset of it.
        self._reads = reads
        self._reads_seen = 0
        self._reads_offset = 0
        #: What the sampled read and write paths test (:meth:`accessor`): the larger of the
        #: recording's and the curve's thresholds (the writer lowers it with the curve's), and
        #: the queue of records.
        self.gate = Gate(
            self.seed,
            self.threshold,
            buffer_records,
            CURVE_BUDGET,
            clock.time,
            self._start,
            self._wake_writer,
        )
        self._fresh_process()
        _live.add(self)

    def _fresh_process(self) -> None:
        """State of this process's recording (at start, and in a forked child)."""
        self.pid = os.getpid()
        self.path = self._directory / f"{self._stem}-{self.pid}{SUFFIX}"
        self.gate.fresh()
        self._file: BinaryIO | None = None
        self._written = 0  # bytes in the current file
        self._started = 0.0
        #: The store's reads when the records not yet in a file began: the next file's start.
        self._reads_at_start = self._reads_now()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._lock = threading.Lock()  # starting the thread
        self._flushing = threading.Lock()  # one flush at a time
        self._closing = False
        self._curve_since = time.monotonic()
        #: Records written to files.
        self.recorded = 0
        #: The live LRU curve of this process's traffic, fed by the writer from the sample.
        self.curve = ShardsCurve(threshold=self.threshold)
        self.gate.threshold = self._gate_threshold()

    @property
    def _queue(self) -> deque[Queued]:
        return self.gate.queue

    @property
    def dropped(self) -> int:
        """Records dropped because the queue was full."""
        return self.gate.dropped

    @property
    def curve_skipped(self) -> int:
        """Accesses the curve alone would have read (above the recording's rate), not queued
        because they were over :data:`CURVE_BUDGET`."""
        return self.gate.curve_skipped

    def _gate_threshold(self) -> int:
        return max(self.threshold, self.curve.threshold)

    def accessor(self, inner: Accessor) -> Accessor:
        """``inner``'s read and write paths with the sample tested inline (compiled)."""
        return SampledAccessor(
            inner.engine,
            inner.db,
            inner.prefix,
            inner.touch,
            inner.loads,
            inner.dumps,
            inner.pickle_protocol,
            inner.envelopes,
            self.gate,
        )

    # ------------------------------------------------------------------ the request path

    def note(self, key: str, op: int, size: int, ttl: float) -> None:
        """Note one access of the recording's sample (tested here); views call it outside
        the hot paths, which test the gate's (:meth:`accessor`). Never blocks."""
        hashed = sample_hash(key, self.seed)
        if hashed < self.threshold:
            self.gate.enqueue(key, op, size, ttl, hashed)

    def _start(self) -> None:
        """Start the writer (the gate's first record)."""
        with self._lock:
            if self._thread is not None or self._closing:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"cachepolicy-recorder-{self.pid}", daemon=True
            )
            self._thread.start()
            self.gate.started = True

    def _wake_writer(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ the writer

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Write every queued record (the writer thread's work; close() calls it last, and
        anyone may call it: one flush runs at a time)."""
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        gate, threshold, curve = self.gate, self.threshold, self.curve
        count = len(gate.queue)
        if not count:
            return
        records = drain(
            gate.queue,
            count,
            threshold,
            self._keyed,
            self._digests,
            _RECORD_DIGEST.pack,
            curve,
            self.entry_overhead,
        )
        wanted, gate.curve_wanted = gate.curve_wanted, 0
        now, since, self._curve_since = time.monotonic(), self._curve_since, time.monotonic()
        if wanted > CURVE_BUDGET:  # the curve's share of the keys, cut to fit its budget
            per_second = wanted / max(now - since, 0.001)
            cut = int(curve.threshold * min(0.5, CURVE_BUDGET / per_second))
            curve.lower(max(threshold, cut))
        self.gate.threshold = self._gate_threshold()  # the curve may have lowered its own
        if records:
            self._write(records)
        self.recorded += len(records)

    def _write(self, records: list[bytes]) -> None:
        """Append to this process's file, rotating it at ``max_bytes``."""
        per_file = max(1, (self.max_bytes - HEADER.size) // RECORD.size)
        start = 0
        while start < len(records):
            if self._file is None:
                self._open()
            assert self._file is not None
            room = per_file - (self._written - HEADER.size) // RECORD.size
            if room <= 0:
                self._rotate()
                continue
            chunk = b"".join(records[start : start + room])
            self._file.write(chunk)
            self._written += len(chunk)
            start += room

    def _reads_now(self) -> float:
        """The store's reads so far, counting through resets of its statistics (NaN when the
        recorder was not given them)."""
        if self._reads is None:
            return math.nan
        now = self._reads()
        if now < self._reads_seen:  # CONFIG RESETSTAT: carry what was counted before it
            self._reads_offset += self._reads_seen
        self._reads_seen = now
        return float(self._reads_offset + now)

    def _header(self, reads_at_end: float) -> bytes:
        secret = fingerprint(self._secret)
        return HEADER.pack(
            MAGIC, self.rate, self._started, secret, self.pid, self._reads_at_start, reads_at_end
        )

    def _open(self) -> None:
        self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 (kept open)
        self._started = self._time()
        header = self._header(math.nan)
        self._file.write(header)
        self._written = len(header)

    def _finish_file(self) -> None:
        """Close the current file, its header completed with the reads counted until now."""
        if self._file is not None:
            reads = self._reads_now()
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.write(self._header(reads))
            self._file.close()
            self._file = None
            self._reads_at_start = reads

    def _rotate(self) -> None:
        self._finish_file()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Write what is queued and stop the writer (waits up to ``_CLOSE_TIMEOUT``)."""
        with self._lock:
            self._closing = True
            thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(_CLOSE_TIMEOUT)
            if thread.is_alive():  # a stalled disk: give up rather than hang the caller
                return
        with self._flushing:
            self._flush()
            self._finish_file()

    def after_fork_in_child(self) -> None:
        """In a forked child: a file of its own, an empty queue, no writer yet."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        closing = self._closing
        self._fresh_process()
        self._closing = closing

    def info(self, maxmemory: int = 0, reads: int | None = None) -> dict[str, Any]:
        """The fields ``info()`` shows; with ``maxmemory`` (the budget in force, or the memory
        used when there is none), the live curve at :data:`CURVE_POINTS` times it. ``reads``
        (every get the store counted) corrects the sample's count (SHARDS_adj)."""
        report: dict[str, Any] = {
            "record_file": str(self.path),
            "record_rate": self.rate,
            "record_recorded": self.recorded,
            "record_queued": len(self.gate.queue),
            "record_dropped": self.dropped,
            "lru_curve_skipped": self.curve_skipped,
            "lru_curve_rate": round(self.curve.rate, 6),
            "lru_curve_references": round(self.curve.references),
        }
        if maxmemory > 0 and self.curve.references:
            report["lru_curve"] = {
                format_bytes(round(maxmemory * factor)): round(
                    self.curve.hit_ratio_at(maxmemory * factor, reads), 4
                )
                for factor in CURVE_POINTS
            }
        return report


# Recorders still open at exit write what they queued (a daemon thread would be cut off).
_live: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _close_all() -> None:
    for recorder in list(_live):
        with contextlib.suppress(Exception):
            recorder.close()


atexit.register(_close_all)
