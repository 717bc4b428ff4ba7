"""Load profiles: the shipped file, validation of mistakes, command-line overrides."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from load.profiles import PROFILES_FILE, ProfileError, load_profiles, parse_profiles

ROOT = Path(__file__).resolve().parents[2]


def document(**profile: Any) -> dict[str, Any]:
    base = {"duration_s": 5, "max_requests": 10, "rates": {"high": 1}, "users": 1}
    base.update(profile)
    defaults = {
        "concurrency": 2,
        "request_timeout_s": 5,
        "drain_timeout_s": 10,
        "settle_s": 1,
        "floors_s": 1,
    }
    return {"defaults": defaults, "profiles": {"p": base}}


def stage_throttling() -> dict[str, float]:
    text = (ROOT / "stack" / "env" / "sandbox.tfvars").read_text()
    block = re.search(r"api_throttling\s*=\s*\{(.*?)\}", text, re.S)
    assert block, "api_throttling not found in sandbox.tfvars"
    return {k: float(v) for k, v in re.findall(r"(\w+)\s*=\s*([\d.]+)", block[1])}


def test_the_shipped_profiles_load() -> None:
    profiles = load_profiles()
    assert {"steady", "flood", "burst", "smoke"} <= set(profiles)
    for profile in profiles.values():
        assert profile.thresholds, profile.name
        assert profile.max_requests <= 10_000 and profile.duration_s <= 120  # bounded
        assert profile.drain_timeout_s <= 120


def test_steady_is_a_mixed_load_for_a_minute() -> None:
    steady = load_profiles()["steady"]
    assert steady.duration_s == 60
    shares = {p: round(r / steady.rate, 2) for p, r in steady.rates.items()}
    assert shares == {"high": 0.2, "medium": 0.3, "low": 0.5}
    assert "low.delivered.p95 <= 5000" in [t.text for t in steady.thresholds]  # no backlog


def test_flood_is_low_at_ten_times_high_with_a_high_trickle() -> None:
    flood = load_profiles()["flood"]
    assert flood.rates["high"] > 0
    assert flood.rates["low"] >= 10 * flood.rates["high"]


def test_burst_goes_well_above_the_stage_throttling() -> None:
    burst = load_profiles()["burst"]
    limits = stage_throttling()
    assert burst.rate >= 2 * limits["rate_limit"]
    assert burst.concurrency > limits["burst_limit"]  # more in flight at once than the bucket
    assert "throttled >= 1" in [t.text for t in burst.thresholds]
    assert "errors == 0" in [t.text for t in burst.thresholds]  # 429s are not errors


def test_defaults_fill_in_and_profiles_override() -> None:
    raw = yaml.safe_load(PROFILES_FILE.read_text())
    profiles = load_profiles()
    assert profiles["steady"].settle_s == raw["defaults"]["settle_s"]
    assert profiles["smoke"].settle_s == raw["profiles"]["smoke"]["settle_s"]


def test_rate_override_scales_every_priority() -> None:
    steady = load_profiles()["steady"]
    faster = steady.with_overrides(rate=50, duration_s=10, max_requests=7)
    assert faster.rate == pytest.approx(50)
    assert faster.rates["high"] == pytest.approx(10)
    assert faster.rates["low"] == pytest.approx(25)
    assert (faster.duration_s, faster.max_requests) == (10, 7)
    assert steady.rate != faster.rate  # the original is untouched
    with pytest.raises(ProfileError, match="--rate"):
        steady.with_overrides(rate=0)
    with pytest.raises(ProfileError, match="max_requests"):
        steady.with_overrides(max_requests=0)


def test_users_per_priority_follow_the_rates() -> None:
    flood = load_profiles()["flood"].with_overrides(concurrency=20)
    shares = flood.users_per_priority()
    assert set(shares) == {"high", "low"}
    assert shares["high"] >= 2 and sum(shares.values()) == 20
    tiny = load_profiles()["smoke"].with_overrides(concurrency=3)
    assert tiny.users_per_priority() == {"high": 1, "medium": 1, "low": 1}


def test_priorities_with_rate_zero_are_left_out() -> None:
    profile = parse_profiles(document(rates={"high": 2, "medium": 0}))["p"]
    assert profile.rates == {"high": 2.0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rates": {"urgent": 1}}, "unknown priority"),
        ({"rates": {"high": -1}}, "rates.high must be >= 0"),
        ({"rates": {"high": 0}}, "rates are all 0"),
        ({"rates": []}, "rates must map"),
        ({"duration_s": "60"}, "duration_s must be a number"),
        ({"duration_s": 0}, "duration_s must be between"),
        ({"max_requests": 2.5}, "whole number"),
        ({"drain_timeout_s": 10_000}, "drain_timeout_s must be between"),
        ({"colour": "red"}, "unknown key"),
        ({"stagger": "yes"}, "stagger must be true or false"),
        ({"thresholds": "lost == 0"}, "must be a list"),
        ({"thresholds": ["lost = 0"]}, r"thresholds\[0\]"),
        ({"thresholds": ["lots == 0"]}, "unknown metric"),
        ({"thresholds": ["high.delivered.p97 <= 1"]}, "unknown metric"),
        ({"thresholds": [{"check": "lost == 0", "target": "mars"}]}, "target must be"),
        ({"thresholds": [{"when": "lost == 0"}]}, "check, target"),
    ],
)
def test_mistakes_name_the_profile_and_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message) as error:
        parse_profiles(document(**change))
    assert "profile p" in str(error.value)


def test_missing_keys_and_bad_documents() -> None:
    raw = document()
    del raw["profiles"]["p"]["max_requests"]
    with pytest.raises(ProfileError, match="missing"):
        parse_profiles(raw)
    with pytest.raises(ProfileError, match="profiles"):
        parse_profiles({"profile": {}})
    with pytest.raises(ProfileError, match="unknown top-level"):
        parse_profiles({**document(), "extra": 1})


def test_a_broken_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("profiles: [unclosed")
    with pytest.raises(ProfileError, match=str(path)):
        load_profiles(path)
