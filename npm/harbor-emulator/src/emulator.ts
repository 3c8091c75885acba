// startEmulator(): run the harbor-emulator executable on a free port and hand back a typed
// client of it. The process is the whole emulator; this file only starts and stops it.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";

import { connectEmulator, type EmulatorClient } from "./client.js";
import { EmulatorStartError } from "./errors.js";
import { binaryPath } from "./locate.cjs";

export interface StartOptions {
  /** Port to serve on; default 0, a free one. */
  port?: number;
  /** YAML or JSON fixtures files, loaded in order at start and after each reset. */
  fixtures?: string | string[];
  /** Seed for ids, secrets and fault draws (`--seed`), for runs that repeat exactly. */
  seed?: number;
  /** Only keys and workspaces that fixtures define exist (`--strict`). */
  strict?: boolean;
  /** Require `Authorization: Bearer TOKEN` on /_control; the client sends it. */
  controlToken?: string;
  /** The /v1 API key the client's `trigger`, `deliveries`, … use; default `hb_test_node`. */
  apiKey?: string;
  /** More `harbor-emulator start` options, e.g. `["--rate-limit", "0"]`. */
  args?: string[];
  /** The executable; default: the one of this platform's package (or $HARBOR_EMULATOR_BINARY). */
  binary?: string;
  /** Milliseconds to wait for the ready line; default 30 s. */
  startTimeoutMs?: number;
}

/** A running emulator process and a client of it. */
export interface Emulator extends EmulatorClient {
  /** The emulator's process id. */
  readonly pid: number;
  /** The version the executable reported. */
  readonly version: string;
  /** SIGTERM, then wait for the exit (SIGKILL after 10 s). Safe to call twice. If this
   * process ends first, even by SIGKILL, the emulator stops within 2 s by itself. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const READY_LINE = /^harbor-emulator (\S+) listening on (http:\/\/127\.0\.0\.1:\d+)$/;
const STDERR_KEPT_BYTES = 16_384;
const STOP_GRACE_MS = 10_000;

type EmulatorProcess = ChildProcessByStdio<Writable, Readable, Readable>;

// Emulators still running when this process exits, stopped from its "exit" handler so a
// test runner that dies or forgets stop() leaves nothing behind.
const running = new Set<EmulatorProcess>();
let exitHookInstalled = false;

export async function startEmulator(options: StartOptions = {}): Promise<Emulator> {
  const executable = options.binary ?? binaryPath();
  // --exit-with-stdin: the pipe to its stdin is the emulator's lifeline. The kernel closes it
  // when this process dies, however it dies (a test runner killed by a timeout, kill -9),
  // and the emulator then stops within 2 s.
  const args = ["start", "--host", "127.0.0.1", "--port", String(options.port ?? 0), "--exit-with-stdin"];
  for (const file of [options.fixtures ?? []].flat()) args.push("--fixtures", file);
  if (options.seed !== undefined) args.push("--seed", String(options.seed));
  if (options.strict) args.push("--strict");
  if (options.controlToken) args.push("--control-token", options.controlToken);
  args.push(...(options.args ?? []));

  const child: EmulatorProcess = spawn(executable, args, {
    stdio: ["pipe", "pipe", "pipe"],
    // Its own process group: the one-file executable runs the server in a child process,
    // which signalling the parent alone could orphan.
    detached: process.platform !== "win32",
    windowsHide: true,
  });
  // Nothing is ever written to the lifeline; an emulator that ended first is no error.
  child.stdin.on("error", () => {});
  installExitHook();
  running.add(child);
  const stderr = keepTail(child.stderr);

  let ready: { version: string; url: string };
  try {
    ready = await readyLine(child, options.startTimeoutMs ?? 30_000, stderr);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  // Keep reading so a chatty server never blocks on a full pipe, but let node exit
  // without waiting for the emulator: the exit hook stops it.
  child.stdout.resume();
  unref(child);

  const client = connectEmulator(ready.url, { controlToken: options.controlToken, apiKey: options.apiKey });
  const stop = () => stopProcess(child);
  return Object.assign(client, {
    pid: child.pid as number,
    version: ready.version,
    stop,
    [Symbol.asyncDispose]: stop,
  });
}

function readyLine(
  child: EmulatorProcess,
  timeoutMs: number,
  stderr: () => string,
): Promise<{ version: string; url: string }> {
  return new Promise((resolve, reject) => {
    let pending = "";
    const done = (error?: Error, value?: { version: string; url: string }) => {
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
      if (error) reject(error);
      else resolve(value as { version: string; url: string });
    };
    const onData = (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const match = READY_LINE.exec(pending.slice(0, newline).trimEnd());
        pending = pending.slice(newline + 1);
        if (match) return done(undefined, { version: match[1] as string, url: match[2] as string });
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      // stderr may still be arriving: give it a turn of the event loop.
      setImmediate(() =>
        done(new EmulatorStartError(`harbor-emulator exited (${signal ?? `status ${code}`}) before it was ready.`, stderr())),
      );
    const onError = (error: Error) =>
      done(new EmulatorStartError(`harbor-emulator could not be run: ${error.message}`, ""));
    const timer = setTimeout(
      () => done(new EmulatorStartError(`harbor-emulator was not ready within ${timeoutMs} ms.`, stderr())),
      timeoutMs,
    );
    child.stdout.on("data", onData);
    child.on("exit", onExit);
    child.on("error", onError);
  });
}

function keepTail(stream: Readable): () => string {
  let tail = "";
  stream.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-STDERR_KEPT_BYTES);
  });
  return () => tail.trimEnd();
}

function signalGroup(child: EmulatorProcess, signal: NodeJS.Signals): void {
  try {
    if (process.platform === "win32") child.kill(signal);
    else process.kill(-(child.pid as number), signal);
  } catch {
    // Already gone.
  }
}

async function stopProcess(child: EmulatorProcess): Promise<void> {
  running.delete(child);
  if (child.pid === undefined) return; // never started (spawn error)
  if (child.exitCode === null && child.signalCode === null) {
    child.ref();
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    signalGroup(child, "SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        signalGroup(child, "SIGKILL");
        resolve();
      }, STOP_GRACE_MS);
    });
    await Promise.race([exited, killed]);
    clearTimeout(timer);
    await exited;
  }
  // Whatever the one-file bootloader's child left behind in the group.
  signalGroup(child, "SIGKILL");
  child.stdin.destroy();
  child.stdout.destroy();
  child.stderr.destroy();
}

function unref(child: EmulatorProcess): void {
  child.unref();
  // The pipes are handles too; unref them so only the test's own work keeps node alive.
  type Piped = (Readable | Writable) & { _handle?: { unref?: () => void } };
  for (const stream of [child.stdin, child.stdout, child.stderr] as Piped[]) {
    stream._handle?.unref?.();
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) signalGroup(child, "SIGTERM");
  });
}
