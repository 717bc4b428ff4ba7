"""SQS behaviour the open-source LocalStack core gets wrong where Terraform notices.

On AWS, setting `RedriveAllowPolicy` to "" removes it: GetQueueAttributes no longer returns it.
LocalStack 2026.3.0 keeps the empty string, so the AWS provider's destroy of an
`aws_sqs_queue_redrive_allow_policy` waits for the removal to propagate until it times out.
(LocalStack already does this right for `Policy` and `RedrivePolicy`.)

Relies on these internals of localstack-core 2026.3.0 (re-check them on upgrade):
- `localstack.services.sqs.provider.SqsProvider.set_queue_attributes` and `_resolve_queue`;
- `SqsQueue.attributes` (the dict GetQueueAttributes answers from);
- `localstack.utils.patch.patch`, applied at start-up before the provider is instantiated.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import Target

REMOVED_WHEN_EMPTY = ("RedriveAllowPolicy",)
SET_QUEUE_ATTRIBUTES = Target(
    "localstack.services.sqs.provider:SqsProvider.set_queue_attributes",
    params=("self", "context", "queue_url", "attributes"),
)
INTERNALS = (
    SET_QUEUE_ATTRIBUTES,
    Target(
        "localstack.services.sqs.provider:SqsProvider._resolve_queue",
        params=("self", "context", "queue_name", "queue_url"),
    ),
    Target("localstack.services.sqs.models:SqsQueue.attributes"),
)


@hooks.on_infra_start(priority=50)
def apply_sqs_fidelity() -> None:
    patching.check(INTERNALS)

    @patching.wrap(SET_QUEUE_ATTRIBUTES)
    def set_queue_attributes(
        fn: Any, self: Any, context: Any, queue_url: str, attributes: dict, **kwargs: Any
    ) -> None:
        fn(self, context, queue_url, attributes, **kwargs)
        emptied = [name for name in REMOVED_WHEN_EMPTY if (attributes or {}).get(name) == ""]
        if emptied:
            queue = self._resolve_queue(context, queue_url=queue_url)
            for name in emptied:
                queue.attributes.pop(name, None)
