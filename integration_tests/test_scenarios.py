"""The demo scenarios (`scenarios/*.yaml`, `make demo`) as integration tests.

Same definitions, same engine: each (scenario, priority) is one test with its own users, so
pytest-xdist spreads the priorities over workers and no test depends on another's order.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.api import Api
from harness.trace import Tracer
from harness.users import UserFactory
from scenarios.definition import Scenario, load_all
from scenarios.engine import StackView, run

pytestmark = pytest.mark.sandbox

CASES = [
    pytest.param(scenario, priority, id=f"{name}-{priority}")
    for name, scenario in load_all().items()
    for priority in scenario.priorities
]


@pytest.mark.parametrize(("scenario", "priority"), CASES)
def test_scenario(
    scenario: Scenario,
    priority: str,
    stack: dict[str, Any],
    api: Api,
    users: UserFactory,
    tracer: Tracer,
) -> None:
    view = StackView.from_outputs(stack, api, tracer)
    outcome = run(scenario, priority, view, users)
    assert outcome.ok, f"{scenario.name} [{priority}]: {outcome.failure}"
