"""mkdocs.yml settings a newcomer meets (issue 23, item 14)."""

from __future__ import annotations

import re

from example_project.__main__ import _parser
from tests.docs.test_examples import ROOT


def _default_port(command: str) -> int:
    parser = _parser()
    port: int = parser.parse_args([command]).port
    return port


def test_mkdocs_serve_does_not_collide_with_the_example_servers() -> None:
    """`mkdocs serve` defaults to 8000, the Django example's port: the two could not run side
    by side. mkdocs.yml names another one."""
    found = re.search(r"^dev_addr:\s*([\d.]+):(\d+)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert found, "mkdocs.yml sets no dev_addr: `mkdocs serve` would take port 8000"
    assert found.group(1) == "127.0.0.1"
    port = int(found.group(2))
    assert port not in {_default_port("django"), _default_port("flask")}
    assert f"127.0.0.1:{port}" in (ROOT / "docs" / "development.md").read_text()


def test_the_custom_expiry_page_is_in_the_navigation() -> None:
    assert "expiry/custom.md" in (ROOT / "mkdocs.yml").read_text()


def _setup_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]


def test_the_readme_setup_is_two_commands_and_the_first_builds_the_compiled_engine() -> None:
    """Issue 23, items 11 and 12: a regular install (editable ones are never compiled), a
    virtualenv mentioned, the contributing guide linked; still exactly two commands."""
    setup = _setup_section()
    commands = re.findall(r"^```sh\n(.*?)^```", setup, re.M | re.S)
    assert len(commands) == 2, commands
    first, second = (command.strip() for command in commands)
    assert "pip install" in first and " -e " not in first and "example_project" in first
    assert second == "bash scripts/test.sh"
    assert "venv" in setup and "externally-managed-environment" in setup
    assert "apt-get" in setup  # the test command says it installs Chromium
    assert "docs/development.md" in setup


def test_contributing_points_to_the_development_guide() -> None:
    assert "docs/development.md" in (ROOT / "CONTRIBUTING.md").read_text()
