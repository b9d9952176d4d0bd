"""The live dashboard in a real browser: headless Chromium (Debian's ``chromium`` package) driven
by Selenium through Debian's ``chromium-driver``, against the Django site and the Flask app
served by ``python -m example_project`` on free loopback ports.

It presses "Generate load", waits (polling with a deadline, never a fixed sleep) until the
eviction counter and the memory chart move, switches the policy and the budget with the page's
selectors and waits for the page to show them and for evictions to go on, waits for the short-TTL
burst to move the expired counter, then saves a screenshot under ``test-artifacts/`` (the path is
printed; the folder is gitignored).

``scripts/install_browser.sh`` (run by ``scripts/test.sh``) installs Chromium, the driver and
Selenium. Where they are still missing the test skips, saying what is missing, except under
``CI=true``, where it fails: CI must run it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.example.helpers import ROOT, free_port, serving

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Where screenshots go (gitignored): CI keeps the folder as the run's artefact.
ARTIFACTS = ROOT / "test-artifacts"
#: Generous for a loaded 2-core CI machine: the page updates once a second, evictions start
#: within about one second of the button, a policy switch shows at the next poll, and the
#: short-TTL burst (the load's last phase) starts about eight seconds after the button.
DEADLINE = 45


def _missing() -> str:
    """Why the browser test cannot run here, or "" when it can."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[browser]')")
    if not missing:
        return ""
    return (
        f"missing {', '.join(missing)}: run scripts/install_browser.sh (Debian's chromium and "
        "chromium-driver, as root)"
    )


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="cachepolicy-chromium-")
    # Headless, as root in a container, and without the background connections this
    # machine's closed network refuses (updates, sync, field trials).
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--window-size=1100,2200",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # The page's console (a failed request, such as a favicon's 404, is logged there).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path is given, so Selenium Manager never tries to download one.
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(DEADLINE)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(browser: Any, what: str, condition: Callable[[Any], Any]) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, DEADLINE, poll_frequency=0.25).until(condition)
    except TimeoutException:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard-timeout.png"
        browser.save_screenshot(str(shot))
        raise AssertionError(f"timed out waiting for {what} (screenshot {shot})") from None


def _number(browser: Any, element_id: str) -> int:
    from selenium.webdriver.common.by import By

    text = browser.find_element(By.ID, element_id).text.replace(",", "").strip()
    return int(text) if text.isdigit() else -1


@pytest.mark.parametrize(
    ("framework", "args", "path"),
    [("django", [], "/dashboard/"), ("flask", ["flask"], "/dashboard")],
)
def test_dashboard_fills_evicts_and_switches_policy(
    driver: Any, framework: str, args: list[str], path: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with serving(args, free_port()) as base:
        driver.get(base + path)

        def element(element_id: str) -> Any:
            return driver.find_element(By.ID, element_id)

        # The script ran and drew a first sample.
        _wait(driver, "the first poll", lambda d: element("stat-policy").text == "allkeys-lru")
        chart = element("memory-chart")
        _wait(driver, "two chart samples", lambda d: int(chart.get_attribute("data-samples")) >= 2)
        assert _number(driver, "stat-evicted") == 0
        used_before = element("used-line").get_attribute("d")

        element("load-button").click()
        _wait(driver, "the load to start", lambda d: "run 1" in element("load-status").text)
        _wait(driver, "evicted_keys to move", lambda d: _number(d, "stat-evicted") > 0)
        _wait(
            driver,
            "the memory chart to move",
            lambda d: element("used-line").get_attribute("d") != used_before,
        )
        assert "%" in element("memory-text").text
        evicted = _number(driver, "stat-evicted")
        # The live LRU curve (the store records a sample of its traffic): five points, the
        # gain at twice the budget stated.
        curve = element("curve-chart")
        _wait(driver, "the curve's points", lambda d: curve.get_attribute("data-points") == "5")
        assert "At 2x maxmemory:" in element("curve-text").text
        assert element("curve-line").get_attribute("d").count("L") == 4

        Select(element("policy-select")).select_by_value("allkeys-lfu")
        Select(element("maxmemory-select")).select_by_value("2mb")
        element("config-apply").click()
        _wait(driver, "the policy switch", lambda d: element("stat-policy").text == "allkeys-lfu")
        _wait(driver, "the new budget", lambda d: "of 2.00M" in element("memory-text").text)
        assert "CONFIG SET" in element("message").text
        _wait(driver, "evictions under allkeys-lfu", lambda d: _number(d, "stat-evicted") > evicted)
        # The burst of short-TTL keys comes last (about 8 s after the button): keys expire.
        _wait(driver, "expired_keys to move", lambda d: _number(d, "stat-expired") > 200)
        _wait(driver, "the rate chart", lambda d: element("expired-line").get_attribute("d"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#keyspace tbody tr")
        assert rows, "keys per database are listed"

        # Issue 23, item 15: the chart labels, the end of the load, a refused CONFIG SET.
        assert element("memory-axis").text.startswith("chart top ")  # not a second "max"
        for chart in ("memory", "rate"):
            assert element(f"{chart}-time-end").text == "now"
            assert re.fullmatch(r"-\d+ s", element(f"{chart}-time-start").text), chart
        _wait(driver, "the load to end", lambda d: element("load-button").is_enabled())
        _wait(
            driver,
            "the end of the load to be announced",
            lambda d: element("message").text.startswith("Load run 1 finished"),
        )
        # No favicon 404, no script error on this page (before the 400 below; the log may
        # still hold the previous test's page, whose server is gone: only this server counts).
        log = driver.get_log("browser")
        errors = [e["message"] for e in log if e["level"] == "SEVERE" and base in e["message"]]
        assert not errors, errors
        Select(element("policy-select")).select_by_value("noeviction")
        Select(element("maxmemory-select")).select_by_value("1mb")
        element("config-apply").click()
        _wait(driver, "the refusal", lambda d: element("message").get_attribute("class") == "error")
        assert "noeviction" in element("message").text
        # The selectors went back to what the store kept.
        assert element("policy-select").get_attribute("value") == "allkeys-lfu"
        assert element("maxmemory-select").get_attribute("value") == ""
        assert element("stat-policy").text == "allkeys-lfu"
        assert element("stat-build").text in ("compiled", "pure")

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"dashboard-{framework}.png"
        driver.save_screenshot(str(shot))
        print(f"\nscreenshot of the {framework} dashboard: {shot}")
        assert shot.stat().st_size > 10_000
