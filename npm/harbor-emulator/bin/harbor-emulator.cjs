#!/usr/bin/env node
// `npx harbor-emulator …`: run this platform's executable with the same arguments, stdio
// and exit status, and pass on the signals a terminal or CI runner sends.
//
// `start` also gets a lifeline: its stdin is a pipe from this process (--exit-with-stdin),
// so the emulator stops within 2 s when this process dies, even by SIGKILL. And when this
// process's own parent dies without passing a signal on (npm exec, given SIGTERM, ends
// without relaying it), this process cuts the lifeline and ends with the emulator.
"use strict";
const { spawn } = require("node:child_process");
const { binaryPath, BinaryNotFoundError } = require("../dist/cjs/locate.cjs");

// How often the parent is looked for: the contract gives an orphaned emulator 2 s.
const PARENT_CHECK_MS = 250;
// The options of `harbor-emulator` itself that take a value, before the command's name.
const GROUP_VALUE_OPTIONS = new Set(["--url", "--control-token"]);

let executable;
try {
  executable = binaryPath();
} catch (error) {
  if (!(error instanceof BinaryNotFoundError)) throw error;
  console.error(`harbor-emulator: ${error.message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
const command = commandIndex(args);
const serving = command >= 0 && args[command] === "start";
if (serving) args.splice(command + 1, 0, "--exit-with-stdin");

const child = spawn(executable, args, {
  // Other commands may read stdin (a fixtures file piped in): theirs stays the terminal's.
  stdio: [serving ? "pipe" : "inherit", "inherit", "inherit"],
  windowsHide: true,
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
if (serving) {
  child.stdin.on("error", () => {}); // nothing is written; an emulator gone first is fine
  const parent = process.ppid; // re-read by node on each access
  const watch = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(watch);
      child.stdin.destroy(); // the emulator stops; its exit ends this process
    }
  }, PARENT_CHECK_MS);
  watch.unref();
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

/** The index of the command's name in `args`, or -1 (`--version`, `--help`). */
function commandIndex(args) {
  for (let i = 0; i < args.length; i++) {
    if (GROUP_VALUE_OPTIONS.has(args[i])) i++;
    else if (!args[i].startsWith("-")) return i;
  }
  return -1;
}
