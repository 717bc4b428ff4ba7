"""Shard keys: stable across processes and spread over every shard."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from notifications.keys import priority_shard, shard_keys, shard_of

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"


def test_shard_key_format_and_range() -> None:
    assert shard_keys("medium", 3) == ["medium#0", "medium#1", "medium#2"]
    key = priority_shard("low", "some-id", 5)
    assert key.startswith("low#") and 0 <= int(key.split("#")[1]) < 5


def test_same_id_same_shard_in_another_process() -> None:
    """Not Python's salted hash(): a redelivery in another sandbox lands on the same shard."""
    ids = [f"id-{n}" for n in range(20)]
    here = [shard_of(i, 7) for i in ids]
    code = f"from notifications.keys import shard_of; print([shard_of(i, 7) for i in {ids!r}])"
    there = subprocess.run(
        [sys.executable, "-c", code],
        cwd=FUNCTIONS,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout
    assert there.strip() == str(here)


def test_ids_spread_over_all_shards() -> None:
    counts = Counter(shard_of(f"{n:08x}-uuid", 4) for n in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 800  # roughly even


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        shard_of("x", 0)
    with pytest.raises(ValueError):
        priority_shard("urgent", "x", 4)
