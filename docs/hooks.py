"""Build-time helpers of the documentation site (``mkdocs.yml`` loads this file as a hook).

Three jobs, each so that the site cannot drift from the code or the measurements:

* **The configuration reference** (``docs/configuration.md``) is generated from the options
  table, :data:`cachepolicy.options.OPTIONS`, by :func:`render_configuration`. The page is
  committed (so it reads on GitHub too); ``python docs/hooks.py`` rewrites it, and both the
  build (:func:`on_pre_build`) and ``tests/docs/test_config_reference.py`` fail when the
  committed page differs from what the table gives.
* **Measured numbers** are pulled into the policy and expiry pages at build time from
  ``benchmarks/results/``: a marker ``<!-- hit-ratio: allkeys-lfu -->`` becomes the hit-ratio
  rows of that policy on every trace of ``hit_ratio.md``, ``<!-- memory: allkeys-lru exact -->``
  the memory-under-churn rows of ``memory.md`` whose scenario starts so (both builds), and
  ``<!-- hit-ratio-at: arc-OLTP@1,000 lirs-loop@800 -->`` one row per trace at that size for
  the policies of :data:`SUMMARY_ROWS`, the best in bold. Re-run a benchmark and the site
  shows its numbers; these tables are never copied by hand.
* **Pages other branches add** (:data:`OPTIONAL_PAGES`: the Redis tier's ``redis.md`` and
  ``near-cache.md``) join the navigation only once they exist, and a link to one that does not
  exist yet is shown as plain text, so ``mkdocs build --strict`` passes before and after.

This module imports nothing from MkDocs at module level: the generator runs without it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = DOCS / "configuration.md"

# The site documents the checkout it is built from, even where an installed cachepolicy
# (another checkout's editable install) would be found first.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Pages that other work adds; in the nav and linkable only once the file exists.
OPTIONAL_PAGES: tuple[str, ...] = ("redis.md", "near-cache.md")

_MARKER = re.compile(r"<!--\s*(hit-ratio|hit-ratio-at|memory):\s*([^>]*?)\s*-->")

#: The columns of a ``hit-ratio-at`` table: (heading, row name in ``hit_ratio.md``); the first
#: is the bound, never bold.
SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("OPT", "OPT (Belady, upper bound)"),
    ("`allkeys-lru`", "allkeys-lru sampled s=5"),
    ("`allkeys-lfu`", "allkeys-lfu sampled s=5"),
    ("`allkeys-wtinylfu`", "allkeys-wtinylfu"),
    ("`allkeys-gdsf`", "allkeys-gdsf sampled s=5"),
    ("`allkeys-lru` + admission", "allkeys-lru sampled s=5 + admission tinylfu"),
)


# -- the configuration reference ------------------------------------------------------------


def _code(value: object) -> str:
    return f"`{value}`"


def _default_text(option: Any) -> str:
    from cachepolicy import format_bytes

    default = option.default
    if default is None:
        return "unset"
    if option.unit == "bytes" and isinstance(default, int) and default:
        return f"`{default}` ({format_bytes(default).replace('M', ' MiB')})"
    if isinstance(default, tuple):
        return _code(", ".join(default)) if default else "`()`"
    return _code(repr(default) if isinstance(default, str) else default)


def _key_text(key: str | None, where: str) -> str:
    return _code(key) + where if key else "—"


def _django_text(option: Any) -> str:
    if option.django_key is None:
        return "—"
    return _code(option.django_key) + ("" if option.django_in_options else " (CACHES entry)")


def _flask_text(option: Any) -> str:
    if option.flask_key is None:
        return "`CACHE_OPTIONS` only" if option.flask_options else "—"
    suffix = " (Flask-Caching's)" if option.flask_native else ""
    return _code(option.flask_key) + suffix


def _check_text(option: Any) -> str:
    """The Django system check an invalid value fails: the in-process backend's id, and
    ``E201`` (every invalid ``RedisPolicyCache`` setting) for a Redis-tier option."""
    checks = []
    if "memory" in option.applies_to:
        if option.django_check:
            checks.append(_code(option.django_check))
        elif option.django_key and option.scope == "store":
            checks.append("`django_cachepolicy.E007`")
    if "redis" in option.applies_to and option.django_key:
        checks.append("`django_cachepolicy.E201` (Redis)")
    return ", ".join(checks) or "—"


def render_configuration() -> str:
    """The Markdown of ``docs/configuration.md``, from the options table."""
    from cachepolicy.options import OPTIONS, TIERS

    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from cachepolicy/options.py by `python docs/hooks.py`; do not edit. -->",
        "",
        "Every option of cachepolicy, from the one table the code validates with "
        "(`cachepolicy/options.py`): the core's `CacheConfig`, Django's `OPTIONS`, Flask's "
        "`CACHE_*` keys and Django's system checks are all derived from it.",
        "",
        "* **Core**: `Cache(**options)` and `CacheConfig.from_options({...})` take the names "
        "in the first column; upper case and dashes work too (`MAXMEMORY-POLICY`).",
        "* **Django**: the `OPTIONS` key of a `CACHES` entry (a few are keys of the entry "
        "itself). An invalid value fails `manage.py check` with the check id shown.",
        "* **Flask**: the top-level `CACHE_*` key; a core option may instead go in "
        "`CACHE_OPTIONS` under its core name.",
        "* **Scope**: *store* options shape the shared store, so every alias or backend on "
        "one store must agree on them; *view* options belong to one alias or backend.",
        "* **Applies to**: *memory* is the in-process store (`PolicyCache`); *redis* the "
        "Redis backends (`RedisPolicyCache`, see [the Redis tier](redis.md)), where the "
        "memory options become the server's redis.conf parameters and the others configure "
        "the client and its near cache ([near cache](near-cache.md)); there a memory option "
        "left out leaves the server's own value, neither set nor checked. An option of one "
        "tier only is refused by the other with a sentence saying why.",
        "",
        "| option | Django | Flask | default | scope | applies to |",
        "|---|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        lines.append(
            f"| [`{option.name}`](#{option.name.replace('_', '-')}) | {_django_text(option)} "
            f"| {_flask_text(option)} | {_default_text(option)} | {option.scope} "
            f"| {', '.join(option.applies_to)} |"
        )
    for option in OPTIONS:
        lines += ["", f"## {option.name.replace('_', '-')}", "", option.meaning, ""]
        rows = [
            ("Core name", _code(option.name)),
            ("Django", _django_text(option)),
            ("Flask", _flask_text(option)),
            ("Type", option.type),
            ("Unit", option.unit or "—"),
            ("Default", _default_text(option)),
            ("Range", _code(option.range) if option.range else "—"),
            ("Choices", ", ".join(map(_code, option.choices)) or "—"),
            ("Accepts", option.accepts),
            ("Scope", option.scope),
            ("Invalid value (Django)", _check_text(option)),
        ]
        if TIERS != ("memory",) or option.applies_to != ("memory",):
            rows.append(("Applies to", ", ".join(option.applies_to)))
        lines += ["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join(lines) + "\n"


def reference_is_current() -> bool:
    return REFERENCE.exists() and REFERENCE.read_text(encoding="utf-8") == render_configuration()


# -- measured numbers -----------------------------------------------------------------------


def _sections(text: str) -> Iterable[tuple[str, list[str]]]:
    """``(heading, lines)`` for each ``## `` section of a results file."""
    heading, body = "", []
    for line in text.splitlines():
        if line.startswith("## "):
            if heading:
                yield heading, body
            heading, body = line[3:].strip(), []
        elif line.startswith("# "):
            continue
        else:
            body.append(line)
    if heading:
        yield heading, body


def _table(lines: list[str]) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in lines
        if line.startswith("|") and not set(line) <= set("|-: ")
    ]


def hit_ratio_tables(policy: str) -> str:
    """Markdown: the rows of ``policy`` (a prefix of the row names) on every trace."""
    text = (RESULTS / "hit_ratio.md").read_text(encoding="utf-8")
    out = [
        "Hit ratio in % by cache size (entries), from `benchmarks/results/hit_ratio.md` "
        "(`python benchmarks/simulate.py`), with the upper bound (OPT) and exact LRU for scale.",
    ]
    for heading, body in _sections(text):
        rows = _table(body)
        if not rows or rows[0][0] != "policy" or len(rows[0]) < 2:
            continue
        header, data = rows[0], rows[1:]
        keep = [
            row
            for row in data
            if row[0].startswith(("OPT", "exact LRU")) or row[0].startswith(policy)
        ]
        if not any(row[0].startswith(policy) for row in keep):
            continue
        out += ["", f"**{heading}**", "", "| " + " | ".join(header) + " |"]
        out.append("|---|" + "---:|" * (len(header) - 1))
        out += ["| " + " | ".join(row) + " |" for row in keep]
    if len(out) == 1:
        raise ValueError(f"no hit-ratio rows for {policy!r} in benchmarks/results/hit_ratio.md")
    return "\n".join(out)


def hit_ratio_summary(argument: str) -> str:
    """Markdown: one row per ``trace@size`` of ``argument``, the :data:`SUMMARY_ROWS` policies."""
    wanted = dict(item.split("@", 1) for item in argument.split())
    text = (RESULTS / "hit_ratio.md").read_text(encoding="utf-8")
    out = ["| trace @ entries | " + " | ".join(name for name, _ in SUMMARY_ROWS) + " |"]
    out.append("|---|" + "---:|" * len(SUMMARY_ROWS))
    found = set()
    for heading, body in _sections(text):
        trace, _, kind = heading.partition(": ")
        rows = _table(body)
        if trace not in wanted or not rows or rows[0][0] != "policy":
            continue
        column = rows[0].index(wanted[trace])
        by_name = {row[0]: row for row in rows[1:]}
        values = [float(by_name[name][column]) for _, name in SUMMARY_ROWS]
        best = max(values[1:])
        cells = [
            f"**{value:.1f}**" if index and value == best else f"{value:.1f}"
            for index, value in enumerate(values)
        ]
        out.append(f"| {trace} ({kind}) @ {wanted[trace]} | " + " | ".join(cells) + " |")
        found.add(trace)
    if found != set(wanted):
        missing = ", ".join(sorted(set(wanted) - found))
        raise ValueError(f"no hit-ratio-at rows for {missing} in benchmarks/results/hit_ratio.md")
    return "\n".join(out)


_MEMORY_COLUMNS = ("scenario", "keys full", "B/entry full (used)", "B/entry end (used)")


def memory_tables(scenario: str) -> str:
    """Markdown: memory-under-churn rows whose scenario starts with ``scenario``, both builds."""
    text = (RESULTS / "memory.md").read_text(encoding="utf-8")
    out = [
        "Memory under eviction churn, from `benchmarks/results/memory.md` "
        "(`python benchmarks/bench_memory.py`, 4 MB budget): bytes per entry beyond the key "
        "and the pickled value, when the cache is first full and at the end of the churn.",
    ]
    for heading, body in _sections(text):
        rows = _table(body)
        if not rows or rows[0][0] != "scenario":
            continue
        index = [rows[0].index(column) for column in _MEMORY_COLUMNS]
        keep = [row for row in rows[1:] if row[0].startswith(scenario)]
        if not keep:
            continue
        out += ["", f"**{heading}**", "", "| " + " | ".join(_MEMORY_COLUMNS) + " |"]
        out.append("|---|" + "---:|" * (len(_MEMORY_COLUMNS) - 1))
        out += ["| " + " | ".join(row[i] for i in index) + " |" for row in keep]
    if len(out) == 1:
        raise ValueError(f"no memory rows for {scenario!r} in benchmarks/results/memory.md")
    return "\n".join(out)


def expand_markers(markdown: str) -> str:
    def expand(match: re.Match[str]) -> str:
        kind, argument = match.group(1), match.group(2)
        if kind == "hit-ratio":
            return hit_ratio_tables(argument)
        if kind == "hit-ratio-at":
            return hit_ratio_summary(argument)
        return memory_tables(argument)

    return _MARKER.sub(expand, markdown)


# -- optional pages -------------------------------------------------------------------------


def _missing_optional(docs_dir: Path) -> set[str]:
    return {page for page in OPTIONAL_PAGES if not (docs_dir / page).exists()}


def _prune_nav(nav: Any, missing: set[str]) -> Any:
    """The nav without entries that point at a missing optional page."""
    if isinstance(nav, list):
        pruned = [_prune_nav(item, missing) for item in nav]
        return [item for item in pruned if item is not None]
    if isinstance(nav, dict):
        pruned_dict = {title: _prune_nav(item, missing) for title, item in nav.items()}
        kept = {title: item for title, item in pruned_dict.items() if item not in (None, [])}
        return kept or None
    if isinstance(nav, str) and nav in missing:
        return None
    return nav


def unlink_missing(markdown: str, missing: set[str]) -> str:
    """``[text](redis.md#x)`` -> ``text`` for each missing optional page."""
    for page in missing:
        markdown = re.sub(
            r"\[([^\]]+)\]\((?:\.\./)?" + re.escape(page) + r"(?:#[^)]*)?\)", r"\1", markdown
        )
    return markdown


# -- MkDocs hooks ---------------------------------------------------------------------------


def on_config(config: Any) -> Any:
    missing = _missing_optional(Path(config["docs_dir"]))
    if config.get("nav"):
        config["nav"] = _prune_nav(config["nav"], missing)
    return config


def on_pre_build(config: Any) -> None:
    if not reference_is_current():
        from mkdocs.exceptions import PluginError

        raise PluginError(
            "docs/configuration.md does not match the options table in cachepolicy/options.py; "
            "regenerate it with `python docs/hooks.py`."
        )


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    missing = _missing_optional(Path(config["docs_dir"]))
    return unlink_missing(expand_markers(markdown), missing)


if __name__ == "__main__":
    REFERENCE.write_text(render_configuration(), encoding="utf-8")
    print(f"wrote {REFERENCE.relative_to(ROOT)}")
