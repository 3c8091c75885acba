// The run's one emulator (see harbor-global-setup.ts), reset before each test.
import { connectEmulator, type EmulatorClient } from "harbor-emulator";
import { test as base, inject } from "vitest";

export const test = base.extend<{ harbor: EmulatorClient }>({
  harbor: async ({}, use) => {
    const harbor = connectEmulator(inject("harborUrl"));
    await harbor.reset();
    await use(harbor);
  },
});
