// Snapshots and seeded resets through the typed client, against this worker's emulator.
import { expect } from "vitest";

import { test } from "./harbor.js";

test("a restored snapshot is the saved state; a seeded reset repeats its ids", async ({ harbor }) => {
  await harbor.request("POST", "/v1/webhooks", {
    body: { url: harbor.sink("snap").url, events: ["order.*"] },
  });
  const saved = await harbor.snapshots.save("baseline");
  expect(saved).toMatchObject({ object: "snapshot", name: "baseline" });
  const state = async () => {
    const { clock: _clock, ...rest } = await harbor.fixtures.export(); // the clock runs on
    return rest;
  };
  const before = await state();

  await harbor.trigger("order.paid", { order_id: "ord_1" });
  expect((await harbor.fixtures.export()).events).toHaveLength(1);
  await harbor.snapshots.restore("baseline");
  expect(await state()).toEqual(before);
  expect((await harbor.snapshots.list()).map((s) => s.name)).toContain("baseline");
  await harbor.snapshots.delete("baseline");
  expect(await harbor.snapshots.list()).toEqual([]);

  const ids: string[] = [];
  for (const _ of [1, 2]) {
    await harbor.reset({ seed: 7 });
    ids.push((await harbor.trigger("order.paid", { order_id: "ord_2" })).id);
  }
  expect(ids[0]).toBe(ids[1]);
  await harbor.reset();
});
