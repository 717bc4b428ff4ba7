"""Readable scenario definitions (`scenarios/*.yaml`) and the engine that runs them.

One source of truth: `python -m scenarios` (`make demo`) shows them to people, and
`integration_tests/test_scenarios.py` runs the very same definitions through the same engine.
"""
