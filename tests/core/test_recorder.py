"""The access recorder (cachepolicy/recorder.py) and the simulator reading what it wrote."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cachepolicy import Cache, CacheConfig, ConfigError, ManualClock
from cachepolicy._core.accessor import Accessor
from cachepolicy._core.sampling import SampledAccessor
from cachepolicy.recorder import HEADER, RECORD, Recorder, key_hash
from cachepolicy.simulate import policy_rows, read_trace, replay_engine, simulate
from cachepolicy.simulate.cli import main as simulate_main
from cachepolicy.simulate.readers import GET, SET

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a deployment secret of some length"


def _workload(cache: Cache, clock: ManualClock, seed: int, sized: bool = False) -> int:
    """An application's traffic: get, and on a miss compute and set (some with a TTL);
    now and then a delete or a touch. Returns the hits it saw."""
    rng = random.Random(seed)
    hits = 0
    for step in range(3000):
        clock.advance(0.01)
        key = f"user:{int(rng.paretovariate(1.1)) % 400}:profile"
        if step % 97 == 0:
            cache.delete(key)
            continue
        if step % 89 == 0:
            cache.touch(key)
            continue
        if cache.get(key) is not None:
            hits += 1
            continue
        value = "x" * (rng.choice((10, 200, 3000)) if sized else 1)
        cache.set(key, value, 30.0 if step % 3 == 0 else None)
    return hits


def _recorded(tmp_path: Path, **options: Any) -> tuple[Cache, ManualClock]:
    clock = ManualClock()
    options = {"record": str(tmp_path), "record_rate": 1.0, "record_key": SECRET, **options}
    return Cache(clock=clock, seed=1, databases=1, **options), clock


def _only_recording(tmp_path: Path) -> Path:
    [path] = tmp_path.glob("*.cprec")
    return path


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "volatile-lru"])
@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_replaying_a_recording_gives_the_caches_own_hits(
    tmp_path: Path, policy: str, mode: str
) -> None:
    limits = {"maxmemory": 0, "max_entries": 60, "cull_frequency": None}
    cache, clock = _recorded(tmp_path, maxmemory_policy=policy, eviction_mode=mode, **limits)
    seen = _workload(cache, clock, seed=3)
    cache.close()
    direct = Cache(
        clock=(direct_clock := ManualClock()),
        seed=1,
        databases=1,
        maxmemory_policy=policy,
        eviction_mode=mode,
        **limits,
    )
    assert _workload(direct, direct_clock, seed=3) == seen  # recording changes nothing
    trace = read_trace(_only_recording(tmp_path))
    counts = replay_engine(trace, 60, policy=policy, eviction_mode=mode)
    assert (counts.hits, counts.requests) == (seen, trace.requests)
    assert cache.info()["keyspace_hits"] == seen


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-random"])
def test_byte_mode_replay_charges_what_the_cache_charged(tmp_path: Path, policy: str) -> None:
    cache, clock = _recorded(tmp_path, maxmemory=40_000, maxmemory_policy=policy)
    seen = _workload(cache, clock, seed=4, sized=True)
    evicted = cache.info()["evicted_keys"]
    cache.close()
    assert evicted > 100  # the budget was tight
    trace = read_trace(_only_recording(tmp_path))
    counts = replay_engine(trace, 40_000, policy=policy, by_bytes=True)
    assert counts.hits == seen


def test_the_file_holds_keyed_hashes_never_keys(tmp_path: Path) -> None:
    cache, clock = _recorded(tmp_path)
    _workload(cache, clock, seed=5)
    cache.close()
    data = _only_recording(tmp_path).read_bytes()
    assert b"user:" not in data and b"profile" not in data
    hashes = {fields[0] for fields in RECORD.iter_unpack(data[HEADER.size :])}
    assert key_hash("user:1:profile", SECRET.encode()) in hashes
    assert key_hash("user:1:profile", b"another secret of 16+ bytes") not in hashes


_CHILD = """
import sys
from cachepolicy import Cache
secret = {"record_key": sys.argv[2]} if len(sys.argv) > 2 else {}
cache = Cache(record=sys.argv[1], record_rate=1.0, **secret)
for key in ("user:1", "user:2", "/page?id=3"):
    cache.get(key)
cache.close()
"""


def _hashes_written_by_a_process(directory: Path, *key: str) -> set[int]:
    before = set(directory.glob("*.cprec"))
    subprocess.run(
        [sys.executable, "-c", _CHILD, str(directory), *key],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    )
    [path] = set(directory.glob("*.cprec")) - before
    return {f[0] for f in RECORD.iter_unpack(path.read_bytes()[HEADER.size :])}


def test_hashes_agree_across_processes(tmp_path: Path) -> None:
    # With a given secret: every process, and this one, hash alike.
    given = _hashes_written_by_a_process(tmp_path, SECRET)
    assert given == _hashes_written_by_a_process(tmp_path, SECRET)
    assert key_hash("/page?id=3", SECRET.encode()) in given
    # Without: the secret made once in the directory is shared by the processes writing there.
    shared = tmp_path / "shared"
    shared.mkdir()
    first = _hashes_written_by_a_process(shared)
    assert first == _hashes_written_by_a_process(shared) and len(first) == 3
    assert first != given
    assert (shared / ".cachepolicy-record-key").stat().st_mode & 0o077 == 0


def test_sampling_records_a_key_always_or_never(tmp_path: Path) -> None:
    cache, _ = _recorded(tmp_path, record_rate=0.25)
    for _round in range(3):
        for number in range(2000):
            cache.get(f"k{number}")
    cache.close()
    trace = read_trace(_only_recording(tmp_path))
    assert trace.sample_rate == 0.25
    assert 350 < trace.distinct < 650  # about a quarter of 2000
    assert len(trace) == 3 * trace.distinct  # every access of a sampled key


def test_files_rotate_at_the_size_limit(tmp_path: Path) -> None:
    cache, _ = _recorded(tmp_path, record_max_bytes="64kb")
    for number in range(5000):  # 5000 x 31 bytes: two rotations
        cache.get(f"key{number}")
    cache.close()
    path = _only_recording(tmp_path)
    rotated = path.with_name(path.name + ".1")
    for file in (path, rotated):
        assert HEADER.size < file.stat().st_size <= 64 * 1024
        assert (file.stat().st_size - HEADER.size) % RECORD.size == 0
    assert read_trace(rotated).format == "recording"
    assert cache.info()["record_recorded"] == 5000


def test_a_forked_child_writes_its_own_file(tmp_path: Path) -> None:
    cache, _ = _recorded(tmp_path)
    cache.get("before")  # the writer thread is running when the process forks
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            cache.get("child-only")
            cache.close()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    cache.get("parent-only")
    cache.close()
    mine = tmp_path / f"cachepolicy-{os.getpid()}.cprec"
    child = tmp_path / f"cachepolicy-{pid}.cprec"

    def hashes(path: Path) -> set[int]:
        return {f[0] for f in RECORD.iter_unpack(path.read_bytes()[HEADER.size :])}

    secret = SECRET.encode()
    assert hashes(child) == {key_hash("child-only", secret)}
    assert hashes(mine) == {key_hash(k, secret) for k in ("before", "parent-only")}


def test_a_stalled_writer_drops_and_counts_never_blocks(tmp_path: Path) -> None:
    config = CacheConfig(record=str(tmp_path), record_rate=1.0, record_key=SECRET)
    recorder = Recorder(config, ManualClock(), buffer_records=100)
    release = threading.Event()
    flush = recorder.flush
    started = threading.Event()

    def stalled() -> None:
        started.set()
        assert release.wait(30)
        flush()

    recorder.flush = stalled  # type: ignore[method-assign]
    for number in range(350):
        recorder.note(f"k{number}", 0, 1, 0.0)
    assert started.wait(30)  # the writer is stuck in its first flush
    assert (recorder.dropped, len(recorder._queue)) == (250, 100)
    assert recorder.info()["record_dropped"] == 250
    release.set()
    recorder.close()
    assert recorder.recorded == 100


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    cache, _ = _recorded(tmp_path)
    cache.set("a", 1)
    cache.get("a")
    assert cache.info()["record_queued"] + cache.info()["record_recorded"] == 2
    cache.close()
    assert cache.info()["record_recorded"] == 2
    assert _only_recording(tmp_path).stat().st_size == HEADER.size + 2 * RECORD.size


def test_without_recording_the_engines_methods_are_bound() -> None:
    cache = Cache()
    assert type(cache.__dict__["get"].__self__) is Accessor
    assert type(cache.__dict__["set"].__self__) is Accessor
    assert cache.store.recorder is None and "record_file" not in cache.info()


def test_with_recording_every_view_binds_the_recording_paths(tmp_path: Path) -> None:
    cache, _ = _recorded(tmp_path)
    for view in (cache, cache.no_touch()):
        assert isinstance(view._access, SampledAccessor)  # compiled, the test inline
        assert view.__dict__["get"].__self__ is view._access
    getter: Callable[[str], Any] = cache.prefixed_getter("p:")
    getter("x")
    cache.set("none", None)
    assert cache.get("none", "default") is None  # a stored None is a hit, not the default
    cache.close()
    trace = read_trace(_only_recording(tmp_path))
    assert trace.key_lengths is not None and list(trace.key_lengths) == [3, 4]
    assert trace.ops is not None and list(trace.ops) == [GET, SET, GET]
    assert trace.sizes is not None and trace.sizes[2] == trace.sizes[1] > 0


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"record": "/no/such/dir/x.cprec"}, "record"),
        ({"record": "relative-name"}, "record"),
        ({"record_rate": 0}, "record_rate"),
        ({"record_rate": 1.5}, "record_rate"),
        ({"record_max_bytes": "1kb"}, "record_max_bytes"),
        ({"record_key": "short"}, "record_key"),
    ],
)
def test_bad_recording_options_are_named(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CacheConfig(**options)
    assert caught.value.option == named
    assert "short" not in str(caught.value) or named != "record_key"  # never echo a secret


def test_the_simulator_reads_a_recording_and_refuses_a_truncated_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache, clock = _recorded(tmp_path, maxmemory=200_000)
    _workload(cache, clock, seed=6, sized=True)
    cache.close()
    path = _only_recording(tmp_path)
    argv = [str(path), "--no-plot", "--progress", "no", "-j", "1", "--seeds", "1"]
    assert simulate_main([*argv, "--policies", "allkeys-lru", "--sizes", "100kb", "400kb"]) == 0
    out = capsys.readouterr().out
    assert "(recording)" in out and "Byte hit ratio" in out and '"MAXMEMORY": "' in out
    cut = tmp_path / "cut.cprec"
    cut.write_bytes(path.read_bytes()[:-7])
    assert simulate_main([str(cut), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "Traceback" not in err


def test_a_sampled_recording_is_simulated_at_full_scale_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache, clock = _recorded(tmp_path, maxmemory=200_000, record_rate=0.25)
    _workload(cache, clock, seed=7, sized=True)
    cache.close()
    path = _only_recording(tmp_path)
    out = tmp_path / "result.json"
    argv = [str(path), "--no-plot", "--progress", "no", "-j", "1", "--seeds", "1"]
    argv += ["--policies", "allkeys-lru", "--points", "3", "--current-size", "200kb"]
    assert simulate_main([*argv, "--json", str(out)]) == 0
    [result] = json.loads(out.read_text())["traces"]
    # Sizes are the full traffic's (the sample runs at a quarter of each), the current one and
    # its double among them.
    assert {200 * 1024, 400 * 1024} <= set(result["sizes"])
    # The full traffic's working set is 110,064 bytes; the sample's ~37 keys (of heavy-tailed
    # sizes) estimate 55,660 scaled by 4, where their own bytes are a quarter of that.
    assert result["working_set"] > 40_000


def test_a_sampled_recording_knows_the_traffics_reads(tmp_path: Path) -> None:
    """The header counts every get of the store, so the simulator corrects the sample's count
    (SHARDS_adj): its hit ratio at the cache's own size is the cache's own, within a point."""
    cache = Cache(
        maxmemory="200kb", record=str(tmp_path), record_rate=0.25, record_key=SECRET, seed=1
    )
    rng = random.Random(8)
    for _ in range(30_000):
        key = f"item:{int(rng.paretovariate(0.7)) % 20_000}"
        if cache.get(key) is None:
            cache.set(key, "v" * rng.choice((50, 500, 2000)))
    cache.close()
    info = cache.info()
    own = info["keyspace_hits"] / 30_000
    trace = read_trace(_only_recording(tmp_path))
    assert trace.total_reads == 30_000 and trace.requests < 30_000
    [result] = simulate(
        [trace], rows=policy_rows(["allkeys-lru"], ["sampled"]), sizes=["200kb"], seeds=1
    )
    point = result.points["allkeys-lru sampled", 200 * 1024]
    [counts] = point.counts
    raw = counts.hits / counts.requests  # this sample holds fewer hot-key reads than its share
    assert abs(point.hit_ratio - own) < 0.01 < abs(raw - own)
    assert abs(info["lru_curve"]["200.00K"] - own) < 0.02  # the live curve agrees


def test_a_recording_view_opens_envelopes_and_seals_tags(tmp_path: Path) -> None:
    """The recording paths read and write what the plain ones do: a tagged value is sealed
    (and gone once its tag is invalidated), and a value get_or_set stored in an envelope is
    read back out of it, each read and write noted with its stored size."""
    cache, clock = _recorded(tmp_path)
    assert cache.set("t", "tagged", tags=["group"]) is True
    assert cache.get("t") == "tagged"

    def slow() -> str:
        clock.advance(0.01)  # measured computation time: stored in an XFetch envelope
        return "computed"

    assert cache.get_or_set("g", slow, 60.0) == "computed"
    assert cache.get("g") == "computed"
    cache.invalidate_tags("group")
    assert cache.get("t") is None
    cache.close()
    trace = read_trace(_only_recording(tmp_path))
    assert trace.ops is not None and list(trace.ops).count(SET) == 2
    assert list(trace.ops).count(GET) == 3  # get_or_set's own read is not noted (docs)
