"""`make load PROFILE=smoke` against the session's deployed stack: every accepted id accounted for.

Runs the real command (which installs load/requirements.txt on first use) in a subprocess, so
Locust's gevent monkey patching stays out of the test process. It holds every priority's lane
shared (integration_tests/conftest.py), so no suite pauses a mapping under it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.exclusive import Locks
from load.report import OUTCOMES
from notifications.priorities import PRIORITIES
from sandbox.config import SandboxConfig

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
# the run itself takes ~20 s; a fresh clone first installs Locust and matplotlib
TIMEOUT_S = 300


@pytest.mark.long  # 20-30 s: 10 s of traffic, then the drain
def test_smoke_profile_accounts_for_every_accepted_id(
    stack: dict[str, Any], target: str, sandbox_config: SandboxConfig, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack))
    out = tmp_path / "report"
    args = f"--target {target} --stack-outputs {shlex.quote(str(outputs))} --out {out}"
    command = ["make", "--no-print-directory", "-C", str(ROOT), "load", "PROFILE=smoke"]
    command.append(f"ARGS={args}")
    locks = Locks(sandbox_config.home / "locks")
    lanes = [f"lane-{p}" for p in PRIORITIES] if target == "sandbox" else []
    with locks.hold(shared=lanes):
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, env=os.environ.copy()
        )
    shown = f"exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    # a finished run writes its report, whether or not a threshold was breached (make exits 2
    # for any failed recipe: python -m load's 1 = breached, 3 = the run failed, both become 2)
    assert (out / "report.json").exists(), shown
    report = json.loads((out / "report.json").read_text())
    assert result.returncode == (0 if report["passed"] else 2), shown
    m = report["metrics"]

    # every request answered and classified; every accepted id has exactly one outcome
    assert m["sent"] > 0, shown
    assert m["sent"] == m["accepted"] + m["throttled"] + m["errors"], shown
    notifications = report["notifications"]
    assert len(notifications) == m["accepted"] == len({n["id"] for n in notifications})
    counts = {o: sum(1 for n in notifications if n["outcome"] == o) for o in OUTCOMES}
    assert counts == {
        "delivered": m["delivered"],
        "stored_not_delivered": m["stored_not_delivered"],
        "lost": m["lost"],
    }
    assert m["accepted"] == m["lost"] + m["stored"]
    assert m["stored"] == m["delivered"] + m["stored_not_delivered"]
    assert sorted(report["ids"]["lost"]) == sorted(
        n["id"] for n in notifications if n["outcome"] == "lost"
    )
    # the report is complete: thresholds judged, plots and the page written
    assert report["thresholds"]
    assert (out / "report.md").exists()
    assert sorted(p.name for p in out.glob("latency-*.png")) == sorted(
        f"latency-{p}.png" for p in report["latency_ms"]
    )
    assert "── load smoke on" in result.stdout, shown
    for breach in (t for t in report["thresholds"] if t["status"] == "fail"):
        assert f"threshold breached: {breach['check']}" in result.stderr, shown
