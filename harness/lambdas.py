"""Small Python Lambda functions made from source text: for sandbox tests and the benchmark."""

from __future__ import annotations

import io
import textwrap
import zipfile
from typing import Any

# Any role ARN is accepted by the sandbox; tests that check IAM create their own role.
DEFAULT_ROLE = "arn:aws:iam::000000000000:role/lambda"


def zip_of(files: dict[str, str]) -> bytes:
    """A deployment package holding `files` (name → source, dedented)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


def create_function(lam: Any, name: str, code: str, **overrides: Any) -> str:
    """An Active python3.13 function whose `app.py` is `code` (handler `app.handler`); its ARN.

    `overrides` go to CreateFunction (e.g. Role, Timeout, Environment, Runtime).
    """
    params = {
        "FunctionName": name,
        "Runtime": "python3.13",
        "Role": DEFAULT_ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": zip_of({"app.py": code})},
        **overrides,
    }
    arn = lam.create_function(**params)["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return arn
