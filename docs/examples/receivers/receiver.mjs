// A minimal Harbor webhook receiver (node:http) that passes every receiver check.
// Run: HARBOR_WEBHOOK_SECRET=whsec_... node receiver.mjs  (PORT, default 3000)
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

const TOLERANCE_SECONDS = 300;
const HANDLED = new Set(['order.paid']);

function verified(secret, rawBody, headers) {
  const timestamp = headers['harbor-timestamp'] ?? '';
  if (!/^[0-9]{1,20}$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', secret)
    .update(`${timestamp}.`)
    .update(rawBody) // the raw bytes, never JSON.stringify(JSON.parse(...))
    .digest();
  // During a key rotation the header holds one v1= per valid key: any may match.
  return (headers['harbor-signature'] ?? '').split(',').some((item) => {
    const [scheme, hex = ''] = item.trim().split('=');
    const given = Buffer.from(hex, 'hex');
    return scheme === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

export function createReceiver(secret) {
  const processed = new Set(); // event ids already handled; use your database in production
  return createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks);
      if (request.method !== 'POST' || !verified(secret, rawBody, request.headers)) {
        response.writeHead(400).end('invalid signature');
        return;
      }
      const envelope = JSON.parse(rawBody.toString('utf8'));
      if (!processed.has(envelope.data.id)) {
        // at least once: a redelivery is acknowledged, not redone
        processed.add(envelope.data.id);
        if (HANDLED.has(envelope.type)) {
          // hand the event to a queue here; answer before the slow work
        }
      }
      response.writeHead(200).end('ok'); // 2xx for ignored types too, or Harbor retries for 72 h
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = createReceiver(process.env.HARBOR_WEBHOOK_SECRET);
  server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
}
