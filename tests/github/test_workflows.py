"""Static checks of .github/: actionlint, actions pinned by commit, permissions, make targets.

GitHub Actions cannot run here, so these are what catches a broken workflow before a push:
actionlint (with shellcheck on every `run:` script, the same command as `make lint`), and the
project's own rules that actionlint does not enforce.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
BIN = Path(sys.executable).parent
# `uses: owner/repo[/path]@<40 hex> # v1.2.3`: the commit is what runs, the comment says which
# release it is (for people and for update tools).
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+(\.\d+)*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$")


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _values_of(key: str, node: Any) -> list[str]:
    """Every string value of `key` anywhere in a parsed workflow or action (`uses`, `run`)."""
    if isinstance(node, dict):
        found = [node[key]] if isinstance(node.get(key), str) else []
        return found + [v for value in node.values() for v in _values_of(key, value)]
    if isinstance(node, list):
        return [v for item in node for v in _values_of(key, item)]
    return []


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "deploy.yml"}


def test_actionlint_finds_nothing() -> None:
    """The same command as `make lint` (shellcheck from .venv, so every machine checks alike)."""
    actionlint = BIN / "actionlint"
    assert actionlint.exists(), f"{actionlint} missing: run `make setup` (pyproject dev extra)"
    result = subprocess.run(
        [str(actionlint), f"-shellcheck={BIN / 'shellcheck'}", "-pyflakes=", "-no-color"]
        + [str(p) for p in WORKFLOWS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("uses", "pinned"),
    [
        ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", True),
        ("actions/checkout@v4", False),
        ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", False),
        ("actions/checkout@11bd71901bbe # v4.2.2", False),
        ("owner/repo/path@0123456789abcdef0123456789abcdef01234567 # v1", True),
    ],
)
def test_the_pin_rule(uses: str, pinned: bool) -> None:
    assert bool(PINNED.match(uses)) is pinned


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(GITHUB)))
def test_every_action_is_pinned_to_a_commit(path: Path) -> None:
    lines = [m.group(1) for line in path.read_text().splitlines() if (m := USES_LINE.match(line))]
    # The line scan sees the version comments; the parsed file proves it missed no `uses:`.
    assert len(lines) == len(_values_of("uses", _load(path))), "a `uses:` the line scan did not see"
    unpinned = [u for u in lines if not u.startswith("./") and not PINNED.match(u)]
    assert not unpinned, f"not pinned to a 40-hex commit with a `# vX.Y.Z` comment: {unpinned}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_and_concurrency_are_explicit(path: Path) -> None:
    workflow = _load(path)
    assert "permissions" in workflow, "no top-level permissions: the token would get defaults"
    assert "concurrency" in workflow
    for name, job in workflow["jobs"].items():
        granted = [job.get("permissions"), workflow["permissions"]]
        assert "write-all" not in granted, f"{name}: write-all"


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.MULTILINE))


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(GITHUB)))
def test_workflows_call_make_targets_that_exist(path: Path) -> None:
    scripts = "\n".join(_values_of("run", _load(path)))
    called = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", scripts))
    assert called <= _make_targets(), f"unknown make targets: {called - _make_targets()}"
