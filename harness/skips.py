"""A skip fails the test session unless its reason is on the allow-list.

Why: a skipped test is a check that did not run, and a suite that stays green while its
security scan or its Terraform tests skip says more than it checked. So every skip's reason is
matched against `allowed_skips` (`[tool.pytest.ini_options]` in pyproject.toml: regular
expressions, each with a comment saying when that skip is legitimate); any other skip is listed
at the end of the run and turns a green session red (exit status 1). Skips still say why,
loudly; this makes sure someone reads it.

Registered by harness.pytest_plugin on the controlling process only (under xdist, the workers'
reports reach it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

INI = "allowed_skips"
INI_HELP = "regular expressions: skip reasons that do not fail the session (harness/skips.py)"


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason a skip report carries (`pytest.skip("...")`, `skipif(reason=...)`)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ")


@dataclass(eq=False)  # a pytest plugin: hashed by identity
class SkipPolicy:
    allowed: list[re.Pattern[str]]
    unexpected: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: pytest.Config) -> SkipPolicy:
        return cls([re.compile(pattern) for pattern in config.getini(INI)])

    def allows(self, reason: str) -> bool:
        return any(pattern.search(reason) for pattern in self.allowed)

    def _note(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = skip_reason(report)
            if not self.allows(reason):
                self.unexpected.append((report.nodeid, reason))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.unexpected and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.unexpected:
            return
        terminalreporter.section("unexpected skips (they fail the session)", red=True)
        for nodeid, reason in self.unexpected:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}", red=True)
        terminalreporter.line(
            f"Fix what made them skip, or add the reason to `{INI}` in pyproject.toml with why "
            "it is legitimate (harness/skips.py)."
        )
