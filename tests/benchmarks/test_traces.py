"""Trace readers: every format parses to the request and distinct-key counts of the README."""

from __future__ import annotations

import gzip
import itertools
import lzma
from pathlib import Path

import pytest

from benchmarks import traces
from benchmarks.traces import SMALL_TRACES, TRACES, count, iter_keys, sha256_of

pytestmark = pytest.mark.skipif(
    not traces.TRACES_DIR.is_dir(), reason=f"no traces at {traces.TRACES_DIR}"
)


@pytest.mark.parametrize("name", SMALL_TRACES)
def test_small_trace_counts_match_readme(name: str) -> None:
    spec = TRACES[name]
    assert count(iter_keys(name)) == (spec.requests, spec.distinct)


@pytest.mark.parametrize("name", sorted(TRACES))
def test_checksums_match_readme(name: str) -> None:
    assert sha256_of(TRACES[name].path) == TRACES[name].sha256


def test_arc_lines_expand_block_counts() -> None:
    # The first line of P3 covers several blocks: they must come out as consecutive keys.
    keys = list(iter_keys("arc-P3", limit=2000))
    assert len(keys) == 2000
    runs = sum(1 for a, b in itertools.pairwise(keys) if b == a + 1)
    assert runs > 1000


def test_limit_stops_early() -> None:
    assert list(iter_keys("lirs-gli", limit=5)) == list(iter_keys("lirs-gli"))[:5]


def test_lirs_skips_markers_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "lirs-tiny.trace.gz"
    path.write_bytes(gzip.compress(b"1\n*\n\n2\n  3 \n*\n1\n"))
    assert list(iter_keys(path)) == [1, 2, 3, 1]


def test_binary_formats_are_big_endian_signed(tmp_path: Path) -> None:
    four = tmp_path / "cache2k-tiny.trace.xz"
    four.write_bytes(lzma.compress((1).to_bytes(4, "big") + (-2).to_bytes(4, "big", signed=True)))
    assert list(iter_keys(four, fmt="int32")) == [1, -2]
    eight = tmp_path / "tiny.trace.gz"
    eight.write_bytes(gzip.compress((2**40).to_bytes(8, "big") + (7).to_bytes(8, "big")))
    assert list(iter_keys(eight, fmt="int64")) == [2**40, 7]


def test_binary_trace_with_stray_bytes_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.trace.xz"
    path.write_bytes(lzma.compress(b"\x00\x00\x00\x01\x00"))
    with pytest.raises(ValueError, match="stray"):
        list(iter_keys(path, fmt="int32"))


def test_cli_quick_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    assert traces.main(["lirs-gli"]) == 0
    assert "| lirs-gli | lirs | 6,015 | 2,529 | ok | ok |" in capsys.readouterr().out
