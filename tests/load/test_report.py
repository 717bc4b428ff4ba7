"""Report assembly: the accounting of every accepted id, latencies, throughput, thresholds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from load.metrics import METRICS
from load.profiles import parse_profiles
from load.report import (
    ATTRIBUTE,
    LOG,
    Evidence,
    Sent,
    assemble,
    breaches,
    markdown,
    summary,
)

T0 = 1_800_000_000.0  # epoch seconds


def iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def profile(thresholds: list[Any] | None = None, rates: dict[str, float] | None = None):
    document = {
        "profiles": {
            "t": {
                "duration_s": 10,
                "max_requests": 100,
                "rates": rates or {"high": 1, "low": 1},
                "users": 1,
                "concurrency": 2,
                "request_timeout_s": 5,
                "drain_timeout_s": 10,
                "settle_s": 0,
                "floors_s": 1,
                "thresholds": thresholds
                or ["lost == 0", "duplicates == 0", "delivered == accepted", "errors == 0"],
            }
        }
    }
    return parse_profiles(document)["t"]


def item(accepted: float, stored: float, delivered: float | None = None) -> dict[str, Any]:
    found = {"accepted_at": iso(accepted), "stored_at": iso(stored)}
    if delivered is not None:
        found["delivered_at"] = iso(delivered)
    return found


def scenario() -> tuple[list[Sent], dict[str, Evidence]]:
    """a: fine; b: delivered twice; c: stored, never delivered; d: lost; plus a 429, a 500 and
    a timeout (status 0) that were never accepted."""
    sent = [
        Sent("high", 202, T0 + 0.0, 0.05, "a"),
        Sent("high", 202, T0 + 1.0, 0.05, "b"),
        Sent("low", 202, T0 + 2.0, 0.05, "c"),
        Sent("low", 202, T0 + 3.0, 0.05, "d"),
        Sent("low", 429, T0 + 4.0, 0.01, None, '{"message":"Too Many Requests"}'),
        Sent("high", 500, T0 + 5.0, 0.10, None, '{"message":"boom"}'),
        Sent("low", 0, T0 + 6.0, 5.00, None, "timed out"),
    ]
    evidence = {
        "a": Evidence(item(T0 + 0.01, T0 + 0.11, T0 + 0.21), [T0 + 0.21]),
        "b": Evidence(item(T0 + 1.01, T0 + 1.31, T0 + 1.51), [T0 + 1.51, T0 + 8.0]),
        "c": Evidence(item(T0 + 2.01, T0 + 3.01), []),
        "d": Evidence(None, []),
    }
    return sent, evidence


def build(mode: str = ATTRIBUTE, **kwargs: Any) -> dict[str, Any]:
    sent, evidence = scenario()
    arguments: dict[str, Any] = {
        "profile": profile(),
        "target": "sandbox",
        "sent": sent,
        "evidence": evidence,
        "mode": mode,
        "traffic": {"started": T0, "stopped": T0 + 10},
        "drain": {"seconds": 12.34, "complete": False},
        "floors": {"noop_invoke_per_s": 4.0, "sns_publish_per_s": 50.0, "threads": 8},
        "dlq": {
            "high": {
                "dlq": {"before": 1, "after": 1},
                "subscription_dlq": {"before": 0, "after": 0},
            },
            "low": {
                "dlq": {"before": 0, "after": 2},
                "subscription_dlq": {"before": 0, "after": 0},
            },
        },
    }
    arguments.update(kwargs)
    return assemble(**arguments)


def test_every_accepted_id_is_accounted_for() -> None:
    report = build()
    m = report["metrics"]
    assert (m["sent"], m["accepted"], m["throttled"], m["errors"]) == (7, 4, 1, 2)
    assert (m["stored"], m["lost"], m["delivered"], m["stored_not_delivered"]) == (3, 1, 2, 1)
    assert m["accepted"] == m["lost"] + m["stored"]
    assert m["stored"] == m["delivered"] + m["stored_not_delivered"]
    assert (m["duplicates"], m["duplicate_lines"], m["missing_delivery_lines"]) == (1, 1, 0)
    outcomes = {n["id"]: n["outcome"] for n in report["notifications"]}
    assert outcomes == {
        "a": "delivered",
        "b": "delivered",
        "c": "stored_not_delivered",
        "d": "lost",
    }
    assert report["ids"] == {
        "lost": ["d"],
        "stored_not_delivered": ["c"],
        "duplicates": {"b": 2},
        "missing_delivery_lines": [],
    }


def test_429s_are_counted_apart_from_errors() -> None:
    report = build()
    traffic = report["traffic"]
    assert traffic["status_counts"] == {"0": 1, "202": 4, "429": 1, "500": 1}
    assert traffic["errors_by_status"] == {"0": 1, "500": 1}
    assert traffic["error_samples"]["0"] == "timed out"
    assert traffic["by_priority"]["low"]["throttled"] == 1
    assert traffic["by_priority"]["low"]["errors"] == 1


def test_a_202_without_an_id_is_an_error() -> None:
    sent = [Sent("high", 202, T0, 0.1, None, "{}")]
    report = build(sent=sent, evidence={})
    assert report["metrics"]["accepted"] == 0
    assert report["traffic"]["errors_by_status"] == {"202 without id": 1}


def test_latencies_come_from_the_items_timestamps() -> None:
    report = build()
    high = report["latency_ms"]["high"]
    assert high["stored"]["n"] == 2
    assert high["stored"]["p50"] == pytest.approx(200.0)  # (100 + 300) / 2
    assert high["delivered"]["max"] == pytest.approx(500.0)
    assert report["latency_ms"]["low"]["delivered"]["n"] == 0  # c never delivered
    assert report["metrics"]["high.stored.p95"] == pytest.approx(290.0)
    assert report["metrics"]["medium.stored.p95"] is None  # not sent by this profile
    assert "medium" not in report["latency_ms"]


def test_throughput_and_ratio_to_the_noop_invoke_floor() -> None:
    m = build()["metrics"]
    assert m["offered_per_s"] == pytest.approx(0.7)  # 7 requests in 10 s
    assert m["accepted_per_s"] == pytest.approx(0.4)
    # 2 delivered between the first acceptance (T0 + 0.01) and the last delivery (T0 + 1.51)
    assert m["delivered_per_s"] == pytest.approx(2 / 1.5, abs=0.01)
    assert m["throughput_ratio"] == pytest.approx(m["delivered_per_s"] / 4.0, abs=0.001)
    assert m["offered_ratio"] == pytest.approx(0.35)  # 0.7 of a 2 req/s target


def test_without_floors_the_ratio_is_not_measured() -> None:
    report = build(floors={"skipped": "not measured on AWS"})
    assert report["metrics"]["throughput_ratio"] is None
    assert report["metrics"]["noop_invoke_per_s"] is None


def test_dlq_counts_what_the_run_added() -> None:
    m = build()["metrics"]
    assert (m["dlq_messages"], m["dlq_added"]) == (3, 2)


def test_log_mode_uses_the_delivery_lines() -> None:
    _, evidence = scenario()
    for found in evidence.values():
        if found.item:
            found.item.pop("delivered_at", None)
    report = build(mode=LOG, evidence=evidence)
    m = report["metrics"]
    assert (m["delivered"], m["stored_not_delivered"], m["duplicates"]) == (2, 1, 1)
    assert report["latency_ms"]["high"]["delivered"]["max"] == pytest.approx(500.0)
    assert report["drain"]["delivery_evidence"] == LOG


def test_attribute_mode_flags_a_delivery_without_its_line() -> None:
    _, evidence = scenario()
    evidence["a"].lines = []
    report = build(evidence=evidence)
    assert report["metrics"]["missing_delivery_lines"] == 1
    assert report["ids"]["missing_delivery_lines"] == ["a"]
    # in log mode the same id is simply not delivered
    assert build(mode=LOG, evidence=evidence)["metrics"]["delivered"] == 1


def test_thresholds_breached_and_named() -> None:
    report = build()
    assert not report["passed"]
    assert [b["check"] for b in breaches(report)] == [
        "lost == 0",
        "duplicates == 0",
        "delivered == accepted",
        "errors == 0",
    ]
    clean = build(profile=profile(["throttled >= 1", "throughput_ratio >= 0.1"]))
    assert clean["passed"]


def test_metrics_are_exactly_the_documented_ones() -> None:
    assert set(build()["metrics"]) == set(METRICS)


def test_renderings_show_the_accounting_and_the_breaches() -> None:
    report = build()
    text = summary(report, "build/load/t/report.md")
    assert "accepted 4" in text and "429s 1" in text and "lost 1" in text
    assert "stored-not-delivered 1" in text and "duplicate deliveries 1 ids" in text
    assert "✗ BREACHED lost == 0" in text
    assert "report: build/load/t/report.md" in text
    page = markdown(report, {"high": "latency-high.png"})
    assert page.startswith("# Load test `t` on sandbox: FAILED")
    assert "![high](latency-high.png)" in page
    assert "**lost** (1): `d`" in page
    assert "**duplicate deliveries** (1): `b` x2" in page
