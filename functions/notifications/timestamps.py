"""ISO 8601 UTC timestamps with milliseconds (`2026-01-31T12:00:00.123Z`).

Fixed width, so string order is time order: the indexes sort `accepted_at` as a string.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# re.ASCII: `\d` would also match other scripts' digits (Arabic-Indic, Devanagari ...).
_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)


def format_timestamp(moment: datetime) -> str:
    """`moment` (aware) in UTC with milliseconds and a `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """The aware datetime of a formatted timestamp; ValueError for anything else."""
    if not _PATTERN.fullmatch(text):
        raise ValueError(f"not an ISO 8601 UTC timestamp with milliseconds: {text!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def now() -> datetime:
    return datetime.now(UTC)
