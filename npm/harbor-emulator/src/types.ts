// The control API's shapes (harbor_emulator/openapi.yaml, tag "control"), as JSON arrives.

export interface Health {
  status: "ok";
  version: string;
  now: string;
  /** "unavailable" once the database file was removed or replaced: writes answer 503. */
  storage: "ok" | "unavailable";
}

export interface ClockReading {
  /** Emulator time, RFC 3339. */
  now: string;
  frozen: boolean;
  /** Emulator time minus host time. */
  offset_seconds: number;
}

export interface DrainResult {
  drained: boolean;
  pending: number;
}

/** One request a built-in sink received; `headers` has lower-case names. */
export interface SinkRequest {
  method: string;
  /** Path plus `?query` when there is one. */
  path: string;
  headers: Record<string, string>;
  /** The raw body as UTF-8 (invalid bytes replaced). */
  body: string;
  truncated: boolean;
  received_at: string;
}

/** One scripted sink answer; a bare number is `{status}`. */
export interface SinkResponse {
  status?: number;
  delay_ms?: number;
  body?: string;
  headers?: Record<string, string>;
}

export interface SinkScript {
  object: "sink";
  name: string;
  request_count: number;
  responses: Required<SinkResponse>[];
}

export type FaultSpec =
  | {
      target: "api";
      method?: string;
      path?: string;
      error_code: string;
      retry_after_ms?: number;
      count?: number;
      probability?: number;
      seed?: number;
    }
  | {
      target: "delivery";
      endpoint_id: string;
      outcome: "timeout" | "connection_error" | number;
      count?: number;
      probability?: number;
      seed?: number;
    };

interface FaultFields {
  id: string;
  object: "fault";
  probability: number | null;
  seed: number | null;
  /** Calls left to fail; null: every matching call until removed. */
  remaining: number | null;
  fired_count: number;
  created_at: string;
}

export interface ApiFault extends FaultFields {
  target: "api";
  method: string | null;
  path: string | null;
  error_code: string;
  /** Only with `rate_limit_exceeded`. */
  retry_after_ms?: number;
}

export interface DeliveryFault extends FaultFields {
  target: "delivery";
  endpoint_id: string;
  outcome: "timeout" | "connection_error" | number;
}

export type Fault = ApiFault | DeliveryFault;

/** A fixtures document (docs/fixtures.md); loaded all or nothing. */
export type FixturesDocument = Record<string, unknown>;

/** `POST /_control/fixtures`'s answer: how many of each kind were loaded. */
export interface FixturesLoaded {
  object: "fixtures";
  workspaces: number;
  api_keys: number;
  open_sandbox_keys: number;
  webhooks: number;
  destinations: number;
  subscriptions: number;
  events: number;
  deliveries: number;
}

export interface Delivery {
  id: string;
  object: "delivery";
  event_id: string;
  event_type: string;
  webhook_id?: string;
  destination_id?: string;
  status: "pending" | "held" | "succeeded" | "failed" | "cancelled";
  attempt_count: number;
  response_code: number | null;
  last_attempt_at: string | null;
  next_attempt_at: string | null;
  created_at: string;
  livemode: boolean;
}

export interface DeliveryAttempt {
  id: string;
  object: "delivery_attempt";
  delivery_id: string;
  attempt_number: number;
  attempted_at: string;
  duration_ms: number;
  response_code: number | null;
  response_body: string | null;
  error: "timeout" | "connection_error" | "redirect" | null;
}

export interface HarborEvent {
  id: string;
  object: "event";
  type: string;
  payload: Record<string, unknown>;
  workspace_id: string;
  created_at: string;
  livemode: boolean;
}

/** A saved state (`POST /_control/snapshots`). */
export interface Snapshot {
  object: "snapshot";
  name: string;
  created_at: string;
  size_bytes: number;
}
