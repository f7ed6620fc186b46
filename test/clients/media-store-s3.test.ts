/**
 * The S3 media store against a real S3-compatible server (SeaweedFS, test/helpers/seaweedfs.ts):
 * the same contract as the filesystem store, shared by several store instances (nodes) on one
 * bucket.
 */
import test from 'ava';
import { request } from 'node:http';
import { s3MediaStore } from '../../clients/media-store-s3.js';
import { newMediaId, type MediaStore } from '../../clients/media-store.js';
import { createMediaServer } from '../../ingress/media-server.js';
import { buildConfig } from '../../worker/config.js';
import { ConfigError } from '../../worker/config-schema.js';
import { testConfigTree } from '../helpers/iwf.js';
import { freePort } from '../helpers/ports.js';
import { startSeaweedFs, type SeaweedFs } from '../helpers/seaweedfs.js';
import { testWith, toolAvailable } from '../helpers/tools.js';

let sw: SeaweedFs | undefined;
test.before(async () => {
  if (toolAvailable('weed')) sw = await startSeaweedFs();
});
test.after.always(async () => {
  await sw?.stop();
});

const T0 = Date.parse('2026-03-01T12:00:00Z');
let prefixes = 0;
/** A store on a prefix of its own (tests run concurrently on one bucket), with its own clock. */
function store(o: { prefix?: string; clock?: { t: number }; nextId?: () => string } = {}): MediaStore {
  const clock = o.clock ?? { t: T0 };
  return s3MediaStore(sw!.s3(o.prefix ?? `t${++prefixes}/`), { now: () => clock.t, nextId: o.nextId });
}

async function text(stream: AsyncIterable<Buffer | string> | undefined): Promise<string | undefined> {
  if (!stream) return undefined;
  let s = '';
  for await (const c of stream) s += c.toString();
  return s;
}

async function buffer(stream: AsyncIterable<Buffer> | undefined): Promise<Buffer | undefined> {
  if (!stream) return undefined;
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

/** Raw S3 request to the server (anonymous access), bypassing the store. */
function rawS3(method: string, key: string, body?: string) {
  return fetch(`${sw!.endpoint}/${sw!.bucket}/${key}`, { method, ...(body !== undefined ? { body } : {}) });
}

testWith('weed')('put, head, get, byte ranges and usage; a second node on the bucket sees the object', async (t) => {
  const prefix = `t${++prefixes}/`;
  const a = store({ prefix });
  const b = store({ prefix }); // another IWF node: another client, the same bucket and prefix
  const bytes = Buffer.from('0123456789abcdef');
  const ref = await a.put(bytes, { contentType: 'image/jpeg', name: 'photo é 1.jpg', ttlMs: 60_000 });
  t.regex(ref.id, /^[A-Za-z0-9_-]{22}$/);
  t.is(ref.size, 16);
  t.is(ref.expiresAt, new Date(T0 + 60_000).toISOString());
  t.deepEqual(await b.head(ref.id), ref, 'metadata read back by another node equals what put returned');
  t.deepEqual(await b.get(ref.id), bytes);
  t.is(await text(await b.read(ref.id, { start: 3, end: 6 })), '3456');
  t.is(await text(await b.read(ref.id, { start: 15, end: 15 })), 'f');
  t.is(await text(await b.read(ref.id)), '0123456789abcdef');
  await a.put(Buffer.from('xyz'), { contentType: 'text/plain', ttlMs: 60_000 });
  t.deepEqual(await b.usage(), { objects: 2, bytes: 19 });
  t.is(await b.head(newMediaId()), undefined, 'unknown id');
  t.is(await b.get(newMediaId()), undefined);
  t.is(await b.read(newMediaId()), undefined);
  t.is(await b.head('../../etc/passwd'), undefined, 'only ids of the store shape are looked up');
  a.close();
  b.close();
});

testWith('weed')(
  'an empty object and one larger than a SeaweedFS chunk (4 MiB) keep their bytes and ranges',
  async (t) => {
    const s = store();
    const empty = await s.put(Buffer.alloc(0), { contentType: 'text/plain', ttlMs: 60_000 });
    t.is((await s.head(empty.id))?.size, 0);
    t.deepEqual(await s.get(empty.id), Buffer.alloc(0));
    const big = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
    const ref = await s.put(big, { contentType: 'video/mp4', ttlMs: 60_000 });
    t.is(ref.size, big.length);
    const edge = 4 * 1024 * 1024;
    t.deepEqual(
      await buffer(await s.read(ref.id, { start: edge - 10, end: edge + 9 })),
      big.subarray(edge - 10, edge + 10),
    );
    // Buffer.equals, not deepEqual: ava's diffing formatter takes seconds over megabytes.
    t.true((await s.get(ref.id))?.equals(big));
    t.deepEqual(await s.usage(), { objects: 2, bytes: big.length });
    s.close();
  },
);

testWith('weed')(
  'expiry: an expired object is not served, and purge deletes only expired ones of its prefix',
  async (t) => {
    const clock = { t: T0 };
    const prefix = `t${++prefixes}/`;
    const s = store({ prefix, clock });
    const other = store({ clock }); // another prefix on the same bucket: not this store's to purge
    const old = await s.put(Buffer.from('old'), { contentType: 'text/plain', ttlMs: 1_000 });
    const mid = await s.put(Buffer.from('mid'), { contentType: 'text/plain', ttlMs: 5_000 });
    const fresh = await s.put(Buffer.from('new'), { contentType: 'text/plain', ttlMs: 60_000 });
    const foreign = await other.put(Buffer.from('foreign'), { contentType: 'text/plain', ttlMs: 1_000 });
    t.is(await s.purgeExpired(), 0, 'nothing is due yet');

    clock.t = T0 + 1_000; // expiry is exclusive: at expiresAt the object is gone
    t.is(await s.head(old.id), undefined);
    t.is(await s.get(old.id), undefined);
    t.is(await s.read(old.id, { start: 0, end: 1 }), undefined);
    t.truthy(await s.head(mid.id));

    clock.t = T0 + 10_000;
    t.is(await s.purgeExpired(), 2);
    t.is((await rawS3('GET', `${prefix}objects/${old.id}`)).status, 404, 'deleted from S3, not just hidden');
    t.is((await rawS3('GET', `${prefix}objects/${mid.id}`)).status, 404);
    t.is((await rawS3('GET', `${prefix}objects/${fresh.id}`)).status, 200);
    t.deepEqual(await s.get(fresh.id), Buffer.from('new'));
    t.deepEqual(await s.usage(), { objects: 1, bytes: 3 });
    t.is(await s.purgeExpired(), 0, 'the markers went with their objects');
    clock.t = T0; // the other store's object is still there, for its own janitor
    t.deepEqual(await other.get(foreign.id), Buffer.from('foreign'));
    s.close();
    other.close();
  },
);

testWith('weed')('delete removes the object and its expiry marker', async (t) => {
  const clock = { t: T0 };
  const prefix = `t${++prefixes}/`;
  const s = store({ prefix, clock });
  const ref = await s.put(Buffer.from('bye'), { contentType: 'text/plain', ttlMs: 1_000 });
  await s.delete(ref.id);
  t.is(await s.head(ref.id), undefined);
  t.deepEqual(await s.usage(), { objects: 0, bytes: 0 });
  const list = await (await rawS3('GET', `?list-type=2&prefix=${encodeURIComponent(prefix)}`)).text();
  t.notRegex(list, /<Key>/, 'neither object nor marker left');
  await s.delete(ref.id); // twice: still fine
  s.close();
});

testWith('weed')('a cut-short upload is never visible; its marker is removed at expiry', async (t) => {
  const clock = { t: T0 };
  const prefix = `t${++prefixes}/`;
  const s = store({ prefix, clock });
  const id = newMediaId();
  const url = new URL(`${sw!.endpoint}/${sw!.bucket}/${prefix}objects/${id}`);
  // What a node that dies mid-put leaves: the marker, then half the bytes of a PUT of 1 MiB.
  const marker = `${prefix}expires/${String(T0 + 1_000).padStart(15, '0')}-${id}`;
  t.is((await rawS3('PUT', marker, '')).status, 200);
  await new Promise<void>((resolve) => {
    const req = request(url, {
      method: 'PUT',
      headers: { 'Content-Length': String(1 << 20), 'Content-Type': 'image/jpeg' },
    });
    req.on('error', () => resolve());
    req.write(Buffer.alloc(1 << 19, 1), () => {
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
  });
  // The server may still be tearing the request down: give it a moment, then look.
  await new Promise((r) => setTimeout(r, 500));
  t.is(await s.head(id), undefined);
  t.is(await s.get(id), undefined);
  t.is(await s.read(id, { start: 0, end: 10 }), undefined);
  t.is((await rawS3('GET', `${prefix}objects/${id}`)).status, 404, 'S3 holds no partial object');
  t.deepEqual(await s.usage(), { objects: 0, bytes: 0 });
  clock.t = T0 + 2_000;
  t.is(await s.purgeExpired(), 1, 'the orphan marker is purged like any other');
  const list = await (await rawS3('GET', `?list-type=2&prefix=${encodeURIComponent(prefix)}`)).text();
  t.notRegex(list, /<Key>/);
  s.close();
});

testWith('weed')('an object not written by the store (no metadata) is not served', async (t) => {
  const prefix = `t${++prefixes}/`;
  const s = store({ prefix });
  const id = newMediaId();
  t.is((await rawS3('PUT', `${prefix}objects/${id}`, 'planted')).status, 200);
  t.is(await s.head(id), undefined);
  t.is(await s.get(id), undefined);
  s.close();
});

testWith('weed')('concurrent writers drawing the same id: neither overwrites the other', async (t) => {
  const prefix = `t${++prefixes}/`;
  const clash = newMediaId();
  // Two nodes whose id source is broken the same way: the first id each draws is the same.
  const drawing = () => {
    let first = true;
    return () => (first ? ((first = false), clash) : newMediaId());
  };
  const a = store({ prefix, nextId: drawing() });
  const b = store({ prefix, nextId: drawing() });
  const bytesA = Buffer.alloc(300_000, 'a');
  const bytesB = Buffer.alloc(200_000, 'b');
  const [ra, rb] = await Promise.all([
    a.put(bytesA, { contentType: 'application/octet-stream', ttlMs: 60_000 }),
    b.put(bytesB, { contentType: 'application/octet-stream', ttlMs: 60_000 }),
  ]);
  t.not(ra.id, rb.id);
  t.is([ra.id, rb.id].filter((id) => id === clash).length, 1, 'exactly one writer got the contested id');
  t.deepEqual(await a.get(rb.id), bytesB, "each id names its own writer's bytes");
  t.deepEqual(await b.get(ra.id), bytesA);
  t.deepEqual(await a.head(ra.id), ra);
  t.deepEqual(await a.head(rb.id), rb);
  a.close();
  b.close();
});

testWith('weed')('the media server answers a Range from the S3 store with 206 and the bytes', async (t) => {
  const s = store();
  const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  const ref = await s.put(bytes, { contentType: 'image/png', ttlMs: 3_600_000 });
  const server = createMediaServer({ store: s, listen: { host: '127.0.0.1', port: 0 } });
  const { port } = await server.listen();
  try {
    const url = `http://127.0.0.1:${port}/m/${ref.id}/x.png`;
    const part = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
    t.is(part.status, 206);
    t.is(part.headers.get('content-range'), 'bytes 1000-1999/5000');
    t.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(1000, 2000));
    const whole = await fetch(url);
    t.is(whole.status, 200);
    t.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);
    t.is((await fetch(url, { headers: { Range: 'bytes=6000-' } })).status, 416);
  } finally {
    await server.close();
    s.close();
  }
});

test('an unreachable S3 server is an error, not a hang', async (t) => {
  const port = await freePort(); // nothing listens there
  const s = s3MediaStore({
    endpoint: `http://127.0.0.1:${port}`,
    bucket: 'iwf-media',
    region: 'us-east-1',
    prefix: '',
    accessKeyId: 'test',
    secretAccessKey: 'test-secret',
    forcePathStyle: true,
  });
  await t.throwsAsync(s.put(Buffer.from('x'), { contentType: 'text/plain', ttlMs: 1000 }));
  await t.throwsAsync(s.head(newMediaId()));
  await t.throwsAsync(s.purgeExpired());
  s.close();
});

// ---------------------------------------------------------------- media.store / media.s3.* configuration

function configWith(media: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const tree = testConfigTree({ temporalAddress: '127.0.0.1:7233', mmscPort: 1, outboundProxyPort: 1 });
  tree.media = { ...(tree.media as object), ...media };
  return buildConfig(tree, env);
}

function problems(media: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    configWith(media, env);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

test('media.store defaults to fs; s3 reads media.s3 with its defaults and the AWS_* variables', (t) => {
  t.is(configWith({}).media.store, 'fs');
  t.is(configWith({}).media.s3, undefined);
  const c = configWith(
    { store: 's3', s3: { endpoint: 'http://127.0.0.1:8333', bucket: 'iwf-media', prefix: 'iwf/media' } },
    { AWS_ACCESS_KEY_ID: 'AKIDENV', AWS_SECRET_ACCESS_KEY: 'secret-env' },
  );
  t.deepEqual(c.media.s3, {
    endpoint: 'http://127.0.0.1:8333',
    bucket: 'iwf-media',
    region: 'us-east-1',
    prefix: 'iwf/media/',
    accessKeyId: 'AKIDENV',
    secretAccessKey: 'secret-env',
    forcePathStyle: false,
  });
  const file = configWith(
    {
      store: 's3',
      s3: {
        endpoint: 'https://s3.eu-west-1.amazonaws.com',
        bucket: 'b.example-1',
        region: 'eu-west-1',
        accessKeyId: 'AKIDFILE',
        secretAccessKey: 'secret-file',
        forcePathStyle: true,
      },
    },
    { AWS_ACCESS_KEY_ID: 'AKIDENV', AWS_SECRET_ACCESS_KEY: 'secret-env' },
  );
  t.is(file.media.s3?.accessKeyId, 'AKIDFILE', 'the file wins over the environment');
  t.is(file.media.s3?.prefix, '');
  t.true(file.media.s3?.forcePathStyle);
  t.is(configWith({ store: 's3', s3: { endpoint: 'http://h:1', bucket: 'bkt' } }).media.s3?.accessKeyId, undefined);
});

test('bad media.store / media.s3 values are ConfigErrors naming the key', (t) => {
  t.deepEqual(problems({ store: 'nfs' }), [`media.store: must be one of fs, s3`]);
  t.deepEqual(problems({ store: 's3' }), ['media.s3.endpoint: is required', 'media.s3.bucket: is required']);
  const bad = problems({
    store: 's3',
    s3: { endpoint: 'ftp://x', bucket: 'Bad_Bucket', prefix: '/abs', forcePathStyle: 'yes', acessKeyId: 'typo' },
  });
  t.true(
    bad.some((p) => p.startsWith('media.s3.endpoint: must be an http(s) URL')),
    bad.join('; '),
  );
  t.true(
    bad.some((p) => p.startsWith('media.s3.bucket: ')),
    bad.join('; '),
  );
  t.true(
    bad.some((p) => p.startsWith('media.s3.prefix: ')),
    bad.join('; '),
  );
  t.true(
    bad.some((p) => p.startsWith('media.s3.forcePathStyle: ')),
    bad.join('; '),
  );
  t.true(bad.includes('media.s3.acessKeyId: unknown key'), bad.join('; '));
  t.deepEqual(problems({ store: 's3', s3: { endpoint: 'http://h:1', bucket: 'bkt', accessKeyId: 'AKID' } }), [
    'media.s3.secretAccessKey: is required with media.s3.accessKeyId (or AWS_SECRET_ACCESS_KEY)',
  ]);
  t.deepEqual(
    problems({ store: 's3', s3: { endpoint: 'http://h:1', bucket: 'bkt' } }, { AWS_SECRET_ACCESS_KEY: 's' }),
    ['media.s3.accessKeyId: is required with media.s3.secretAccessKey (or AWS_ACCESS_KEY_ID)'],
  );
});
