"""Know your traffic: replay a trace through every policy and get a policy and a size.

``python -m cachepolicy.simulate TRACE`` (``--help`` for the options) reads a trace
(:mod:`.readers`: the shared traces' formats, plain text, CSV), replays it through the real
engine (:class:`cachepolicy.Cache`) under every registered policy in both eviction modes beside
exact LRU and Belady's OPT (:mod:`.replay`), over a range of sizes and seeds
(:mod:`.runner`), and prints a table and a recommendation, with a plot and an HTML page
(:mod:`.report`; plots and the progress bar need ``pip install 'cachepolicy[sim]'``).

From Python::

    from cachepolicy.simulate import policy_rows, read_trace, recommend, simulate

    trace = read_trace("access.csv")
    [result] = simulate([trace], rows=policy_rows("all"), sizes=["16mb", "64mb"])
    print(recommend(result, result.rows[2]).text)

The core install needs nothing more; this package imports no optional dependency at import
time.
"""

from .readers import FORMATS, Trace, TraceError, read_trace
from .replay import Counts, replay_engine, replay_lru, replay_opt
from .report import Recommendation, recommend, table
from .runner import Row, Simulation, auto_sizes, parse_sizes, policy_rows, simulate

__all__ = [
    "FORMATS",
    "Counts",
    "Recommendation",
    "Row",
    "Simulation",
    "Trace",
    "TraceError",
    "auto_sizes",
    "parse_sizes",
    "policy_rows",
    "read_trace",
    "recommend",
    "replay_engine",
    "replay_lru",
    "replay_opt",
    "simulate",
    "table",
]
