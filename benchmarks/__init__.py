"""Benchmark scripts behind docs/results.md; run each from the repository root as ``python -m benchmarks.NAME``."""
