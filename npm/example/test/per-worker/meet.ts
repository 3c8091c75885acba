// For the repository's test of this example: two test files that must run at the same
// time, in two workers, each with the emulator its worker started.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { Emulator } from "harbor-emulator";
import { expect } from "vitest";

export async function meet(me: string, other: string, harbor: Emulator): Promise<void> {
  const dir = process.env.HARBOR_REPORT_DIR;
  expect((await harbor.health()).status).toBe("ok");
  if (!dir) return; // run by hand: nothing to meet
  const seen = { worker: process.env.VITEST_POOL_ID, pid: harbor.pid, url: harbor.url };
  writeFileSync(join(dir, `${me}.json`), JSON.stringify(seen));
  // Both files are in flight at once only if each sees the other's record while its own
  // emulator still runs: wait for it (the test's own timeout bounds the wait).
  while (!existsSync(join(dir, `${other}.json`))) await new Promise((resolve) => setTimeout(resolve, 50));
  expect((await harbor.health()).status).toBe("ok");
}
