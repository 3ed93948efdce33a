"""Benchmarks and the dev-set measurements behind newsbot's retrieval choices."""
