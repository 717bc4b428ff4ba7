"""Thresholds: parsing and evaluation against a run's metrics."""

from __future__ import annotations

import pytest

from load.thresholds import ThresholdError, evaluate, parse_threshold


@pytest.mark.parametrize(
    ("text", "left", "op", "right"),
    [
        ("lost == 0", "lost", "==", 0.0),
        ("throughput_ratio>=0.5", "throughput_ratio", ">=", 0.5),
        ("  high.delivered.p95 <= 2000 ", "high.delivered.p95", "<=", 2000.0),
        ("delivered == accepted", "delivered", "==", "accepted"),
        ("errors < -1.5", "errors", "<", -1.5),
    ],
)
def test_parse(text: str, left: str, op: str, right: object) -> None:
    threshold = parse_threshold(text)
    assert (threshold.left, threshold.op, threshold.right) == (left, op, right)


@pytest.mark.parametrize("text", ["lost = 0", "lost", "0 == lost", "lost == 1e3", "Lost == 0", 3])
def test_parse_rejects(text: object) -> None:
    with pytest.raises(ThresholdError):
        parse_threshold(text)


def test_evaluate_pass_fail_and_detail() -> None:
    metrics = {"lost": 0, "duplicates": 2, "delivered": 9, "accepted": 10, "ratio": 0.25}
    verdicts = evaluate(
        [
            parse_threshold("lost == 0"),
            parse_threshold("duplicates == 0"),
            parse_threshold("delivered == accepted"),
            parse_threshold("ratio >= 0.5"),
        ],
        metrics,
        "sandbox",
    )
    assert [v.status for v in verdicts] == ["pass", "fail", "fail", "fail"]
    assert verdicts[1].detail == "duplicates = 2"
    assert verdicts[2].detail == "delivered = 9, accepted = 10"
    assert verdicts[3].detail == "ratio = 0.25"


def test_evaluate_skips_what_was_not_measured_or_is_for_another_target() -> None:
    metrics = {"throughput_ratio": None, "throttled": 0, "errors": 0}
    verdicts = evaluate(
        [
            parse_threshold("throughput_ratio >= 0.5"),
            parse_threshold("throttled >= 1", target="aws"),
            parse_threshold("errors == 0", target="sandbox"),
            parse_threshold("nonsense == 0"),
        ],
        metrics,
        "sandbox",
    )
    assert [v.status for v in verdicts] == ["skipped", "skipped", "pass", "skipped"]
    assert "not measured" in verdicts[0].detail
    assert "aws only" in verdicts[1].detail
    assert "no metric named nonsense" in verdicts[3].detail


def test_every_operator() -> None:
    metrics = {"x": 2}
    results = {
        op: evaluate([parse_threshold(f"x {op} 2")], metrics, "aws")[0].status
        for op in ("==", "!=", "<", "<=", ">", ">=")
    }
    assert results == {
        "==": "pass",
        "!=": "fail",
        "<": "fail",
        "<=": "pass",
        ">": "fail",
        ">=": "pass",
    }
