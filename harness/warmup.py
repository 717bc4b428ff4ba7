"""Load the sandbox's services before Terraform needs them (`make deploy`).

LocalStack loads a service on its first request, and some take seconds on a 2-core machine:
IAM (moto's backend builds its AWS managed policies), Lambda and the internal S3 store its code
goes to, KMS, DynamoDB. A cold `terraform apply` meets them one after another on its critical
path: the provider's own `iam:GetUser` when it configures itself waited 15 s for IAM on a loaded
machine, the first `CreateFunction` 8 s. One cheap read per service, sent in parallel while the
function zips are built and `terraform init` runs, moves that work off the critical path.
A read that fails is ignored: the deploy finds out for itself.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.aws import sandbox_client
from sandbox.config import SandboxConfig

# service -> (operation, parameters): a read that makes LocalStack load the service's provider
# and the account's backend, for every service the stack deploys to.
READS: dict[str, tuple[str, dict[str, Any]]] = {
    "iam": ("list_roles", {"MaxItems": 1}),
    "sts": ("get_caller_identity", {}),
    "kms": ("list_keys", {"Limit": 1}),
    "sqs": ("list_queues", {"MaxResults": 1}),
    "sns": ("list_topics", {}),
    "lambda": ("list_functions", {"MaxItems": 1}),
    "s3": ("list_buckets", {}),
    "dynamodb": ("list_tables", {"Limit": 1}),
    "logs": ("describe_log_groups", {"limit": 1}),
    "cloudwatch": ("describe_alarms", {"MaxRecords": 1}),
    "apigateway": ("get_rest_apis", {"limit": 1}),
    "cognito-idp": ("list_user_pools", {"MaxResults": 1}),
    "application-autoscaling": ("describe_scalable_targets", {"ServiceNamespace": "dynamodb"}),
}


def _read(config: SandboxConfig, service: str) -> None:
    operation, params = READS[service]
    with contextlib.suppress(Exception):  # a warm-up never fails the deploy
        getattr(sandbox_client(config, service), operation)(**params)


def start(config: SandboxConfig) -> threading.Thread:
    """Send the reads in the background; join the returned thread before applying."""

    def run() -> None:
        with ThreadPoolExecutor(max_workers=len(READS)) as pool:
            list(pool.map(lambda service: _read(config, service), READS))

    thread = threading.Thread(target=run, name="sandbox-warmup", daemon=True)
    thread.start()
    return thread
