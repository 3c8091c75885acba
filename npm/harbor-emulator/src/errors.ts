import type { ErrorCode } from "./types.js";

/** An error answer from the emulator: `{"error": {code, message, param, request_id}}` (the
 * document's `ErrorBody`). `code` is one of the document's error codes, or `http_<status>`
 * when something else than the emulator answered. */
export class HarborAPIError extends Error {
  override name = "HarborAPIError";
  constructor(
    readonly status: number,
    readonly code: ErrorCode | `http_${number}`,
    message: string,
    readonly param: string | null = null,
    readonly requestId: string | null = null,
    /** How long to wait before retrying; only with `rate_limit_exceeded`. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Nothing answered at the emulator's URL (not started, wrong port, or stopped). */
export class EmulatorUnreachable extends Error {
  override name = "EmulatorUnreachable";
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(`cannot reach the emulator at ${url}: ${reason}`);
  }
}

/** The emulator process did not start: its exit status and the end of its stderr. */
export class EmulatorStartError extends Error {
  override name = "EmulatorStartError";
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(stderr ? `${message}\n${stderr}` : message);
  }
}
