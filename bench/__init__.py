"""Benchmarks, run as ``python -m bench.<name>`` (see scripts/bench.sh and docs/benchmarks.md)."""
