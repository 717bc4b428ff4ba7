"""Test-only variant of any function (handler `passthrough.handler`): the production handler.

Deployed by integration_tests/test_iam_grants.py into the ingest, processor or query package, to
run the production code, unchanged, under a test-only copy of the function's role. It picks the
function's `app` module by POWERTOOLS_SERVICE_NAME (ingest, processor, query).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

app = importlib.import_module(f"{os.environ['POWERTOOLS_SERVICE_NAME']}.app")


def handler(event: dict[str, Any], context: Any) -> Any:
    return app.handler(event, context)
