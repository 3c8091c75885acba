// Delivery chaos for one endpoint (docs/chaos.md): the TypeScript twin of
// harbor_emulator.client's `faults.chaos` and `faults.clear_chaos`, over the same
// /_control/faults calls, so `harbor-emulator chaos` and these create the same faults.
import type { EmulatorClient } from "./client.js";
import type { components } from "./openapi.js";

type DeliveryFaultSpec = components["schemas"]["DeliveryFaultCreate"];
type DeliveryFault = components["schemas"]["DeliveryFault"];
type ChaosOutcome = Extract<DeliveryFaultSpec["outcome"], "ack_lost" | "duplicate" | "delay">;

export const CHAOS_OUTCOMES: readonly ChaosOutcome[] = ["ack_lost", "duplicate", "delay"];
export const DEFAULT_MAX_DELAY_SECONDS = 600;
/** The contract's bound on `delay_seconds` (the longest retry policy, 72 h). */
export const MAX_DELAY_SECONDS = 259_200;
/** A delayed attempt is late by 1/4, 2/4, 3/4 or all of `maxDelaySeconds` (one fault each). */
const DELAY_STEPS = 4;

/** Each outcome's probability (0–1) per attempt; leave one out for none of it. */
export interface ChaosOptions {
  /** Delivered, then recorded as a timeout whatever the receiver answered: it comes again. */
  ackLost?: number;
  /** Sent twice at once: same id, body and `Harbor-Attempt`, each signed. */
  duplicate?: number;
  /** Sent up to `maxDelaySeconds` of emulator time late, so later events overtake it. */
  delay?: number;
  /** Default 600 (10 min). */
  maxDelaySeconds?: number;
  /** Seeds fault i with `seed + i`: the same chaos every run. Default: the emulator's draws. */
  seed?: number;
}

function probability(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be a probability from 0 to 1.`);
  return value;
}

/** The delivery faults `chaos` creates, in the order they are consulted (the first that
 * fires wins); `delay` becomes up to four steps whose chained probabilities add up to it. */
export function chaosFaults(endpointId: string, options: ChaosOptions): DeliveryFaultSpec[] {
  const specs: DeliveryFaultSpec[] = [];
  const add = (spec: Omit<DeliveryFaultSpec, "target" | "endpoint_id">) =>
    specs.push({ target: "delivery", endpoint_id: endpointId, ...spec });
  if (options.ackLost !== undefined) add({ outcome: "ack_lost", probability: probability("ackLost", options.ackLost) });
  if (options.duplicate !== undefined) {
    add({ outcome: "duplicate", probability: probability("duplicate", options.duplicate) });
  }
  if (options.delay !== undefined) {
    const delay = probability("delay", options.delay);
    const maxDelay = options.maxDelaySeconds ?? DEFAULT_MAX_DELAY_SECONDS;
    if (!(maxDelay >= 1 && maxDelay <= MAX_DELAY_SECONDS)) {
      throw new RangeError(`maxDelaySeconds must be 1 to ${MAX_DELAY_SECONDS}.`);
    }
    const steps = [...new Set(
      Array.from({ length: DELAY_STEPS }, (_, k) => Math.max(1, Math.floor((maxDelay * (k + 1)) / DELAY_STEPS))),
    )];
    const share = delay / steps.length;
    steps.forEach((seconds, index) => {
      // Fires only if the steps before it did not: conditional on that, P(step) = share.
      const left = 1 - index * share;
      add({ outcome: "delay", delay_seconds: seconds, probability: left <= 0 ? 0 : Math.min(1, share / left) });
    });
  }
  if (specs.length === 0) throw new RangeError("Give at least one of ackLost, duplicate and delay.");
  if (options.seed !== undefined) specs.forEach((spec, index) => (spec.seed = options.seed! + index));
  return specs;
}

/** Add chaos faults for one endpoint; returns the faults created. */
export async function chaos(
  harbor: Pick<EmulatorClient, "faults">,
  endpointId: string,
  options: ChaosOptions,
): Promise<DeliveryFault[]> {
  const created: DeliveryFault[] = [];
  for (const spec of chaosFaults(endpointId, options)) {
    created.push((await harbor.faults.add(spec)) as DeliveryFault);
  }
  return created;
}

/** Remove the chaos faults of one endpoint (its other faults stay); returns how many. */
export async function clearChaos(harbor: Pick<EmulatorClient, "faults">, endpointId: string): Promise<number> {
  const chaotic = (await harbor.faults.list()).filter(
    (fault) =>
      fault.target === "delivery" &&
      fault.endpoint_id === endpointId &&
      (CHAOS_OUTCOMES as readonly unknown[]).includes(fault.outcome),
  );
  for (const fault of chaotic) await harbor.faults.remove(fault.id);
  return chaotic.length;
}
