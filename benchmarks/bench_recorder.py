"""What recording costs: Django ``get``/``set`` through ``caches[alias]`` with and without
``OPTIONS["RECORD"]``.

Three ``PolicyCache`` aliases with the same default configuration (``MAXMEMORY`` 64 MiB,
``allkeys-lru``): no recording, recording at ``RECORD_RATE`` 0.01 and at 1 (every access).
The recordings go to a temporary directory, removed afterwards. Scenarios are
``bench_django``'s single-threaded ones (keys ``k0``..., 100-byte values), the aliases taking
turns batch by batch (``benchmarks/turns.py``), best of ``--repeat`` rounds. The ratio column
is ops/s against the alias without recording in the same run.

What a round times (``--clock``):

* ``cpu`` (the default): CPU seconds. Each alias is charged the request thread's CPU time in
  its own batches (``time.thread_time``) plus the CPU time its recorder's writer thread used
  during the round (its thread's CPU clock), the records still queued at the end of the round
  written and charged the same way. So each alias pays for its own writer, not for whichever
  alias's batch the writer happened to run in (with wall time, the 100% alias's writer, busy
  all the time, slows the other two alike), and time the process spends preempted by other
  work on a shared machine counts for nobody. Not counted: waiting for the GIL while the
  writer holds it (CPU the writer's own clock already counts) and the cost of switching.
* ``wall``: wall-clock time of each batch (``bench_django``'s measure), writer threads left to
  run whenever they do.
 Issue 21's target: at 1%,
``get hit`` and ``set`` at least 0.95x; at 100%, the cost stated. The live curve samples a key
space of fewer than ``FLOOR_KEYS / rate`` keys (819,200 at 1%) above the recording's rate,
within a budget of extra records a second (``cachepolicy.recorder.CURVE_BUDGET``): under this
benchmark's load the budget, not the key space, sets what the curve samples.

Run: ``python benchmarks/bench_recorder.py`` (``--seconds``, ``--repeat``, ``--entries``,
``--clock cpu|wall``, ``--output FILE`` to also write the table).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import django
from django.conf import settings

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_django import best_of, cache_for, scenario_simple, simple_batch
from benchmarks.turns import take_turns

ALIASES = {"no recording": None, "record 1%": 0.01, "record 100%": 1.0}
SCENARIOS = ("get hit", "get miss", "set")


def configure(directory: Path) -> None:
    caches = {}
    for index, (alias, rate) in enumerate(ALIASES.items()):
        options: dict[str, object] = {}
        if rate is not None:
            options = {"RECORD": str(directory), "RECORD_RATE": rate}
        caches[alias] = {
            "BACKEND": "django_cachepolicy.PolicyCache",
            "LOCATION": f"bench-record-{index}",
            "TIMEOUT": 3600,
            "OPTIONS": options,
        }
    settings.configure(SECRET_KEY="benchmark", INSTALLED_APPS=["django_cachepolicy"], CACHES=caches)
    django.setup()


def _recorder(alias: str) -> Any:
    return cache_for(alias)._view.store.recorder


def _writer_seconds(alias: str) -> float:
    """CPU seconds used so far by the writer thread of ``alias``'s recorder (0 without one)."""
    recorder = _recorder(alias)
    thread = None if recorder is None else recorder._thread
    if thread is None or thread.ident is None or not thread.is_alive():
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def _flush(alias: str) -> None:
    recorder = _recorder(alias)
    if recorder is not None:
        recorder.flush()


def scenario_cpu(
    name: str, entries: int, seconds: float, aliases: Sequence[str]
) -> dict[str, float]:
    """One round of ``name`` on each alias, taking turns: ops per CPU second, each alias
    charged its batches' CPU time on this thread and its own writer's (see ``--clock``)."""
    ops = dict.fromkeys(aliases, 0)
    cpu = dict.fromkeys(aliases, 0.0)

    def timed(alias: str) -> Callable[[], tuple[int, float]]:
        batch = simple_batch(alias, name, entries)

        def run() -> tuple[int, float]:
            start = time.thread_time()
            count = batch()
            spent = time.thread_time() - start
            ops[alias] += count
            cpu[alias] += spent
            return count, spent

        return run

    batches = {alias: timed(alias) for alias in aliases}
    for alias in aliases:  # the fill's records are not the round's
        _flush(alias)
    writers = {alias: _writer_seconds(alias) for alias in aliases}
    take_turns(batches, seconds)
    for alias in aliases:
        start = time.thread_time()
        _flush(alias)  # what the writer has not written yet, charged here
        cpu[alias] += time.thread_time() - start + _writer_seconds(alias) - writers[alias]
    return {alias: ops[alias] / cpu[alias] for alias in aliases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum time per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per scenario; best kept")
    parser.add_argument("--entries", type=int, default=10_000, help="keys filled per scenario")
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu", help="what a round times (see above)"
    )
    parser.add_argument("--output", type=Path, help="also write the table there")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="bench-recorder-"))
    try:
        configure(directory)
        scenario = scenario_cpu if args.clock == "cpu" else scenario_simple
        unit = "ops per CPU second" if args.clock == "cpu" else "ops/s"
        lines = [
            f"# Recorder cost (Django API, {unit}, best of "
            f"{args.repeat} x {args.seconds:g} s; Python {platform.python_version()})",
            "",
            "| scenario | " + " | ".join(ALIASES) + " |",
            "|---|" + "---:|" * len(ALIASES),
        ]
        for name in SCENARIOS:
            best = best_of(
                args.repeat,
                lambda name=name: scenario(name, args.entries, args.seconds, list(ALIASES)),
            )
            base = best["no recording"]
            cells = [
                f"{best[alias]:,.0f}"
                + ("" if alias == "no recording" else f" ({best[alias] / base:.2f}x)")
                for alias in ALIASES
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
        from django.core.cache import caches

        infos = {alias: caches[alias]._view.info() for alias in ALIASES}
        dropped = {alias: info.get("record_dropped") for alias, info in infos.items()}
        # The live curve samples small key spaces above the recording's rate (its floor,
        # cachepolicy.curve.FLOOR_KEYS): the rate it ended at is what the request path paid.
        rates = {alias: info.get("lru_curve_rate") for alias, info in infos.items()}
        lines += ["", f"records dropped: {dropped}", f"live curve's sampling rate: {rates}"]
        report = "\n".join(lines)
        print()
        print(report)
        if args.output is not None:
            args.output.write_text(report + "\n")
    finally:
        if settings.configured:  # the writers finish before their directory goes
            for alias in ALIASES:
                recorder = _recorder(alias)
                if recorder is not None:
                    recorder.close()
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
