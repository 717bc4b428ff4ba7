"""The demo scenarios (`scenarios/*.yaml`, `make demo`) as integration tests.

Same definitions, same engine: each (scenario, priority) is one test with its own users, so
pytest-xdist spreads the priorities over workers and no test depends on another's order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.api import Api
from harness.mail import Outbox
from harness.trace import Tracer
from harness.users import UserFactory
from scenarios.definition import Scenario, load_all
from scenarios.engine import Mailing, StackView, run

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
    client: Callable[..., Any],
    target: str,
    request: pytest.FixtureRequest,
) -> None:
    outbox = Outbox(request.getfixturevalue("sandbox").endpoint) if target == "sandbox" else None
    mailing = Mailing(client("sns"), stack["deliveries_topic_arn"], outbox)
    view = StackView.from_outputs(stack, api, tracer, mailing)
    outcome = run(scenario, priority, view, users)
    assert outcome.ok, f"{scenario.name} [{priority}]: {outcome.failure}"
