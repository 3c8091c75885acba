// The typed /v1 calls against the run's emulator: each answer has the OpenAPI document's
// type, and an error answer is a HarborAPIError with one of the document's error codes.
import { HarborAPIError, verifyHarborSignature } from "harbor-emulator";
import { expect } from "vitest";

import { test } from "./harbor.js";

test("a webhook is created, listed, read, paused and deleted", async ({ harbor }) => {
  const webhook = await harbor.createWebhook(
    { url: harbor.sink("orders").url, events: ["order.*"] },
    { idempotencyKey: "create-orders-webhook" },
  );
  expect(webhook.secret).toMatch(/^whsec_/);
  // The same Idempotency-Key and body answer the first result again.
  const again = await harbor.createWebhook(
    { url: harbor.sink("orders").url, events: ["order.*"] },
    { idempotencyKey: "create-orders-webhook" },
  );
  expect(again.id).toBe(webhook.id);
  expect((await harbor.webhooks()).map((listed) => listed.id)).toEqual([webhook.id]);

  expect((await harbor.updateWebhook(webhook.id, { status: "paused" })).status).toBe("paused");
  expect((await harbor.webhook(webhook.id)).status).toBe("paused");
  await harbor.deleteWebhook(webhook.id);
  const error = await harbor.webhook(webhook.id).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(HarborAPIError);
  expect([(error as HarborAPIError).status, (error as HarborAPIError).code]).toEqual([404, "webhook_not_found"]);
});

test("a destination gets the REST dialect's events its subscription names", async ({ harbor }) => {
  const billing = harbor.sink("billing");
  const destination = await harbor.createDestination({ url: billing.url, name: "billing" });
  expect(destination.signing_secret).toMatch(/^whsec_/);
  const subscription = await harbor.createSubscription({ destination_id: destination.id, event_type: "invoice.*" });
  expect(await harbor.subscriptions({ destination_id: destination.id })).toEqual([subscription]);
  expect(await harbor.subscription(subscription.id)).toEqual(subscription);
  expect((await harbor.destinations()).map((listed) => listed.id)).toEqual([destination.id]);
  expect((await harbor.updateDestination(destination.id, { name: "invoices" })).name).toBe("invoices");
  expect((await harbor.destination(destination.id)).name).toBe("invoices");

  const event = await harbor.createEvent({ type: "invoice.paid", body: { invoice_id: "inv_1" } });
  await harbor.drain();
  expect(await harbor.events({ type: "invoice.paid" })).toEqual([event]);
  expect(await harbor.event(event.id)).toEqual(event);
  const [delivery] = await harbor.deliveries({ destination_id: destination.id });
  expect([delivery?.event_id, delivery?.status]).toEqual([event.id, "succeeded"]);
  expect(await billing.requests()).toHaveLength(1);

  await harbor.deleteSubscription(subscription.id);
  await harbor.deleteDestination(destination.id);
  expect(await harbor.destinations()).toEqual([]);
});

test("an event and a delivery are replayed, each signed with the webhook's secret", async ({ harbor }) => {
  const orders = harbor.sink("orders");
  const webhook = await harbor.createWebhook({ url: orders.url, events: ["order.*"] });
  const event = await harbor.trigger("order.paid", { order_id: "ord_1" });
  await harbor.drain();
  const [first] = await harbor.deliveries({ event_id: event.id });

  // An event replayed makes a new delivery; a delivery replayed keeps its id.
  const [fresh] = await harbor.replayEvent(event.id, { webhook_id: webhook.id });
  expect(fresh?.id).not.toBe(first?.id);
  expect((await harbor.replayDelivery(first!.id)).id).toBe(first!.id);
  await harbor.drain();

  expect((await harbor.attempts(first!.id)).map((attempt) => attempt.attempt_number)).toEqual([2, 1]);
  const requests = await orders.requests();
  expect(requests).toHaveLength(3);
  for (const request of requests) verifyHarborSignature(request.body, request.headers, webhook.secret);
});

test("request() on a route the document lists answers that route's type", async ({ harbor }) => {
  const webhook = await harbor.request("POST", "/v1/webhooks", {
    body: { url: harbor.sink("orders").url, events: ["order.*"] },
  });
  const page = await harbor.request("GET", "/v1/webhooks", { query: { limit: 1 } });
  expect([page.data[0]?.id, page.has_more, webhook.secret.startsWith("whsec_")]).toEqual([webhook.id, false, true]);
});
