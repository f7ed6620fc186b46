/**
 * The remote codec endpoint (ingress/codec-server.ts) over real HTTP on loopback: Temporal's
 * protocol (POST /decode, /encode with base64 JSON payloads), CORS for the listed origins only,
 * the bearer token, the body cap and the answers to bad requests.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createCodecServer } from '../../ingress/codec-server.js';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING } from '../../worker/payload-codec.js';

const codec = new AesGcmPayloadCodec({ keyId: 'k', keys: new Map([['k', randomBytes(32)]]) });
const UI = 'http://127.0.0.1:8233';

type Json = { metadata?: Record<string, string>; data?: string };
const toJson = (p: Payload): Json => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const fromJson = (p: Json): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

async function server(o: { token?: string; maxBodyBytes?: number } = {}) {
  const s = createCodecServer({ codec, listen: { host: '127.0.0.1', port: 0 }, corsOrigins: [UI], ...o });
  const addr = await s.listen();
  return { ...s, url: `http://${addr.host}:${addr.port}` };
}

test('encode then decode through HTTP gives the payloads back; encoded ones are encrypted', async (t) => {
  const s = await server();
  try {
    const clear = [defaultPayloadConverter.toPayload({ to: '+12025550123' }), defaultPayloadConverter.toPayload(42)];
    const enc = await fetch(`${s.url}/encode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ payloads: clear.map(toJson) }),
    });
    t.is(enc.status, 200);
    const encoded = ((await enc.json()) as { payloads: Json[] }).payloads;
    t.is(encoded.length, 2);
    t.is(Buffer.from(encoded[0].metadata!.encoding, 'base64').toString(), ENCRYPTED_ENCODING);
    const dec = await fetch(`${s.url}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default' },
      body: JSON.stringify({ payloads: encoded }),
    });
    t.is(dec.status, 200);
    const back = ((await dec.json()) as { payloads: Json[] }).payloads.map(fromJson);
    t.deepEqual(
      back.map((p) => defaultPayloadConverter.fromPayload(p)),
      [{ to: '+12025550123' }, 42],
    );
    // A payload that was never encrypted comes back as it was.
    const passthrough = await fetch(`${s.url}/decode`, {
      method: 'POST',
      body: JSON.stringify({ payloads: [toJson(clear[1])] }),
    });
    t.deepEqual(((await passthrough.json()) as { payloads: Json[] }).payloads, [toJson(clear[1])]);
  } finally {
    await s.close();
  }
});

test('CORS: the UI origin gets its preflight and grant, another origin gets neither', async (t) => {
  const s = await server();
  try {
    const pre = await fetch(`${s.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: UI,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-namespace',
      },
    });
    t.is(pre.status, 204);
    t.is(pre.headers.get('access-control-allow-origin'), UI);
    t.regex(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    t.regex(pre.headers.get('access-control-allow-headers') ?? '', /X-Namespace/i);
    t.is(pre.headers.get('access-control-allow-credentials'), 'true');
    const other = await fetch(`${s.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    t.is(other.headers.get('access-control-allow-origin'), null);
    t.is(other.headers.get('access-control-allow-methods'), null);
    const post = await fetch(`${s.url}/decode`, { method: 'POST', headers: { Origin: UI }, body: '{"payloads":[]}' });
    t.is(post.headers.get('access-control-allow-origin'), UI);
    t.is(post.headers.get('vary'), 'Origin');
  } finally {
    await s.close();
  }
});

test('with a token: no or a wrong Authorization is 401, the right bearer token passes', async (t) => {
  const s = await server({ token: 's3cret' });
  try {
    const body = '{"payloads":[]}';
    t.is((await fetch(`${s.url}/decode`, { method: 'POST', body })).status, 401);
    const wrong = await fetch(`${s.url}/decode`, { method: 'POST', body, headers: { Authorization: 'Bearer nope' } });
    t.is(wrong.status, 401);
    t.is(wrong.headers.get('www-authenticate'), 'Bearer');
    const right = await fetch(`${s.url}/decode`, { method: 'POST', body, headers: { Authorization: 'Bearer s3cret' } });
    t.is(right.status, 200);
    t.deepEqual(await right.json(), { payloads: [] });
  } finally {
    await s.close();
  }
});

/** A raw request, so a body larger than the cap can be streamed without Content-Length. */
function rawPost(url: string, chunks: Buffer[], headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e),
    );
    for (const c of chunks) req.write(c);
    req.end();
  });
}

test('bodies over the cap are 413, declared or streamed', async (t) => {
  const s = await server({ maxBodyBytes: 1024 });
  try {
    const big = Buffer.alloc(2048, 0x20);
    t.is(await rawPost(`${s.url}/decode`, [big], { 'Content-Length': String(big.length) }), 413);
    t.is(
      await rawPost(`${s.url}/decode`, [big.subarray(0, 800), big.subarray(800)], { 'Transfer-Encoding': 'chunked' }),
      413,
    );
    t.is(await rawPost(`${s.url}/decode`, [Buffer.from('{"payloads":[]}')]), 200, 'under the cap');
  } finally {
    await s.close();
  }
});

test('bad requests get 400/404/405 with a reason, never a crash', async (t) => {
  const s = await server();
  try {
    const post = (path: string, body: string) => fetch(`${s.url}${path}`, { method: 'POST', body });
    t.is((await post('/decode', 'not json')).status, 400);
    t.is((await post('/decode', '{"payloads":"x"}')).status, 400);
    t.is((await post('/decode', '{"payloads":[{"data":"***"}]}')).status, 400);
    t.is((await post('/decode', '{"payloads":[{"metadata":[1]}]}')).status, 400);
    t.is((await post('/decode', 'null')).status, 400);
    const [enc] = await codec.encode([defaultPayloadConverter.toPayload('x')]);
    const tampered = toJson(enc);
    tampered.data = Buffer.from(Buffer.from(tampered.data!, 'base64').map((b, i) => (i === 14 ? b ^ 1 : b))).toString(
      'base64',
    );
    const r = await post('/decode', JSON.stringify({ payloads: [tampered] }));
    t.is(r.status, 400);
    t.regex(((await r.json()) as { message: string }).message, /cannot decode/);
    t.is((await post('/other', '{}')).status, 404);
    const get = await fetch(`${s.url}/decode`);
    t.is(get.status, 405);
    t.regex(get.headers.get('allow') ?? '', /POST/);
    // Still serving after all that.
    t.is((await post('/decode', '{"payloads":[]}')).status, 200);
  } finally {
    await s.close();
  }
});
