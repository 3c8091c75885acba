// Time to the first 200 on /_control/health: startEmulator() next to a bare spawn of the same
// executable and, given one, a bare spawn of a hello app (any command serving
// /_control/health on the port it is given as "{port}"). Median of 10 each, interleaved so
// all see the same machine.
//   node bench-start.mjs [runs] [--json] [-- hello command with {port}]
// scripts/bench_binary_start.py --node passes a bare Starlette + uvicorn hello.
import { spawn } from "node:child_process";
import { get } from "node:http";
import { createServer } from "node:net";

import { binaryPath, startEmulator } from "harbor-emulator";

const separator = process.argv.indexOf("--");
const options = separator < 0 ? process.argv.slice(2) : process.argv.slice(2, separator);
const hello = separator < 0 ? [] : process.argv.slice(separator + 1);
const json = options.includes("--json");
const runs = Number(options.find((arg) => !arg.startsWith("--")) ?? 10);
const executable = binaryPath();
const HEALTH_POLL_MS = 2;
const START_TIMEOUT_MS = 30_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
    probe.once("error", reject);
  });
}

function answers200(url) {
  return new Promise((resolve) => {
    const request = get(url, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.once("error", () => resolve(false));
  });
}

async function firstHealth200(url, started) {
  while (!(await answers200(`${url}/_control/health`))) {
    if (performance.now() - started > START_TIMEOUT_MS) throw new Error(`${url} gave no 200`);
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
  }
  return performance.now() - started;
}

// A bare spawn, as a test runner without this package would do it, timed to the first 200.
async function bareSpawn(command) {
  const port = await freePort();
  const [file, ...args] = command.map((arg) => arg.replaceAll("{port}", String(port)));
  const started = performance.now();
  const child = spawn(file, args, { stdio: "ignore", detached: true });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    return await firstHealth200(`http://127.0.0.1:${port}`, started);
  } finally {
    process.kill(-child.pid, "SIGTERM");
    await exited;
  }
}

async function helper() {
  const started = performance.now();
  const harbor = await startEmulator();
  try {
    await harbor.health();
    return performance.now() - started;
  } finally {
    await harbor.stop();
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[Math.floor(middle)];
}

const rows = { "startEmulator()": [], "bare spawn of the executable": [] };
if (hello.length) rows["bare spawn of the hello"] = [];
const measure = {
  "startEmulator()": helper,
  "bare spawn of the executable": () => bareSpawn([executable, "start", "--port", "{port}"]),
  "bare spawn of the hello": () => bareSpawn(hello),
};
for (const name of Object.keys(rows)) await measure[name](); // warm-up: the page cache
for (let i = 0; i < runs; i += 1) {
  for (const name of Object.keys(rows)) rows[name].push(await measure[name]());
}
if (json) {
  console.log(JSON.stringify(rows));
} else {
  const base = rows["bare spawn of the hello"];
  for (const [name, values] of Object.entries(rows)) {
    const ratio = base ? `  ${(median(values) / median(base)).toFixed(2)}x the hello` : "";
    const all = values.map((ms) => ms.toFixed(0)).join(" ");
    console.log(`${name.padEnd(30)} median ${median(values).toFixed(0)} ms${ratio}  (${all})`);
  }
}
