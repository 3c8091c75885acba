import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        // Each worker starts its own emulator: test files run in parallel.
        test: { name: "per-worker", include: ["test/per-worker/**/*.test.ts"] },
      },
      {
        // One emulator for the run: its files share it, so they run one at a time.
        test: {
          name: "global",
          include: ["test/global/**/*.test.ts"],
          globalSetup: ["test/global/harbor-global-setup.ts"],
          fileParallelism: false,
        },
      },
    ],
  },
});
