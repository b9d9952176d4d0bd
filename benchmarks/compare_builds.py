"""One markdown table from ``bench_default.py`` runs of several builds (pure, compiled).

Each run's JSON becomes one ratio column (ours / peer, measured in that run: the only
comparison that survives a noisy machine). Issue 10's targets are for the compiled build, so
its cells are marked ✓ (met) or ✗ (below). With two or more runs, the last column divides our
ops/s in the last run by the first (compiled / pure): that one compares separate runs, so the
machine's drift between them is in it.

Run: ``python benchmarks/compare_builds.py results/default-pure.json
results/default-compiled.json [--output results/default.md]``. With one file it renders that
run alone, with ops/s (``bench_default.py`` prints this after every run).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["load", "main", "render"]

#: The JSON shape this renderer reads (``bench_default.SCHEMA``).
SCHEMA = 1
# Settings that must agree for ratios of two runs to sit in one table; a difference is printed
# as a warning above it rather than refused, so a quick run can still be looked at.
_COMPARABLE = ("entries", "seconds", "repeat", "core_reps", "core_seconds", "locmem_cull_frequency")


def load(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    if report.get("schema") != SCHEMA:
        raise SystemExit(f"{path}: schema {report.get('schema')!r}, this script reads {SCHEMA}.")
    return report


def _ops(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:.2f} M"
    return f"{rate / 1e3:.0f} k" if rate >= 1e3 else f"{rate:.0f}"


def _cell(row: Mapping[str, Any] | None, build: str) -> str:
    if row is None:
        return "-"
    text = f"{row['ratio']:.2f}x"
    if build == "compiled" and row.get("target") is not None:
        text += " ✓" if row["ratio"] >= row["target"] else " ✗"
    return text


def _held(row: Mapping[str, Any]) -> str:
    held = row.get("held") or {}
    text = f"{held['ours']:,} / {held['peer']:,}" if held else ""
    hits = (row.get("extra") or {}).get("hit_ratio")
    if hits:
        text += f"; hit ratio {hits['ours']:.3f} / {hits['peer']:.3f}"
    return text


def _header(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for report in reports:
        env, conf = report["environment"], report["settings"]
        lines.append(
            f"- **{env['label']}** ({env['build']} build): cachepolicy "
            f"{env['cachepolicy_version']} from `{env['cachepolicy_file']}`, checkout "
            f"{env['checkout'] or 'unknown'}; Python {env['python']}, Django {env['django']}, "
            f"{env['machine']}; {env['date']}; `{env['command']}`; {conf['entries']:,} entries, "
            f"best of {conf['repeat']} x {conf['seconds']:g} s per cache, LocMemCache "
            f"CULL_FREQUENCY {conf['locmem_cull_frequency']:,}; run took "
            f"{conf['seconds_taken']:.0f} s{' (quick)' if conf['quick'] else ''}"
        )
    first = reports[0]["settings"]
    for report in reports[1:]:
        differ = [k for k in _COMPARABLE if report["settings"].get(k) != first.get(k)]
        if differ:
            label = report["environment"]["label"]
            lines.append(f"- **warning**: {label} ran with different {', '.join(differ)}")
    return lines


def render(reports: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: a header per run, then one table per section with a ratio column per run."""
    labels = [r["environment"]["label"] for r in reports]
    builds = [r["environment"]["build"] for r in reports]
    single = len(reports) == 1
    lines = ["# The default configuration, ours / peer, by build", "", *_header(reports)]
    sections: dict[str, str] = {}
    for report in reports:
        for key, title in report["sections"].items():
            sections.setdefault(key, title)
    by_id = [{row["id"]: row for row in report["rows"]} for report in reports]
    for key, title in sections.items():
        ids = list(
            dict.fromkeys(r["id"] for rep in reports for r in rep["rows"] if r["section"] == key)
        )
        columns = ["row", "peer", *labels, "target (compiled)"]
        if single:
            columns += ["ours ops/s", "peer ops/s"]
        else:
            columns.append(f"ours ops/s, {labels[-1]} / {labels[0]}")
        columns.append("held ours / peer")
        lines += ["", f"## {title}", "", "| " + " | ".join(columns) + " |"]
        lines.append("|---|---|" + "---:|" * (len(columns) - 3) + "---|")
        for row_id in ids:
            rows = [table.get(row_id) for table in by_id]
            last = next(r for r in reversed(rows) if r is not None)
            target = last.get("target")
            cells = [last["label"], last["peer"]]
            cells += [_cell(r, b) for r, b in zip(rows, builds, strict=True)]
            cells.append(f"≥ {target:g}x" if target is not None else "")
            if single:
                cells += [_ops(last["ours_ops"]), _ops(last["peer_ops"])]
            elif rows[0] is not None and rows[-1] is not None:
                cells.append(f"{rows[-1]['ours_ops'] / rows[0]['ours_ops']:.2f}x")
            else:
                cells.append("-")
            cells.append(_held(last))
            lines.append("| " + " | ".join(cells) + " |")
    notes = dict.fromkeys(note for report in reports for note in report.get("notes", []))
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="JSON of bench_default.py, pure first")
    parser.add_argument("--output", type=Path, help="also write the markdown here")
    args = parser.parse_args(argv)
    text = render([load(path) for path in args.runs])
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
        print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
