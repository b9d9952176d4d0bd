"""``python -m cachepolicy.simulate``: the command line."""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import DEFAULT_POLICY
from ..errors import CachePolicyError, ConfigError
from ..eviction.registry import EVICTION_MODES
from ..options import OPTION_BY_NAME
from .readers import FORMATS, read_trace
from .report import (
    MissingExtra,
    Recommendation,
    describe,
    html_page,
    plot_png,
    recommend,
    table,
)
from .runner import Row, Simulation, default_jobs, parse_sizes, policy_rows, simulate

__all__ = ["main"]

_EXAMPLES = """\
examples:
  python -m cachepolicy.simulate access.log.gz --format text
  python -m cachepolicy.simulate trace.csv --sizes 16mb,64mb,256mb --policies all -j 4
  python -m cachepolicy.simulate lirs-loop.trace.gz --current-policy allkeys-lru --target 0.9
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cachepolicy.simulate",
        description="Replay a cache trace through every eviction policy of cachepolicy's real "
        "engine, beside exact LRU and Belady's OPT, and recommend a policy and a size.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("traces", nargs="+", type=Path, help="trace files")
    parser.add_argument(
        "--format",
        metavar="FORMAT",
        help=f"input format: {', '.join(FORMATS)} (default: from the name and content)",
    )
    parser.add_argument("--limit", type=int, help="replay only the first N requests")
    parser.add_argument(
        "--mode",
        choices=("auto", "entries", "bytes"),
        default="auto",
        help="budget in entries or bytes (auto: bytes when the trace has sizes)",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        help="cache sizes: entries, bytes ('64mb') in byte mode, or '%%' of the working set "
        "(default: --points sizes log-spaced from 1%% to 100%% of it)",
    )
    parser.add_argument("--points", type=int, default=8, help="sizes chosen automatically")
    parser.add_argument(
        "--policies",
        nargs="+",
        default=["all"],
        help="policy names, dotted paths or name:mode; 'all' = every registered policy "
        "(volatile-* and noeviction only when the trace has TTLs)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(EVICTION_MODES),
        help="eviction modes to run for each policy (default: sampled,exact)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another cache option for every engine run, e.g. maxmemory_samples=10",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per sampled row")
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="requests per second of a trace without times"
    )
    parser.add_argument("-j", "--jobs", type=int, default=default_jobs(), help="processes")
    parser.add_argument(
        "--current-policy",
        default=DEFAULT_POLICY,
        help=f"the policy in use now, name or name:mode (default {DEFAULT_POLICY})",
    )
    parser.add_argument(
        "--current-size", help="the size in use now (entries or bytes): marked on the plot"
    )
    parser.add_argument("--target", type=float, default=0.9, help="hit-ratio target (0-1)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON ('-': stdout)")
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for the plots and the HTML page (default: a new temporary directory)",
    )
    parser.add_argument("--no-plot", action="store_true", help="write no plot or HTML page")
    parser.add_argument(
        "--progress",
        choices=("auto", "yes", "no"),
        default="auto",
        help="progress bar (auto: when stderr is a terminal and tqdm is installed)",
    )
    parser.add_argument("--no-references", action="store_true", help="skip exact LRU and OPT")
    return parser


def _option_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--option needs NAME=VALUE, got {pair!r}.", option="option")
        options[name.strip()] = _option_value(value.strip())
    return options


def _current_row(spec: str, rows: list[Row], has_ttls: bool) -> Row:
    mode = spec.partition(":")[2]
    found = policy_rows(
        [spec], [mode or OPTION_BY_NAME["eviction_mode"].default], has_ttls=has_ttls
    )
    current = found[0]
    for row in rows:  # the same curve if already simulated
        if row.policy == current.policy and (
            row.eviction_mode == current.eviction_mode or row.single
        ):
            return row
    rows.append(current)
    return current


def _progress(choice: str) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    if choice == "no" or (choice == "auto" and not sys.stderr.isatty()):
        return None, lambda: None
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:
        if choice == "yes":
            raise MissingExtra(
                "The progress bar needs tqdm: pip install 'cachepolicy[sim]'."
            ) from None
        return None, lambda: None
    bar = tqdm(total=0, unit="run", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return update, bar.close


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}.", option="limit")
    if not 0 < args.target <= 1:
        raise ConfigError(f"--target is a hit ratio from 0 to 1, got {args.target}.")
    if args.seeds < 1 or args.jobs < 1 or args.points < 1:
        raise ConfigError("--seeds, --jobs and --points must be at least 1.")
    traces = [read_trace(path, args.format, args.limit) for path in args.traces]
    has_ttls = any(trace.has_ttls for trace in traces)
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    skipped: list[str] = []
    rows = policy_rows(args.policies, modes, has_ttls=has_ttls, skipped=skipped)
    current = _current_row(args.current_policy, rows, has_ttls)
    by_bytes = {"auto": None, "entries": False, "bytes": True}[args.mode]
    update, finish = _progress(args.progress)
    try:
        simulations = simulate(
            traces,
            rows=rows,
            sizes=args.sizes,
            points=args.points,
            by_bytes=by_bytes,
            seeds=args.seeds,
            rate=args.rate,
            options=_options(args.option),
            jobs=args.jobs,
            references=not args.no_references,
            current_size=args.current_size,
            progress=update,
        )
    finally:
        finish()
    command = "python -m cachepolicy.simulate " + shlex.join(sys.argv[1:] if argv is None else argv)
    want_plots = not args.no_plot
    out = args.out
    sections: list[tuple[Simulation, Recommendation, bytes | None]] = []
    report: list[dict[str, Any]] = []
    to_stdout = args.json == "-"
    say = (lambda *a: print(*a, file=sys.stderr)) if to_stdout else print
    if skipped:
        say(
            f"Not simulated: {', '.join(skipped)} (they evict only keys with a TTL, and the "
            f"trace has none; name them in --policies to run them anyway)."
        )
    for simulation in simulations:
        current_size = None
        if args.current_size:
            current_size = parse_sizes(
                [args.current_size], simulation.working_set, simulation.by_bytes
            )[0]
        advice = recommend(simulation, current, args.target, current_size)
        png = None
        if want_plots:
            try:
                png = plot_png(simulation, current, current_size)
            except MissingExtra as exc:
                say(f"No plot: {exc}")
                want_plots = False
        sections.append((simulation, advice, png))
        say("")
        say(describe(simulation))
        say("")
        say(table(simulation))
        if simulation.by_bytes:
            say("\nByte hit ratio in %:\n")
            say(table(simulation, "byte_hit_ratio"))
        say("")
        say(advice.text)
        say("\nDjango (CACHES['default']):\n  " + advice.django)
        say("Flask:\n  " + advice.flask.replace("\n", "\n  "))
        report.append({**simulation.to_json(), "recommendation": advice.to_json()})
    if want_plots and any(png for _, _, png in sections):
        if out is None:
            out = Path(tempfile.mkdtemp(prefix="cachepolicy-simulate-"))
        out.mkdir(parents=True, exist_ok=True)
        for simulation, _, png in sections:
            if png is not None:
                (out / f"{_file_name(simulation.trace)}.png").write_bytes(png)
        page = out / "simulation.html"
        page.write_text(html_page(sections, command), encoding="utf-8")
        say(f"\nPlots and page: {out} (open {page})")
    if args.json:
        text = json.dumps({"command": command, "traces": report}, indent=2)
        if to_stdout:
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
            say(f"JSON: {args.json}")
    return 0


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def main(argv: list[str] | None = None) -> int:
    """Run, turning every expected failure into one line on stderr and exit status 2."""
    try:
        return run(argv)
    except (CachePolicyError, MissingExtra) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
