"""boto3 clients for a target: the sandbox (its endpoint, dummy credentials) or real AWS."""

from __future__ import annotations

from typing import Any

import boto3

from sandbox.config import SandboxConfig


def sandbox_client(target: SandboxConfig, service: str, **kwargs: Any) -> Any:
    """A boto3 client for `service` on the sandbox `target` (kwargs go to boto3, e.g. config)."""
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return session.client(service, endpoint_url=target.endpoint, **kwargs)
