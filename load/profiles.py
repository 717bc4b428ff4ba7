"""Load profiles (load/profiles.yaml): loading, validation and command-line overrides.

Pure: no AWS, no Locust. A mistake in the file fails at load time and names the profile and key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from load.metrics import METRICS
from load.thresholds import Threshold, ThresholdError, parse_threshold
from notifications.priorities import PRIORITIES

PROFILES_FILE: Final = Path(__file__).resolve().parent / "profiles.yaml"
TARGETS: Final = ("sandbox", "aws")

# key → (type, lowest value allowed); LIMITS caps some of them
NUMBERS: Final[dict[str, tuple[type, float]]] = {
    "duration_s": (float, 0.5),
    "max_requests": (int, 1),
    "users": (int, 1),
    "concurrency": (int, 1),
    "request_timeout_s": (float, 0.5),
    "drain_timeout_s": (float, 0),
    "settle_s": (float, 0),
    "floors_s": (float, 0),
}
REQUIRED: Final = ("duration_s", "max_requests", "rates")
KNOWN: Final = {*NUMBERS, "rates", "thresholds", "about", "stagger"}
LIMITS: Final = {"drain_timeout_s": 600.0, "duration_s": 3600.0, "max_requests": 1_000_000}


class ProfileError(ValueError):
    """A profile that cannot run; the message names the profile and the key."""


@dataclass(frozen=True)
class Profile:
    name: str
    about: str
    duration_s: float
    max_requests: int
    rates: dict[str, float]  # requests/s per priority (priorities with rate 0 are left out)
    users: int
    concurrency: int
    stagger: bool
    request_timeout_s: float
    drain_timeout_s: float
    settle_s: float
    floors_s: float
    thresholds: tuple[Threshold, ...]

    @property
    def rate(self) -> float:
        return sum(self.rates.values())

    def users_per_priority(self) -> dict[str, int]:
        """Locust users per priority: `concurrency` split by rate, at least two each (one
        when `concurrency` is too small), so a slow answer does not stall a trickle."""
        priorities = [p for p in PRIORITIES if p in self.rates]
        total = max(self.concurrency, len(priorities))
        least = 2 if total >= 2 * len(priorities) else 1
        shares = {p: max(least, math.floor(total * self.rates[p] / self.rate)) for p in priorities}
        # hand what rounding left over to the priorities with the most traffic per user
        while sum(shares.values()) < total:
            busiest = max(priorities, key=lambda p: self.rates[p] / shares[p])
            shares[busiest] += 1
        return shares

    def with_overrides(
        self,
        *,
        rate: float | None = None,
        duration_s: float | None = None,
        max_requests: int | None = None,
        users: int | None = None,
        concurrency: int | None = None,
        drain_timeout_s: float | None = None,
    ) -> Profile:
        """This profile with command-line overrides; `rate` scales every priority's rate."""
        changes: dict[str, Any] = {}
        if rate is not None:
            if not rate > 0:
                raise ProfileError(f"--rate must be > 0, got {rate}")
            changes["rates"] = {p: r * rate / self.rate for p, r in self.rates.items()}
        for key, value in (
            ("duration_s", duration_s),
            ("max_requests", max_requests),
            ("users", users),
            ("concurrency", concurrency),
            ("drain_timeout_s", drain_timeout_s),
        ):
            if value is not None:
                changes[key] = _number(self.name, key, value)
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["thresholds"] = [t.as_dict() for t in self.thresholds]
        data["rate"] = self.rate
        data["users_per_priority"] = self.users_per_priority()
        return data


def _number(profile: str, key: str, value: Any) -> int | float:
    kind, lower = NUMBERS[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"profile {profile}: {key} must be a number, got {value!r}")
    if kind is int and value != int(value):
        raise ProfileError(f"profile {profile}: {key} must be a whole number, got {value!r}")
    if not lower <= value <= LIMITS.get(key, math.inf):
        bound = LIMITS.get(key)
        within = f"between {lower:g} and {bound:g}" if bound else f">= {lower:g}"
        raise ProfileError(f"profile {profile}: {key} must be {within}, got {value!r}")
    return kind(value)


def _rates(profile: str, raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict) or not raw:
        raise ProfileError(f"profile {profile}: rates must map priorities to requests/s")
    unknown = sorted(set(raw) - set(PRIORITIES))
    if unknown:
        raise ProfileError(
            f"profile {profile}: rates: unknown priority {unknown}; known: {list(PRIORITIES)}"
        )
    rates: dict[str, float] = {}
    for priority in PRIORITIES:
        value = raw.get(priority, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ProfileError(f"profile {profile}: rates.{priority} must be >= 0, got {value!r}")
        if value > 0:
            rates[priority] = float(value)
    if not rates:
        raise ProfileError(f"profile {profile}: rates are all 0")
    return rates


def _thresholds(profile: str, raw: Any) -> tuple[Threshold, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ProfileError(f"profile {profile}: thresholds must be a list")
    parsed = []
    for index, entry in enumerate(raw):
        target = None
        if isinstance(entry, dict):
            extra = sorted(set(entry) - {"check", "target"})
            if extra or "check" not in entry:
                raise ProfileError(
                    f"profile {profile}: thresholds[{index}] must be a string or "
                    f"{{check, target}}, got keys {sorted(entry)}"
                )
            target = entry.get("target")
            if target not in TARGETS:
                raise ProfileError(
                    f"profile {profile}: thresholds[{index}].target must be one of {TARGETS}"
                )
            entry = entry["check"]
        try:
            threshold = parse_threshold(entry, target=target)
        except ThresholdError as e:
            raise ProfileError(f"profile {profile}: thresholds[{index}]: {e}") from None
        names = [threshold.left] + ([threshold.right] if isinstance(threshold.right, str) else [])
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ProfileError(
                f"profile {profile}: thresholds[{index}]: unknown metric {unknown} "
                "(python -m load --help lists them)"
            )
        parsed.append(threshold)
    return tuple(parsed)


def build_profile(name: str, raw: Any, defaults: dict[str, Any]) -> Profile:
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {name}: must be a mapping")
    merged = {**defaults, **raw}
    unknown = sorted(set(merged) - KNOWN)
    if unknown:
        raise ProfileError(f"profile {name}: unknown key(s) {unknown}; known: {sorted(KNOWN)}")
    missing = [key for key in REQUIRED if key not in merged]
    if missing:
        raise ProfileError(f"profile {name}: missing {missing}")
    numbers = {key: _number(name, key, merged[key]) for key in NUMBERS if key in merged}
    for key in NUMBERS:
        if key not in numbers:
            raise ProfileError(f"profile {name}: missing {key} (and no default)")
    stagger = merged.get("stagger", True)
    if not isinstance(stagger, bool):
        raise ProfileError(f"profile {name}: stagger must be true or false")
    return Profile(
        name=name,
        about=" ".join(str(merged.get("about", "")).split()),
        rates=_rates(name, merged["rates"]),
        stagger=stagger,
        thresholds=_thresholds(name, merged.get("thresholds")),
        **numbers,  # type: ignore[arg-type]
    )


def parse_profiles(document: Any) -> dict[str, Profile]:
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), dict):
        raise ProfileError("the file needs a `profiles:` mapping")
    extra = sorted(set(document) - {"defaults", "profiles"})
    if extra:
        raise ProfileError(f"unknown top-level key(s) {extra}; known: defaults, profiles")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ProfileError("defaults must be a mapping")
    return {name: build_profile(name, raw, defaults) for name, raw in document["profiles"].items()}


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ProfileError(f"{path}: {e}") from None
    try:
        return parse_profiles(document)
    except ProfileError as e:
        raise ProfileError(f"{path}: {e}") from None
