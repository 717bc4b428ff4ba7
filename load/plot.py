"""Latency over time, one PNG per priority (matplotlib, no display needed)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from load.stats import percentile

COLOURS = {"stored": "#1f77b4", "delivered": "#ff7f0e"}


def latency_plots(report: Mapping[str, Any], directory: Path) -> dict[str, str]:
    """latency-<priority>.png: accepted → stored (and → delivered) per id, by acceptance
    time, with a per-second p95 line and the lost ids marked; returns {priority: file name}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    started = report["traffic"]["started"]
    files: dict[str, str] = {}
    for priority in report["latency_ms"]:
        rows = [n for n in report["notifications"] if n["priority"] == priority]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(12, 3.8), layout="constrained")
        for hop, label in (("stored", "accepted → stored"), ("delivered", "accepted → delivered")):
            points = [(n["accepted_at"] - started, n[f"{hop}_ms"]) for n in rows]
            points = [(x, y) for x, y in points if y is not None]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            alpha = 0.7 if hop == "stored" else 0.35
            ax.scatter(xs, ys, s=7, alpha=alpha, color=COLOURS[hop], label=label, linewidths=0)
            if hop == "stored":
                seconds: dict[int, list[float]] = defaultdict(list)
                for x, y in points:
                    seconds[int(x)].append(y)
                steps = sorted(seconds)
                p95 = [percentile(seconds[s], 95) for s in steps]
                ax.plot(
                    [s + 0.5 for s in steps],
                    p95,
                    color="#08306b",
                    lw=1.2,
                    label="accepted → stored, p95 per second",
                )
        lost = [n["accepted_at"] - started for n in rows if n["outcome"] == "lost"]
        if lost:
            ax.scatter(
                lost, [0] * len(lost), marker="x", color="red", s=30, label=f"lost ({len(lost)})"
            )
        ax.set_xlabel("acceptance time (s since the traffic started)")
        ax.set_ylabel("ms")
        ax.set_title(f"{report['profile']['name']} on {report['target']}: {priority} priority")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
        name = f"latency-{priority}.png"
        fig.savefig(directory / name, dpi=100)
        plt.close(fig)
        files[priority] = name
    return files
