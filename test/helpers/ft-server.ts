/**
 * A minimal FT-over-HTTP content server (RCC.07 §3.2.5) for the tests with real clients: what
 * liblinphone uploads to and downloads from, independent of the IWF's own media server.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface FtServer {
  /** The upload URL to give the client (`sendFile(to, path, url)`). */
  url: string;
  /** File names uploaded so far, in order. */
  uploads: string[];
  /** Files served by GET so far: name and the client's address. */
  downloads: Array<{ name: string; from: string }>;
  stop(): Promise<void>;
}

/**
 * A minimal FT-over-HTTP content server as liblinphone uses one: an empty POST gets 204, the
 * multipart POST of the file (part "File") gets 200 with the file-info XML, GET serves the file.
 * HTTP/1.1 keep-alive stays on: liblinphone uploads on the connection of its empty POST.
 */
export async function startFtServer(host: string): Promise<FtServer> {
  const files = new Map<string, { name: string; type: string; data: Buffer }>();
  const uploads: string[] = [];
  const downloads: FtServer['downloads'] = [];
  const readAll = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  const server: Server = createServer((req, res) => void answer(req, res));
  async function answer(req: IncomingMessage, res: ServerResponse) {
    const body = await readAll(req);
    if (req.method === 'POST' && body.length === 0) {
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'POST') {
      const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '')?.[1];
      if (!boundary) {
        res.writeHead(400).end();
        return;
      }
      const start = body.indexOf(`--${boundary}`);
      const headEnd = body.indexOf('\r\n\r\n', start);
      const end = body.indexOf(`\r\n--${boundary}`, headEnd);
      const partHead = body.subarray(start, headEnd).toString('utf8');
      const name = /filename="([^"]*)"/.exec(partHead)?.[1] ?? 'file';
      const type = /content-type:\s*([^\r\n]+)/i.exec(partHead)?.[1] ?? 'application/octet-stream';
      const data = body.subarray(headEnd + 4, end);
      const id = randomBytes(8).toString('hex');
      files.set(id, { name, type, data });
      uploads.push(name);
      const { port } = server.address() as { port: number };
      const until = new Date(Date.now() + 86_400_000).toISOString();
      res
        .writeHead(200, { 'Content-Type': 'application/vnd.gsma.rcs-ft-http+xml' })
        .end(
          '<?xml version="1.0" encoding="UTF-8"?>\n<file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp">\n' +
            `<file-info type="file"><file-size>${data.length}</file-size><file-name>${name}</file-name>` +
            `<content-type>${type}</content-type><data url="http://${host}:${port}/files/${id}" until="${until}"/></file-info>\n</file>\n`,
        );
      return;
    }
    const f = files.get(/^\/files\/(\w+)$/.exec(req.url ?? '')?.[1] ?? '');
    if (req.method === 'GET' && f) {
      downloads.push({ name: f.name, from: req.socket.remoteAddress ?? '' });
      res.writeHead(200, { 'Content-Type': f.type, 'Content-Length': f.data.length }).end(f.data);
      return;
    }
    res.writeHead(404).end();
  }
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://${host}:${port}/upload`,
    uploads,
    downloads,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
