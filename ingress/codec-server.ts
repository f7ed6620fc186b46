/**
 * Temporal's remote codec protocol, so the Web UI and `temporal ... --codec-endpoint` show our
 * encrypted payloads in clear: `POST /decode` and `POST /encode` with a JSON body
 * `{ "payloads": [{ "metadata": { "<k>": "<base64>" }, "data": "<base64>" }] }` (the protobuf JSON
 * mapping of temporal.api.common.v1.Payload, bytes as base64) and the same shape in the answer.
 *
 * The Web UI calls it from the browser, so it answers CORS (Fetch standard, CORS protocol) for the
 * listed origins only; anything else gets no CORS headers (the browser refuses to read the answer).
 * Bodies are capped (413); bad JSON or a bad payload is 400; a payload that cannot be decrypted
 * (unknown key, tampered) is 400 with the reason, never a crash. With a token configured, requests
 * must carry `Authorization: Bearer <token>` (RFC 6750 §2.1), else 401.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';

export interface CodecServerOptions {
  codec: PayloadCodec;
  listen: { host: string; port: number };
  /** Origins allowed to call from a browser (the embedded UI's, `temporal.codec.corsOrigins`). */
  corsOrigins: string[];
  token?: string;
  /** Largest request body (default 4 MiB, Temporal's default gRPC message limit). */
  maxBodyBytes?: number;
  log?: { warn(o: object, m: string): void };
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function fromJson(p: unknown): Payload {
  if (typeof p !== 'object' || p === null) throw new TypeError('payload is not an object');
  const { metadata, data } = p as JsonPayload;
  const b = (v: unknown, what: string) => {
    if (v === undefined || v === null) return new Uint8Array();
    if (typeof v !== 'string' || !BASE64.test(v)) throw new TypeError(`${what} is not base64`);
    return new Uint8Array(Buffer.from(v, 'base64'));
  };
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)))
    throw new TypeError('metadata is not an object');
  return {
    metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, b(v, `metadata.${k}`)])),
    data: b(data, 'data'),
  };
}

function toJson(p: Payload): JsonPayload {
  const b64 = (v?: Uint8Array | null) => Buffer.from(v ?? new Uint8Array()).toString('base64');
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
    data: b64(p.data),
  };
}

export function createCodecServer(o: CodecServerOptions) {
  const max = o.maxBodyBytes ?? 4 * 1024 * 1024;
  const origins = new Set(o.corsOrigins);
  const token = o.token ? Buffer.from(`Bearer ${o.token}`) : undefined;

  const authorized = (req: IncomingMessage) => {
    if (!token) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === token.length && timingSafeEqual(got, token);
  };

  function cors(req: IncomingMessage, res: ServerResponse) {
    const origin = req.headers.origin;
    if (!origin || !origins.has(origin)) return;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
  }

  function reply(res: ServerResponse, status: number, body: unknown) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) return 'too-large';
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > max) return 'too-large';
      chunks.push(c);
    }
    return Buffer.concat(chunks);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    cors(req, res);
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'OPTIONS') {
      // Preflight: the UI sends Content-Type: application/json and X-Namespace (and Authorization).
      if (req.headers.origin && origins.has(req.headers.origin)) {
        res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
        res.setHeader('Access-Control-Max-Age', '600');
      }
      res.writeHead(204).end();
      return;
    }
    if (path !== '/decode' && path !== '/encode') return reply(res, 404, { message: 'not found' });
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST, OPTIONS');
      return reply(res, 405, { message: 'POST only' });
    }
    if (!authorized(req)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return reply(res, 401, { message: 'missing or wrong bearer token' });
    }
    const body = await readBody(req);
    if (body === 'too-large') {
      res.setHeader('Connection', 'close');
      return reply(res, 413, { message: `body larger than ${max} bytes` });
    }
    let payloads: Payload[];
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { payloads?: unknown };
      if (!Array.isArray(parsed?.payloads)) throw new TypeError('payloads is not an array');
      payloads = parsed.payloads.map(fromJson);
    } catch (e) {
      return reply(res, 400, { message: `bad request: ${(e as Error).message}` });
    }
    try {
      const out = path === '/decode' ? await o.codec.decode(payloads) : await o.codec.encode(payloads);
      return reply(res, 200, { payloads: out.map(toJson) });
    } catch (e) {
      o.log?.warn({ error: (e as Error).message, path }, 'codec request refused');
      return reply(res, 400, { message: `cannot ${path.slice(1)}: ${(e as Error).message}` });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      o.log?.warn({ error: e.message }, 'codec request failed');
      if (!res.headersSent) reply(res, 500, { message: 'internal error' });
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  return {
    listen(): Promise<{ host: string; port: number }> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(o.listen.port, o.listen.host, () => {
          server.off('error', reject);
          const a = server.address() as { address: string; port: number };
          resolve({ host: a.address, port: a.port });
        });
      });
    },
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
