import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { refuseConnect } from './http-common.js';

/** One readiness input: ok, or what is wrong (shown in the 503 body). */
export interface CheckResult {
  ok: boolean;
  detail?: string;
}

export type ReadinessCheck = () => Promise<CheckResult> | CheckResult;

export interface HealthServerOptions {
  listen: { host: string; port: number };
  /** Prometheus text exposition: each part is fetched at scrape time and the texts concatenated. */
  metrics: { contentType: string; parts: (() => Promise<string>)[] };
  /** Named readiness inputs; `/readyz` is 200 only when every one is ok. */
  readiness: Record<string, ReadinessCheck>;
  log?: { warn(o: object, m: string): void };
}

/**
 * A check that runs `probe` at most once per `ttlMs` (concurrent callers share the run): readiness
 * probes come every few seconds from every load balancer and kubelet, and each must not become a
 * call to Temporal. A probe that throws is not ok, with its message.
 */
export function cachedCheck(probe: () => Promise<void>, ttlMs = 3_000, now: () => number = Date.now): ReadinessCheck {
  let last: { at: number; result: CheckResult } | undefined;
  let running: Promise<CheckResult> | undefined;
  return () => {
    if (last && now() - last.at < ttlMs) return last.result;
    running ??= probe()
      .then(
        (): CheckResult => ({ ok: true }),
        (e: unknown): CheckResult => ({ ok: false, detail: (e as Error)?.message ?? String(e) }),
      )
      .then((result) => {
        last = { at: now(), result };
        running = undefined;
        return result;
      });
    return running;
  };
}

/**
 * The operations listener: `GET /metrics` (Prometheus text), `/healthz` (200 while the process
 * serves HTTP at all: a liveness probe restarts only a process that cannot answer), `/readyz`
 * (200 when every readiness input is ok, else 503 with a JSON body naming each that is not, so a
 * load balancer stops sending traffic here). GET and HEAD only (RFC 9110 15.5.6: 405 with Allow);
 * any other path 404.
 */
export function createHealthServer(o: HealthServerOptions) {
  async function readiness() {
    const entries = await Promise.all(
      Object.entries(o.readiness).map(async ([name, check]): Promise<[string, CheckResult]> => {
        try {
          return [name, await check()];
        } catch (e) {
          return [name, { ok: false, detail: (e as Error).message }];
        }
      }),
    );
    const notReady = Object.fromEntries(entries.filter(([, r]) => !r.ok).map(([n, r]) => [n, r.detail ?? 'not ready']));
    return { ready: Object.keys(notReady).length === 0, notReady };
  }

  function send(res: ServerResponse, head: boolean, status: number, type: string, body: string) {
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(head ? undefined : body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 }).end();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/metrics') {
      const texts = await Promise.all(o.metrics.parts.map((p) => p().catch(() => '')));
      const body = texts
        .filter(Boolean)
        .map((t) => (t.endsWith('\n') ? t : `${t}\n`))
        .join('');
      return send(res, head, 200, o.metrics.contentType, body);
    }
    if (path === '/healthz') return send(res, head, 200, 'application/json', '{"status":"alive"}\n');
    if (path === '/readyz') {
      const r = await readiness();
      const body = JSON.stringify(r.ready ? { status: 'ready' } : { status: 'not ready', notReady: r.notReady });
      return send(res, head, r.ready ? 200 : 503, 'application/json', `${body}\n`);
    }
    send(res, head, 404, 'text/plain', 'not found\n');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      o.log?.warn({ error: e.message, url: req.url }, 'health request failed');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  refuseConnect(server);
  return {
    listen(): Promise<{ host: string; port: number }> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(o.listen.port, o.listen.host, () => {
          server.off('error', reject);
          resolve({ host: o.listen.host, port: (server.address() as { port: number }).port });
        });
      });
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
