"""Running the example project in a child process, as a reader would from the repository root.

Why child processes: the Django site needs its own settings, and ``tests/django/``'s conftest has
already configured Django's global settings in this pytest process (``settings.configure()`` can
run once per process). A child process gets a clean Django and the example's settings module,
and exercises exactly the command line the README documents.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

#: The repository root: ``python -m example_project`` is run from here, as the README says.
ROOT = Path(__file__).resolve().parents[2]
#: Generous: a loaded CI machine runs the demo's misses in a few seconds, never a minute.
TIMEOUT = 180


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: ours, minus anything that would change the example's setup."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "EXAMPLE_MAXMEMORY", "EXAMPLE_MAXMEMORY_POLICY")
        and not key.startswith("PYTEST_")
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_example(args: Sequence[str], **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``python -m example_project <args>`` from the repository root; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "example_project", *args],
        cwd=ROOT,
        env=child_env(**extra_env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def free_port() -> int:
    """A port nothing listens on right now, on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(args: Sequence[str], port: int) -> Iterator[str]:
    """Run a server command in the background until it answers; yields its base URL.

    The server is terminated (by its own pid) when the block ends, whatever happens in it.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "example_project", *args, "--port", str(port)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"the server exited with {process.returncode}:\n{output}")
            try:
                with urllib.request.urlopen(base + "/style.css", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def fetch(url: str, data: bytes | None = None) -> tuple[int, dict[str, str], str]:
    """``(status, headers, body)`` of one request; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, data=data, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()
