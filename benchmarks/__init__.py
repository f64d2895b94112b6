"""Benchmarks: measured numbers for the README and the issue notes (not part of the test suite)."""
