"""Plugin failures the sandbox logged while a test session ran, so the session fails on them.

A plugin that fails at run time logs an ERROR carrying `PLUGIN_ERROR` and keeps LocalStack
answering (sandbox/plugins/patching.py); the request may still pass a test that does not look
at what the plugin should have done. The session notes where the log ended when it started and,
at the end, reads only what was written since.

Only a line whose level is ERROR and whose message starts with the marker counts: the marker
also turns up inside request paths (Hypothesis draws strings from this project's constants, so
the generated-request suite once asked for `/notifications/sandbox plugin error`, and LocalStack
logged that request at INFO).
"""

from __future__ import annotations

import re

from sandbox.config import SandboxConfig
from sandbox.plugins.patching import PLUGIN_ERROR

# LocalStack's log format: `<time> <LEVEL> --- [<thread>] <logger> : <message>`
PLUGIN_ERROR_LINE = re.compile(
    rf"\sERROR\s+---\s+\[[^\]]*\]\s+\S+\s*:\s+{re.escape(PLUGIN_ERROR)}:"
)


def log_end(config: SandboxConfig) -> int:
    """The current size of the sandbox log (0 when there is none yet)."""
    try:
        return config.log_file.stat().st_size
    except FileNotFoundError:
        return 0


def plugin_errors(config: SandboxConfig, since: int) -> list[str]:
    """The plugin error lines logged after byte `since` (from the start if the log was reset)."""
    try:
        with config.log_file.open("rb") as log:
            log.seek(since if since <= log.seek(0, 2) else 0)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if PLUGIN_ERROR_LINE.search(line)]
