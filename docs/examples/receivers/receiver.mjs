// A minimal Harbor webhook receiver (node:http) that passes every receiver check.
// Run: HARBOR_WEBHOOK_SECRET=whsec_... PORT=3000 node receiver.mjs
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const SECRET = process.env.HARBOR_WEBHOOK_SECRET;
const TOLERANCE_SECONDS = 300;
const HANDLED = new Set(['order.paid']);
const processed = new Set(); // event ids already handled; use your database in production

function verified(rawBody, headers) {
  const timestamp = headers['harbor-timestamp'] ?? '';
  if (!/^[0-9]{1,20}$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', SECRET)
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

const server = createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const rawBody = Buffer.concat(chunks);
    if (request.method !== 'POST' || !verified(rawBody, request.headers)) {
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

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
