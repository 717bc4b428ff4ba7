"""Test-only variant of any function (handler `passthrough.handler`): the production handler.

Deployed by integration_tests/test_iam_grants.py into the ingest, processor or query package, to
run the production code under a test-only copy of the function's role. It picks the function's
`app` module by POWERTOOLS_SERVICE_NAME (ingest, processor, query) and changes one thing: the
processor's batch processor logs why a record failed (Powertools' record-failure warning, with
the traceback), which the production processor does not, so that the variant's log names the
error that failed it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

app = importlib.import_module(f"{os.environ['POWERTOOLS_SERVICE_NAME']}.app")
if hasattr(app, "batch"):  # the processor
    app.batch.logger = app.logger


def handler(event: dict[str, Any], context: Any) -> Any:
    return app.handler(event, context)
