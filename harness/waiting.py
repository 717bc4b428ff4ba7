"""Polling with a deadline instead of sleeping: the only way tests wait for asynchronous work."""

from __future__ import annotations

import time
from collections.abc import Callable


class NotYet(AssertionError):
    """Raised by `eventually` when the deadline passes; says what was last observed."""


def eventually[T](
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.1,
    describe: Callable[[], str] | str = "",
) -> T:
    """Call `probe` until it returns something truthy (returned) or `timeout` seconds pass.

    A probe may also raise AssertionError to mean "not yet"; the last one is reported.
    `describe` explains the state on failure (a string, or a callable evaluated at failure time).
    """
    deadline = time.monotonic() + timeout
    last_error: AssertionError | None = None
    last_value: T | None = None
    while True:
        try:
            last_value = probe()
            if last_value:
                return last_value
        except AssertionError as e:
            last_error = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = describe() if callable(describe) else describe
    raise NotYet(
        f"not true after {timeout:.1f} s: last value {last_value!r}"
        + (f"; last assertion: {last_error}" if last_error else "")
        + (f"\n{detail}" if detail else "")
    )
