"""Trace readers: every input the simulator accepts, turned into one :class:`Trace`.

Formats (``--format``, or detected from the file name and its first bytes):

* ``arc``: ARC text, ``first_block block_count unused request_number`` per line; a line stands
  for ``block_count`` single-block requests (Megiddo and Modha's traces);
* ``lirs``: one decimal key per line; ``*`` lines (the LIRS tools' checkpoint markers) and
  blank lines are skipped;
* ``int32`` / ``int64``: big-endian signed integers, one request key each (cache2k, Scarab,
  Corda traces);
* ``text``: one key per line, any text (a URL, a cache key); blank lines skipped;
* ``csv``: ``key,size[,op[,timestamp]]`` per line (a header line naming ``key`` is skipped);
  ``op`` is ``get``, ``set`` or ``delete`` (default ``get``), ``timestamp`` seconds;
* ``recording``: a file of the cache's own recorder (the ``record`` option,
  :mod:`cachepolicy.recorder`): keyed hashes, sizes, operations, TTLs, times, sampling rate;

Compression follows the extension: ``.gz``, ``.xz``, ``.bz2`` (standard library) and ``.zst``
(the ``zstandard`` package, in the ``cachepolicy[sim]`` extra).

Keys are interned to small integers in order of first appearance: the simulators compare them
only for equality, and an ``array`` of ints is a tenth of a list of strings.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import math
import os
import sys
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, cast

from ..errors import CachePolicyError, did_you_mean

__all__ = [
    "DELETE",
    "FORMATS",
    "GET",
    "OP_NAMES",
    "SET",
    "Trace",
    "TraceError",
    "read_trace",
]

#: Operation codes of :attr:`Trace.ops`: a get (counted), a write, a delete, a touch
#: (refreshes recency; with a TTL also sets it) and an expire (sets or removes the TTL only).
GET, SET, DELETE, TOUCH, EXPIRE = 0, 1, 2, 3, 4
OP_NAMES = {"get": GET, "set": SET, "delete": DELETE}

FORMATS = ("arc", "lirs", "int32", "int64", "text", "csv", "recording")

# Bytes decompressed per read() for the binary formats: big enough to amortize the call,
# small enough that a large trace is never held twice in memory.
_CHUNK = 1 << 20
# Bytes inspected to guess a format from the content.
_SNIFF = 1 << 16

#: The shared traces' file-name prefixes (shared/traces/README.md): names carry the format.
_KNOWN_PREFIXES = (
    ("arc-", "arc"),
    ("lirs-", "lirs"),
    ("cache2k-", "int32"),
    ("scarab-", "int64"),
    ("corda-", "int64"),
)


class TraceError(CachePolicyError, ValueError):
    """A trace cannot be read: missing, truncated, of an unknown or undetectable format."""


@dataclass
class Trace:
    """One request stream.

    ``keys[i]`` is request ``i``'s key (interned to an int). The optional columns have one
    value per request: ``sizes`` (value bytes: the trace is replayed in byte mode), ``ops``
    (:data:`GET` / :data:`SET` / :data:`DELETE` / :data:`TOUCH` / :data:`EXPIRE`; without it
    every request is a get, and a miss is filled), ``ttls`` (seconds; ``inf`` = none, ``nan``
    = keep the key's) and ``times`` (seconds). A sampled recording has ``sample_rate`` < 1:
    its caches are simulated at that fraction of each size (SHARDS), and ``key_lengths``
    (per key) lets the stand-in keys cost what the recorded keys did.
    """

    name: str
    format: str
    keys: array[int]
    sizes: array[int] | None = None
    ops: bytes | None = None
    ttls: array[float] | None = None
    times: array[float] | None = None
    #: How many keys were interned (keys are 0 .. distinct-1).
    distinct: int = 0
    sample_rate: float = 1.0
    key_lengths: array[int] | None = None
    #: Reads of every key (sampled or not) while a sampled recording was made, when known.
    total_reads: int | None = None
    #: Per get: fill the cache on a miss (the app would); computed by :meth:`fills`.
    _fills: bytes | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_keys(cls, keys: Iterable[Hashable], name: str = "keys") -> Trace:
        """A bare key stream from any hashable keys (every request a get)."""
        intern = _Interner()
        out = array("q", map(intern, keys))
        return cls(name, "keys", out, distinct=len(intern.ids))

    @property
    def requests(self) -> int:
        """Gets: what the hit ratio is counted over."""
        if self.ops is None:
            return len(self.keys)
        return self.ops.count(GET)

    @property
    def has_ttls(self) -> bool:
        return self.ttls is not None and any(math.isfinite(ttl) for ttl in self.ttls)

    def fills(self) -> bytes:
        """Per request, 1 when a get that misses is to be filled by the simulator.

        A bare key stream is a demand-filled cache: every miss is filled. A stream with
        operations records the application's own writes, so a get whose next operation on the
        key is a set is left to that set (filling twice would touch the key twice); any other
        miss is filled, as the application would have had to.
        """
        if self._fills is None:
            if self.ops is None:
                self._fills = b"\x01" * len(self.keys)
            else:
                fills = bytearray(len(self.keys))
                next_op: dict[int, int] = {}
                keys, ops = self.keys, self.ops
                for index in range(len(keys) - 1, -1, -1):
                    key, op = keys[index], ops[index]
                    if op == GET:
                        fills[index] = next_op.get(key) != SET
                    if op <= DELETE:  # touches and expires neither read nor fill
                        next_op[key] = op
                self._fills = bytes(fills)
        return self._fills

    def complete_sizes(self) -> None:
        """Give every request with an unknown size (0: a get that missed) the key's nearest
        known size: the next one written, else the last one seen."""
        sizes = self.sizes
        if sizes is None:
            return
        keys = self.keys
        upcoming: dict[int, int] = {}
        for index in range(len(keys) - 1, -1, -1):
            if sizes[index]:
                upcoming[keys[index]] = sizes[index]
            else:
                sizes[index] = upcoming.get(keys[index], 0)
        last: dict[int, int] = {}
        for index, key in enumerate(keys):
            if sizes[index]:
                last[key] = sizes[index]
            else:
                sizes[index] = last.get(key, 1)  # never seen with a size: one byte


def read_trace(
    path: str | os.PathLike[str], format: str | None = None, limit: int | None = None
) -> Trace:
    """Read a trace file (at most ``limit`` requests). Raises :class:`TraceError`."""
    source = Path(path)
    if not source.exists():
        raise TraceError(f"Trace file {str(source)!r} does not exist.")
    if source.is_dir():
        raise TraceError(f"Trace {str(source)!r} is a directory; give one file.")
    if format is not None and format not in FORMATS:
        raise TraceError(
            f"Unknown trace format {format!r}. Formats: {', '.join(FORMATS)}."
            f"{did_you_mean(format, FORMATS)}"
        )
    fmt = format or detect_format(source)
    try:
        with open_decompressed(source) as stream:
            trace = _READERS[fmt](stream, source, limit)
    except (EOFError, lzma.LZMAError, OSError, UnicodeDecodeError, _zstd_error()) as exc:
        raise TraceError(
            f"Cannot read trace {str(source)!r} as {fmt}: {exc or type(exc).__name__} "
            f"(a truncated or corrupt file?)."
        ) from exc
    if not trace.keys:
        raise TraceError(f"Trace {str(source)!r} ({fmt}) holds no requests.")
    # Ids are handed out in order of first appearance: the largest + 1 is the count (a reader
    # stopped by ``limit`` may have interned a key past it).
    trace.distinct = max(trace.keys) + 1
    trace.complete_sizes()
    return trace


# ---------------------------------------------------------------------------------- files


def open_decompressed(path: Path) -> BinaryIO:
    """The decompressed bytes of ``path``, chosen by its extension."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "rb"))
    if suffix == ".xz":
        return cast(BinaryIO, lzma.open(path, "rb"))
    if suffix == ".bz2":
        return cast(BinaryIO, bz2.open(path, "rb"))
    if suffix == ".zst":
        try:
            import zstandard
        except ImportError:
            raise TraceError(
                f"Reading {path.name!r} (Zstandard) needs the zstandard package: "
                f"pip install 'cachepolicy[sim]' (or decompress it first: zstd -d {path})."
            ) from None
        # closefd=True: closing the reader closes the file too.
        return cast(
            BinaryIO, zstandard.ZstdDecompressor().stream_reader(path.open("rb"), closefd=True)
        )
    return path.open("rb")


def _zstd_error() -> type[Exception]:
    zstandard = sys.modules.get("zstandard")
    return cast(type[Exception], zstandard.ZstdError) if zstandard is not None else OSError


def _stem(path: Path) -> str:
    """The name without its compression suffix."""
    name = path.name
    for suffix in (".gz", ".xz", ".bz2", ".zst"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def detect_format(path: Path) -> str:
    """The format from the file name when it says (the shared traces' names, ``.csv``,
    ``.txt``), else from the first bytes; a :class:`TraceError` when it cannot tell."""
    stem = _stem(path)
    lower = stem.lower()
    for prefix, fmt in _KNOWN_PREFIXES:
        if lower.startswith(prefix):
            return fmt
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".lis"):
        return "arc"
    if lower.endswith(".cprec") or ".cprec." in lower:
        return "recording"
    with open_decompressed(path) as stream:
        try:
            head = stream.read(_SNIFF)
        except (EOFError, lzma.LZMAError, OSError, _zstd_error()) as exc:
            raise TraceError(f"Cannot read trace {str(path)!r}: {exc}") from exc
    if lower.endswith(".txt"):
        return "text"
    guess = _sniff(head)
    if guess is None:
        raise TraceError(
            f"Cannot tell the format of trace {str(path)!r}; pass --format ({', '.join(FORMATS)})."
        )
    return guess


def _sniff(head: bytes) -> str | None:
    if not head:
        return None
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return _sniff_binary(head)
    lines = [line for line in text.splitlines()[:-1] or text.splitlines() if line.strip()]
    if not lines:
        return None
    if all(len(line.split()) == 4 and all(f.isdigit() for f in line.split()) for line in lines):
        return "arc"
    if all(line.strip() == "*" or line.strip().lstrip("-").isdigit() for line in lines):
        return "lirs"
    if all("," in line for line in lines):
        return "csv"
    if all(line.isprintable() for line in lines):
        return "text"
    return _sniff_binary(head)


def _sniff_binary(head: bytes) -> str | None:
    """int64 when every 8-byte word's high half is a sign extension (keys below 2**31, as
    int32 words: every other one 0 or -1, which no real int32 trace looks like); int32 when
    every 4-byte word is a small integer (top byte 0 or 0xff). Random 64-bit keys are
    neither: the caller then asks for ``--format``."""
    words = len(head) // 8
    if words < 4:
        return None
    if all(head[i : i + 4] in (b"\0\0\0\0", b"\xff\xff\xff\xff") for i in range(0, 8 * words, 8)):
        return "int64"
    if all(head[i] in (0, 0xFF) for i in range(0, words * 8, 4)):
        return "int32"
    return None


# ---------------------------------------------------------------------------------- readers


class _Interner:
    """Keys -> 0, 1, 2 ... in order of first appearance."""

    def __init__(self) -> None:
        self.ids: dict[Hashable, int] = {}

    def __call__(self, key: Hashable) -> int:
        ids = self.ids
        found = ids.get(key)
        if found is None:
            found = ids[key] = len(ids)
        return found


def _lines(stream: IO[bytes]) -> Iterator[str]:
    # Closed when the lines run out or the reader stops early (the generator is closed).
    with io.TextIOWrapper(stream, encoding="utf-8", newline=None) as text:
        yield from text


def _capped(keys: Iterator[int], limit: int | None) -> array[int]:
    out = array("q")
    if limit is None:
        out.extend(keys)
    else:
        for key in keys:
            if len(out) >= limit:
                break
            out.append(key)
    return out


def _read_arc(stream: IO[bytes], path: Path, limit: int | None) -> Trace:
    intern = _Interner()

    def keys() -> Iterator[int]:
        for number, line in enumerate(_lines(stream), 1):
            fields = line.split()
            if not fields:
                continue
            try:
                first, count = int(fields[0]), int(fields[1])
            except (ValueError, IndexError):
                raise TraceError(
                    f"{path}: line {number} is not ARC text "
                    f"(first_block block_count unused request_number): {line.strip()[:60]!r}"
                ) from None
            for block in range(first, first + count):
                yield intern(block)

    out = _capped(keys(), limit)
    return Trace(_stem(path), "arc", out, distinct=len(intern.ids))


def _read_lirs(stream: IO[bytes], path: Path, limit: int | None) -> Trace:
    intern = _Interner()

    def keys() -> Iterator[int]:
        for number, line in enumerate(_lines(stream), 1):
            text = line.strip()
            if not text or text == "*":
                continue
            try:
                yield intern(int(text))
            except ValueError:
                raise TraceError(
                    f"{path}: line {number} is not a LIRS key (one integer): {text[:60]!r}; "
                    f"use --format text for keys that are not numbers."
                ) from None

    out = _capped(keys(), limit)
    return Trace(_stem(path), "lirs", out, distinct=len(intern.ids))


def _read_text(stream: IO[bytes], path: Path, limit: int | None) -> Trace:
    intern = _Interner()
    keys = (intern(line.rstrip("\r\n")) for line in _lines(stream) if line.strip())
    out = _capped(keys, limit)
    return Trace(_stem(path), "text", out, distinct=len(intern.ids))


def _binary_reader(width: int) -> Callable[[IO[bytes], Path, int | None], Trace]:
    code = "i" if width == 4 else "q"
    assert array(code).itemsize == width
    swap = sys.byteorder == "little"  # the files are big-endian
    name = "int32" if width == 4 else "int64"

    def read(stream: IO[bytes], path: Path, limit: int | None) -> Trace:
        intern = _Interner()
        ids = intern.ids
        out = array("q")
        rest = b""
        while limit is None or len(out) < limit:
            chunk = stream.read(_CHUNK)
            if not chunk:
                if rest:
                    raise TraceError(
                        f"{path}: the {name} trace ends with {len(rest)} stray bytes (not a "
                        f"whole key): truncated, or another format?"
                    )
                break
            data = rest + chunk
            usable = len(data) - len(data) % width
            rest = data[usable:]
            words = array(code)
            words.frombytes(data[:usable])
            if swap:
                words.byteswap()
            for word in words:
                found = ids.get(word)
                if found is None:
                    found = ids[word] = len(ids)
                out.append(found)
        if limit is not None and len(out) > limit:
            del out[limit:]
        return Trace(_stem(path), name, out)

    return read


def _read_csv(stream: IO[bytes], path: Path, limit: int | None) -> Trace:
    import csv

    intern = _Interner()
    keys, sizes = array("q"), array("q")
    ops = bytearray()
    times = array("d")
    has_ops = has_times = False
    for number, row in enumerate(csv.reader(_lines(stream)), 1):
        if not row or not "".join(row).strip():
            continue
        if number == 1 and row[0].strip().lower() == "key":
            continue  # a header
        if limit is not None and len(keys) >= limit:
            break
        if len(row) < 2:
            raise TraceError(
                f"{path}: line {number} has {len(row)} field; a CSV trace needs "
                f"key,size[,op[,timestamp]]."
            )
        try:
            size = int(row[1])
            op = OP_NAMES[row[2].strip().lower()] if len(row) > 2 and row[2].strip() else GET
            when = float(row[3]) if len(row) > 3 and row[3].strip() else 0.0
        except (ValueError, KeyError):
            raise TraceError(
                f"{path}: line {number} is not key,size[,op[,timestamp]] with an integer size, "
                f"op one of {', '.join(OP_NAMES)} and a timestamp in seconds: {row!r}"
            ) from None
        if size < 0:
            raise TraceError(f"{path}: line {number} has a negative size {size}.")
        has_ops |= len(row) > 2
        has_times |= len(row) > 3
        keys.append(intern(row[0]))
        sizes.append(size)
        ops.append(op)
        times.append(when)
    return Trace(
        _stem(path),
        "csv",
        keys,
        sizes=sizes,
        ops=bytes(ops) if has_ops else None,
        times=times if has_times else None,
        distinct=len(intern.ids),
    )


_READERS: dict[str, Callable[[IO[bytes], Path, int | None], Trace]] = {
    "arc": _read_arc,
    "lirs": _read_lirs,
    "int32": _binary_reader(4),
    "int64": _binary_reader(8),
    "text": _read_text,
    "csv": _read_csv,
}


def _read_recording(stream: IO[bytes], path: Path, limit: int | None) -> Trace:
    """A recorder's file (:data:`cachepolicy.recorder.HEADER`, then
    :data:`cachepolicy.recorder.RECORD`s)."""
    from .. import recorder

    head = stream.read(recorder.HEADER.size)
    if len(head) < recorder.HEADER.size or not head.startswith(recorder.MAGIC[:6]):
        raise TraceError(f"{path} is not a cachepolicy recording (no header).")
    magic, rate, _start, _fingerprint, _pid, reads_start, reads_end = recorder.HEADER.unpack(head)
    if magic != recorder.MAGIC:
        raise TraceError(
            f"{path} is a recording of format version {magic[-1]}; this simulator reads "
            f"version {recorder.MAGIC[-1]}."
        )
    data = stream.read() if limit is None else stream.read(limit * recorder.RECORD.size)
    stray = len(data) % recorder.RECORD.size
    if stray:
        raise TraceError(
            f"{path}: the recording is truncated: {stray} stray bytes after "
            f"{len(data) // recorder.RECORD.size:,} whole records."
        )
    ops_of = {
        recorder.GET_HIT: GET,
        recorder.GET_MISS: GET,
        recorder.SET: SET,
        recorder.DELETE: DELETE,
        recorder.TOUCH: TOUCH,
        recorder.EXPIRE: EXPIRE,
    }
    intern = _Interner()
    keys, sizes, lengths = array("q"), array("q"), array("q")
    ttls, times = array("d"), array("d")
    ops = bytearray()
    for hashed, length, size, op, ttl, when in recorder.RECORD.iter_unpack(data):
        mapped = ops_of.get(op)
        if mapped is None:
            raise TraceError(f"{path}: record {len(keys):,} has the unknown operation {op}.")
        key = intern(hashed)
        if key == len(lengths):
            lengths.append(length)
        keys.append(key)
        sizes.append(size)
        ops.append(mapped)
        ttls.append(ttl)
        times.append(when)
    return Trace(
        _stem(path),
        "recording",
        keys,
        sizes=sizes,
        ops=bytes(ops),
        ttls=ttls,
        times=times,
        sample_rate=rate,
        key_lengths=lengths,
        total_reads=(
            round(reads_end - reads_start)
            if limit is None and math.isfinite(reads_start) and math.isfinite(reads_end)
            else None
        ),
    )


_READERS["recording"] = _read_recording
