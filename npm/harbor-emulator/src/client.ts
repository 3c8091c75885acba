// A client of a running emulator over its HTTP API: /_control for the test's levers, and
// the few /v1 calls tests need. The TypeScript twin of harbor_emulator/client.py.
import { readFile } from "node:fs/promises";
import { extname } from "node:path";

import { EmulatorUnreachable, HarborAPIError } from "./errors.js";
import type {
  ClockReading,
  Delivery,
  DeliveryAttempt,
  DrainResult,
  Fault,
  FaultSpec,
  FixturesDocument,
  FixturesLoaded,
  HarborEvent,
  Health,
  SinkRequest,
  SinkResponse,
  SinkScript,
  Snapshot,
} from "./types.js";

export interface ConnectOptions {
  /** Sent as `Authorization: Bearer …` to /_control (the emulator's `--control-token`). */
  controlToken?: string;
  /** The API key for /v1 calls (`trigger`, `deliveries`, …); any `hb_test_…` key works in
   * the open sandbox. Default `hb_test_node`. */
  apiKey?: string;
}

export interface RequestOptions {
  /** JSON body; a string is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** The /v1 API key for this call, instead of the client's. */
  key?: string;
  query?: Record<string, string | number | undefined>;
  /** Milliseconds before the call is abandoned; default 30 s. */
  timeoutMs?: number;
}

export interface Clock {
  get(): Promise<ClockReading>;
  /** Move forward by `"1h30m"` (units ms, s, m, h, d) or a number of seconds, running
   * every delivery attempt that falls due on the way before it returns. */
  advance(by: string | number): Promise<ClockReading>;
  /** Move forward to `now` (RFC 3339 or a Date); never backwards. */
  set(now: string | Date): Promise<ClockReading>;
  freeze(): Promise<ClockReading>;
  unfreeze(): Promise<ClockReading>;
}

export interface Fixtures {
  /** Load a fixtures document: an object (sent as JSON) or a `.json`/`.yaml`/`.yml` file,
   * sent as is (the emulator fills in `${HARBOR_EMULATOR_URL}` and `${NAME:-default}`). */
  load(fixtures: FixturesDocument | string): Promise<FixturesLoaded>;
  /** The whole state as a fixtures document that loads back to the same state. */
  export(): Promise<FixturesDocument>;
}

export interface Sink {
  readonly name: string;
  /** Give this URL to a webhook or destination and its deliveries land in this sink. */
  readonly url: string;
  /** What arrived, oldest first. */
  requests(): Promise<SinkRequest[]>;
  /** Answer the next requests in order (`500` or `{status, delay_ms, body, headers}`), then
   * `200 ok` again. */
  script(responses: Array<number | SinkResponse>): Promise<SinkScript>;
  clear(): Promise<void>;
}

export interface Faults {
  add(spec: FaultSpec): Promise<Fault>;
  list(): Promise<Fault[]>;
  remove(id: string): Promise<void>;
  clear(): Promise<void>;
}

/** Named saves of the whole state (`/_control/snapshots`): restore instead of reset + load. */
export interface Snapshots {
  save(name: string): Promise<Snapshot>;
  restore(name: string): Promise<Snapshot>;
  list(): Promise<Snapshot[]>;
  delete(name: string): Promise<void>;
}

export interface DeliveryFilters {
  status?: Delivery["status"];
  event_id?: string;
  webhook_id?: string;
  destination_id?: string;
  workspace_id?: string;
  limit?: number;
  cursor?: string;
}

export interface TriggerOptions {
  key?: string;
  workspaceId?: string;
  idempotencyKey?: string;
}

/** A running emulator, reached over HTTP. */
export interface EmulatorClient {
  readonly url: string;
  readonly clock: Clock;
  readonly fixtures: Fixtures;
  readonly faults: Faults;
  readonly snapshots: Snapshots;
  health(): Promise<Health>;
  /** Poll /_control/health until it answers; EmulatorUnreachable after `timeoutMs`. */
  waitHealthy(timeoutMs?: number): Promise<Health>;
  /** Empty state, clock back on host time and running, start fixtures reloaded; with
   * `seed`, seeded mode from then on (same requests, same bytes). */
  reset(options?: { seed?: number }): Promise<void>;
  /** Wait until no delivery attempt is due or in flight. */
  drain(options?: { timeoutSeconds?: number }): Promise<DrainResult>;
  sink(name: string): Sink;
  /** `POST /v1/events`: create an event and return it. */
  trigger(type: string, payload?: Record<string, unknown>, options?: TriggerOptions): Promise<HarborEvent>;
  /** One page of `GET /v1/deliveries`, newest first. */
  deliveries(filters?: DeliveryFilters, options?: { key?: string }): Promise<Delivery[]>;
  delivery(id: string, options?: { key?: string }): Promise<Delivery>;
  /** The delivery's attempts, newest first (up to 100). */
  attempts(id: string, options?: { key?: string }): Promise<DeliveryAttempt[]>;
  /** One more attempt of the delivery now, with the same delivery id. */
  replayDelivery(id: string, options?: { key?: string }): Promise<Delivery>;
  /** Any call: /_control paths get the control token, others the API key. Error answers
   * throw HarborAPIError; 204 gives `undefined`. */
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T>;
}

export const DEFAULT_API_KEY = "hb_test_node";
const DEFAULT_TIMEOUT_MS = 30_000;

/** A client of an emulator that is already running, e.g. one a Vitest `globalSetup`
 * started and handed over with `provide`. */
export function connectEmulator(url: string, options: ConnectOptions = {}): EmulatorClient {
  return new Client(url.replace(/\/+$/, ""), options.controlToken, options.apiKey ?? DEFAULT_API_KEY);
}

const segment = encodeURIComponent;

class Client implements EmulatorClient {
  readonly clock: Clock;
  readonly fixtures: Fixtures;
  readonly faults: Faults;
  readonly snapshots: Snapshots;

  constructor(
    readonly url: string,
    private readonly controlToken: string | undefined,
    private readonly apiKey: string,
  ) {
    const control = <T>(method: string, path: string, body?: unknown) =>
      this.request<T>(method, `/_control${path}`, body === undefined ? {} : { body });
    this.clock = {
      get: () => control("GET", "/clock"),
      advance: (by) =>
        control("POST", "/clock/advance", typeof by === "string" ? { duration: by } : { seconds: by }),
      set: (now) => control("POST", "/clock/set", { now: now instanceof Date ? now.toISOString() : now }),
      freeze: () => control("POST", "/clock/freeze"),
      unfreeze: () => control("POST", "/clock/unfreeze"),
    };
    this.fixtures = {
      load: async (fixtures) => {
        if (typeof fixtures !== "string") return control("POST", "/fixtures", fixtures);
        const yaml = [".yaml", ".yml"].includes(extname(fixtures).toLowerCase());
        return this.request("POST", "/_control/fixtures", {
          body: await readFile(fixtures, "utf8"),
          headers: { "Content-Type": yaml ? "application/yaml" : "application/json" },
        });
      },
      export: () => control("GET", "/export"),
    };
    this.faults = {
      add: (spec) => control("POST", "/faults", spec),
      list: async () => (await control<{ data: Fault[] }>("GET", "/faults")).data,
      remove: (id) => control("DELETE", `/faults/${segment(id)}`),
      clear: () => control("DELETE", "/faults"),
    };
    this.snapshots = {
      save: (name) => control("POST", "/snapshots", { name }),
      restore: (name) => control("POST", `/snapshots/${segment(name)}/restore`),
      list: async () => (await control<{ data: Snapshot[] }>("GET", "/snapshots")).data,
      delete: (name) => control("DELETE", `/snapshots/${segment(name)}`),
    };
  }

  health(): Promise<Health> {
    return this.request("GET", "/_control/health");
  }

  async waitHealthy(timeoutMs = 10_000): Promise<Health> {
    const deadline = Date.now() + timeoutMs;
    let delayMs = 20;
    for (;;) {
      try {
        return await this.health();
      } catch (error) {
        const remaining = deadline - Date.now();
        if (!(error instanceof EmulatorUnreachable) || remaining <= 0) throw error;
        // Polling is the only way to see a process come up; back off to 250 ms.
        await new Promise((resolve) => setTimeout(resolve, Math.min(delayMs, remaining)));
        delayMs = Math.min(delayMs * 2, 250);
      }
    }
  }

  async reset(options: { seed?: number } = {}): Promise<void> {
    const body = options.seed === undefined ? {} : { body: { seed: options.seed } };
    await this.request("POST", "/_control/reset", body);
  }

  drain(options: { timeoutSeconds?: number } = {}): Promise<DrainResult> {
    const timeoutSeconds = options.timeoutSeconds ?? 10;
    return this.request("POST", "/_control/deliveries/drain", {
      body: { timeout_seconds: timeoutSeconds },
      // The emulator may hold the call for timeout_seconds; leave it room to answer.
      timeoutMs: (timeoutSeconds + 10) * 1000,
    });
  }

  sink(name: string): Sink {
    const path = `/_control/sinks/${segment(name)}`;
    return {
      name,
      url: `${this.url}/_sink/${segment(name)}`,
      requests: async () => (await this.request<{ data: SinkRequest[] }>("GET", path)).data,
      script: (responses) =>
        this.request("PUT", path, {
          body: { responses: responses.map((r) => (typeof r === "number" ? { status: r } : r)) },
        }),
      clear: async () => {
        await this.request("DELETE", path);
      },
    };
  }

  trigger(type: string, payload: Record<string, unknown> = {}, options: TriggerOptions = {}): Promise<HarborEvent> {
    const body: Record<string, unknown> = { type, payload };
    if (options.workspaceId !== undefined) body.workspace_id = options.workspaceId;
    const headers: Record<string, string> = options.idempotencyKey ? { "Idempotency-Key": options.idempotencyKey } : {};
    return this.request("POST", "/v1/events", { body, headers, key: options.key });
  }

  async deliveries(filters: DeliveryFilters = {}, options: { key?: string } = {}): Promise<Delivery[]> {
    const page = await this.request<{ data: Delivery[] }>("GET", "/v1/deliveries", { query: { ...filters }, key: options.key });
    return page.data;
  }

  delivery(id: string, options: { key?: string } = {}): Promise<Delivery> {
    return this.request("GET", `/v1/deliveries/${segment(id)}`, { key: options.key });
  }

  async attempts(id: string, options: { key?: string } = {}): Promise<DeliveryAttempt[]> {
    const path = `/v1/deliveries/${segment(id)}/attempts`;
    return (await this.request<{ data: DeliveryAttempt[] }>("GET", path, { query: { limit: 100 }, key: options.key })).data;
  }

  replayDelivery(id: string, options: { key?: string } = {}): Promise<Delivery> {
    return this.request("POST", `/v1/deliveries/${segment(id)}/replay`, { key: options.key });
  }

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const token = path.startsWith("/_control") ? this.controlToken : (options.key ?? this.apiKey);
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["Content-Type"] = "application/json";
    }
    Object.assign(headers, options.headers);
    const url = new URL(this.url + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
    } catch (error) {
      // Refused, reset or timed out: there is no answer to turn into an error body.
      const cause = (error as { cause?: { code?: string } }).cause;
      throw new EmulatorUnreachable(this.url, cause?.code ?? String(error));
    }
    const text = await response.text();
    if (!response.ok) throw apiError(response, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

function apiError(response: Response, text: string): HarborAPIError {
  try {
    const { error } = JSON.parse(text) as { error: { code: string; message: string; param?: string | null; request_id?: string | null } };
    return new HarborAPIError(response.status, error.code, error.message, error.param ?? null, error.request_id ?? null);
  } catch {
    // Not the emulator's error shape (a proxy in between?): keep what there is.
    return new HarborAPIError(
      response.status,
      `http_${response.status}`,
      text.slice(0, 200) || response.statusText,
      null,
      response.headers.get("harbor-request-id"),
    );
  }
}
