"""A load run's report: accounting of every accepted id, latencies, throughput, thresholds.

Pure: built from what the traffic phase recorded (`Sent`) and what the drain found (`Evidence`),
so it is unit-tested without a sandbox. `assemble` returns the JSON report; `markdown` and
`summary` render it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from load.metrics import HOPS, METRICS, STATS
from load.profiles import Profile
from load.stats import summary as latency_summary
from load.thresholds import evaluate
from notifications.priorities import PRIORITIES

ATTRIBUTE: Final = "attribute"  # delivered = the item's delivered_at (set by the processor)
LOG: Final = "log"  # delivered = a notification.delivered log line (before delivered_at existed)
EVIDENCE_TEXT: Final = {
    ATTRIBUTE: "the item's delivered_at attribute; once = one notification.delivered line",
    LOG: "notification.delivered log lines (no delivered_at attribute in use)",
}
OUTCOMES: Final = ("delivered", "stored_not_delivered", "lost")


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Sent:
    """One POST /notifications as the load generator saw it."""

    priority: str
    status: int  # 0: no answer (timeout, connection error)
    sent_at: float  # epoch seconds
    seconds: float  # round trip
    id: str | None = None  # from a 202 answer's body
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == 202 and bool(self.id)

    @property
    def kind(self) -> str:
        """ "accepted", "throttled" or "error"."""
        if self.accepted:
            return "accepted"
        return "throttled" if self.status == 429 else "error"

    @property
    def status_key(self) -> str:
        return "202 without id" if self.status == 202 and not self.id else str(self.status)


@dataclass
class Evidence:
    """What the drain found for one accepted id: its item and its delivery log lines."""

    item: dict[str, Any] | None = None  # plain values (accepted_at, stored_at, delivered_at...)
    lines: list[float] = field(default_factory=list)  # notification.delivered line times

    def delivered_at(self, mode: str) -> float | None:
        if mode == ATTRIBUTE:
            value = (self.item or {}).get("delivered_at")
            return parse_time(value) if value else None
        return min(self.lines) if self.lines else None

    def complete(self, mode: str) -> bool:
        return self.item is not None and self.delivered_at(mode) is not None


def outcome(evidence: Evidence, mode: str) -> str:
    if evidence.item is None:
        return "lost"
    return "delivered" if evidence.delivered_at(mode) is not None else "stored_not_delivered"


def _rate(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 2) if seconds and seconds > 0 else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def dlq_totals(dlq: Mapping[str, Mapping[str, Mapping[str, int | None]]]) -> tuple[int, int]:
    """(messages after, messages added) over every DLQ of every priority."""
    after = added = 0
    for queues in dlq.values():
        for depth in queues.values():
            after += depth.get("after") or 0
            added += (depth.get("after") or 0) - (depth.get("before") or 0)
    return after, added


def assemble(
    *,
    profile: Profile,
    target: str,
    sent: Iterable[Sent],
    evidence: Mapping[str, Evidence],
    mode: str,
    traffic: Mapping[str, float],
    drain: Mapping[str, Any],
    floors: Mapping[str, Any],
    dlq: Mapping[str, Mapping[str, Mapping[str, int | None]]],
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON report. `traffic`: started/stopped (epoch s); `drain`: seconds, complete;
    `floors`: noop_invoke_per_s, sns_publish_per_s (or skipped: reason); `dlq`: per priority,
    per queue (dlq, subscription_dlq), before/after depths."""
    requests = list(sent)
    traffic_s = max(0.0, traffic["stopped"] - traffic["started"])
    by_kind = Counter(r.kind for r in requests)
    statuses = Counter(r.status_key for r in requests)
    errors_by_status = {k: n for k, n in sorted(statuses.items()) if k not in ("202", "429")}
    error_samples: dict[str, str] = {}
    for r in requests:
        if r.kind == "error" and r.status_key not in error_samples:
            error_samples[r.status_key] = (r.error or "")[:300]

    notifications = []
    latencies: dict[str, dict[str, list[float]]] = {p: {h: [] for h in HOPS} for p in PRIORITIES}
    outcomes: Counter[str] = Counter()
    duplicates: dict[str, int] = {}
    missing_lines: list[str] = []
    first_accepted: float | None = None
    last_delivered: float | None = None
    for r in requests:
        if not r.accepted:
            continue
        assert r.id is not None
        found = evidence.get(r.id, Evidence())
        result = outcome(found, mode)
        outcomes[result] += 1
        item = found.item or {}
        accepted_at = parse_time(item["accepted_at"]) if item.get("accepted_at") else r.sent_at
        stored_at = parse_time(item["stored_at"]) if item.get("stored_at") else None
        delivered_at = found.delivered_at(mode) if found.item is not None else None
        first_accepted = accepted_at if first_accepted is None else min(first_accepted, accepted_at)
        stored_ms = None if stored_at is None else round((stored_at - accepted_at) * 1000, 1)
        delivered_ms = (
            None if delivered_at is None else round((delivered_at - accepted_at) * 1000, 1)
        )
        if stored_ms is not None:
            latencies[r.priority]["stored"].append(stored_ms)
        if delivered_ms is not None:
            latencies[r.priority]["delivered"].append(delivered_ms)
            last_delivered = (
                delivered_at if last_delivered is None else max(last_delivered, delivered_at)
            )
        if len(found.lines) > 1:
            duplicates[r.id] = len(found.lines)
        if mode == ATTRIBUTE and result == "delivered" and not found.lines:
            missing_lines.append(r.id)
        notifications.append(
            {
                "id": r.id,
                "priority": r.priority,
                "outcome": result,
                "accepted_at": round(accepted_at, 3),
                "stored_ms": stored_ms,
                "delivered_ms": delivered_ms,
                "delivery_lines": len(found.lines),
            }
        )

    latency = {
        p: {hop: latency_summary(values) for hop, values in hops.items()}
        for p, hops in latencies.items()
    }
    delivery_span = (
        last_delivered - first_accepted
        if last_delivered is not None and first_accepted is not None
        else None
    )
    accepted = by_kind["accepted"]
    dlq_after, dlq_added = dlq_totals(dlq)
    noop = floors.get("noop_invoke_per_s")
    offered_per_s = _rate(len(requests), traffic_s)
    delivered_per_s = _rate(outcomes["delivered"], delivery_span)
    metrics: dict[str, Any] = {
        "sent": len(requests),
        "accepted": accepted,
        "throttled": by_kind["throttled"],
        "errors": by_kind["error"],
        "stored": outcomes["delivered"] + outcomes["stored_not_delivered"],
        "lost": outcomes["lost"],
        "delivered": outcomes["delivered"],
        "stored_not_delivered": outcomes["stored_not_delivered"],
        "duplicates": len(duplicates),
        "duplicate_lines": sum(n - 1 for n in duplicates.values()),
        "missing_delivery_lines": len(missing_lines),
        "dlq_added": dlq_added,
        "dlq_messages": dlq_after,
        "offered_per_s": offered_per_s,
        "offered_ratio": _ratio(offered_per_s, profile.rate),
        "accepted_per_s": _rate(accepted, traffic_s),
        "delivered_per_s": delivered_per_s,
        "noop_invoke_per_s": noop,
        "sns_publish_per_s": floors.get("sns_publish_per_s"),
        "throughput_ratio": _ratio(delivered_per_s, noop),
        "drain_s": round(drain["seconds"], 1),
    }
    for p in PRIORITIES:
        for hop in HOPS:
            for stat in STATS:
                value = latency[p][hop][stat]
                metrics[f"{p}.{hop}.{stat}"] = None if p not in profile.rates else value
    assert set(metrics) == set(METRICS), set(metrics) ^ set(METRICS)
    verdicts = evaluate(profile.thresholds, metrics, target)

    priority_of = {n["id"]: n["priority"] for n in notifications}
    per_priority = {}
    for p in profile.rates:
        mine = [r for r in requests if r.priority == p]
        kinds = Counter(r.kind for r in mine)
        mine_out = Counter(n["outcome"] for n in notifications if n["priority"] == p)
        per_priority[p] = {
            "target_per_s": round(profile.rates[p], 3),
            "sent": len(mine),
            "accepted": kinds["accepted"],
            "throttled": kinds["throttled"],
            "errors": kinds["error"],
            **{o: mine_out[o] for o in OUTCOMES},
            "duplicates": sum(1 for i in duplicates if priority_of[i] == p),
            "request_ms": latency_summary([r.seconds * 1000 for r in mine]),
        }

    return {
        "meta": dict(meta or {}),
        "profile": profile.as_dict(),
        "target": target,
        "traffic": {
            "started": traffic["started"],
            "stopped": traffic["stopped"],
            "seconds": round(traffic_s, 2),
            "status_counts": dict(sorted(statuses.items())),
            "errors_by_status": errors_by_status,
            "error_samples": error_samples,
            "by_priority": per_priority,
        },
        "drain": {**drain, "delivery_evidence": mode, "evidence_text": EVIDENCE_TEXT[mode]},
        "floors": dict(floors),
        "dlq": {p: {q: dict(d) for q, d in queues.items()} for p, queues in dlq.items()},
        "latency_ms": {p: latency[p] for p in PRIORITIES if p in profile.rates},
        "metrics": metrics,
        "thresholds": [v.as_dict() for v in verdicts],
        "passed": not any(v.status == "fail" for v in verdicts),
        "ids": {
            "lost": sorted(n["id"] for n in notifications if n["outcome"] == "lost"),
            "stored_not_delivered": sorted(
                n["id"] for n in notifications if n["outcome"] == "stored_not_delivered"
            ),
            "duplicates": dict(sorted(duplicates.items())),
            "missing_delivery_lines": sorted(missing_lines),
        },
        "notifications": notifications,
    }


def breaches(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [t for t in report["thresholds"] if t["status"] == "fail"]


# ------------------------------------------------------------------ rendering


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and digits:
        return f"{value:.{digits}f}"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def _triple(stats: Mapping[str, Any]) -> str:
    return "/".join(_n(stats[k]) for k in ("p50", "p95", "p99"))


def _floors_line(report: Mapping[str, Any]) -> str:
    floors, m = report["floors"], report["metrics"]
    if floors.get("skipped"):
        return f"floors: skipped ({floors['skipped']})"
    return (
        f"floors ({floors.get('threads')} threads, {floors.get('seconds')} s each, "
        f"{floors.get('when')}): no-op Lambda invoke {_n(m['noop_invoke_per_s'], 1)}/s · "
        f"SNS Publish {_n(m['sns_publish_per_s'], 1)}/s · "
        f"pipeline delivered/s ÷ no-op invoke/s = {_n(m['throughput_ratio'], 3)}"
    )


def _dlq_line(report: Mapping[str, Any]) -> str:
    parts = []
    for p, queues in report["dlq"].items():
        cells = [
            f"{q} {_n(d.get('after'))} ({_n(d.get('before'))} before)" for q, d in queues.items()
        ]
        parts.append(f"{p}: " + ", ".join(cells))
    m = report["metrics"]
    return f"DLQs: +{m['dlq_added']} this run, {m['dlq_messages']} now — " + "; ".join(parts)


def summary(report: Mapping[str, Any], location: str | None = None) -> str:
    """The table printed at the end of a run."""
    m, p, t = report["metrics"], report["profile"], report["traffic"]
    errors = ", ".join(f"{k}: {n}" for k, n in t["errors_by_status"].items()) or "none"
    lines = [
        f"── load {p['name']} on {report['target']} "
        f"({t['seconds']:.0f} s of traffic, target {p['rate']:.1f} req/s) " + "─" * 20,
        f"  sent {m['sent']} ({_n(m['offered_per_s'], 1)}/s, {_n(m['offered_ratio'], 2)} of "
        f"target) · accepted {m['accepted']} ({_n(m['accepted_per_s'], 1)}/s) · "
        f"429s {m['throttled']} · other errors {m['errors']} ({errors})",
        f"  stored {m['stored']} · delivered {m['delivered']} "
        f"({_n(m['delivered_per_s'], 1)}/s) · lost {m['lost']} · "
        f"stored-not-delivered {m['stored_not_delivered']} · duplicate deliveries "
        f"{m['duplicates']} ids (+{m['duplicate_lines']} lines) · delivered without a line "
        f"{m['missing_delivery_lines']}",
        f"  drain {m['drain_s']:.1f} s{'' if report['drain']['complete'] else ' (timed out)'}"
        f" · delivery evidence: {report['drain']['evidence_text']}",
        "  " + _dlq_line(report),
        "  " + _floors_line(report),
        f"  {'latency ms':<10} {'sent':>6} {'accepted':>8} {'429':>5} {'errors':>6} "
        f"{'lost':>5} {'not-dlv':>7} {'dup':>4}  {'→stored p50/p95/p99':>22}  "
        f"{'→delivered p50/p95/p99':>24}",
    ]
    for priority, row in t["by_priority"].items():
        lat = report["latency_ms"][priority]
        lines.append(
            f"    {priority:<8} {row['sent']:>6} {row['accepted']:>8} {row['throttled']:>5} "
            f"{row['errors']:>6} {row['lost']:>5} {row['stored_not_delivered']:>7} "
            f"{row['duplicates']:>4}  {_triple(lat['stored']):>22}  "
            f"{_triple(lat['delivered']):>24}"
        )
    counts = Counter(v["status"] for v in report["thresholds"])
    lines.append(
        f"  thresholds: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['skipped']} skipped"
    )
    marks = {"pass": "✓", "fail": "✗ BREACHED", "skipped": "- skipped"}
    for v in report["thresholds"]:
        lines.append(f"    {marks[v['status']]:<10} {v['check']:<40} {v['detail']}")
    if location:
        lines.append(f"  report: {location}")
    return "\n".join(lines)


def markdown(report: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    """report.md: the summary, the thresholds, per-priority tables and the plots."""
    p, m, t = report["profile"], report["metrics"], report["traffic"]
    verdict = "PASSED" if report["passed"] else "FAILED"
    out = [
        f"# Load test `{p['name']}` on {report['target']}: {verdict}",
        "",
        f"{p['about']}",
        "",
        f"- started {report['meta'].get('started_iso', '?')}, endpoint "
        f"`{report['meta'].get('endpoint', '?')}`, {p['users']} Cognito users, "
        f"{sum(p['users_per_priority'].values())} Locust users "
        f"(locust {report['meta'].get('locust', '?')})",
        f"- traffic: {t['seconds']:.1f} s, target {p['rate']:.1f} req/s "
        f"({', '.join(f'{k} {v:g}' for k, v in p['rates'].items())}), "
        f"max {p['max_requests']} requests",
        f"- {_floors_line(report)}",
        f"- drain: {m['drain_s']:.1f} s"
        f"{'' if report['drain']['complete'] else ' (timed out before every id was complete)'};"
        f" delivery evidence: {report['drain']['evidence_text']}",
        f"- {_dlq_line(report)}",
        "",
        "## Thresholds",
        "",
        "| | check | detail |",
        "|---|---|---|",
    ]
    marks = {"pass": "✅ pass", "fail": "❌ **breached**", "skipped": "skipped"}
    out += [
        f"| {marks[v['status']]} | `{v['check']}` | {v['detail']} |" for v in report["thresholds"]
    ]
    out += [
        "",
        "## Accounting",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    out += [f"| {k} | {_n(v, 2)} |" for k, v in m.items() if "." not in k]
    out += [
        "",
        "## Per priority",
        "",
        "| priority | target/s | sent | accepted | 429 | errors | delivered | not delivered "
        "| lost | dup | request ms p50/p95/p99 | →stored p50/p95/p99 | →delivered p50/p95/p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for priority, row in t["by_priority"].items():
        lat = report["latency_ms"][priority]
        out.append(
            f"| {priority} | {row['target_per_s']:g} | {row['sent']} | {row['accepted']} "
            f"| {row['throttled']} | {row['errors']} | {row['delivered']} "
            f"| {row['stored_not_delivered']} | {row['lost']} | {row['duplicates']} "
            f"| {_triple(row['request_ms'])} | {_triple(lat['stored'])} "
            f"| {_triple(lat['delivered'])} |"
        )
    if t["error_samples"]:
        out += ["", "## Errors (one sample per status)", ""]
        out += [f"- `{k}`: {v or '(no body)'}" for k, v in t["error_samples"].items()]
    ids = report["ids"]
    for key in ("lost", "stored_not_delivered", "missing_delivery_lines"):
        if ids[key]:
            shown = ", ".join(f"`{i}`" for i in ids[key][:20])
            more = f" and {len(ids[key]) - 20} more" if len(ids[key]) > 20 else ""
            out += ["", f"**{key}** ({len(ids[key])}): {shown}{more}"]
    if ids["duplicates"]:
        shown = ", ".join(f"`{i}` x{n}" for i, n in list(ids["duplicates"].items())[:20])
        out += ["", f"**duplicate deliveries** ({len(ids['duplicates'])}): {shown}"]
    if plots:
        out += ["", "## Latency over time (accepted → stored, by acceptance time)", ""]
        out += [f"![{priority}]({name})" for priority, name in plots.items()]
    out += ["", "Full data: `report.json` (every accepted id with its outcome and latencies).", ""]
    return "\n".join(out)
