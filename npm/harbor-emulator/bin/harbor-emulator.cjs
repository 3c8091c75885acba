#!/usr/bin/env node
// `npx harbor-emulator …`: run this platform's executable with the same arguments, stdio
// and exit status, and pass on the signals a terminal or CI runner sends.
"use strict";
const { spawn } = require("node:child_process");
const { binaryPath, BinaryNotFoundError } = require("../dist/cjs/locate.cjs");

let executable;
try {
  executable = binaryPath();
} catch (error) {
  if (!(error instanceof BinaryNotFoundError)) throw error;
  console.error(`harbor-emulator: ${error.message}`);
  process.exit(1);
}

const child = spawn(executable, process.argv.slice(2), { stdio: "inherit", windowsHide: true });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (error) => {
  console.error(`harbor-emulator: could not run ${executable}: ${error.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, so a caller sees what the emulator saw.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
