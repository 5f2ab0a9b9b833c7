"""Benchmark harness: `python bench/run.py` (see docs/benchmarks.md)."""
