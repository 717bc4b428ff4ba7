"""The priority levels: the single Python source of the list (queues, filters and index)."""

from __future__ import annotations

from typing import Final, Literal

Priority = Literal["high", "medium", "low"]

#: Every priority, most urgent first.
PRIORITIES: Final[tuple[Priority, ...]] = ("high", "medium", "low")


def is_priority(value: object) -> bool:
    """True for one of PRIORITIES (and only for a str: `True` or `1` never matches)."""
    return isinstance(value, str) and value in PRIORITIES
