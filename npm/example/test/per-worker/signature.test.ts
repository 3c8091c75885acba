// verifyHarborSignature against real deliveries of the emulator.
import { HarborSignatureError, verifyHarborSignature } from "harbor-emulator";
import { expect } from "vitest";

import { test } from "./harbor.js";

test("real deliveries verify; a tampered body, another secret or a stale timestamp do not", async ({ harbor }) => {
  const inbox = harbor.sink("signed");
  const webhook = await harbor.request<{ secret: string }>("POST", "/v1/webhooks", {
    body: { url: inbox.url, events: ["order.*"] },
  });
  await harbor.trigger("order.paid", { order_id: "ord_1" });
  await harbor.drain();
  const [delivery] = await inbox.requests();
  const { body, headers } = delivery!;

  verifyHarborSignature(body, headers, webhook.secret);
  verifyHarborSignature(Buffer.from(body, "utf8"), new Headers(headers), webhook.secret);

  const tampered = body.replace("ord_1", "ord_2");
  expect(() => verifyHarborSignature(tampered, headers, webhook.secret)).toThrow(HarborSignatureError);
  expect(() => verifyHarborSignature(body, headers, "whsec_another")).toThrow("No signature matches");
  const later = Number(headers["harbor-timestamp"]) + 301;
  expect(() => verifyHarborSignature(body, headers, webhook.secret, { now: later })).toThrow("tolerance");
  verifyHarborSignature(body, headers, webhook.secret, { now: later, toleranceSeconds: 600 });
  expect(() => verifyHarborSignature(body, { ...headers, "harbor-signature": "v0=abc" }, webhook.secret)).toThrow(
    "no v1 signature",
  );
  // Any v1= value may match, wherever it stands; the timestamp is read as an integer.
  const withStale = { ...headers, "harbor-signature": `v1=${"0".repeat(64)}, ${headers["harbor-signature"]}` };
  verifyHarborSignature(body, withStale, webhook.secret);
  verifyHarborSignature(body, { ...headers, "harbor-timestamp": `00${headers["harbor-timestamp"]}` }, webhook.secret);
});

test("during a key rotation either v1= value verifies", async ({ harbor }) => {
  const inbox = harbor.sink("rotated");
  const webhook = await harbor.request<{ id: string; secret: string }>("POST", "/v1/webhooks", {
    body: { url: inbox.url, events: ["order.*"] },
  });
  const rotated = await harbor.request<{ secret: string }>("POST", `/v1/webhooks/${webhook.id}/signing-keys`, {
    body: { expire_previous_in_seconds: 3600 },
  });
  await harbor.trigger("order.paid", { order_id: "ord_1" });
  await harbor.drain();
  const [delivery] = await inbox.requests();
  const signatures = delivery!.headers["harbor-signature"]!.split(",");
  expect(signatures).toHaveLength(2); // v1=<new>,v1=<old>

  verifyHarborSignature(delivery!.body, delivery!.headers, rotated.secret);
  verifyHarborSignature(delivery!.body, delivery!.headers, webhook.secret);
});
