// startEmulator() owns its process: stop() leaves nothing behind.
import { startEmulator } from "harbor-emulator";
import { expect, test } from "vitest";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("stop() ends the emulator's whole process group", async () => {
  const emulator = await startEmulator();
  expect((await emulator.health()).status).toBe("ok");
  await emulator.stop();
  expect(alive(emulator.pid)).toBe(false);
  expect(alive(-emulator.pid)).toBe(false); // the one-file executable's server child too
  await expect(emulator.health()).rejects.toThrow("cannot reach the emulator");
  await emulator.stop(); // a second stop is harmless
});

test("a failed start says why", async () => {
  await expect(startEmulator({ args: ["--rate-limit", "-1"] })).rejects.toThrow(/exited .* before it was ready/);
});
