"""LocalStack start-up hooks that remove outbound attempts no sandbox setting switches off.

- Whenever LocalStack builds an internal S3 client (e.g. to store Lambda code), it probes whether
  `s3.<LOCALSTACK_HOST host>` resolves (`localstack.utils.aws.aws_stack.get_s3_hostname`, which
  caches the answer in `CACHE_S3_HOSTNAME_DNS_STATUS`). With LOCALSTACK_HOST=127.0.0.1 that is a
  DNS query for `s3.127.0.0.1` sent to the machine's resolver. Pre-setting the cache to False
  makes LocalStack use `localhost` straight away, as it would after the lookup failed.
"""

from __future__ import annotations

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import Target

S3_HOSTNAME_DNS_STATUS = Target("localstack.utils.aws.aws_stack:CACHE_S3_HOSTNAME_DNS_STATUS")
INTERNALS = (S3_HOSTNAME_DNS_STATUS, Target("localstack.utils.aws.aws_stack:get_s3_hostname"))


@hooks.on_infra_start(priority=100)
def skip_s3_hostname_probe() -> None:
    patching.check(INTERNALS)
    patching.replace(S3_HOSTNAME_DNS_STATUS, False)
