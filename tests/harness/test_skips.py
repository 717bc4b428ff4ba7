"""harness.skips: a skip whose reason is not on the allow-list fails the session (real pytest
runs, with and without xdist)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.pytest_plugin import CHILD_SESSION_ARGS

CONFIG = """
[tool.pytest.ini_options]
allowed_skips = ["^--target aws: "]
"""
TESTS = """
import pytest

def test_runs():
    pass

def test_skips_for_an_allowed_reason():
    pytest.skip("--target aws: sandbox only")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False
"""
UNEXPECTED = """
import shutil
import pytest

@pytest.mark.skipif(True, reason="terraform is not on PATH")
def test_terraform():
    pass

def test_security_scan():
    pytest.skip("!!! SECURITY SCAN NOT RUN !!!")
"""


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "pyproject.toml").write_text(CONFIG)
    env = {**os.environ, "SANDBOX_HOME": str(folder / "sandbox-home")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *CHILD_SESSION_ARGS, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.long
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_only_allowed_skips_keep_the_session_green(tmp_path: Path, xdist: list[str]) -> None:
    (tmp_path / "test_allowed.py").write_text(TESTS)
    result = run_pytest(tmp_path, *xdist)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unexpected skips" not in result.stdout


@pytest.mark.long
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_any_other_skip_fails_it_and_is_named(tmp_path: Path, xdist: list[str]) -> None:
    (tmp_path / "test_allowed.py").write_text(TESTS)
    (tmp_path / "test_unexpected.py").write_text(UNEXPECTED)
    result = run_pytest(tmp_path, *xdist)
    assert result.returncode == 1, result.stdout + result.stderr
    summary = result.stdout.split("unexpected skips (they fail the session)", 1)[-1]
    assert "test_unexpected.py::test_terraform: terraform is not on PATH" in summary
    assert "test_unexpected.py::test_security_scan: !!! SECURITY SCAN NOT RUN !!!" in summary
    assert "test_skips_for_an_allowed_reason" not in summary
