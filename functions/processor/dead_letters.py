"""Dead-lettering a message that can never succeed, at once, with its reason.

A body that is not a notification (invalid JSON, failed validation) fails the same way on every
receive; retrying it `maxReceiveCount` times only delays the alarm and burns invocations. The
processor sends it to the dead-letter queue the source queue's own redrive policy names (so the
DLQ is configured in one place, the queue) with the reason as message attributes, and reports
the record as processed so SQS deletes it from the source queue.

Failures that may pass on a retry (a throttled or failing DynamoDB call, a timeout) are not
dead-lettered here: they fail the record and take the queue's redrive path.
"""

from __future__ import annotations

import json
from typing import Any, Final

DLQ_REASON: Final = "reason"
MAX_ATTRIBUTE_CHARS: Final = 4000  # errors attribute; the DLQ message stays well below 256 KiB


def queue_name(queue_arn: str) -> str:
    """The queue name at the end of `arn:aws:sqs:<region>:<account>:<name>`."""
    return queue_arn.rsplit(":", 1)[-1]


def queue_account(queue_arn: str) -> str:
    return queue_arn.split(":")[4]


class DeadLetters:
    """Sends to the DLQ of a source queue; queue URLs and redrive targets cached per process."""

    def __init__(self, client: Any = None) -> None:
        self._client = client
        self._dlq_urls: dict[str, str] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def _url(self, queue_arn: str) -> str:
        return self.client.get_queue_url(
            QueueName=queue_name(queue_arn), QueueOwnerAWSAccountId=queue_account(queue_arn)
        )["QueueUrl"]

    def dlq_url(self, source_queue_arn: str) -> str:
        """The URL of the DLQ in the source queue's redrive policy."""
        if source_queue_arn not in self._dlq_urls:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self._url(source_queue_arn), AttributeNames=["RedrivePolicy"]
            ).get("Attributes", {})
            if "RedrivePolicy" not in attributes:
                raise LookupError(f"{source_queue_arn} has no redrive policy (no DLQ)")
            target = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
            self._dlq_urls[source_queue_arn] = self._url(target)
        return self._dlq_urls[source_queue_arn]

    def send(
        self,
        *,
        source_queue_arn: str,
        message_id: str,
        body: str,
        reason: str,
        errors: list[dict[str, str]],
    ) -> str:
        """Put `body` on the source queue's DLQ; returns the new message's id."""
        detail = json.dumps(errors, ensure_ascii=False)[:MAX_ATTRIBUTE_CHARS]
        answer = self.client.send_message(
            QueueUrl=self.dlq_url(source_queue_arn),
            MessageBody=body,
            MessageAttributes={
                DLQ_REASON: {"DataType": "String", "StringValue": reason},
                "errors": {"DataType": "String", "StringValue": detail},
                "source_queue": {"DataType": "String", "StringValue": queue_name(source_queue_arn)},
                "source_message_id": {"DataType": "String", "StringValue": message_id},
            },
        )
        return answer["MessageId"]
