import test from 'ava';
import { mkdtempSync, readdirSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { filesystemMediaStore, MEDIA_ID, mediaUrl } from '../../clients/media-store.js';
import { createMediaServer, parseRange } from '../../ingress/media-server.js';

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
