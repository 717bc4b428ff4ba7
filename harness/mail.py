"""The e-mail channel: subscribing a user's address to the deliveries topic, reading what was sent.

On AWS an address subscribes to the deliveries topic (protocol `email`, filter policy on
`user_id`) and its owner confirms from the e-mail AWS sends. In the sandbox, SNS hands each
e-mail to LocalStack's SES, which keeps it: `sent_to()` reads them from `/_aws/ses` — the
sandbox's outbox, which AWS has no equivalent of (there, read the mailbox).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mail:
    to: list[str]
    subject: str
    text: str


@dataclass(frozen=True)
class Outbox:
    """What the sandbox's SES sent (`endpoint` is the sandbox's, e.g. http://127.0.0.1:4566)."""

    endpoint: str

    def sent_to(self, address: str) -> list[Mail]:
        """The e-mails sent to `address` so far; none while SES has not loaded (LocalStack adds
        `/_aws/ses` at SES's first use, which an SNS e-mail delivery makes asynchronously, so
        the outbox can be asked before the first delivery has created it: 404)."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_aws/ses", timeout=10) as response:
                messages = json.load(response)["messages"]
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            return []
        return [
            Mail(m["Destination"]["ToAddresses"], m["Subject"], m["Body"]["text_part"] or "")
            for m in messages
            if address in m["Destination"].get("ToAddresses", [])
        ]


def subscribe_email(sns: Any, deliveries_topic_arn: str, address: str, user_id: str) -> str:
    """Subscribe `address` to the deliveries of `user_id`; the subscription's ARN."""
    answer = sns.subscribe(
        TopicArn=deliveries_topic_arn,
        Protocol="email",
        Endpoint=address,
        Attributes={"FilterPolicy": json.dumps({"user_id": [user_id]})},
        ReturnSubscriptionArn=True,
    )
    return answer["SubscriptionArn"]
