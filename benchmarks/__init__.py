"""Benchmarks of the playground (issue 6): `python -m benchmarks [--quick]`; see run.py."""
