// Time to ready: startEmulator() next to a bare spawn of the same executable, read until
// its "listening on" line. Median of 10 each, interleaved so both see the same machine.
//   node bench-start.mjs [runs]
import { spawn } from "node:child_process";

import { binaryPath, startEmulator } from "harbor-emulator";

const runs = Number(process.argv[2] ?? 10);
const executable = binaryPath();

function bareSpawn() {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(executable, ["start", "--port", "0"], { stdio: ["ignore", "pipe", "ignore"], detached: true });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (!out.includes(" listening on ")) return;
      const ms = performance.now() - started;
      child.once("exit", () => resolve(ms));
      process.kill(-child.pid, "SIGTERM");
    });
    child.once("error", reject);
  });
}

async function helper() {
  const started = performance.now();
  const harbor = await startEmulator();
  const ms = performance.now() - started;
  await harbor.stop();
  return ms;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[Math.floor(middle)];
}
const bare = [];
const api = [];
for (let i = 0; i < runs; i += 1) {
  bare.push(await bareSpawn());
  api.push(await helper());
}
const show = (values) => values.map((ms) => ms.toFixed(0)).join(" ");
console.log(`bare spawn     median ${median(bare).toFixed(0)} ms  (${show(bare)})`);
console.log(`startEmulator  median ${median(api).toFixed(0)} ms  (${show(api)})`);
