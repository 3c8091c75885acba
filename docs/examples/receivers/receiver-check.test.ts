// In your suite: Harbor's receiver check against your app, failing with the report.
// Uses the emulator at HARBOR_EMULATOR_URL if set (a CI service), else starts one.
import type { AddressInfo } from "node:net";

import {
  checkReceiver,
  connectEmulator,
  formatReceiverCheck,
  startEmulator,
  type Emulator,
  type EmulatorClient,
} from "harbor-emulator";
import { afterAll, beforeAll, expect, test } from "vitest";

// @ts-expect-error: the example receiver is plain JavaScript
import { createReceiver } from "./receiver.mjs"; // your app

const SECRET = "whsec_test_receiver_check_0123456789";
let started: Emulator | undefined;
let harbor: EmulatorClient;
const receiver = createReceiver(SECRET);

beforeAll(async () => {
  const url = process.env.HARBOR_EMULATOR_URL;
  harbor = url ? connectEmulator(url) : (started = await startEmulator());
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
});

afterAll(async () => {
  receiver.close();
  await started?.stop();
});

test("the receiver is ready for Harbor", async () => {
  const { port } = receiver.address() as AddressInfo;
  const report = await checkReceiver(harbor, `http://127.0.0.1:${port}/harbor/webhooks`, {
    secret: SECRET,
    eventType: "order.paid",
  });
  expect(report.passed, formatReceiverCheck(report)).toBe(true);
});
