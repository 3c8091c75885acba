"""The npm package's `chaos` and `clearChaos` (src/chaos.ts), built from this checkout's
sources (tests/test_npm_types.py's `built` fixture) and run by Node against a real emulator:
the faults they create bend real deliveries to a sink."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import Emulator
from tests.test_npm_types import Built, built, run

__all__ = ["built"]  # the fixture, used by name below

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import { chaos, chaosFaults, clearChaos, connectEmulator } from "./dist/esm/index.js";

    const harbor = connectEmulator(process.env.HARBOR_URL);
    const sink = harbor.sink("npm-chaos");
    const webhook = await harbor.createWebhook({ url: sink.url, events: ["*"] });
    const created = await chaos(harbor, webhook.id, { duplicate: 1, delay: 0.5, seed: 5 });
    await harbor.trigger("order.paid", { n: 1 });
    await harbor.drain();
    const received = await sink.requests();
    const cleared = await clearChaos(harbor, webhook.id);
    let refused = "";
    try { chaosFaults(webhook.id, {}); } catch (error) { refused = error.message; }
    console.log(JSON.stringify({
      created: created.map((f) => [f.outcome, f.delay_seconds, f.probability, f.seed]),
      attempts: received.map((r) => [r.headers["harbor-delivery-id"], r.headers["harbor-attempt"]]),
      cleared,
      left: (await harbor.faults.list()).length,
      refused,
    }));
    """
)


def test_npm_chaos_bends_real_deliveries(built: Built, emulator: Emulator) -> None:
    script = built.directory / "chaos-check.mjs"
    script.write_text(SCRIPT)
    result = run(["node", script.name], built.directory, HARBOR_URL=emulator.url)
    out = json.loads(result.stdout)
    # duplicate fires first (probability 1): the delay faults are never reached.
    assert out["created"] == [
        ["duplicate", None, 1, 5],
        ["delay", 150, 0.125, 6],
        ["delay", 300, pytest.approx(0.125 / 0.875), 7],
        ["delay", 450, pytest.approx(0.125 / 0.75), 8],
        ["delay", 600, pytest.approx(0.125 / 0.625), 9],
    ]
    [first, second] = out["attempts"]
    assert first == second and first[1] == "1"
    assert (out["cleared"], out["left"]) == (5, 0)
    assert "at least one" in out["refused"]
