"""Tests of the shop's webhook receiver against the Harbor emulator (the `harbor` fixture)."""

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from orders_webhook import TemporarilyUnavailable, create_app

from harbor_emulator.client import Emulator
from harbor_emulator.signing import signature_header
from harbor_emulator.testing import ServerThread

# A known secret, given to the webhook through fixtures, so the receiver can verify.
SECRET = "whsec_orders_test_secret_0123456789"


class Orders:
    """The shop's order book, as the receiver sees it; down for the first `outage` calls."""

    def __init__(self) -> None:
        self.outage = 0
        self.paid: list[str] = []

    def process_event(self, event: dict[str, Any]) -> None:
        if self.outage:
            self.outage -= 1
            raise TemporarilyUnavailable("the orders database is down")
        if event["type"] == "order.paid":
            self.paid.append(event["payload"]["order_id"])


@pytest.fixture
def orders() -> Orders:
    return Orders()


@pytest.fixture
def receiver_url(orders: Orders) -> Iterator[str]:
    """The receiver served on a free local port, where the emulator can deliver to it."""
    with ServerThread(create_app(SECRET, orders.process_event)) as url:
        yield f"{url}/webhooks/harbor"


@pytest.fixture
def webhook(harbor: Emulator, receiver_url: str) -> dict[str, Any]:
    harbor.load_fixtures(
        {
            "webhooks": [
                {
                    "id": "wh_orders",
                    "workspace_id": "ws_shop",
                    "url": receiver_url,
                    "events": ["order.*"],
                    "secret": SECRET,
                }
            ]
        }
    )
    return {"id": "wh_orders", "workspace_id": "ws_shop"}


def test_a_paid_order_is_processed_once_despite_two_failures(
    harbor: Emulator, orders: Orders, webhook: dict[str, Any]
) -> None:
    orders.outage = 2
    event = harbor.trigger("order.paid", {"order_id": "ord_1"}, workspace_id="ws_shop")

    harbor.drain()  # the first attempt runs at once: 503
    [delivery] = harbor.deliveries(event_id=event["id"])
    assert (delivery["status"], delivery["attempt_count"]) == ("pending", 1)

    harbor.clock.advance("5m")  # the first retry: 503 again
    harbor.clock.advance("30m")  # the second retry: processed
    delivery = harbor.delivery(delivery["id"])
    assert (delivery["status"], delivery["attempt_count"]) == ("succeeded", 3)
    assert orders.paid == ["ord_1"]

    # At-least-once delivery may bring the same delivery again: it must change nothing.
    harbor.replay_delivery(delivery["id"])
    harbor.drain()
    assert orders.paid == ["ord_1"]
    codes = [attempt["response_code"] for attempt in harbor.attempts(delivery["id"])]
    assert codes == [200, 200, 503, 503]  # newest first


def test_requests_not_signed_with_the_secret_are_refused(orders: Orders, receiver_url: str) -> None:
    event = {"id": "evt_1", "type": "order.paid", "payload": {"order_id": "ord_2"}}
    envelope = {"id": "dlv_forged", "type": "order.paid", "created_at": "2026-05-25T12:00:00Z"}
    body = json.dumps({**envelope, "data": event}).encode()
    timestamp = int(time.time())
    headers = {"Harbor-Delivery-Id": "dlv_forged", "Harbor-Timestamp": str(timestamp)}

    headers["Harbor-Signature"] = signature_header(
        ["whsec_someone_else_0123456789"], timestamp, body
    )
    assert httpx.post(receiver_url, content=body, headers=headers).status_code == 400
    assert orders.paid == []

    # Signed with the right secret, the same request is a delivery the receiver accepts.
    headers["Harbor-Signature"] = signature_header([SECRET], timestamp, body)
    assert httpx.post(receiver_url, content=body, headers=headers).status_code == 200
    assert orders.paid == ["ord_2"]
