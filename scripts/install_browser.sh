#!/usr/bin/env bash
# Install what the browser test (tests/example/test_dashboard_browser.py) needs: Debian's
# headless Chromium and its ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver), and the
# Python side (the project's `browser` extra: Selenium). Idempotent: nothing is fetched when
# both binaries are already there. Never fatal: where Chromium cannot be installed (no root,
# no apt, no network) it says why and the test skips, except under CI=true, where the test
# fails instead (a CI that silently skipped its browser test would prove nothing).
set -uo pipefail

have_browser() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

if have_browser; then
    echo "install_browser: chromium and chromedriver already installed"
elif ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: no apt-get here; install Chromium and ChromeDriver yourself" >&2
elif [ "$(id -u)" -ne 0 ]; then
    echo "install_browser: not root; run: sudo apt-get install -y chromium chromium-driver" >&2
else
    echo "install_browser: apt-get install chromium chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing or stale on a fresh machine: update once, then install.
    apt-get update -qq >/dev/null || echo "install_browser: apt-get update failed" >&2
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
        || echo "install_browser: apt-get install chromium chromium-driver failed" >&2
fi

if ! python3 -c "import selenium" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "selenium>=4.20" \
        || echo "install_browser: pip install selenium failed" >&2
fi

if have_browser; then
    chromium --version 2>/dev/null || true
fi
exit 0
