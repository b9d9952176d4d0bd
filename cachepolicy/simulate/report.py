"""What a simulation tells a person: the table, the recommendation, the plot, the HTML page."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..options import OPTION_BY_NAME
from ..sizing import format_bytes
from .runner import Row, Simulation

__all__ = [
    "MissingExtra",
    "Recommendation",
    "html_page",
    "plot_png",
    "recommend",
    "settings_size",
    "table",
]

_EXTRA = "pip install 'cachepolicy[sim]'"
#: Below this many points of hit ratio gained by doubling the cache, a bigger cache is not
#: worth its memory: where the curve flattens to that slope is its knee.
_KNEE_POINTS_PER_DOUBLING = 2.0


class MissingExtra(ImportError):
    """An optional dependency of the simulator (plots, progress bar) is not installed."""


def size_text(size: int, by_bytes: bool) -> str:
    return format_bytes(size) if by_bytes else f"{size:,}"


def settings_size(size: int) -> str:
    """A ``maxmemory`` string for the settings, rounded up (``'12mb'``, ``'300kb'``)."""
    for unit, scale in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if size >= scale:
            return f"{math.ceil(size / scale)}{unit}"
    return str(size)


def _cell(values: Sequence[float]) -> str:
    mean = 100 * sum(values) / len(values)
    if len(values) > 1 and max(values) > min(values):
        return f"{mean:.2f} ±{50 * (max(values) - min(values)):.2f}"
    return f"{mean:.2f}"


def shown(row: Row, simulation: Simulation) -> str:
    """A row's name as the reports show it: OPT says which OPT it is."""
    if row.kind == "opt" and simulation.by_bytes:
        return "OPT (size-aware Belady)"
    return row.label


def table(simulation: Simulation, metric: str = "hit_ratio") -> str:
    """A fixed-width table: one line per row, one column per size, percentages."""
    header = ["policy", *(size_text(s, simulation.by_bytes) for s in simulation.sizes)]
    lines = [header]
    for row in simulation.rows:
        cells = [shown(row, simulation)]
        for size in simulation.sizes:
            point = simulation.point(row, size)
            values = point.hit_ratios() if metric == "hit_ratio" else point.byte_hit_ratios()
            cells.append(_cell(values))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for number, line in enumerate(lines):
        out.append(
            "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(line)
            )
        )
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def describe(simulation: Simulation) -> str:
    unit = "bytes (maxmemory)" if simulation.by_bytes else "entries"
    working = size_text(simulation.working_set, simulation.by_bytes)
    seeds = (
        f"; sampled rows: mean ±half-range of {simulation.seeds} seeds"
        if simulation.seeds > 1
        else ""
    )
    return (
        f"{simulation.trace} ({simulation.format}): {simulation.requests:,} requests, "
        f"{simulation.distinct:,} distinct keys, working set {working}. Hit ratio in %, "
        f"by cache size in {unit}{seeds}; {simulation.seconds:.1f} s."
    )


# ---------------------------------------------------------------------------------- advice


@dataclass
class Recommendation:
    """The advice for one trace, and the paragraph that says it."""

    winner: Row
    current: Row
    gain_points: float  # mean hit-ratio gain of the winner over the current, in points
    target: float
    size: int | None  # the smallest simulated size reaching the target with the winner
    knee: int  # where the winner's curve flattens
    text: str
    django: str
    flask: str

    def to_json(self) -> dict[str, Any]:
        return {
            "winner": self.winner.label,
            "current": self.current.label,
            "gain_points": round(self.gain_points, 3),
            "target": self.target,
            "size": self.size,
            "knee": self.knee,
            "text": self.text,
            "django": self.django,
            "flask": self.flask,
        }


def knee(sizes: Sequence[int], ratios: Sequence[float]) -> int:
    """Where the curve flattens for good: the size after the last step at which doubling the
    cache still gained ``_KNEE_POINTS_PER_DOUBLING`` points or more (slope on a log2 axis);
    the smallest size when no step did."""
    bend = sizes[0]
    for i in range(len(sizes) - 1):
        doublings = math.log2(sizes[i + 1] / sizes[i])
        if 100 * (ratios[i + 1] - ratios[i]) / doublings >= _KNEE_POINTS_PER_DOUBLING:
            bend = sizes[i + 1]
    return bend


def recommend(
    simulation: Simulation, current: Row, target: float = 0.9, current_size: int | None = None
) -> Recommendation:
    """Which engine row wins on this traffic (highest mean hit ratio over the sizes), by how
    much over ``current``, and which size reaches ``target`` (or where the curve flattens)."""
    engine_rows = [row for row in simulation.rows if row.kind == "engine"]
    sizes = simulation.sizes

    def mean(row: Row) -> float:
        curve = simulation.curve(row)
        return sum(curve) / len(curve)

    winner = max(engine_rows, key=mean)
    gain = 100 * (mean(winner) - mean(current))
    curve = simulation.curve(winner)
    reaching = next((s for s, r in zip(sizes, curve, strict=True) if r >= target), None)
    bend = knee(sizes, curve)
    chosen = reaching if reaching is not None else bend
    by_bytes = simulation.by_bytes

    def show(size: int) -> str:
        return size_text(size, by_bytes)

    opt = next((row for row in simulation.rows if row.kind == "opt"), None)

    parts = []
    if winner == current:
        parts.append(
            f"On this traffic the current policy, {current.label}, is the best of the "
            f"{len(engine_rows)} simulated"
        )
        runner_up = max((r for r in engine_rows if r != winner), key=mean, default=None)
        if runner_up is not None:
            parts[-1] += (
                f" (next: {runner_up.label}, {100 * (mean(winner) - mean(runner_up)):.1f} "
                f"points lower on average)"
            )
        parts[-1] += "."
    else:
        best_gap = max(100 * (a - b) for a, b in zip(curve, simulation.curve(current), strict=True))
        parts.append(
            f"On this traffic {winner.label} wins: {gain:+.1f} points of hit ratio on average "
            f"over the current {current.label} across the {len(sizes)} sizes "
            f"(up to {best_gap:+.1f} at one size)."
        )
    if reaching is not None:
        current_reach = next(
            (s for s, r in zip(sizes, simulation.curve(current), strict=True) if r >= target), None
        )
        parts.append(
            f"It reaches the {100 * target:.0f}% target at {show(reaching)}"
            + (
                f" (the current policy needs {show(current_reach)})."
                if current_reach is not None and current != winner
                else (" (the current policy never does here)." if current != winner else ".")
            )
        )
    else:
        best = max(curve)
        parts.append(
            f"No simulated size reaches the {100 * target:.0f}% target (best "
            f"{100 * best:.1f}% at {show(sizes[curve.index(best)])}"
            + (
                f"; even OPT reaches {100 * max(simulation.curve(opt)):.1f}%"
                if opt is not None
                else ""
            )
            + (
                f"); the curve rises all the way to the whole working set, {show(bend)}."
                if bend == sizes[-1] and bend >= simulation.working_set
                else f"); the curve is still rising at the largest size, {show(bend)}: more "
                f"memory keeps paying."
                if bend == sizes[-1]
                else f"); the curve flattens at {show(bend)} (less than "
                f"{_KNEE_POINTS_PER_DOUBLING:g} points per doubling beyond it)."
            )
        )
    if current_size is not None and current_size in sizes and current_size * 2 in sizes:
        now = simulation.point(current, current_size).hit_ratio
        doubled = simulation.point(current, current_size * 2).hit_ratio
        parts.append(f"At 2x the current size: {100 * (doubled - now):+.1f} points.")
    if not by_bytes:
        parts.append(
            "The trace has no sizes, so sizes are entry counts: set MAX_ENTRIES, or multiply "
            "by your mean entry size (info()['used_memory'] / keys) for maxmemory."
        )
    django, flask = settings_lines(winner, chosen, by_bytes)
    return Recommendation(
        winner, current, gain, target, reaching, bend, " ".join(parts), django, flask
    )


def settings_lines(row: Row, size: int, by_bytes: bool) -> tuple[str, str]:
    """The Django ``OPTIONS`` entries and Flask ``CACHE_*`` lines for ``row`` at ``size``,
    spelled as the options table spells them."""
    values: list[tuple[str, Any]] = []
    if by_bytes:
        values.append(("maxmemory", settings_size(size)))
    else:  # one key evicted per insert, as simulated (Django's default culls a third)
        values += [("max_entries", size), ("cull_frequency", None)]
    values.append(("maxmemory_policy", row.policy))
    if not row.single:
        values.append(("eviction_mode", row.eviction_mode))
    django = []
    flask = []
    for name, value in values:
        option = OPTION_BY_NAME[name]
        if option.django_key is not None:
            django.append(f'"{option.django_key}": {_python(value)}')
        if option.flask_key is not None:
            flask.append(f"{option.flask_key} = {_python(value)}")
    return (
        '"OPTIONS": {' + ", ".join(django) + "}",
        "\n".join(flask),
    )


def _python(value: Any) -> str:
    """A settings value as Python source, strings in double quotes as settings files write
    them."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


# ---------------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra(f"Plots need matplotlib: {_EXTRA}.") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_png(
    simulation: Simulation, current: Row | None = None, current_size: int | None = None
) -> bytes:
    """Hit ratio vs size, one curve per row (OPT dashed), the current configuration marked."""
    plt = _pyplot()
    metrics = ["hit_ratio", "byte_hit_ratio"] if simulation.by_bytes else ["hit_ratio"]
    figure, axes = plt.subplots(1, len(metrics), figsize=(7.5 * len(metrics), 5), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=False):
        for row in simulation.rows:
            curve = [100 * v for v in simulation.curve(row, metric)]
            style: dict[str, Any] = {"marker": "o", "markersize": 3}
            if row.kind == "opt":
                style.update(linestyle="--", color="black", marker=None)
            elif row.kind == "lru":
                style.update(linestyle=":", color="gray", marker=None)
            elif row == current:
                style.update(linewidth=2.5)
            axis.plot(simulation.sizes, curve, label=shown(row, simulation), **style)
            if row.seeded and simulation.seeds > 1:
                points = [simulation.point(row, size) for size in simulation.sizes]
                values = [
                    p.hit_ratios() if metric == "hit_ratio" else p.byte_hit_ratios() for p in points
                ]
                axis.fill_between(
                    simulation.sizes,
                    [100 * min(v) for v in values],
                    [100 * max(v) for v in values],
                    alpha=0.2,
                )
        if current is not None and current_size is not None and current_size in simulation.sizes:
            point = simulation.point(current, current_size)
            axis.plot(
                [current_size],
                [100 * getattr(point, metric)],
                marker="*",
                markersize=16,
                color="red",
                linestyle="none",
                label="current configuration",
            )
        axis.set_xscale("log")
        axis.set_xlabel("maxmemory (bytes)" if simulation.by_bytes else "cache size (entries)")
        axis.set_ylabel("byte hit ratio (%)" if metric == "byte_hit_ratio" else "hit ratio (%)")
        axis.grid(True, which="both", alpha=0.3)
        axis.set_title(f"{simulation.trace}: {metric.replace('_', ' ')}")
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def html_page(
    sections: Sequence[tuple[Simulation, Recommendation, bytes | None]], command: str
) -> str:
    """One self-contained page: per trace its plot (inline PNG), tables and recommendation."""
    body = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>cachepolicy simulation</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;"
        "text-align:right}td:first-child{text-align:left}pre{background:#f4f4f4;padding:8px}"
        "</style></head><body>",
        "<h1>cachepolicy simulation</h1>",
        f"<p><code>{html.escape(command)}</code></p>",
    ]
    for simulation, advice, png in sections:
        body.append(f"<h2>{html.escape(simulation.trace)}</h2>")
        body.append(f"<p>{html.escape(describe(simulation))}</p>")
        if png is not None:
            encoded = base64.b64encode(png).decode("ascii")
            body.append(f"<img alt='hit ratio curves' src='data:image/png;base64,{encoded}'>")
        metrics = ["hit_ratio", "byte_hit_ratio"] if simulation.by_bytes else ["hit_ratio"]
        for metric in metrics:
            body.append(f"<h3>{metric.replace('_', ' ')} (%)</h3><table><tr><th>policy</th>")
            body += [f"<th>{size_text(s, simulation.by_bytes)}</th>" for s in simulation.sizes]
            body.append("</tr>")
            for row in simulation.rows:
                body.append(f"<tr><td>{html.escape(shown(row, simulation))}</td>")
                for size in simulation.sizes:
                    point = simulation.point(row, size)
                    values = (
                        point.hit_ratios() if metric == "hit_ratio" else point.byte_hit_ratios()
                    )
                    body.append(f"<td>{_cell(values)}</td>")
                body.append("</tr>")
            body.append("</table>")
        body.append(f"<h3>Recommendation</h3><p>{html.escape(advice.text)}</p>")
        body.append(f"<pre>Django:\n{html.escape(advice.django)}\n\nFlask:\n")
        body.append(f"{html.escape(advice.flask)}</pre>")
    body.append("</body></html>")
    return "\n".join(body)
