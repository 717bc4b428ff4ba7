"""Test-only variants of the stack's functions: the deployed zip plus a fault-injecting module.

A variant is deployed as a function of its own (unique name, the production function's runtime,
role, memory and environment), so the production function never carries a fault switch; the
module it adds wraps the production handler (see integration_tests/variants/).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from harness.deploy import ARTIFACTS_DIR
from harness.waiting import eventually

#: How long AWS may take before Lambda can assume a role created just now (IAM is eventually
#: consistent); the sandbox accepts it at once.
NEW_ROLE_SECONDS = 20


def variant_package(function: str, module: Path) -> bytes:
    """build/functions/<function>.zip with `module` added at the zip's root."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(ARTIFACTS_DIR / f"{function}.zip") as base,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in base.infolist():
            out.writestr(info, base.read(info))
        out.writestr(module.name, module.read_text())
    return buffer.getvalue()


def deploy_variant(
    lam: Any,
    production_name: str,
    name: str,
    module: Path,
    timeout_seconds: int,
    role_arn: str | None = None,
) -> str:
    """Create `name` from the production function `production_name` plus `module`; its ARN.

    The handler is `<module>.handler`; the role is the production function's unless `role_arn`
    names another (a role created just now is retried until Lambda can assume it). The caller
    deletes the function (and its log group).
    """
    production = lam.get_function_configuration(FunctionName=production_name)
    function = production_name.rsplit("-", 1)[-1]  # notif-sandbox-processor -> processor
    params = {
        "FunctionName": name,
        "Runtime": production["Runtime"],
        "Role": role_arn or production["Role"],
        "Handler": f"{module.stem}.handler",
        "Code": {"ZipFile": variant_package(function, module)},
        "Timeout": timeout_seconds,
        "MemorySize": production["MemorySize"],
        "Environment": {"Variables": production["Environment"]["Variables"]},
    }

    def create() -> str | None:
        try:
            return lam.create_function(**params)["FunctionArn"]
        except lam.exceptions.InvalidParameterValueException as error:
            if role_arn and "cannot be assumed" in str(error):
                raise AssertionError(str(error)) from error  # not yet: retried
            raise

    arn = eventually(create, timeout=NEW_ROLE_SECONDS if role_arn else 0, interval=2)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return arn
