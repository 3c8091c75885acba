const { connectEmulator, verifyHarborSignature } = require("harbor-emulator");

const harbor = connectEmulator(process.env.HARBOR_EMULATOR_URL);
beforeEach(() => harbor.reset());

test("a failed delivery is retried after five minutes, signed", async () => {
  const orders = harbor.sink("orders");
  await orders.script([500]); // the first attempt fails
  const webhook = await harbor.request("POST", "/v1/webhooks", {
    body: { url: orders.url, events: ["order.*"] },
  });
  await harbor.clock.freeze();
  await harbor.trigger("order.paid", { order_id: "ord_1" });
  await harbor.drain();
  await harbor.clock.advance("5m"); // the retry falls due and runs

  const requests = await orders.requests();
  expect(requests.map((r) => r.headers["harbor-attempt"])).toEqual(["1", "2"]);
  verifyHarborSignature(requests[1].body, requests[1].headers, webhook.secret);
});

test("each test starts from a reset emulator", async () => {
  expect(await harbor.sink("orders").requests()).toEqual([]);
});
