// One emulator per Vitest worker, started on first use; `harbor` resets it before each
// test, so tests never see each other's state or clock. Import `test` from here.
import { startEmulator, type Emulator } from "harbor-emulator";
import { test as base } from "vitest";

export const test = base.extend<{ $test: { harbor: Emulator }; $worker: { emulator: Emulator } }>({
  emulator: [
    async ({}, use) => {
      const emulator = await startEmulator(); // a free port, fresh state
      await use(emulator);
      await emulator.stop();
    },
    { scope: "worker" },
  ],
  harbor: async ({ emulator }, use) => {
    await emulator.reset();
    await use(emulator);
  },
});
