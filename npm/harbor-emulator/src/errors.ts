/** An error answer from the emulator: `{"error": {code, message, param, request_id}}`. */
export class HarborAPIError extends Error {
  override name = "HarborAPIError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly requestId: string | null = null,
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
