"""Benchmarks of the operator: each prints its figures and writes them as JSON.

Run them all with ``.venv/bin/python -m bench`` (or ``bench/run``); see ``bench/README.md``.
Nothing here is a test: no figure is asserted, every one is reported as a ratio against
a baseline timed in the same run.
"""
