import test from 'ava';
import { testWith } from '../helpers/tools.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { filesystemMediaStore, MEDIA_ID, mediaUrl } from '../../clients/media-store.js';
import { createMediaServer, parseRange, servedInline } from '../../ingress/media-server.js';

const store = (now?: () => number) => filesystemMediaStore(mkdtempSync(join(tmpdir(), 'media-')), now);

/** A raw HTTP request (fetch would normalise the paths we want to send). */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

test('stored objects get unguessable ids, a hash and an expiry', async (t) => {
  const s = store();
  const a = await s.put(Buffer.from('hello'), { contentType: 'text/plain', ttlMs: 60_000, name: 'a.txt' });
  const b = await s.put(Buffer.from('hello'), { contentType: 'text/plain', ttlMs: 60_000 });
  t.regex(a.id, MEDIA_ID);
  t.not(a.id, b.id);
  t.is(a.sha256, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  t.is(a.size, 5);
  t.deepEqual(await s.head(a.id), a);
  t.is((await s.get(a.id))?.toString(), 'hello');
});

test('expired objects are gone for readers at once and purged from disk', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'media-'));
  let now = Date.parse('2026-01-01T00:00:00Z');
  const s = filesystemMediaStore(dir, () => now);
  const old = await s.put(Buffer.from('x'), { contentType: 'text/plain', ttlMs: 1000 });
  const live = await s.put(Buffer.from('y'), { contentType: 'text/plain', ttlMs: 60_000 });
  t.truthy(await s.head(old.id), 'alive until its expiry');
  now += 1000;
  t.is(await s.head(old.id), undefined, 'gone at its expiry');
  t.truthy(await s.head(live.id));
  t.is(await s.purgeExpired(), 1);
  t.deepEqual(readdirSync(dir).sort(), [`${live.id}.bin`, `${live.id}.json`].sort());
});

test('leftovers of a crashed write are never served and are cleaned up later', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'media-'));
  const s = filesystemMediaStore(dir);
  await s.purgeExpired(); // creates the folder
  const orphan = 'A'.repeat(22);
  writeFileSync(join(dir, `${orphan}.bin`), 'half');
  writeFileSync(join(dir, `${orphan}.json.123.tmp`), '{"id":');
  t.is(await s.head(orphan), undefined, 'data without metadata is not an object');
  const hourAgo = new Date(Date.now() - 2 * 3_600_000);
  for (const f of readdirSync(dir)) utimesSync(join(dir, f), hourAgo, hourAgo);
  await s.purgeExpired();
  t.deepEqual(readdirSync(dir), []);
});

test('byte ranges follow RFC 9110', (t) => {
  t.deepEqual(parseRange('bytes=0-3', 10), { start: 0, end: 3 });
  t.deepEqual(parseRange('bytes=5-', 10), { start: 5, end: 9 });
  t.deepEqual(parseRange('bytes=-4', 10), { start: 6, end: 9 });
  t.deepEqual(parseRange('bytes=8-100', 10), { start: 8, end: 9 });
  t.is(parseRange('bytes=10-', 10), 'unsatisfiable');
  t.is(parseRange('bytes=0-1,3-4', 10), undefined);
  t.is(parseRange(undefined, 10), undefined);
});

test('the HTTP server serves objects with type, length, ranges, and 404s everything else', async (t) => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const s = store(() => now);
  const server = createMediaServer({ store: s, listen: { host: '127.0.0.1', port: 0 } });
  const { port } = await server.listen();
  try {
    const ref = await s.put(Buffer.from('0123456789'), {
      contentType: 'image/jpeg',
      ttlMs: 60_000,
      name: 'photo 1.jpg',
    });
    const url = new URL(mediaUrl(`http://127.0.0.1:${port}`, ref));
    t.regex(url.pathname, /\/m\/[A-Za-z0-9_-]{22}\/photo%201\.jpg$/);
    const whole = await get(port, url.pathname);
    t.is(whole.status, 200);
    t.is(whole.headers['content-type'], 'image/jpeg');
    t.is(whole.headers['content-length'], '10');
    t.is(whole.body.toString(), '0123456789');
    const part = await get(port, url.pathname, { Range: 'bytes=2-5' });
    t.is(part.status, 206);
    t.is(part.headers['content-range'], 'bytes 2-5/10');
    t.is(part.body.toString(), '2345');
    t.is((await get(port, url.pathname, { Range: 'bytes=20-' })).status, 416);
    const head = await get(port, url.pathname, {}, 'HEAD');
    t.is(head.status, 200);
    t.is(head.body.length, 0);
    for (const path of [
      '/m/' + 'B'.repeat(22),
      '/m/../../etc/passwd',
      '/m/%2e%2e%2fetc%2fpasswd',
      `/m/${ref.id}/../../x`,
      '/',
      '/m/',
    ]) {
      t.is((await get(port, path)).status, 404, path);
    }
    t.is((await get(port, url.pathname, {}, 'POST')).status, 405);
    const expired = await s.put(Buffer.from('x'), { contentType: 'text/plain', ttlMs: 1000 });
    now += 1000;
    t.is((await get(port, `/m/${expired.id}`)).status, 404);
  } finally {
    await server.close();
  }
});

test('only pictures, sound and video are shown inline; SVG, HTML and the rest are downloads', (t) => {
  for (const type of ['image/jpeg', 'IMAGE/PNG', 'image/gif; x=1', 'audio/amr', 'video/3gpp'])
    t.true(servedInline(type), type);
  for (const type of [
    'image/svg+xml',
    'Image/SVG+XML; charset=utf-8',
    'text/html',
    'text/plain',
    'application/xhtml+xml',
    'application/pdf',
    'application/octet-stream',
    'text/xml',
    'image/',
    '',
  ])
    t.false(servedInline(type), type);
});

test('no response can be sniffed or rendered as an active page from our origin', async (t) => {
  const s = store();
  const server = createMediaServer({ store: s, listen: { host: '127.0.0.1', port: 0 } });
  const { port } = await server.listen();
  try {
    const cases: [contentType: string, name: string | undefined, disposition: string, served: string][] = [
      ['text/html', 'x.html', "attachment; filename*=UTF-8''x.html", 'text/html'],
      ['image/svg+xml', 'a.svg', "attachment; filename*=UTF-8''a.svg", 'image/svg+xml'],
      ['application/pdf', undefined, 'attachment', 'application/pdf'],
      ['text/plain; charset=utf-8', undefined, 'attachment', 'text/plain; charset=utf-8'],
      ['image/jpeg', 'p.jpg', "inline; filename*=UTF-8''p.jpg", 'image/jpeg'],
      ['video/mp4', undefined, 'inline', 'video/mp4'],
      // A sender-chosen type that is no media type at all: opaque bytes, downloaded.
      ['text/html\u00e9 <script>', undefined, 'attachment', 'application/octet-stream'],
    ];
    for (const [contentType, name, disposition, served] of cases) {
      const ref = await s.put(Buffer.from('<script>alert(1)</script>'), { contentType, name, ttlMs: 60_000 });
      const path = new URL(mediaUrl(`http://127.0.0.1:${port}`, ref)).pathname;
      for (const [method, range] of [
        ['GET', undefined],
        ['HEAD', undefined],
        ['GET', 'bytes=0-3'],
      ] as const) {
        const r = await get(port, path, range ? { Range: range } : {}, method);
        t.is(r.status, range ? 206 : 200, `${contentType} ${method} ${range}`);
        t.is(r.headers['x-content-type-options'], 'nosniff', contentType);
        t.is(r.headers['content-disposition'], disposition, contentType);
        t.is(r.headers['content-type'], served, contentType);
        t.is(r.headers['content-security-policy'], "default-src 'none'; sandbox");
      }
      const beyond = await get(port, path, { Range: 'bytes=1000-' });
      t.is(beyond.status, 416);
      t.is(beyond.headers['x-content-type-options'], 'nosniff');
    }
    for (const [path, method, status] of [
      ['/m/' + 'C'.repeat(22), 'GET', 404],
      ['/', 'GET', 404],
      ['/m/x', 'POST', 405],
    ] as const) {
      const r = await get(port, path, {}, method);
      t.is(r.status, status, path);
      t.is(r.headers['x-content-type-options'], 'nosniff', path);
    }
  } finally {
    await server.close();
  }
});

testWith('strace')('put() fsyncs the data, renames it, fsyncs the folder, then does the same for the metadata', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'media-sync-'));
  const folder = join(dir, 'store');
  const trace = join(dir, 'trace');
  const script = [
    "import { filesystemMediaStore } from './clients/media-store.js';",
    `const s = filesystemMediaStore(${JSON.stringify(folder)});`,
    "await s.put(Buffer.from('hi'), { contentType: 'text/plain', ttlMs: 60000 });",
  ].join('\n');
  const r = spawnSync(
    'strace',
    [
      '-f',
      '-qq',
      '-e',
      'trace=openat,close,fsync,fdatasync,rename,renameat,renameat2',
      '-o',
      trace,
      process.execPath,
      '--import=tsx',
      '--input-type=module',
    ],
    { input: script, cwd: join(import.meta.dirname, '../..'), encoding: 'utf8' },
  );
  t.is(r.status, 0, r.stderr);
  // Syscalls on the store's files, in order: fds are mapped to what openat opened.
  const fds = new Map<string, string>();
  const events: string[] = [];
  const name = (p: string) =>
    p === folder ? 'dir' : p.startsWith(folder + '/') ? p.slice(folder.length + 1) : undefined;
  for (const line of readFileSync(trace, 'utf8').split('\n')) {
    let m = /^\d+ +openat\(AT_FDCWD, "([^"]+)".* = (\d+)$/.exec(line);
    if (m) {
      const n = name(m[1]);
      if (n) fds.set(m[2], n);
      else fds.delete(m[2]);
      continue;
    }
    m = /^\d+ +close\((\d+)\)/.exec(line);
    if (m) fds.delete(m[1]);
    m = /^\d+ +f(?:data)?sync\((\d+)\) += 0$/.exec(line);
    if (m && fds.has(m[1])) events.push(`fsync ${fds.get(m[1])!.replace(/\.[0-9a-f]{12}\.tmp$/, '.tmp')}`);
    m = /^\d+ +rename(?:at2?)?\(.*"([^"]+)"(?:, \w+)?\) += 0$/.exec(line);
    if (m && name(m[1])) events.push(`rename ${name(m[1])}`);
  }
  t.deepEqual(
    events.map((e) => e.replace(/[A-Za-z0-9_-]{22}(?=\.)/, 'ID')),
    ['fsync ID.bin.tmp', 'rename ID.bin', 'fsync dir', 'fsync ID.json.tmp', 'rename ID.json', 'fsync dir'],
  );
});
