// Named types of the API's objects, taken from openapi.ts (generated from the document the
// emulator serves), so a field the emulator adds or drops changes them at the next build.
import type { components, operations, paths } from "./openapi.js";

export type { components, operations, paths } from "./openapi.js";

type Schemas = components["schemas"];

// The success answer's JSON of an operation (undefined for 204), its query and its body.
type SuccessStatus = 200 | 201 | 202 | 204;
type JsonOf<R> = R extends { content: { "application/json": infer Body } } ? Body : undefined;
type JsonAnswer<Op> = Op extends { responses: infer R }
  ? { [S in keyof R & SuccessStatus]: JsonOf<R[S]> }[keyof R & SuccessStatus]
  : never;
export type OperationAnswer<Id extends keyof operations> = JsonAnswer<operations[Id]>;
export type OperationQuery<Id extends keyof operations> = NonNullable<operations[Id]["parameters"]["query"]>;
export type OperationBody<Id extends keyof operations> =
  NonNullable<operations[Id]["requestBody"]> extends { content: { "application/json": infer Body } } ? Body : never;

// /v1 objects.
export type Event = Schemas["Event"];
/** The same as `Event`, under the name it had before the generated types. */
export type HarborEvent = Event;
export type EventCreate = Schemas["EventCreate"];
export type EventList = Schemas["EventList"];
export type EventReplayRequest = Schemas["EventReplayRequest"];
export type Webhook = Schemas["Webhook"];
/** `POST /v1/webhooks`'s answer: the webhook and its `whsec_…` secret, shown only here. */
export type WebhookCreated = Schemas["WebhookCreated"];
export type WebhookCreate = Schemas["WebhookCreate"];
export type WebhookUpdate = Schemas["WebhookUpdate"];
export type WebhookList = Schemas["WebhookList"];
export type Destination = Schemas["Destination"];
/** `POST /v1/destinations`'s answer: the destination and its `signing_secret`. */
export type DestinationCreated = Schemas["DestinationCreated"];
export type DestinationCreate = Schemas["DestinationCreate"];
export type DestinationUpdate = Schemas["DestinationUpdate"];
export type DestinationList = Schemas["DestinationList"];
export type Subscription = Schemas["Subscription"];
export type SubscriptionCreate = Schemas["SubscriptionCreate"];
export type SubscriptionList = Schemas["SubscriptionList"];
export type SigningKey = Schemas["SigningKey"];
export type SigningKeyWithSecret = Schemas["SigningKeyWithSecret"];
export type SigningKeyList = Schemas["SigningKeyList"];
export type Delivery = Schemas["Delivery"];
export type DeliveryList = Schemas["DeliveryList"];
export type DeliveryStatus = Schemas["DeliveryStatus"];
/** `POST /v1/events/{id}/replay`'s answer: the deliveries it created. */
export type CreatedDeliveries = Schemas["CreatedDeliveries"];
export type Attempt = Schemas["Attempt"];
/** The same as `Attempt`, under the name it had before the generated types. */
export type DeliveryAttempt = Attempt;
export type AttemptList = Schemas["AttemptList"];
export type EndpointStatus = Schemas["EndpointStatus"];
export type RetryPolicy = Schemas["RetryPolicy"];
export type Metadata = Schemas["Metadata"];

// Error answers: `{"error": {code, message, param, request_id}}`.
export type ErrorBody = Schemas["Error"];
/** A 429's body: `retry_after_ms` is always there. */
export type RateLimitErrorBody = Schemas["RateLimitError"];
export type ErrorCode = Schemas["ErrorCode"];

// The control API (tag "control").
export type Health = OperationAnswer<"controlHealth">;
export type ClockReading = Schemas["Clock"];
export type DrainResult = OperationAnswer<"controlDrainDeliveries">;
/** One request a built-in sink received; `headers` has lower-case names. */
export type SinkRequest = Schemas["SinkRequest"];
/** One scripted sink answer; a bare number is `{status}`. */
export type SinkResponse = Schemas["ScriptedResponseInput"];
export type SinkScript = Schemas["ScriptedSink"];
export type FaultSpec = Schemas["FaultCreate"];
export type ApiFault = Schemas["ApiFault"];
export type DeliveryFault = Schemas["DeliveryFault"];
export type Fault = Schemas["Fault"];
/** A fixtures document (docs/fixtures.md); loaded all or nothing. */
export type FixturesDocument = Schemas["Fixtures"];
/** `POST /_control/fixtures`'s answer: how many of each kind were loaded. */
export type FixturesLoaded = Schemas["FixturesLoaded"];
/** `GET /_control/export`'s answer: a fixtures document of the whole state. */
export type Export = Schemas["Export"];
/** A saved state (`POST /_control/snapshots`). */
export type Snapshot = Schemas["Snapshot"];

// `request()` typed by route: a path the document lists verbatim (no `{id}` in it) gives its
// answer's type; any other path gives `unknown` unless the caller names a type.
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export type ExactPath = { [P in keyof paths]: P extends `${string}{${string}` ? never : P }[keyof paths];
export type MethodOf<P extends keyof paths> = {
  [M in Method]: paths[P][Lowercase<M>] extends { responses: unknown } ? M : never;
}[Method];
export type PathAnswer<P extends keyof paths, M extends Method> = JsonAnswer<paths[P][Lowercase<M>]>;
