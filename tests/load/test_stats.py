"""Percentiles: linear interpolation between closest ranks (numpy's default)."""

from __future__ import annotations

import pytest

from load.stats import percentile, summary


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 0) == 15
    assert percentile(values, 50) == 35
    assert percentile(values, 100) == 50
    assert percentile(values, 40) == pytest.approx(29.0)  # rank 1.6: 20 + 0.6 * 15
    assert percentile(values, 95) == pytest.approx(48.0)  # rank 3.8: 40 + 0.8 * 10


def test_percentile_ignores_order_and_handles_one_value() -> None:
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([7.5], 99) == 7.5


def test_percentile_of_nothing_is_none_and_q_is_checked() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1], 101)


def test_summary_of_a_hundred_values() -> None:
    values = list(range(1, 101))
    assert summary(values) == {"n": 100, "p50": 50.5, "p95": 95.0, "p99": 99.0, "max": 100}
    assert summary([]) == {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
