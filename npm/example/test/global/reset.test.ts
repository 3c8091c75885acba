// The run's one emulator is reset before each test.
import { expect } from "vitest";

import { test } from "./harbor.js";

test("a test leaves an event behind", async ({ harbor }) => {
  await harbor.trigger("order.paid", { order_id: "ord_1" }, { workspaceId: "ws_shop" });
  const events = await harbor.request<{ data: unknown[] }>("GET", "/_control/events");
  expect(events.data).toHaveLength(1);
});

test("the next test starts from nothing", async ({ harbor }) => {
  const events = await harbor.request<{ data: unknown[] }>("GET", "/_control/events");
  expect(events.data).toHaveLength(0);
});
