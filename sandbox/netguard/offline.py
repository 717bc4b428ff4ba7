"""LocalStack start-up hooks that remove outbound attempts no sandbox setting switches off.

- Whenever LocalStack builds an internal S3 client (e.g. to store Lambda code), it probes whether
  `s3.<LOCALSTACK_HOST host>` resolves (`localstack.utils.aws.aws_stack.get_s3_hostname`, which
  caches the answer in `CACHE_S3_HOSTNAME_DNS_STATUS`). With LOCALSTACK_HOST=127.0.0.1 that is a
  DNS query for `s3.127.0.0.1` sent to the machine's resolver. Pre-setting the cache to False
  makes LocalStack use `localhost` straight away, as it would after the lookup failed.
- moto's URL routing (`moto.core.responses._get_method_urls`, used e.g. by API Gateway's
  CreateRestApi) builds a credential-less `boto3.client`, whose default credential chain asks the
  EC2 instance metadata service (169.254.169.254). AWS_EC2_METADATA_DISABLED=true in LocalStack's
  own environment stops that (the one hook entry point in pyproject.toml does both).
"""

from __future__ import annotations

import os

from localstack.runtime import hooks


@hooks.on_infra_start(priority=100)
def skip_s3_hostname_probe() -> None:
    from localstack.utils.aws import aws_stack

    aws_stack.CACHE_S3_HOSTNAME_DNS_STATUS = False
    # No instance-metadata credential lookups by LocalStack's own (moto's) boto3 clients.
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
