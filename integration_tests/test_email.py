"""The e-mail channel: a user who subscribed an address gets each delivery once, by e-mail.

The address subscribes to the deliveries topic with a filter policy on its user's id; the
notification goes through the whole pipeline (API → … → processor), and the processor's
delivery publishes it on the deliveries topic. Only the sandbox can read the sent e-mail (its
SES outbox); on AWS this test is skipped, loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.mail import Outbox, subscribe_email
from harness.trace import Trace
from harness.waiting import eventually

pytestmark = [pytest.mark.sandbox, pytest.mark.lanes("medium")]


def test_a_subscribed_address_gets_its_users_notification_once_and_no_one_elses(
    api, users, tracer, stack: dict[str, Any], client: Callable[..., Any], target: str, request
) -> None:
    if target != "sandbox":
        pytest.skip("--target aws: sent e-mail can only be read from the sandbox's SES outbox")
    sns = client("sns")
    outbox = Outbox(request.getfixturevalue("sandbox").endpoint)
    shop = users.create(name="shop", sender=True)
    alice, bob = users.create(name="mail"), users.create(name="nomail")
    address = f"{alice.username}@example.com"
    subscription = subscribe_email(sns, stack["deliveries_topic_arn"], address, alice.sub)
    try:
        sent = {}
        for who in (alice, bob):
            text = f"for {who.username}: your parcel is here 📦"
            response = api.send(
                shop.id_token, {"user_id": who.sub, "message": text, "priority": "medium"}
            )
            assert response.status == 202, str(response)
            sent[who.username] = tracer.wait_for_delivery(
                Trace(response.body["id"], sent_at=response.sent_at), timeout=30
            )
        mails = eventually(
            lambda: outbox.sent_to(address),
            timeout=15,
            describe=lambda: f"no e-mail to {address}\n{sent[alice.username].describe()}",
        )
        assert [m.text for m in mails] == [f"for {alice.username}: your parcel is here 📦"]
        assert sent[alice.username].delivery_lines[0]["email"] is True
    finally:
        sns.unsubscribe(SubscriptionArn=subscription)
