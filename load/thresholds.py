"""Thresholds: "<metric> <op> <number or metric>", checked against a run's metrics.

Metric names are the keys of the report's `metrics` (flat, e.g. `lost`, `throughput_ratio`,
`high.delivered.p95`). A threshold whose metric was not measured is `skipped`, with the reason.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

OPERATORS: Final[dict[str, Callable[[float, float], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
NAME: Final = r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*"
PATTERN: Final = re.compile(
    rf"^\s*(?P<left>{NAME})\s*(?P<op>==|!=|<=|>=|<|>)\s*"
    rf"(?P<right>{NAME}|-?\d+(?:\.\d+)?)\s*$"
)


class ThresholdError(ValueError):
    """A threshold that does not parse."""


@dataclass(frozen=True)
class Threshold:
    left: str
    op: str
    right: str | float  # a metric name or a number
    target: str | None = None  # only on this target ("sandbox" or "aws"); None: everywhere

    @property
    def text(self) -> str:
        right = self.right if isinstance(self.right, str) else f"{self.right:g}"
        return f"{self.left} {self.op} {right}"

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.text, "target": self.target}


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    status: str  # "pass", "fail" or "skipped"
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.threshold.text, "status": self.status, "detail": self.detail}


def parse_threshold(text: Any, target: str | None = None) -> Threshold:
    if not isinstance(text, str):
        raise ThresholdError(f"expected text like 'lost == 0', got {text!r}")
    match = PATTERN.match(text)
    if not match:
        raise ThresholdError(
            f"{text!r} is not '<metric> <op> <number or metric>' (op: {' '.join(OPERATORS)})"
        )
    right_text = match["right"]
    right: str | float = right_text if re.fullmatch(NAME, right_text) else float(right_text)
    return Threshold(match["left"], match["op"], right, target)


def _value(metrics: Mapping[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return None if value is None else float(value)


def _show(value: float) -> str:
    if value == int(value) or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def evaluate(
    thresholds: tuple[Threshold, ...] | list[Threshold],
    metrics: Mapping[str, Any],
    target: str,
) -> list[Verdict]:
    verdicts = []
    for t in thresholds:
        if t.target is not None and t.target != target:
            verdicts.append(Verdict(t, "skipped", f"applies on {t.target} only"))
            continue
        names = [t.left] + ([t.right] if isinstance(t.right, str) else [])
        unknown = [n for n in names if n not in metrics]
        if unknown:
            verdicts.append(Verdict(t, "skipped", f"no metric named {', '.join(unknown)}"))
            continue
        left = _value(metrics, t.left)
        right = _value(metrics, t.right) if isinstance(t.right, str) else t.right
        unmeasured = [n for n in names if _value(metrics, n) is None]
        if left is None or right is None:
            verdicts.append(Verdict(t, "skipped", f"not measured: {', '.join(unmeasured)}"))
            continue
        shown = f"{t.left} = {_show(left)}"
        if isinstance(t.right, str):
            shown += f", {t.right} = {_show(right)}"
        ok = OPERATORS[t.op](left, right)
        verdicts.append(Verdict(t, "pass" if ok else "fail", shown))
    return verdicts
