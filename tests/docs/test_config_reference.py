"""docs/configuration.md is exactly what the options table generates, and the site's helpers work.

Regenerate the page with ``python docs/hooks.py`` after changing ``cachepolicy/options.py``.
"""

from __future__ import annotations

import re

import pytest

from cachepolicy.options import OPTIONS
from docs import hooks


def test_committed_reference_matches_the_table() -> None:
    assert hooks.REFERENCE.read_text(encoding="utf-8") == hooks.render_configuration(), (
        "docs/configuration.md is stale: run `python docs/hooks.py` and commit the result."
    )


def test_reference_documents_every_option_and_spelling() -> None:
    page = hooks.render_configuration()
    for option in OPTIONS:
        assert f"## {option.name.replace('_', '-')}\n" in page
        assert option.meaning in page and option.accepts in page
        for key in (option.django_key, option.flask_key):
            assert key is None or f"`{key}`" in page


def test_measured_numbers_come_from_the_results() -> None:
    table = hooks.hit_ratio_tables("allkeys-lfu")
    assert "| allkeys-lfu sampled s=5 |" in table and "OPT (Belady" in table
    assert "allkeys-lru sampled" not in table
    memory = hooks.memory_tables("allkeys-lru exact")
    assert "Compiled build" in memory and "Pure build" in memory
    with pytest.raises(ValueError, match="no hit-ratio rows"):
        hooks.hit_ratio_tables("no-such-policy")
    expanded = hooks.expand_markers("a\n<!-- memory: allkeys-lfu exact -->\nb")
    assert "<!--" not in expanded and "| allkeys-lfu exact timed ttl=300 |" in expanded


def test_the_summary_table_takes_one_size_per_trace_and_bolds_the_best() -> None:
    table = hooks.expand_markers("<!-- hit-ratio-at: lirs-loop@800 corda-vaultservice@64 -->")
    lines = table.splitlines()
    assert lines[0].startswith("| trace @ entries | OPT | `allkeys-lru` |") and len(lines) == 4
    loop = next(line for line in lines if line.startswith("| lirs-loop ("))
    cells = loop.strip("|").split("|")[1:]
    assert len(cells) == len(hooks.SUMMARY_ROWS) and "**" not in cells[0]
    assert sum("**" in cell for cell in cells[1:]) >= 1  # the best policy, never OPT
    best = max(float(cell.strip(" *")) for cell in cells[1:])
    assert all(("**" in cell) == (float(cell.strip(" *")) == best) for cell in cells[1:])
    with pytest.raises(ValueError, match="no-such-trace"):
        hooks.hit_ratio_summary("lirs-loop@800 no-such-trace@10")


def test_missing_optional_pages_leave_the_nav_and_lose_their_links() -> None:
    nav = [
        {"Home": "index.md"},
        {"Redis tier": [{"Redis tier": "redis.md"}, {"Near cache": "near-cache.md"}]},
        {"Mixed": ["a.md", "redis.md"]},
    ]
    pruned = hooks._prune_nav(nav, {"redis.md", "near-cache.md"})
    assert pruned == [{"Home": "index.md"}, {"Mixed": ["a.md"]}]
    assert hooks._prune_nav(nav, set()) == nav
    text = "see [the Redis tier](redis.md#setup) and [Django](django.md)"
    assert hooks.unlink_missing(text, {"redis.md"}) == "see the Redis tier and [Django](django.md)"


def test_readme_option_table_agrees_with_the_options_table() -> None:
    """The README's short table is prose; its names and defaults are checked here."""
    from cachepolicy import parse_memory
    from cachepolicy.options import OPTION_BY_NAME

    readme = (hooks.ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (`[a-z_]+`(?: / `[a-z_]+`)*) \| ([^|]+) \|", readme, re.MULTILINE)
    assert len(rows) >= 6
    for names, defaults in rows:
        for name, default in zip(
            re.findall(r"`([a-z_]+)`", names), re.findall(r"`([^`]+)`", defaults), strict=True
        ):
            expected = OPTION_BY_NAME[name].default
            if OPTION_BY_NAME[name].unit == "bytes":
                assert parse_memory(default) == expected, name
            else:
                assert default == str(expected), name


def test_api_page_names_every_store_option() -> None:
    """docs/api.md summarises the config fields in prose; none may be missing."""
    from cachepolicy.options import options_for

    api = (hooks.ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for option in options_for("memory", "store"):
        assert f"`{option.name}`" in api, option.name
