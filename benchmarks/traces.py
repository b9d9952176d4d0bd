"""Readers for the cache traces in ``shared/traces/`` (see its README for origin and formats).

Every reader streams the decompressed file and yields the request keys as Python ``int``s, in
order. Four formats:

* **ARC text** (``*.lis.zst``): ``first_block block_count unused request_number`` per line; a
  line stands for ``block_count`` single-block requests ``first_block .. first_block+count-1``.
* **LIRS text** (``lirs-*.trace.gz``): one decimal key per line; ``*`` lines (checkpoint
  markers of the original tools) and blank lines are not requests.
* **int32 / int64 binary** (``cache2k-*``, ``scarab-*``, ``corda-*``): big-endian signed
  integers, one per request.

``python benchmarks/traces.py`` verifies the checksums and the request / distinct-key counts of
every trace against the README table (``--quick``: the small traces only).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import lzma
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

import numpy as np

__all__ = [
    "SMALL_TRACES",
    "TRACES",
    "TRACES_DIR",
    "TraceSpec",
    "iter_keys",
    "load_keys",
    "open_decompressed",
    "sha256_of",
    "trace_path",
    "verify",
]

# shared/ sits beside the repository (a fresh clone in CI gets it there too); the environment
# variable lets a developer point at a copy elsewhere.
TRACES_DIR = Path(
    os.environ.get(
        "CACHEPOLICY_TRACES", str(Path(__file__).resolve().parents[2] / "shared" / "traces")
    )
)

# Bytes decompressed per read() for the binary formats: big enough that numpy does the work,
# small enough that a 40 MB trace is never held twice.
_CHUNK = 1 << 20


@dataclass(frozen=True)
class TraceSpec:
    """One trace file and the numbers its README states."""

    name: str
    filename: str
    format: str  # "arc" | "lirs" | "int32" | "int64"
    requests: int
    distinct: int
    sha256: str
    workload: str

    @property
    def path(self) -> Path:
        return TRACES_DIR / self.filename


TRACES: dict[str, TraceSpec] = {
    spec.name: spec
    for spec in (
        TraceSpec(
            "arc-OLTP",
            "arc-OLTP.lis.zst",
            "arc",
            914_145,
            186_880,
            "2a81096104b6de28aae54558b764bb32fe2ac3beb8a7dcdee1259af8798d3531",
            "OLTP database block references",
        ),
        TraceSpec(
            "arc-P3",
            "arc-P3.lis.zst",
            "arc",
            3_912_296,
            762_543,
            "4110048c690756400675b14f200989fae351b62147705dac9637bbcff6d29751",
            "Windows NT workstation disk accesses",
        ),
        TraceSpec(
            "lirs-loop",
            "lirs-loop.trace.gz",
            "lirs",
            505_500,
            1_011,
            "465c1cc6bb08993034fd3597106cb0edc55b25a5984a17a12018f30a06ba60e9",
            "a loop over about 1,000 blocks",
        ),
        TraceSpec(
            "lirs-gli",
            "lirs-gli.trace.gz",
            "lirs",
            6_015,
            2_529,
            "c300a0bff8149373bdbb7df3fa440e621aba920b0ec6bcc7a936f360f782511c",
            "glimpse text search, looping",
        ),
        TraceSpec(
            "cache2k-web07",
            "cache2k-web07.trace.xz",
            "int32",
            76_118,
            20_484,
            "e50bb13aa66d1cc71877c8ea92c577be0d0ab5b2b4f7a16c87046af1097bd46a",
            "web shop product pages",
        ),
        TraceSpec(
            "cache2k-orm-busy",
            "cache2k-orm-busy.trace.xz",
            "int32",
            5_000_000,
            76_349,
            "0b1d6593387d713c98cc20a5b8c4128eaa983f94dcd70069b032dc1af9c2ceb3",
            "ORM object cache, busy daytime",
        ),
        TraceSpec(
            "scarab-recs",
            "scarab-recs.trace.xz",
            "int64",
            1_245_184,
            258_368,
            "abf86a7eef62e1e5ed93afe318168bb72a575c6d552e9904426711039c05ede3",
            "recommendation look-ups, frequency-skewed",
        ),
        TraceSpec(
            "corda-vaultservice",
            "corda-vaultservice.trace.gz",
            "int64",
            135_702,
            90_468,
            "bc2c118fe0a56b877fc21d35ad2a46b19d2f28b593553b8aa36a788cc169b21c",
            "Corda vault service, pure recency",
        ),
    )
}

#: Traces small enough to read in full in a smoke test (well under a second each).
SMALL_TRACES = ("lirs-gli", "lirs-loop", "corda-vaultservice", "cache2k-web07")

#: README: "the first 1,000,000 requests ... are a good working set" for the two big traces.
PREFIX_COUNTS = {"arc-P3": (1_000_000, 345_019), "cache2k-orm-busy": (1_000_000, 44_178)}


def trace_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A trace name from :data:`TRACES` (``"lirs-gli"``) or a file path."""
    if isinstance(name_or_path, str) and name_or_path in TRACES:
        return TRACES[name_or_path].path
    return Path(name_or_path)


def _format_of(path: Path) -> str:
    for spec in TRACES.values():
        if spec.filename == path.name:
            return spec.format
    name = path.name
    if ".lis" in name:
        return "arc"
    if name.startswith("lirs"):
        return "lirs"
    raise ValueError(
        f"Cannot tell the format of trace file {str(path)!r}; pass fmt='arc', 'lirs', 'int32' "
        f"or 'int64'."
    )


def open_decompressed(path: Path) -> BinaryIO:
    """A binary stream of the decompressed file, chosen by its extension (.zst/.gz/.xz)."""
    suffix = path.suffix
    if suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "rb"))
    if suffix == ".xz":
        return cast(BinaryIO, lzma.open(path, "rb"))
    if suffix == ".zst":
        import zstandard

        raw = path.open("rb")
        # closefd=True: closing the reader closes the file too.
        return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return path.open("rb")


def _arc_keys(stream: IO[bytes]) -> Iterator[int]:
    for line in io.TextIOWrapper(stream, encoding="ascii"):
        fields = line.split()
        if not fields:
            continue
        first, count = int(fields[0]), int(fields[1])
        if count == 1:
            yield first
        else:
            yield from range(first, first + count)


def _lirs_keys(stream: IO[bytes]) -> Iterator[int]:
    for line in io.TextIOWrapper(stream, encoding="ascii"):
        text = line.strip()
        if not text or text == "*":
            continue
        yield int(text)


def _binary_keys(stream: IO[bytes], width: int) -> Iterator[int]:
    dtype = np.dtype(">i4" if width == 4 else ">i8")
    rest = b""
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        data = rest + chunk
        usable = len(data) - len(data) % width
        rest = data[usable:]
        yield from np.frombuffer(data[:usable], dtype).tolist()
    if rest:
        raise ValueError(f"Binary trace ends with {len(rest)} stray bytes (not a whole key).")


def iter_keys(
    name_or_path: str | os.PathLike[str], limit: int | None = None, fmt: str | None = None
) -> Iterator[int]:
    """Yield the trace's request keys in order (at most ``limit`` of them)."""
    path = trace_path(name_or_path)
    fmt = fmt or _format_of(path)
    with open_decompressed(path) as stream:
        if fmt == "arc":
            keys = _arc_keys(stream)
        elif fmt == "lirs":
            keys = _lirs_keys(stream)
        elif fmt in ("int32", "int64"):
            keys = _binary_keys(stream, 4 if fmt == "int32" else 8)
        else:
            raise ValueError(
                f"Unknown trace format {fmt!r}; use 'arc', 'lirs', 'int32' or 'int64'."
            )
        if limit is None:
            yield from keys
        else:
            for index, key in enumerate(keys):
                if index >= limit:
                    break
                yield key


def load_keys(name_or_path: str | os.PathLike[str], limit: int | None = None) -> list[int]:
    """The whole (or first ``limit`` requests of the) trace as a list."""
    return list(iter_keys(name_or_path, limit))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def count(keys: Iterable[int]) -> tuple[int, int]:
    """(requests, distinct keys)."""
    seen: set[int] = set()
    requests = 0
    for key in keys:
        requests += 1
        seen.add(key)
    return requests, len(seen)


def verify(names: Iterable[str], *, counts: bool = True) -> list[str]:
    """Check checksums (and counts) of the named traces; returns the problems found."""
    problems: list[str] = []
    for name in names:
        spec = TRACES[name]
        if not spec.path.exists():
            problems.append(f"{name}: missing file {spec.path}")
            continue
        digest = sha256_of(spec.path)
        if digest != spec.sha256:
            problems.append(f"{name}: sha256 {digest} != README {spec.sha256}")
        if counts:
            got = count(iter_keys(name))
            if got != (spec.requests, spec.distinct):
                problems.append(
                    f"{name}: (requests, distinct) {got} != README {spec.requests, spec.distinct}"
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="count the small traces only")
    parser.add_argument("traces", nargs="*", help="trace names (default: all)")
    args = parser.parse_args(argv)
    names = args.traces or (list(SMALL_TRACES) if args.quick else list(TRACES))
    unknown = [n for n in names if n not in TRACES]
    if unknown:
        parser.error(f"unknown trace(s) {unknown}; choose from {', '.join(TRACES)}")
    failed = False
    print(f"traces in {TRACES_DIR}")
    print("| trace | format | requests | distinct | README | sha256 | seconds |")
    print("|---|---|---:|---:|---|---|---:|")
    for name in names:
        spec = TRACES[name]
        started = time.perf_counter()
        sha_ok = sha256_of(spec.path) == spec.sha256
        requests, distinct = count(iter_keys(name))
        counts_ok = (requests, distinct) == (spec.requests, spec.distinct)
        failed |= not (sha_ok and counts_ok)
        print(
            f"| {name} | {spec.format} | {requests:,} | {distinct:,} | "
            f"{'ok' if counts_ok else 'MISMATCH'} | {'ok' if sha_ok else 'MISMATCH'} | "
            f"{time.perf_counter() - started:.1f} |"
        )
        if name in PREFIX_COUNTS:
            want = PREFIX_COUNTS[name]
            got = count(iter_keys(name, want[0]))
            failed |= got != want
            print(
                f"|  first {want[0]:,} | | {got[0]:,} | {got[1]:,} | "
                f"{'ok' if got == want else 'MISMATCH'} | | |"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
