// The shop's webhook receiver against the Harbor emulator: two failures, the retry
// schedule walked with the emulator clock, and a replay that must change nothing.
import type { AddressInfo } from "node:net";

import { afterEach, expect } from "vitest";

import { createOrdersWebhook, TemporarilyUnavailable, type HarborEventData } from "../../src/orders-webhook.js";
import { test } from "./harbor.js";

// A known secret, given to the webhook through fixtures, so the receiver can verify.
const SECRET = "whsec_orders_test_secret_0123456789";

/** The shop's order book, as the receiver sees it; down for the first `outage` calls. */
class Orders {
  outage = 0;
  paid: string[] = [];

  processEvent = (event: HarborEventData) => {
    if (this.outage > 0) {
      this.outage -= 1;
      throw new TemporarilyUnavailable("the orders database is down");
    }
    if (event.type === "order.paid") this.paid.push(String(event.payload.order_id));
  };
}

const servers: Array<{ close(): void }> = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));

/** The receiver on a free local port, where the emulator can deliver to it. */
async function serveReceiver(orders: Orders): Promise<string> {
  const server = createOrdersWebhook(SECRET, orders.processEvent);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/harbor`;
}

test("a paid order is processed once despite two failures", async ({ harbor }) => {
  const orders = new Orders();
  await harbor.fixtures.load({
    webhooks: [
      {
        id: "wh_orders",
        workspace_id: "ws_shop",
        url: await serveReceiver(orders),
        events: ["order.*"],
        secret: SECRET,
      },
    ],
  });
  await harbor.clock.freeze(); // only the test moves time from here on

  orders.outage = 2;
  const event = await harbor.trigger("order.paid", { order_id: "ord_1" }, { workspaceId: "ws_shop" });

  await harbor.drain(); // the first attempt runs at once: 503
  let [delivery] = await harbor.deliveries({ event_id: event.id });
  expect([delivery!.status, delivery!.attempt_count]).toEqual(["pending", 1]);

  await harbor.clock.advance("5m"); // the first retry: 503 again
  await harbor.clock.advance("30m"); // the second retry: processed
  delivery = await harbor.delivery(delivery!.id);
  expect([delivery.status, delivery.attempt_count]).toEqual(["succeeded", 3]);
  expect(orders.paid).toEqual(["ord_1"]);

  // At-least-once delivery may bring the same delivery again: it must change nothing.
  await harbor.replayDelivery(delivery.id);
  await harbor.drain();
  expect(orders.paid).toEqual(["ord_1"]);
  const codes = (await harbor.attempts(delivery.id)).map((attempt) => attempt.response_code);
  expect(codes).toEqual([200, 200, 503, 503]); // newest first
});

test("a body changed on the way is refused and retried", async ({ harbor }) => {
  const orders = new Orders();
  const url = await serveReceiver(orders);
  // The receiver holds another secret than Harbor signs with: every attempt is a 400.
  await harbor.fixtures.load({
    webhooks: [{ id: "wh_other", workspace_id: "ws_shop", url, events: ["order.*"], secret: "whsec_not_the_receivers" }],
  });
  await harbor.clock.freeze();
  const event = await harbor.trigger("order.paid", { order_id: "ord_2" }, { workspaceId: "ws_shop" });
  await harbor.drain();
  const [delivery] = await harbor.deliveries({ event_id: event.id });
  expect([delivery!.status, delivery!.response_code]).toEqual(["pending", 400]);
  expect(orders.paid).toEqual([]);
});
