import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { refuseConnect } from './http-common.js';
import { pipeline } from 'node:stream/promises';
import { MEDIA_ID, type MediaStore } from '../clients/media-store.js';

/** RFC 9110 14.2 single byte range: `bytes=a-b`, `bytes=a-`, `bytes=-n`. Multiple ranges are not served. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // malformed or multi-range: serve the whole
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/**
 * Whether a stored type may be shown inline: pictures, sound and video only, and not SVG (a
 * document that can carry script). Everything else (text/html, application/*, ...) is a download,
 * so no stored object is ever rendered as an active page from our origin.
 */
export function servedInline(contentType: string): boolean {
  const essence = contentType.split(';')[0].trim().toLowerCase();
  return /^(image|audio|video)\/[!#$%&'*+.^_`|~0-9a-z-]+$/.test(essence) && essence !== 'image/svg+xml';
}

/** RFC 9110 media type syntax; a stored type that breaks it is served as opaque bytes. */
const MEDIA_TYPE =
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=("[^"\\\r\n]*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+))*$/;

/**
 * On every response: no MIME sniffing (a browser must not decide that stored bytes are HTML), and
 * a sandbox should anything still be rendered.
 */
const ALWAYS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; sandbox",
};

/**
 * The Media Storage Server's HTTP face (FT-over-HTTP downloads, RCC.07): GET/HEAD
 * `/m/<id>[/<name>]`. Only ids of the store's own shape are looked up, so no request can name a
 * path outside it; unknown and expired objects are 404.
 */
export function createMediaServer(o: {
  store: MediaStore;
  listen: { host: string; port: number };
  log?: { info?(o: object, m: string): void; warn(o: object, m: string): void };
}) {
  /** What one request served, logged when its response ends (the id is random, never a number). */
  interface Served {
    id?: string;
    range?: string;
    bytes: number;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, served: Served) {
    for (const [k, v] of Object.entries(ALWAYS)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const m = /^\/m\/([^/?#]+)(?:\/[^/?#]*)?$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (m && MEDIA_ID.test(m[1])) served.id = m[1];
    const ref = served.id ? await o.store.head(served.id) : undefined;
    if (!ref) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const range = parseRange(req.headers.range, ref.size);
    if (req.headers.range) served.range = req.headers.range.slice(0, 64);
    const type = MEDIA_TYPE.test(ref.contentType) ? ref.contentType : 'application/octet-stream';
    const disposition = servedInline(type) ? 'inline' : 'attachment';
    const common = {
      'Content-Type': type,
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'private, max-age=0',
      ETag: `"${ref.sha256}"`,
      Expires: new Date(ref.expiresAt).toUTCString(),
      'Content-Disposition': ref.name
        ? `${disposition}; filename*=UTF-8''${encodeURIComponent(ref.name)}`
        : disposition,
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${ref.size}` }).end();
      return;
    }
    const status = range ? 206 : 200;
    const length = range ? range.end - range.start + 1 : ref.size;
    res.writeHead(status, {
      ...common,
      'Content-Length': length,
      ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${ref.size}` } : {}),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    const stream = await o.store.read(ref.id, range);
    if (!stream) {
      res.destroy();
      return;
    }
    stream.on('data', (c: Buffer) => (served.bytes += c.length));
    await pipeline(stream, res);
  }

  const server = createServer((req, res) => {
    const served: Served = { bytes: 0 };
    // One line per response, once it is over: complete false when the client went away mid-body.
    res.once('close', () =>
      o.log?.info?.(
        { method: req.method, ...served, status: res.statusCode, complete: res.writableFinished },
        'media download',
      ),
    );
    handle(req, res, served).catch((e: Error) => {
      o.log?.warn({ error: e.message, url: req.url }, 'media request failed');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  refuseConnect(server);
  return {
    listen(): Promise<{ host: string; port: number }> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(o.listen.port, o.listen.host, () =>
          resolve({ host: o.listen.host, port: (server.address() as { port: number }).port }),
        );
      });
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
