"""The live cache dashboard both apps serve: its data, its controls and its load generator.

The Django site (``/dashboard/``) and the Flask app (``/dashboard``) show the same page, each
reading its store through its own adapter (``PolicyCache.info()`` of ``django_cachepolicy`` or
``flask_cachepolicy``, and the store behind it for CONFIG SET) and writing its load through
that adapter's ``get``/``set``. Everything that is not routing lives here, once:

* :class:`History` turns successive ``info()`` readings into a time series and per-second rates
  (``evicted_keys`` and ``expired_keys`` are counters; a rate is their difference over time);
* :class:`LoadGenerator` makes the policies visible: a Zipf read/write mix (a few hot keys, a
  long tail), a scan (every key read once: what LRU handles badly and LFU resists) and a burst
  of short-TTL keys (so ``expired_keys`` moves), each phase bounded in time;
  :class:`LoadRunner` runs it in a background thread, one run at a time, so the request that
  pressed the button returns at once;
* :class:`Dashboard` answers the three endpoints (the JSON state, "generate load", and the
  policy/``maxmemory`` switch, Redis's ``CONFIG SET`` through the adapter);
* :func:`page_body` is the page's markup (``assets/dashboard.html``), which both frameworks'
  templates insert; ``assets/dashboard.js`` polls the state once a second and draws the SVG
  charts. No CDN, no build step.

The example's budget is 4mb (:data:`DEFAULT_MAXMEMORY`) so that the load fills it within a
second and eviction starts while a reader watches.
"""

from __future__ import annotations

import bisect
import collections
import html
import itertools
import random
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from cachepolicy import ConfigError, OutOfMemoryError
from cachepolicy.eviction.registry import BUILTIN_POLICIES
from cachepolicy.flight import STAMPEDE_COUNTERS
from cachepolicy.recorder import CURVE_POINTS
from cachepolicy.tags import TAG_COUNTERS

__all__ = [
    "DEFAULT_MAXMEMORY",
    "MAXMEMORY_CHOICES",
    "POLICIES",
    "SCRIPT",
    "CacheClient",
    "Dashboard",
    "DashboardUrls",
    "History",
    "LoadGenerator",
    "LoadPlan",
    "LoadRunner",
    "live_curve",
    "page_body",
    "record_options",
]

ASSETS: Final = Path(__file__).resolve().parent / "assets"
#: The page's script, served by both apps (``/dashboard.js``).
SCRIPT: Final = ASSETS / "dashboard.js"
_MARKUP: Final = ASSETS / "dashboard.html"
#: The ``info()`` counters of stampede protection and tags the page shows (both tiers report
#: them; the Redis tier's are this process's).
STAMPEDE_FIELDS: Final = (*STAMPEDE_COUNTERS, *TAG_COUNTERS)

#: The example store's budget: small enough that the load button fills it in about a second
#: (a few thousand values of 0.5-4 KB), large enough for every shop page and session.
DEFAULT_MAXMEMORY: Final = "4mb"
#: What the page's maxmemory selector offers (Redis units: mb = 1024 * 1024 bytes).
MAXMEMORY_CHOICES: Final = ("1mb", "2mb", "4mb", "8mb", "16mb")
#: The policy selector: Redis's ten, in redis.conf order (the two LRM ones last), then ours.
POLICIES: Final = BUILTIN_POLICIES

#: Samples kept for the charts: at one poll a second, four minutes of history.
HISTORY_SAMPLES: Final = 240
#: Readings closer together than this are not new samples: two open tabs polling every second
#: would otherwise halve the chart's time span and make per-second rates jumpy.
MIN_SAMPLE_INTERVAL: Final = 0.5


class CacheClient(Protocol):
    """What the load generator needs of a cache: Django's and Flask-Caching's backends, and
    :class:`cachepolicy.Cache`, all take ``(key, value, timeout_in_seconds)`` positionally."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any, timeout: float) -> Any: ...


# ---------------------------------------------------------------------------------- history


class History:
    """A bounded time series of a store's INFO counters, with per-second rates.

    ``clock`` is wall time in seconds (injected: tests drive it by hand).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.samples: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY_SAMPLES)

    def record(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """Add a reading (unless the last one is under :data:`MIN_SAMPLE_INTERVAL` old);
        returns the latest sample, rates included."""
        now = self._clock()
        with self._lock:
            last = self.samples[-1] if self.samples else None
            if last is not None and now - last["t"] < MIN_SAMPLE_INTERVAL:
                return last
            sample: dict[str, Any] = {
                "t": round(now, 3),
                "used_memory": int(info["used_memory"]),
                "maxmemory": int(info["maxmemory"]),
                "keyspace_hits": int(info["keyspace_hits"]),
                "keyspace_misses": int(info["keyspace_misses"]),
                "evicted_keys": int(info["evicted_keys"]),
                "expired_keys": int(info["expired_keys"]),
                "maxmemory_policy": str(info["maxmemory_policy"]),
            }
            for counter in ("evicted_keys", "expired_keys", "keyspace_hits", "keyspace_misses"):
                sample[counter.replace("_keys", "") + "_per_sec"] = _rate(last, sample, counter)
            self.samples.append(sample)
            return sample

    def series(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.samples)


def _rate(last: Mapping[str, Any] | None, sample: Mapping[str, Any], counter: str) -> float:
    """Per-second growth of ``counter`` since ``last``; 0 for the first sample, or when the
    counter went down (``CONFIG RESETSTAT``)."""
    if last is None:
        return 0.0
    elapsed = sample["t"] - last["t"]
    grown = sample[counter] - last[counter]
    if elapsed <= 0 or grown < 0:
        return 0.0
    return round(grown / elapsed, 1)


# ---------------------------------------------------------------------------------- load


@dataclass(frozen=True)
class LoadPlan:
    """One press of "generate load": three phases, each bounded in time."""

    #: Seconds of the Zipf read/write mix: hot keys hit, the tail misses and fills the budget.
    zipf_seconds: float = 6.0
    #: Seconds of the scan: each key read once (read-through), never again.
    scan_seconds: float = 2.0
    #: Seconds of the burst of short-TTL keys.
    burst_seconds: float = 3.0
    #: Distinct keys of the Zipf phase: 20,000 x ~2 KB is ten times the 4mb budget.
    zipf_keys: int = 20_000
    #: Zipf exponent (1.0 is the classic web-popularity fit; see demo.ZIPF_EXPONENT).
    zipf_exponent: float = 1.0
    #: Share of Zipf operations that write (the rest read, and write on a miss).
    write_share: float = 0.1
    #: Value sizes in bytes, uniform in this range.
    value_bytes: tuple[int, int] = (512, 4096)
    #: TTL of the Zipf and scan keys: long, so only eviction removes them.
    long_ttl: float = 600.0
    #: TTLs of the burst keys: short, so they expire while the burst still writes (the
    #: default "timed" expiry reclaims due keys as writes go on).
    burst_ttl: tuple[float, float] = (0.3, 1.5)
    #: The burst's own pace and value sizes: its keys must live until they expire, not be
    #: evicted first. 2,000 keys/s of ~150 B alive ~1 s is about 0.6 MB, well inside 4mb,
    #: and as the newest keys they are the last that an LRU or LFU policy evicts.
    burst_rate: float = 2_000.0
    burst_value_bytes: tuple[int, int] = (64, 256)
    #: Operations per second at most: the load shares the GIL with the server's request
    #: threads, and an unpaced loop would make the dashboard itself slow to answer.
    max_rate: float = 15_000.0
    #: Operations between two pacing checks.
    batch: int = 100

    @property
    def seconds(self) -> float:
        return self.zipf_seconds + self.scan_seconds + self.burst_seconds


#: The phases in the order they run.
PHASES: Final = ("zipf", "scan", "burst")


@dataclass
class LoadProgress:
    """What a run did so far (read by the state endpoint while the thread writes it)."""

    run: int
    phase: str = "starting"
    ops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PHASES, 0))
    refused: int = 0
    started_at: float = 0.0
    finished_at: float | None = None
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "phase": self.phase,
            "running": self.finished_at is None,
            "ops": dict(self.ops),
            "refused": self.refused,
            "error": self.error,
        }


class LoadGenerator:
    """The three phases of a :class:`LoadPlan` against one :class:`CacheClient`.

    ``monotonic`` and ``sleep`` are injected so tests run a whole plan on a fake clock; the
    RNG is seeded per run, so the same run number writes the same keys.
    """

    def __init__(
        self,
        client: CacheClient,
        plan: LoadPlan | None = None,
        *,
        seed: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.client = client
        self.plan = plan or LoadPlan()
        self.rng = random.Random(seed)
        self._monotonic = monotonic
        self._sleep = sleep
        ranks = range(1, self.plan.zipf_keys + 1)
        weights = [1.0 / rank**self.plan.zipf_exponent for rank in ranks]
        self._cumulative = list(itertools.accumulate(weights))
        high = self.plan.value_bytes[1]
        # Values are slices of one random text: distinct enough, and no allocation per write
        # beyond the slice the cache stores.
        self._text = "".join(
            self.rng.choices(string.ascii_letters, k=max(high, self.plan.burst_value_bytes[1]))
        )

    def run(self, progress: LoadProgress) -> LoadProgress:
        """Run every phase in turn (in the calling thread); returns ``progress``."""
        plan = self.plan
        progress.started_at = self._monotonic()
        try:
            burst_rate = min(plan.burst_rate, plan.max_rate)
            for phase, seconds, rate, step in (
                ("zipf", plan.zipf_seconds, plan.max_rate, self._zipf_step),
                ("scan", plan.scan_seconds, plan.max_rate, self._scan_step),
                ("burst", plan.burst_seconds, burst_rate, self._burst_step),
            ):
                progress.phase = phase
                self._paced(progress, phase, seconds, rate, step)
            progress.phase = "done"
        except Exception as exc:  # shown on the page: a load run must never die silently
            progress.phase = "failed"
            progress.error = f"{type(exc).__name__}: {exc}"
        finally:
            progress.finished_at = self._monotonic()
        return progress

    def _paced(
        self,
        progress: LoadProgress,
        phase: str,
        seconds: float,
        rate: float,
        step: Callable[[int], bool],
    ) -> None:
        """Call ``step(i)`` until ``seconds`` have passed, at most ``rate`` per second,
        yielding the GIL after every batch."""
        plan = self.plan
        start = self._monotonic()
        deadline = start + seconds
        done = 0
        while True:
            now = self._monotonic()
            if now >= deadline:
                return
            for _ in range(plan.batch):
                if not step(done):
                    progress.refused += 1
                done += 1
            progress.ops[phase] = done
            ahead = start + done / rate - self._monotonic()
            self._sleep(max(ahead, 0.0005))

    def _value(self, sizes: tuple[int, int] | None = None) -> str:
        low, high = sizes or self.plan.value_bytes
        size = self.rng.randint(low, high)
        start = self.rng.randrange(0, len(self._text) - size + 1)
        return self._text[start : start + size]

    def _zipf_step(self, _: int) -> bool:
        rng = self.rng
        rank = bisect.bisect_left(self._cumulative, rng.random() * self._cumulative[-1])
        key = f"zipf:{rank}"
        if rng.random() < self.plan.write_share or self.client.get(key) is None:
            return self._set(key, self.plan.long_ttl)
        return True

    def _scan_step(self, i: int) -> bool:
        key = f"scan:{i}"
        if self.client.get(key) is None:
            return self._set(key, self.plan.long_ttl)
        return True

    def _burst_step(self, i: int) -> bool:
        low, high = self.plan.burst_ttl
        return self._set(f"burst:{i}", self.rng.uniform(low, high), self.plan.burst_value_bytes)

    def _set(self, key: str, ttl: float, sizes: tuple[int, int] | None = None) -> bool:
        """False when the cache refused the write for lack of memory (``noeviction``, or
        ``volatile-*`` with no TTL key left): Flask-Caching's backend returns False, Django's
        and the core raise OutOfMemoryError."""
        try:
            return self.client.set(key, self._value(sizes), ttl) is not False
        except OutOfMemoryError:
            return False


class LoadRunner:
    """Runs one :class:`LoadGenerator` at a time in a daemon thread."""

    def __init__(
        self,
        client_factory: Callable[[], CacheClient],
        plan: LoadPlan | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        #: Called in the load thread: Django's ``caches[alias]`` is per thread.
        self._client_factory = client_factory
        self.plan = plan or LoadPlan()
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._runs = 0
        self.progress: LoadProgress | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[bool, LoadProgress]:
        """Start a run unless one is going; returns (started, the current run's progress)."""
        with self._lock:
            if self.progress is not None and self.progress.finished_at is None:
                return False, self.progress
            self._runs += 1
            progress = LoadProgress(self._runs)
            self.progress = progress
            self._thread = threading.Thread(
                target=self._run, args=(progress,), name=f"dashboard-load-{self._runs}"
            )
            self._thread.daemon = True  # never keeps a stopping server alive
            self._thread.start()
            return True, progress

    def _run(self, progress: LoadProgress) -> None:
        try:
            client = self._client_factory()
        except Exception as exc:
            progress.phase = "failed"
            progress.error = f"{type(exc).__name__}: {exc}"
            progress.finished_at = self._monotonic()
            return
        generator = LoadGenerator(
            client, self.plan, seed=progress.run, monotonic=self._monotonic, sleep=self._sleep
        )
        generator.run(progress)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the current run's thread (tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def status(self) -> dict[str, Any]:
        progress = self.progress
        if progress is None:
            return {"run": 0, "phase": "idle", "running": False, "ops": {}, "refused": 0}
        return progress.as_dict()


# ---------------------------------------------------------------------------------- endpoints


#: A quarter of the keys: the dashboard's eleven seconds of load give the curve thousands of
#: sampled reads (a production site would keep the default 1%).
RECORD_RATE: Final = 0.25


def record_options(prefix: str = "") -> dict[str, Any]:
    """The example's recorder settings (``RECORD``, ``RECORD_RATE``; Flask: ``prefix="CACHE_"``):
    recordings in ``$EXAMPLE_RECORD`` or the temporary directory's
    ``cachepolicy-example-recordings``; ``EXAMPLE_RECORD=""`` turns recording off."""
    import os
    import tempfile

    where = os.environ.get(
        "EXAMPLE_RECORD", str(Path(tempfile.gettempdir()) / "cachepolicy-example-recordings")
    )
    if not where:
        return {}
    Path(where).mkdir(parents=True, exist_ok=True)
    return {f"{prefix}RECORD": where, f"{prefix}RECORD_RATE": RECORD_RATE}


def live_curve(info: Mapping[str, Any]) -> dict[str, Any] | None:
    """The store's live LRU curve (``info()["lru_curve"]``, a recording store's estimate of
    its hit ratio at 0.25x to 4x ``maxmemory``) for the chart: ``None`` when the store does not
    record, no points until a sampled read reached the recorder."""
    if "lru_curve_rate" not in info:
        return None
    base = int(info["maxmemory"]) or int(info["used_memory"])
    ratios = list(dict(info.get("lru_curve") or {}).values())
    points = [
        {"factor": factor, "maxmemory": round(base * factor), "hit_ratio": ratio}
        for factor, ratio in zip(CURVE_POINTS, ratios, strict=False)
    ]
    by_factor = {point["factor"]: point["hit_ratio"] for point in points}
    gain = by_factor[2.0] - by_factor[1.0] if {1.0, 2.0} <= set(by_factor) else None
    return {
        "points": points,
        "gain_2x_points": None if gain is None else round(100 * gain, 1),
        "references": int(info["lru_curve_references"]),
        "rate": info["lru_curve_rate"],
    }


class Dashboard:
    """The state, load and configuration endpoints of one store, framework-free.

    ``info`` is the adapter's ``PolicyCache.info``; ``reconfigure`` is the store's
    :meth:`~cachepolicy.CacheStore.reconfigure` reached through the adapter (several options in
    one step; the adapters' ``config_set`` changes one);
    ``labels`` names the databases (``{3: "load"}``); ``runner`` generates the load.
    """

    def __init__(
        self,
        *,
        info: Callable[[], Mapping[str, Any]],
        reconfigure: Callable[..., Any],
        runner: LoadRunner,
        labels: Mapping[int, str] | None = None,
        framework: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._info = info
        self._reconfigure = reconfigure
        self.runner = runner
        self.labels = dict(labels or {})
        self.framework = framework
        self.history = History(clock)

    def state(self) -> dict[str, Any]:
        """The JSON the page polls: current numbers, rates, the chart's series, the load."""
        info = self._info()
        latest = self.history.record(info)
        hits, misses = int(info["keyspace_hits"]), int(info["keyspace_misses"])
        lookups = hits + misses
        return {
            "framework": self.framework,
            "used_memory": int(info["used_memory"]),
            "used_memory_human": info["used_memory_human"],
            "used_memory_peak": int(info["used_memory_peak"]),
            "maxmemory": int(info["maxmemory"]),
            "maxmemory_human": info["maxmemory_human"],
            "maxmemory_policy": info["maxmemory_policy"],
            "eviction_mode": info.get("eviction_mode", ""),
            "expiry": info.get("expiry", ""),
            # compiled or pure (INFO's build): an editable install runs the slower pure engine.
            "build": info.get("build", ""),
            "keyspace_hits": hits,
            "keyspace_misses": misses,
            "hit_ratio": round(hits / lookups, 4) if lookups else None,
            "evicted_keys": int(info["evicted_keys"]),
            "expired_keys": int(info["expired_keys"]),
            "evicted_per_sec": latest["evicted_per_sec"],
            "expired_per_sec": latest["expired_per_sec"],
            "keyspace": self._keyspace(info),
            "history": self.history.series(),
            "load": self.runner.status(),
            "choices": {"maxmemory_policy": list(POLICIES), "maxmemory": list(MAXMEMORY_CHOICES)},
            "curve": live_curve(info),
            # Issue 22: get_or_set's single flight, early refresh, serve-stale, and tags.
            "stampede": {name: int(info.get(name, 0)) for name in STAMPEDE_FIELDS},
        }

    def _keyspace(self, info: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Keys per database: every labelled database, and any other non-empty one."""
        dbs = set(self.labels)
        for name, value in info.items():
            if name.startswith("db") and name[2:].isdigit() and isinstance(value, Mapping):
                dbs.add(int(name[2:]))
        rows = []
        for db in sorted(dbs):
            line = info.get(f"db{db}", {})
            rows.append(
                {
                    "db": db,
                    "label": self.labels.get(db, ""),
                    "keys": int(line.get("keys", 0)),
                    "expires": int(line.get("expires", 0)),
                }
            )
        return rows

    def start_load(self) -> tuple[int, dict[str, Any]]:
        """ "Generate load": (202, the run) when started, (409, the running one) if busy."""
        started, progress = self.runner.start()
        body = {"started": started, "load": progress.as_dict(), "seconds": self.runner.plan.seconds}
        return (202 if started else 409), body

    def configure(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """The selector: ``maxmemory_policy`` and/or ``maxmemory`` from a posted form, applied
        in one CONFIG SET (so a switch to a policy that may evict makes a lower limit
        reachable, and a refused pair changes nothing). A refused value answers 400 with the
        core's message, which names the option."""
        changes = {
            name: form[name].strip()
            for name in ("maxmemory_policy", "maxmemory")
            if form.get(name, "").strip()
        }
        if not changes:
            return 400, {"error": "Choose a maxmemory_policy or a maxmemory.", "option": ""}
        try:
            self._reconfigure(**changes)
        except ConfigError as exc:
            return 400, {"error": str(exc), "option": exc.option or ""}
        return 200, {"applied": changes, "state": self.state()}


# ---------------------------------------------------------------------------------- markup


@dataclass(frozen=True)
class DashboardUrls:
    """Where the page's script finds each endpoint, as the framework routes them."""

    state: str
    load: str
    config: str
    script: str


def page_body(urls: DashboardUrls, csrf_token: str = "", current: Mapping[str, Any] = {}) -> str:
    """The dashboard's markup, for a framework template to insert unescaped.

    ``csrf_token`` is sent back by the script in ``X-CSRFToken`` (Django's header; Flask has
    no CSRF protection here). ``current`` preselects the selectors (``maxmemory_policy``,
    ``maxmemory_human``).
    """
    policy = str(current.get("maxmemory_policy", ""))
    template = string.Template(_MARKUP.read_text(encoding="utf-8"))
    return template.substitute(
        state_url=html.escape(urls.state),
        load_url=html.escape(urls.load),
        config_url=html.escape(urls.config),
        script_url=html.escape(urls.script),
        csrf_token=html.escape(csrf_token),
        policy_options=_options(POLICIES, policy),
        maxmemory_options=_options(("", *MAXMEMORY_CHOICES), "", first="(keep)"),
    )


def _options(values: tuple[str, ...], selected: str, first: str = "") -> str:
    out = []
    for value in values:
        label = value or first
        mark = " selected" if value == selected and value else ""
        out.append(f'<option value="{html.escape(value)}"{mark}>{html.escape(label)}</option>')
    return "".join(out)
