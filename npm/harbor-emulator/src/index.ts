export { startEmulator, type Emulator, type StartOptions } from "./emulator.js";
export {
  connectEmulator,
  DEFAULT_API_KEY,
  type CallOptions,
  type Clock,
  type ConnectOptions,
  type CreateOptions,
  type DeliveryFilters,
  type DestinationFilters,
  type EmulatorClient,
  type EventFilters,
  type Faults,
  type Fixtures,
  type RequestOptions,
  type Sink,
  type Snapshots,
  type SubscriptionFilters,
  type TriggerOptions,
  type WebhookFilters,
} from "./client.js";
export { chaos, chaosFaults, clearChaos, type ChaosOptions } from "./chaos.js";
export { checkReceiver, formatReceiverCheck, type ReceiverCheckOptions, type ReceiverCheckReport, type ReceiverCheckResult } from "./receiver-check.js";
export { EmulatorStartError, EmulatorUnreachable, HarborAPIError } from "./errors.js";
export { BINARY_ENV, binaryPath, BinaryNotFoundError, PLATFORM_PACKAGES } from "./locate.cjs";
export {
  DEFAULT_TOLERANCE_SECONDS,
  HarborSignatureError,
  verifyHarborSignature,
  type HeadersLike,
  type VerifyOptions,
} from "./signature.js";
export type * from "./types.js";
