// Broken: verifies JSON.stringify(JSON.parse(body)) instead of the raw bytes, as a handler
// behind express.json() does. The round trip changes bytes (42.0 becomes 42, escapes and
// key order can change), so genuine deliveries whose JSON does not survive it are refused.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

export function createReceiver(secret) {
  return createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const envelope = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const timestamp = request.headers['harbor-timestamp'] ?? '';
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
      const expected = createHmac('sha256', secret)
        .update(`${timestamp}.${JSON.stringify(envelope)}`) // not the bytes Harbor signed
        .digest('hex');
      const signatures = (request.headers['harbor-signature'] ?? '').split(',');
      if (!fresh || !signatures.includes(`v1=${expected}`)) {
        response.writeHead(400).end('invalid signature');
        return;
      }
      response.writeHead(200).end('ok');
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = createReceiver(process.env.HARBOR_WEBHOOK_SECRET);
  server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
}
