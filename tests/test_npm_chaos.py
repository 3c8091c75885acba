"""The npm package's `chaos` and `clearChaos` (src/chaos.ts), built from this checkout's
sources (tests/test_npm_types.py's `built` fixture) and run by Node against a real emulator:
the faults they create bend real deliveries to a sink; docs/chaos.md's Vitest example runs
in the example project (its `project` fixture) as written."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.conftest import Emulator
from tests.test_npm_types import ROOT, Built, built, project, run

__all__ = ["built", "project"]  # the fixtures, used by name below

PAGE = ROOT / "docs" / "chaos.md"
TS_BLOCK = re.compile(r"^```ts\n(?P<code>.*?)^```$", re.S | re.M)

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


def test_the_vitest_example_of_chaos_md_runs(project: Path, emulator: Emulator) -> None:
    [code] = TS_BLOCK.findall(PAGE.read_text())
    (project / "test" / "global" / "chaos.test.ts").write_text(code)
    config = project / "vitest.chaos.config.mjs"
    config.write_text(
        'import { defineConfig } from "vitest/config";\n'
        "export default defineConfig({ test: {\n"
        '  include: ["test/global/chaos.test.ts"],\n'
        "  provide: { harborUrl: process.env.HARBOR_URL },\n"
        "} });\n"
    )
    vitest = ["npx", "--no-install", "vitest", "run", "--config", config.name]
    result = run(vitest, project, HARBOR_URL=emulator.url)
    assert re.search(r"Tests\s+1 passed \(1\)", result.stdout), result.stdout
