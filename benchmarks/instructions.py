"""Instructions per operation, counted by callgrind: a measure no other load on the machine
moves (wall-clock benchmarks on a shared 2-core machine vary by a fifth between runs).

Each operation is run under ``valgrind --tool=callgrind`` twice, ``--ops`` and ``2 * --ops``
times after the same set-up; the difference of the two totals over ``--ops`` is the cost of
one operation, with the interpreter start-up and the set-up cancelled out.

    python benchmarks/instructions.py                   # every operation, the installed build
    python benchmarks/instructions.py --only django-set-full --ops 20000
    python benchmarks/instructions.py --only django-set-full --policy allkeys-wtinylfu

Operations (the default configuration users get: byte budget, ``allkeys-lru`` unless
``--policy`` names others, a column each, Django's default TIMEOUT of 300 s):

* ``django-set-full``: Django ``cache.set`` of a new key into a full cache (one eviction each);
* ``django-get-hit``: Django ``cache.get`` of a present key;
* ``locmem-set-full``: the same write on Django's ``LocMemCache`` (MAX_ENTRIES reached), the
  peer row, counted the same way.

Needs valgrind (Debian: ``apt-get install valgrind``). Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

OPERATIONS = ("django-set-full", "django-get-hit", "locmem-set-full")
VALUE = "v" * 200


def _run_operation(name: str, ops: int, policy: str) -> None:
    """The body each callgrind run executes (in a child process)."""
    import django
    from django.conf import settings

    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django_cachepolicy.PolicyCache",
                "LOCATION": "instructions",
                "OPTIONS": {"MAXMEMORY": "2mb", "MAXMEMORY_POLICY": policy},
            },
            "locmem": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "instructions",
                "OPTIONS": {"MAX_ENTRIES": 5000},
            },
        }
    )
    django.setup()
    from django.core.cache import caches

    cache = caches["locmem" if name.startswith("locmem") else "default"]
    for i in range(20_000):  # full: the byte budget (and LocMemCache's MAX_ENTRIES) reached
        cache.set(f"fill:{i}", VALUE)
    if name.endswith("set-full"):
        for i in range(ops):
            cache.set(f"new:{i}", VALUE)
    else:
        for _ in range(ops):
            cache.get("fill:19999")


def _instructions(name: str, ops: int, policy: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                name,
                "--ops",
                str(ops),
                "--policy",
                policy,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        match = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        assert match, "callgrind wrote no summary line"
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=OPERATIONS, action="append")
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument(
        "--policy",
        action="append",
        help="MAXMEMORY_POLICY of the cachepolicy rows (repeat for a column each; default "
        "allkeys-lru)",
    )
    parser.add_argument("--child", choices=OPERATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _run_operation(args.child, args.ops, (args.policy or ["allkeys-lru"])[0])
        return
    from cachepolicy._core import COMPILED

    print(f"build: {'compiled' if COMPILED else 'pure'}; {args.ops} operations per run")
    policies = args.policy or ["allkeys-lru"]
    print("| operation | " + " | ".join(policies) + " |")
    print("|---|" + "---:|" * len(policies))
    for name in args.only or OPERATIONS:
        # LocMemCache has no policy: one column is its measure.
        columns = policies[:1] if name.startswith("locmem") else policies
        cells = []
        for policy in columns:
            once = _instructions(name, args.ops, policy)
            twice = _instructions(name, 2 * args.ops, policy)
            cells.append(f"{(twice - once) / args.ops:,.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
