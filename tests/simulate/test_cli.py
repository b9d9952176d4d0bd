"""``python -m cachepolicy.simulate``: every input format end to end, and bad input.

Small generated files in a temporary directory; ``--no-plot`` except where the plot is the
subject; one worker. Every format carries the same key stream, so every run must report the
same hits."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import random
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cachepolicy.simulate import TraceError, read_trace
from cachepolicy.simulate.cli import main

ROOT = Path(__file__).resolve().parents[2]
_RNG = random.Random(5)
KEYS = [_RNG.randrange(60) for _ in range(700)]
FAST = ["--no-plot", "--progress", "no", "-j", "1", "--seeds", "1", "--sizes", "5", "20"]
FAST += ["--policies", "allkeys-lru", "--modes", "exact"]


def _write(path: Path, data: bytes) -> Path:
    opener: dict[str, Callable[[bytes], bytes]] = {
        ".gz": gzip.compress,
        ".xz": lzma.compress,
        ".bz2": bz2.compress,
    }
    if path.suffix == ".zst":
        zstandard = pytest.importorskip("zstandard")
        data = zstandard.ZstdCompressor().compress(data)
    elif path.suffix in opener:
        data = opener[path.suffix](data)
    path.write_bytes(data)
    return path


def _text(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


FILES: dict[str, Callable[[Path], Path]] = {
    "lirs": lambda d: _write(d / "lirs-test.trace.gz", _text(["*", *map(str, KEYS), ""])),
    # ARC: pairs of consecutive blocks written as one line of count 2 where they follow.
    "arc": lambda d: _write(
        d / "test.lis.zst", _text([f"{k} 1 0 {i}" for i, k in enumerate(KEYS)])
    ),
    "int32": lambda d: _write(
        d / "cache2k-test.trace.xz", b"".join(struct.pack(">i", k) for k in KEYS)
    ),
    "int64": lambda d: _write(
        d / "corda-test.trace.gz", b"".join(struct.pack(">q", k) for k in KEYS)
    ),
    "text": lambda d: _write(d / "keys.txt.bz2", _text([f"/page/{k}?q=1" for k in KEYS])),
    "csv": lambda d: _write(d / "trace.csv", _text(["key,size", *(f"k{k},100" for k in KEYS)])),
}


def _run(argv: list[str], tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "out.json"
    assert main([*argv, "--json", str(out)]) == 0
    loaded = json.loads(out.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_every_format_replays_the_same_stream(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FILES[fmt](tmp_path)
    report = _run([str(path), *FAST, "--mode", "entries"], tmp_path)
    [trace] = report["traces"]  # type: ignore[misc]
    assert trace["format"] == fmt
    assert (trace["requests"], trace["distinct_keys"]) == (len(KEYS), 60)
    hits = {(r["label"], r["size"]): r["hits"][0] for r in trace["results"]}
    from tests.simulate.test_replay import brute_lru

    assert hits["allkeys-lru exact", 5] == brute_lru(KEYS, 5)
    assert hits["exact LRU (reference)", 20] == brute_lru(KEYS, 20)
    printed = capsys.readouterr().out
    assert "OPT (Belady)" in printed and "Django" in printed and "MAXMEMORY_POLICY" in printed


def test_the_format_is_detected_from_the_content(tmp_path: Path) -> None:
    plain = tmp_path / "anonymous"
    plain.write_bytes(b"".join(struct.pack(">i", k) for k in KEYS))
    assert read_trace(plain).format == "int32"
    wide = tmp_path / "wide"
    wide.write_bytes(b"".join(struct.pack(">q", 1000 + k) for k in KEYS))
    assert read_trace(wide).format == "int64"
    numbers = tmp_path / "numbers"
    numbers.write_text("\n".join(map(str, KEYS)))
    assert read_trace(numbers).format == "lirs"


def test_csv_with_operations_is_replayed_in_byte_mode(tmp_path: Path) -> None:
    rows = ["key,size,op,timestamp"]
    for i, k in enumerate(KEYS):
        rows.append(f"k{k},{100 + k},get,{i / 100}")
        if k % 3 == 0:
            rows.append(f"k{k},{100 + k},set,{i / 100}")
    path = _write(tmp_path / "ops.csv.gz", _text(rows))
    argv = [str(path), "--no-plot", "--progress", "no", "-j", "1", "--seeds", "1"]
    report = _run([*argv, "--policies", "allkeys-lru", "--sizes", "2kb", "10%"], tmp_path)
    [trace] = report["traces"]  # type: ignore[misc]
    assert trace["mode"] == "bytes" and trace["requests"] == len(KEYS)
    assert all("byte_hit_ratio" in r for r in trace["results"])
    assert '"MAXMEMORY": "' in trace["recommendation"]["django"]


def test_plots_and_page_go_where_told(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = FILES["lirs"](tmp_path)
    out = tmp_path / "plots"
    argv = [str(path), *FAST[1:], "--out", str(out), "--current-size", "10"]
    assert main(argv) == 0
    assert (out / "lirs-test.trace.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "simulation.html").read_text()
    assert "data:image/png;base64," in page and "Recommendation" in page


def test_without_matplotlib_the_run_still_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    path = FILES["lirs"](tmp_path)
    assert main([str(path), *FAST[1:], "--out", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr().out
    assert "pip install 'cachepolicy[sim]'" in printed and "OPT (Belady)" in printed
    assert not (tmp_path / "plots").exists()


def test_without_zstandard_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FILES["arc"](tmp_path)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert main([str(path), *FAST]) == 2
    assert "pip install 'cachepolicy[sim]'" in capsys.readouterr().err


def _bad(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*argv, *FAST]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.trace.gz"
    assert f"{str(missing)!r} does not exist" in _bad([str(missing)], capsys)


def test_a_truncated_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = FILES["int64"](tmp_path).read_bytes()
    cut = tmp_path / "corda-cut.trace.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    assert "truncated" in _bad([str(cut)], capsys)
    stray = tmp_path / "cache2k-stray.trace"
    stray.write_bytes(b"".join(struct.pack(">i", k) for k in KEYS) + b"\x00\x01")
    assert "2 stray bytes" in _bad([str(stray)], capsys)


def test_an_unknown_format_gets_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FILES["lirs"](tmp_path)
    assert "Did you mean 'lirs'?" in _bad([str(path), "--format", "lirz"], capsys)
    opaque = tmp_path / "opaque.bin"
    opaque.write_bytes(random.Random(1).randbytes(4096))
    assert "pass --format" in _bad([str(opaque)], capsys)


def test_an_unknown_policy_gets_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FILES["lirs"](tmp_path)
    assert main([str(path), *FAST, "--policies", "allkeys-lur"]) == 2
    err = capsys.readouterr().err
    assert "'allkeys-lur'" in err and "Did you mean 'allkeys-lru'?" in err
    assert main([str(path), *FAST, "--option", "maxmemory_samplse=3"]) == 2
    assert "Did you mean 'maxmemory_samples'?" in capsys.readouterr().err


def test_reading_a_malformed_line_names_it(tmp_path: Path) -> None:
    path = tmp_path / "arc.lis"
    path.write_text("1 1 0 0\nbanana\n")
    with pytest.raises(TraceError, match="line 2"):
        read_trace(path)


def test_the_module_runs_and_imports_no_optional_dependency(tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    run = subprocess.run(
        [sys.executable, "-m", "cachepolicy.simulate", str(missing)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 2
    assert "does not exist" in run.stderr and "Traceback" not in run.stderr
    optional = "{'matplotlib', 'tqdm', 'zstandard'}"
    probe = f"import sys, cachepolicy.simulate; print(sorted({optional} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_recommendation_names_the_knee_or_a_rising_curve() -> None:
    from cachepolicy.simulate import Trace, policy_rows, recommend, simulate

    rows = policy_rows(["allkeys-lru"], ["exact"])
    # A loop over 50 keys: nothing hits below 50 entries, everything at 50.
    loop = Trace.from_keys([i % 50 for i in range(2000)])
    [result] = simulate([loop], rows=rows, sizes=["10", "25", "50"])
    assert "all the way to the whole working set, 50" in recommend(result, rows[0], 0.99).text
    # Uniform over 100 keys: the hit ratio grows with the size, up to the working set.
    rng = random.Random(2)
    uniform = Trace.from_keys([rng.randrange(100) for _ in range(4000)])
    [result] = simulate([uniform], rows=rows, sizes=["10", "25", "50"])
    assert "still rising at the largest size, 50" in recommend(result, rows[0], 0.99).text
    # A hot set of 10 keys among keys read once: once the hot set fits, more is useless.
    rng = random.Random(3)
    mixed = Trace.from_keys([i % 10 if rng.random() < 0.8 else 100 + i for i in range(3000)])
    [result] = simulate([mixed], rows=rows, sizes=["40", "160", "640"])
    advice = recommend(result, rows[0])
    assert advice.knee == 40 and "flattens at 40" in advice.text
