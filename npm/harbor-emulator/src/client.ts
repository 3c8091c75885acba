// A client of a running emulator over its HTTP API: /_control for the test's levers, and
// typed calls of the /v1 routes tests use most. The TypeScript twin of
// harbor_emulator.client (Python); its types come from the generated openapi.ts (see types.ts).
import { readFile } from "node:fs/promises";
import { extname } from "node:path";

import { EmulatorUnreachable, HarborAPIError } from "./errors.js";
import type {
  Attempt,
  ClockReading,
  Delivery,
  Destination,
  DestinationCreate,
  DestinationCreated,
  DestinationUpdate,
  DrainResult,
  ErrorBody,
  Event,
  EventCreate,
  EventReplayRequest,
  ExactPath,
  Export,
  Fault,
  FaultSpec,
  FixturesDocument,
  FixturesLoaded,
  Health,
  MethodOf,
  OperationQuery,
  PathAnswer,
  SinkRequest,
  SinkResponse,
  SinkScript,
  Snapshot,
  Subscription,
  SubscriptionCreate,
  Webhook,
  WebhookCreate,
  WebhookCreated,
  WebhookUpdate,
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
  query?: Record<string, string | number | boolean | null | undefined>;
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
  export(): Promise<Export>;
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

/** `GET /v1/deliveries`'s filters: status, event_id, webhook_id, destination_id, … */
export type DeliveryFilters = OperationQuery<"listDeliveries">;
export type EventFilters = OperationQuery<"listEvents">;
export type WebhookFilters = OperationQuery<"listWebhooks">;
export type DestinationFilters = OperationQuery<"listDestinations">;
export type SubscriptionFilters = OperationQuery<"listSubscriptions">;

/** Options of every /v1 call. */
export interface CallOptions {
  /** The /v1 API key for this call, instead of the client's. */
  key?: string;
}

/** Options of a /v1 call that creates something. */
export interface CreateOptions extends CallOptions {
  /** Sent as `Idempotency-Key`: the same key and body answer the first call's result again. */
  idempotencyKey?: string;
}

export interface TriggerOptions extends CreateOptions {
  workspaceId?: string;
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
  // The /v1 routes tests use most, typed by the generated OpenAPI types. A list call answers
  // one page (`limit`, `cursor` in its filters), newest first.
  /** `POST /v1/events` in the SDK dialect: `{type, payload}`. */
  trigger(type: string, payload?: Record<string, unknown>, options?: TriggerOptions): Promise<Event>;
  /** `POST /v1/events` with a body of either dialect (`payload` or `body`). */
  createEvent(event: EventCreate, options?: CreateOptions): Promise<Event>;
  events(filters?: EventFilters, options?: CallOptions): Promise<Event[]>;
  event(id: string, options?: CallOptions): Promise<Event>;
  /** New deliveries of an event: to one endpoint, or to every endpoint that matches now. */
  replayEvent(id: string, to?: EventReplayRequest, options?: CreateOptions): Promise<Delivery[]>;
  /** `POST /v1/webhooks`: the answer carries the `whsec_…` secret, shown only here. */
  createWebhook(webhook: WebhookCreate, options?: CreateOptions): Promise<WebhookCreated>;
  webhooks(filters?: WebhookFilters, options?: CallOptions): Promise<Webhook[]>;
  webhook(id: string, options?: CallOptions): Promise<Webhook>;
  updateWebhook(id: string, changes: WebhookUpdate, options?: CallOptions): Promise<Webhook>;
  deleteWebhook(id: string, options?: CallOptions): Promise<void>;
  /** `POST /v1/destinations`: the answer carries the `signing_secret`, shown only here. */
  createDestination(destination: DestinationCreate, options?: CreateOptions): Promise<DestinationCreated>;
  destinations(filters?: DestinationFilters, options?: CallOptions): Promise<Destination[]>;
  destination(id: string, options?: CallOptions): Promise<Destination>;
  updateDestination(id: string, changes: DestinationUpdate, options?: CallOptions): Promise<Destination>;
  deleteDestination(id: string, options?: CallOptions): Promise<void>;
  createSubscription(subscription: SubscriptionCreate, options?: CreateOptions): Promise<Subscription>;
  subscriptions(filters?: SubscriptionFilters, options?: CallOptions): Promise<Subscription[]>;
  subscription(id: string, options?: CallOptions): Promise<Subscription>;
  deleteSubscription(id: string, options?: CallOptions): Promise<void>;
  deliveries(filters?: DeliveryFilters, options?: CallOptions): Promise<Delivery[]>;
  delivery(id: string, options?: CallOptions): Promise<Delivery>;
  /** The delivery's attempts, newest first (up to 100). */
  attempts(id: string, options?: CallOptions): Promise<Attempt[]>;
  /** One more attempt of the delivery now, with the same delivery id. */
  replayDelivery(id: string, options?: CreateOptions): Promise<Delivery>;
  /** Any call: /_control paths get the control token, others the API key. Error answers
   * throw HarborAPIError; 204 gives `undefined`. A path the OpenAPI document lists as it is
   * (`"/v1/webhooks"`, not `/v1/webhooks/${id}`) answers its typed result. */
  request<P extends ExactPath, M extends MethodOf<P>>(
    method: M,
    path: P,
    options?: RequestOptions,
  ): Promise<PathAnswer<P, M>>;
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

  trigger(type: string, payload: Record<string, unknown> = {}, options: TriggerOptions = {}): Promise<Event> {
    const workspace = options.workspaceId === undefined ? {} : { workspace_id: options.workspaceId };
    return this.createEvent({ type, payload, ...workspace }, options);
  }

  createEvent(event: EventCreate, options: CreateOptions = {}): Promise<Event> {
    return this.v1("POST", "/v1/events", options, event);
  }

  events(filters: EventFilters = {}, options: CallOptions = {}): Promise<Event[]> {
    return this.page("/v1/events", filters, options);
  }

  event(id: string, options: CallOptions = {}): Promise<Event> {
    return this.v1("GET", `/v1/events/${segment(id)}`, options);
  }

  async replayEvent(id: string, to: EventReplayRequest = {}, options: CreateOptions = {}): Promise<Delivery[]> {
    return (await this.v1<{ data: Delivery[] }>("POST", `/v1/events/${segment(id)}/replay`, options, to)).data;
  }

  createWebhook(webhook: WebhookCreate, options: CreateOptions = {}): Promise<WebhookCreated> {
    return this.v1("POST", "/v1/webhooks", options, webhook);
  }

  webhooks(filters: WebhookFilters = {}, options: CallOptions = {}): Promise<Webhook[]> {
    return this.page("/v1/webhooks", filters, options);
  }

  webhook(id: string, options: CallOptions = {}): Promise<Webhook> {
    return this.v1("GET", `/v1/webhooks/${segment(id)}`, options);
  }

  updateWebhook(id: string, changes: WebhookUpdate, options: CallOptions = {}): Promise<Webhook> {
    return this.v1("PATCH", `/v1/webhooks/${segment(id)}`, options, changes);
  }

  deleteWebhook(id: string, options: CallOptions = {}): Promise<void> {
    return this.v1("DELETE", `/v1/webhooks/${segment(id)}`, options);
  }

  createDestination(destination: DestinationCreate, options: CreateOptions = {}): Promise<DestinationCreated> {
    return this.v1("POST", "/v1/destinations", options, destination);
  }

  destinations(filters: DestinationFilters = {}, options: CallOptions = {}): Promise<Destination[]> {
    return this.page("/v1/destinations", filters, options);
  }

  destination(id: string, options: CallOptions = {}): Promise<Destination> {
    return this.v1("GET", `/v1/destinations/${segment(id)}`, options);
  }

  updateDestination(id: string, changes: DestinationUpdate, options: CallOptions = {}): Promise<Destination> {
    return this.v1("PATCH", `/v1/destinations/${segment(id)}`, options, changes);
  }

  deleteDestination(id: string, options: CallOptions = {}): Promise<void> {
    return this.v1("DELETE", `/v1/destinations/${segment(id)}`, options);
  }

  createSubscription(subscription: SubscriptionCreate, options: CreateOptions = {}): Promise<Subscription> {
    return this.v1("POST", "/v1/subscriptions", options, subscription);
  }

  subscriptions(filters: SubscriptionFilters = {}, options: CallOptions = {}): Promise<Subscription[]> {
    return this.page("/v1/subscriptions", filters, options);
  }

  subscription(id: string, options: CallOptions = {}): Promise<Subscription> {
    return this.v1("GET", `/v1/subscriptions/${segment(id)}`, options);
  }

  deleteSubscription(id: string, options: CallOptions = {}): Promise<void> {
    return this.v1("DELETE", `/v1/subscriptions/${segment(id)}`, options);
  }

  deliveries(filters: DeliveryFilters = {}, options: CallOptions = {}): Promise<Delivery[]> {
    return this.page("/v1/deliveries", filters, options);
  }

  delivery(id: string, options: CallOptions = {}): Promise<Delivery> {
    return this.v1("GET", `/v1/deliveries/${segment(id)}`, options);
  }

  attempts(id: string, options: CallOptions = {}): Promise<Attempt[]> {
    return this.page(`/v1/deliveries/${segment(id)}/attempts`, { limit: 100 }, options);
  }

  replayDelivery(id: string, options: CreateOptions = {}): Promise<Delivery> {
    return this.v1("POST", `/v1/deliveries/${segment(id)}/replay`, options);
  }

  private v1<T>(method: string, path: string, options: CreateOptions, body?: unknown): Promise<T> {
    const headers: Record<string, string> = options.idempotencyKey ? { "Idempotency-Key": options.idempotencyKey } : {};
    return this.request<T>(method, path, { body, headers, key: options.key });
  }

  private async page<T>(path: string, filters: RequestOptions["query"], options: CallOptions): Promise<T[]> {
    return (await this.request<{ data: T[] }>("GET", path, { query: filters, key: options.key })).data;
  }

  request<P extends ExactPath, M extends MethodOf<P>>(
    method: M,
    path: P,
    options?: RequestOptions,
  ): Promise<PathAnswer<P, M>>;
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T>;
  async request(method: string, path: string, options: RequestOptions = {}): Promise<unknown> {
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
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
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
    return text ? JSON.parse(text) : undefined;
  }
}

function apiError(response: Response, text: string): HarborAPIError {
  try {
    const { error } = JSON.parse(text) as ErrorBody;
    const { code, message, param, request_id, retry_after_ms } = error;
    return new HarborAPIError(response.status, code, message, param, request_id, retry_after_ms);
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
