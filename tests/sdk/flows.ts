// The seeds' flows through an openapi-fetch client typed by openapi-typescript's output for
// /openapi.json (harbor-api.d.ts, generated beside this file by tests/test_sdk_generators.py).
// `tsc --noEmit` proves the types fit the calls; node runs it against a real emulator and
// prints what it saw as one JSON line for the test to check.
import createClient from "openapi-fetch";
import type { components, paths } from "./harbor-api.js";

type Event = components["schemas"]["Event"];

const { HARBOR_EMULATOR_URL: baseUrl, HARBOR_KEY: key, RECEIVER_URL: receiverUrl } = process.env;
if (!baseUrl || !key || !receiverUrl) {
  throw new Error("set HARBOR_EMULATOR_URL, HARBOR_KEY and RECEIVER_URL");
}
const harbor = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });
const control = createClient<paths>({ baseUrl });

function ok<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data === undefined) {
    throw new Error(`${result.response.status}: ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

// Quickstart (SDK dialect), then the REST dialect's `body`.
const invoice: Event = ok(
  await harbor.POST("/v1/events", {
    body: {
      workspace_id: null,
      type: "invoice.paid",
      payload: { invoice_id: "inv_0192ac4e8b1d", amount_cents: 4200 },
    },
    params: { header: { "Idempotency-Key": "inv_0192ac4e8b1d-paid" } },
  }),
);
const confirmed = ok(
  await harbor.GET("/v1/events/{id}", { params: { path: { id: invoice.id } } }),
);

const destination = ok(
  await harbor.POST("/v1/destinations", { body: { url: receiverUrl, name: "Quickstart receiver" } }),
);
const subscription = ok(
  await harbor.POST("/v1/subscriptions", {
    body: { destination_id: destination.id, event_type: "order.created" },
  }),
);
const webhook = ok(await harbor.POST("/v1/webhooks", { body: { url: receiverUrl, events: ["order.*"] } }));
const order = ok(
  await harbor.POST("/v1/events", {
    body: { type: "order.created", body: { order_id: "ord_123", amount_cents: 4500 } },
  }),
);

const drained = ok(
  await control.POST("/_control/deliveries/drain", { body: { timeout_seconds: 30 } }),
);
const deliveries = ok(
  await harbor.GET("/v1/deliveries", { params: { query: { event_id: order.id } } }),
);
const attempts: Record<string, (number | null)[]> = {};
for (const delivery of deliveries.data) {
  const page = ok(
    await harbor.GET("/v1/deliveries/{id}/attempts", { params: { path: { id: delivery.id } } }),
  );
  attempts[delivery.webhook_id ?? delivery.destination_id ?? "?"] = page.data.map(
    (attempt) => attempt.response_code,
  );
}

// Pagination: one event a page, following next_cursor.
const seen: string[] = [];
let cursor: string | undefined;
do {
  const page = ok(await harbor.GET("/v1/events", { params: { query: { limit: 1, cursor } } }));
  seen.push(...page.data.map((event) => event.id));
  cursor = page.next_cursor ?? undefined;
} while (cursor);

// A typed error object.
const missing = await harbor.GET("/v1/events/{id}", { params: { path: { id: "evt_missing" } } });
const missingCode: components["schemas"]["ErrorCode"] | undefined = missing.error?.error.code;

console.log(
  JSON.stringify({
    invoice: invoice.id,
    confirmed: [confirmed.type, confirmed.payload["amount_cents"]],
    order: order.id,
    order_payload: order.payload,
    signing_secret_prefix: destination.signing_secret.slice(0, 6),
    webhook_secret_prefix: webhook.secret.slice(0, 6),
    subscription: subscription.event_type,
    drained: drained.drained,
    attempts,
    endpoints: { webhook: webhook.id, destination: destination.id },
    seen,
    missing: [missing.response.status, missingCode],
  }),
);
