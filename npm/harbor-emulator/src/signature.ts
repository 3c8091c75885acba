// Harbor webhook signatures, checked the way a receiver must (contract, Delivery):
// Harbor-Signature is `v1=` + lowercase hex HMAC-SHA256, keyed with the whole `whsec_…`
// secret's UTF-8 bytes, over `"{Harbor-Timestamp}." + raw body`; during a key rotation it
// holds one `v1=` per valid secret, newest first. The twin of harbor_emulator/signing.py.
import { createHmac, timingSafeEqual } from "node:crypto";

export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The request is not a genuine, fresh Harbor delivery for this secret. */
export class HarborSignatureError extends Error {
  override name = "HarborSignatureError";
}

/** Headers as node:http gives them, as a fetch `Headers`, or a plain object. */
export type HeadersLike =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** How far Harbor-Timestamp may be from `now`, either way; default 300. */
  toleranceSeconds?: number;
  /** Unix seconds to check against; default this machine's time. */
  now?: number;
}

/** Throw HarborSignatureError unless `headers` sign `rawBody` with `secret`, recently.
 *
 * `rawBody` is the body exactly as received: a Buffer, or a string taken as its UTF-8. Parse
 * JSON only after this returns; re-serialized JSON does not verify. */
export function verifyHarborSignature(
  rawBody: string | Uint8Array,
  headers: HeadersLike,
  secret: string,
  options: VerifyOptions = {},
): void {
  const timestampText = header(headers, "harbor-timestamp")?.trim();
  if (timestampText === undefined) throw new HarborSignatureError("Missing Harbor-Timestamp header.");
  if (!/^[0-9]{1,20}$/.test(timestampText)) throw new HarborSignatureError("Harbor-Timestamp is not an integer.");
  // The signed message holds the timestamp as an integer, however many leading zeros.
  const timestamp = BigInt(timestampText);
  // A receiver checks against its host time; the emulator's clock never enters this.
  const now = options.now ?? Date.now() / 1000;
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    throw new HarborSignatureError("Harbor-Timestamp is outside the tolerance.");
  }

  const signatureText = header(headers, "harbor-signature");
  if (signatureText === undefined) throw new HarborSignatureError("Missing Harbor-Signature header.");
  const candidates = signatureText
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.startsWith("v1="))
    .map((item) => Buffer.from(item.slice(3).trim(), "utf8"));
  if (candidates.length === 0) throw new HarborSignatureError("Harbor-Signature has no v1 signature.");

  const body = typeof rawBody === "string" ? Buffer.from(rawBody, "utf8") : rawBody;
  const expected = Buffer.from(
    createHmac("sha256", Buffer.from(secret, "utf8")).update(`${timestamp}.`).update(body).digest("hex"),
    "utf8",
  );
  // Every candidate is compared, in constant time each, with no early exit on a match.
  let matched = false;
  for (const candidate of candidates) {
    // timingSafeEqual needs equal lengths; a hex signature's length is no secret.
    const equal = candidate.length === expected.length && timingSafeEqual(candidate, expected);
    matched = equal || matched;
  }
  if (!matched) throw new HarborSignatureError("No signature matches the secret.");
}

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof headers.get === "function") {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(",") : value;
  }
  return undefined;
}
