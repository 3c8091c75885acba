// The webhook receiver of a shop that uses Harbor: it verifies each delivery's signature
// and processes each delivery once, however often Harbor sends it.
import { createServer, type Server } from "node:http";

import { HarborSignatureError, verifyHarborSignature } from "harbor-emulator";

/** Processing cannot happen now (the database is down, ...); Harbor should retry. */
export class TemporarilyUnavailable extends Error {}

export interface HarborEventData {
  id: string;
  type: string;
  payload: Record<string, unknown>;
}

export function createOrdersWebhook(
  secret: string,
  processEvent: (event: HarborEventData) => void | Promise<void>,
): Server {
  // In production this is a table with a unique index on the delivery id, written in the
  // same transaction as the event's effects.
  const processedDeliveries = new Set<string>();

  return createServer(async (request, response) => {
    if (request.method !== "POST" || request.url !== "/webhooks/harbor") {
      response.writeHead(404).end();
      return;
    }
    // Verify the raw bytes: JSON parsed and serialized again would not match the signature.
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    try {
      verifyHarborSignature(body, request.headers, secret);
    } catch (error) {
      if (!(error instanceof HarborSignatureError)) throw error;
      response.writeHead(400).end("invalid signature");
      return;
    }

    const deliveryId = String(request.headers["harbor-delivery-id"]);
    if (processedDeliveries.has(deliveryId)) {
      // Harbor delivers at least once: a retry or replay of work already done.
      response.writeHead(200).end("already processed");
      return;
    }
    try {
      await processEvent(JSON.parse(body.toString("utf8")).data);
    } catch (error) {
      if (!(error instanceof TemporarilyUnavailable)) throw error;
      // Any non-2xx answer makes Harbor try again on its retry schedule.
      response.writeHead(503).end("try again later");
      return;
    }
    processedDeliveries.add(deliveryId);
    response.writeHead(200).end("processed");
  });
}
