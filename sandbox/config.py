"""Where the sandbox lives and how LocalStack is configured: the one place for both.

Every setting can be overridden from the environment so that several sandboxes (a developer's,
a test run's, a benchmark's) can run side by side on different ports and folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 4566
HOST = "127.0.0.1"
# The home's folder for `make deploy`'s Terraform state (harness/deploy.py); snapshots carry it.
DEPLOY_FOLDER = "deploy"
# "process" (default, `make up`) or "container" (the harness starts the image: harness/container.py)
RUNTIME_VARIABLE = "SANDBOX_RUNTIME"

# Every LocalStack default that would reach outside the machine is switched off here.
OFFLINE_SETTINGS = {
    "SKIP_SSL_CERT_DOWNLOAD": "1",  # no TLS certificate download at start-up
    "DNS_ADDRESS": "0",  # no built-in DNS server resolving/forwarding outside names
    "DISABLE_EVENTS": "1",  # no analytics events
    # Deprecated upstream (downloads are on demand); still honoured by OpenSearch. DynamoDB Local
    # is kept out by the moto providers (sandbox/plugins/moto_providers.py).
    "SKIP_INFRA_DOWNLOADS": "1",
    # LocalStack's platform API (licence catalog fetched after any 501, certificate fallback) and
    # analytics endpoints: a closed loopback port, so a call that slips through stays local.
    "API_ENDPOINT": "http://127.0.0.1:1",
    "ANALYTICS_API": "http://127.0.0.1:1",
    # moto builds credential-less boto3 clients (e.g. for API Gateway's CreateRestApi) whose
    # credential chain would ask the EC2 instance metadata service at 169.254.169.254.
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Not a setting: the DNS probe of s3.<LOCALSTACK_HOST> is removed by a start-up hook
# (sandbox/netguard/offline.py). tests/sandbox/test_no_network.py checks all of this.


@dataclass(frozen=True)
class SandboxConfig:
    """Location and port of one sandbox instance."""

    port: int
    home: Path
    # Where LocalStack listens. Loopback, except in a container's own network namespace, where
    # the container entry point (sandbox/container.py) listens on its interface so that the port
    # can be published, on the host's 127.0.0.1 only.
    bind: str = HOST

    @classmethod
    def from_env(cls) -> SandboxConfig:
        port = int(os.environ.get("SANDBOX_PORT", DEFAULT_PORT))
        # A container's sandbox (SANDBOX_RUNTIME=container, harness/container.py) keeps its
        # files apart: its Lambda runtime folder links to the container's Python, not the host's.
        in_container = os.environ.get(RUNTIME_VARIABLE) == "container"
        default = ".sandbox-container" if in_container else ".sandbox"
        home = Path(os.environ.get("SANDBOX_HOME", REPO_ROOT / default)).resolve()
        return cls(port=port, home=home)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "localstack.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "localstack.log"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def deploy_dir(self) -> Path:
        return self.home / DEPLOY_FOLDER

    def localstack_env(self, instance_id: str) -> dict[str, str]:
        """The environment LocalStack runs with: loopback only, all state under `home`."""
        return {
            **OFFLINE_SETTINGS,
            # This machine may look like a container (/.dockerenv); keep LocalStack in host mode
            # so it writes only below FILESYSTEM_ROOT instead of system folders.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.state_dir),
            "TMPDIR": str(self.tmp_dir),
            # The Twisted server ignores the host part of GATEWAY_LISTEN; hypercorn honours it.
            "GATEWAY_SERVER": "hypercorn",
            "GATEWAY_LISTEN": f"{self.bind}:{self.port}",
            "LOCALSTACK_HOST": f"{HOST}:{self.port}",
            # *.localhost.localstack.cloud does not resolve offline: queue URLs use LOCALSTACK_HOST.
            "SQS_ENDPOINT_STRATEGY": "off",
            # Queue metrics every few seconds (AWS: 1 min) so CloudWatch alarms can be tested.
            "SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL": "2",
            # LocalStack's calls to itself (SNS to SQS, event source mappings' SQS polls, API
            # Gateway and the pollers invoking Lambda, metrics) go straight to its gateway, the
            # same handler chain as any request, instead of an HTTP round trip through its own
            # server: under load every request waited behind them (make load at 20/s: a
            # trivial call 65 ms p50 with HTTP, 11 ms without; the pipeline's capacity on
            # 2 cores 18 -> 25 notifications/s).
            "IN_MEMORY_CLIENT": "1",
            # Plugins of this project (entry points in pyproject.toml).
            "LAMBDA_RUNTIME_EXECUTOR": "host-process",
            # SQS event source mappings long-poll as on AWS (sandbox/plugins/sqs_event_source.py),
            # so LocalStack's LAMBDA_EVENT_SOURCE_MAPPING_* poll interval and empty-poll back-off
            # settings no longer apply to them (stream mappings keep LocalStack's defaults).
            # DynamoDB (and its streams) from moto: the stock provider downloads a JDK and
            # DynamoDB Local, which SKIP_INFRA_DOWNLOADS does not prevent.
            "PROVIDER_OVERRIDE_DYNAMODB": "moto",
            "PROVIDER_OVERRIDE_DYNAMODBSTREAMS": "moto",
            # Calls made with a Lambda role session are checked against the role's policies
            # (sandbox/plugins/iam_enforcement.py); 0 only logs them to iam-policy.log.
            "SANDBOX_ENFORCE_IAM": os.environ.get("SANDBOX_ENFORCE_IAM", "1"),
            # Marks every process of this sandbox so that `down` finds them all.
            "SANDBOX_INSTANCE_ID": instance_id,
            "SANDBOX_HOME": str(self.home),
            # Seconds between saves of a changed state (sandbox/plugins/persistence.py); 0 = off.
            "SANDBOX_SAVE_INTERVAL": os.environ.get("SANDBOX_SAVE_INTERVAL", "30"),
        }

    def client_env(self) -> dict[str, str]:
        """What an AWS client (boto3, Terraform, tflocal) needs to talk to this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "S3_HOSTNAME": HOST,
            "LOCALSTACK_HOSTNAME": HOST,
            "EDGE_PORT": str(self.port),
            "CHECKPOINT_DISABLE": "1",
        }
