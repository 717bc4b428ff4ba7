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
    lam: Any, production_name: str, name: str, module: Path, timeout_seconds: int
) -> str:
    """Create `name` from the production function `production_name` plus `module`; its ARN.

    The handler is `<module>.handler`. The caller deletes the function (and its log group).
    """
    production = lam.get_function_configuration(FunctionName=production_name)
    function = production_name.rsplit("-", 1)[-1]  # notif-sandbox-processor -> processor
    arn = lam.create_function(
        FunctionName=name,
        Runtime=production["Runtime"],
        Role=production["Role"],
        Handler=f"{module.stem}.handler",
        Code={"ZipFile": variant_package(function, module)},
        Timeout=timeout_seconds,
        MemorySize=production["MemorySize"],
        Environment={"Variables": production["Environment"]["Variables"]},
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return arn
