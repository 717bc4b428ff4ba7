"""The names of a run's metrics: what thresholds may name and what the report fills in."""

from __future__ import annotations

from typing import Final

from notifications.priorities import PRIORITIES

HOPS: Final = ("stored", "delivered")  # accepted_at → stored_at, accepted_at → delivered
STATS: Final = ("n", "p50", "p95", "p99", "max")

COUNTS: Final = {
    "sent": "POST /notifications requests sent",
    "accepted": "answered 202 with an id",
    "throttled": "answered 429 (counted apart, not an error)",
    "errors": "any other answer, timeouts and connection errors (status 0)",
    "stored": "accepted ids with an item in the table",
    "lost": "accepted ids never stored",
    "delivered": "accepted ids delivered (delivered_at, or a notification.delivered line)",
    "stored_not_delivered": "stored but not delivered",
    "duplicates": "ids with more than one notification.delivered line",
    "duplicate_lines": "notification.delivered lines beyond the first, summed",
    "missing_delivery_lines": "delivered_at set but no notification.delivered line",
    "dlq_added": "messages the run added to the stack's DLQs (after - before, all queues)",
    "dlq_messages": "messages in the stack's DLQs after the run (all queues)",
}
RATES: Final = {
    "offered_per_s": "requests sent per second of traffic",
    "offered_ratio": "offered_per_s / the profile's target rate",
    "accepted_per_s": "accepted ids per second of traffic",
    "delivered_per_s": "deliveries per second, first acceptance to last delivery",
    "noop_invoke_per_s": "floor: no-op Lambda invokes per second (8 threads; sandbox only)",
    "sns_publish_per_s": "floor: SNS Publish calls per second (8 threads; sandbox only)",
    "throughput_ratio": "delivered_per_s / noop_invoke_per_s",
    "drain_s": "seconds the drain phase took",
}
LATENCIES: Final = {
    f"{p}.{hop}.{stat}": f"{p}: ms from accepted_at to {hop} ({stat})"
    for p in PRIORITIES
    for hop in HOPS
    for stat in STATS
}
METRICS: Final = {**COUNTS, **RATES, **LATENCIES}


def help_text() -> str:
    lines = [f"  {name:<24} {about}" for name, about in {**COUNTS, **RATES}.items()]
    lines.append(
        f"  {'<priority>.<hop>.<stat>':<24} latency, hop: {'|'.join(HOPS)}, stat: "
        f"{'|'.join(STATS)} (e.g. high.delivered.p95, ms)"
    )
    return "\n".join(lines)
