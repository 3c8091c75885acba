import { createHmac, timingSafeEqual } from "node:crypto";

// Throws unless this is a fresh Harbor delivery signed with our secret.
// rawBody: the request body exactly as received; headers: lower-case names.
export function verify(rawBody: Buffer, headers: Record<string, string>, tolerance = 300): void {
  const secret = process.env.HARBOR_WEBHOOK_SECRET!; // the whole whsec_... string
  const timestamp = headers["harbor-timestamp"];
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > tolerance) {
    throw new Error("Harbor-Timestamp is outside the tolerance");
  }
  const expected = Buffer.from(
    createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex"),
  );
  const matches = headers["harbor-signature"]
    .split(",")
    .map((value) => value.trim())
    .filter((value) => value.startsWith("v1="))
    .some((value) => {
      const given = Buffer.from(value.slice(3));
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  if (!matches) throw new Error("no Harbor-Signature matches the secret");
}
