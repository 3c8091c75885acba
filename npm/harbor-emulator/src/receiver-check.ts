// The receiver check (`POST /_control/receiver-checks`): deliveries built like Harbor's
// sent to a receiver the test runs, and a report of what a ready receiver does with them.
// The twin of harbor_emulator.client's `check_receiver`; types from the generated openapi.ts.
import type { EmulatorClient } from "./client.js";
import type { components } from "./openapi.js";

export type ReceiverCheckReport = components["schemas"]["ReceiverCheck"];
export type ReceiverCheckResult = components["schemas"]["ReceiverCheckResult"];
export type ReceiverCheckRequest = components["schemas"]["ReceiverCheckRequest"];

export interface ReceiverCheckOptions {
  /** The endpoint secret (`whsec_…`) the receiver verifies with. */
  secret: string;
  /** Type of the deliveries (default `receiver_check.ping`); use one the receiver handles. */
  eventType?: string;
  /** The event payload, any JSON up to 262,144 bytes. */
  payload?: unknown;
  /** How long to wait for the whole report; each of the checks may take the delivery
   * timeout (10 s by default). Default 300,000. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 300_000;

/** Run every check of the contract against `url` and return the report; `report.passed`
 * is true when every required check passed, `formatReceiverCheck(report)` prints it. */
export async function checkReceiver(
  emulator: EmulatorClient,
  url: string,
  options: ReceiverCheckOptions,
): Promise<ReceiverCheckReport> {
  const body: ReceiverCheckRequest = { url, secret: options.secret };
  if (options.eventType !== undefined) body.event_type = options.eventType;
  if (options.payload !== undefined) body.payload = options.payload;
  return emulator.request<ReceiverCheckReport>("POST", "/_control/receiver-checks", {
    body,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
}

/** The report as lines a test failure can show: the verdict, then each check that did not
 * pass with what was sent, what came back and the hint. */
export function formatReceiverCheck(report: ReceiverCheckReport): string {
  const verdict = !report.reachable ? "UNREACHABLE" : report.passed ? "PASSED" : "FAILED";
  const lines = [`receiver check of ${report.url}: ${verdict}`];
  for (const check of report.checks) {
    const status = check.status ?? "-";
    lines.push(`${check.name.padEnd(18)} ${check.result.padEnd(5)} ${String(status).padEnd(4)} ${check.ms} ms`);
    if (check.result !== "pass") {
      const got = check.received.error ?? check.status;
      const sent = check.sent ? `sent ${check.sent.summary}; ` : "";
      lines.push(`  ${sent}expected ${check.expected}, got ${got}`);
      if (check.received.detail) lines.push(`  ${check.received.detail}`);
      lines.push(`  ${check.hint}`);
    }
  }
  return lines.join("\n");
}
