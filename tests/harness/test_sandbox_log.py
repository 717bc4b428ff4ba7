"""A sandbox plugin's run-time error fails the test session (harness/sandbox_log.py and the
pytest plugin's session hooks); no server: the log is written by the test itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import sandbox_log
from harness.pytest_plugin import CHILD_SESSION_ARGS
from sandbox.config import SandboxConfig
from sandbox.plugins.patching import PLUGIN_ERROR

ERROR_LINE = (
    "2026-11-30T12:00:00.000 ERROR --- [ asgi_gw_1] s.plugins.gateway_responses : "
    f"{PLUGIN_ERROR}: gateway response for BAD_REQUEST_BODY not applied"
)
# What the generated-request suite once made LocalStack log (the marker inside a request path).
REQUEST_LINE = (
    "2026-11-30T23:01:32.356  INFO --- [  asgi_gw_19] localstack.request.http    : "
    f"GET /_aws/execute-api/da0v5ffr8q/v1/notifications/{PLUGIN_ERROR} => 404"
)
SESSION = """
import os, pathlib

def test_something_that_passes():
    log = pathlib.Path(os.environ["SANDBOX_HOME"]) / "localstack.log"
    with log.open("a") as f:
        f.write(os.environ["LINE_TO_LOG"] + "\\n")
"""


def test_only_plugin_errors_logged_since_the_offset_count(tmp_path: Path) -> None:
    config = SandboxConfig(port=4566, home=tmp_path)
    assert sandbox_log.log_end(config) == 0
    assert sandbox_log.plugin_errors(config, 0) == []
    config.log_file.write_text(f"{ERROR_LINE} (old)\nINFO nothing\n")
    start = sandbox_log.log_end(config)
    with config.log_file.open("a") as log:
        log.write(f"INFO fine\n{REQUEST_LINE}\n{REQUEST_LINE.replace('INFO', 'ERROR')}\n")
        log.write(f"{ERROR_LINE}\n")
    assert sandbox_log.plugin_errors(config, start) == [ERROR_LINE]
    config.log_file.write_text(f"{ERROR_LINE}\n")  # log reset: read from its start
    assert sandbox_log.plugin_errors(config, start) == [ERROR_LINE]


def run_session(tmp_path: Path, line: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_session.py").write_text(SESSION)
    home = tmp_path / "sandbox-home"
    home.mkdir()
    env = {**os.environ, "SANDBOX_HOME": str(home), "LINE_TO_LOG": line}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *CHILD_SESSION_ARGS, "test_session.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("line", "fails"), [(ERROR_LINE, True), ("ERROR --- some other error", False)]
)
def test_a_session_fails_when_a_plugin_error_was_logged(tmp_path, line, fails) -> None:
    result = run_session(tmp_path, line)
    output = result.stdout + result.stderr
    assert "1 passed" in output, output
    if fails:
        assert result.returncode == pytest.ExitCode.TESTS_FAILED, output
        assert "sandbox plugin errors" in output and ERROR_LINE in output
    else:
        assert result.returncode == pytest.ExitCode.OK, output
