"""Benchmarks: core throughput beside peers, hit ratio on real traces (see README.md).

Not part of the installed package; each module is runnable as ``python benchmarks/<name>.py``.
"""
