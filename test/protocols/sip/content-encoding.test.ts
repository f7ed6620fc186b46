import test from 'ava';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { ACCEPT_ENCODING, decodeSipBody } from '../../../protocols/sip/content-encoding.js';

const cpim = Buffer.from(
  'From: <sip:+12025550199@ims.example.net>\r\nTo: <sip:+12025550101@ims.example.net>\r\n\r\nContent-Type: message/imdn+xml\r\n\r\n<imdn/>',
);
const enc = (value: string) => [{ name: 'Content-Encoding', value }];

test('a body without Content-Encoding is passed through untouched', (t) => {
  const r = decodeSipBody([], cpim, 1024);
  t.deepEqual(r, { ok: true, body: cpim, encodings: [] });
});

test('deflate (zlib, as liblinphone sends IMDNs), raw deflate and gzip bodies are inflated', (t) => {
  for (const [value, bytes] of [
    ['deflate', deflateSync(cpim)],
    ['Deflate', deflateRawSync(cpim)],
    ['gzip', gzipSync(cpim)],
    ['x-gzip', gzipSync(cpim)],
  ] as const) {
    const r = decodeSipBody(enc(value), bytes, 1024);
    t.true(r.ok, value);
    if (r.ok) t.true(r.body.equals(cpim), value);
  }
});

test('the compact form e and stacked codings are undone last first', (t) => {
  const r = decodeSipBody([{ name: 'e', value: 'gzip, deflate' }], deflateSync(gzipSync(cpim)), 1024);
  t.true(r.ok && r.body.equals(cpim));
  t.deepEqual(r.ok && r.encodings, ['gzip', 'deflate']);
});

test('an unknown coding gets 415 naming it, with the Accept-Encoding we take (RFC 3261 8.2.3)', (t) => {
  const r = decodeSipBody(enc('x-foo'), cpim, 1024);
  t.false(r.ok);
  if (r.ok) return;
  t.is(r.status, 415);
  t.regex(r.reason, /unsupported Content-Encoding x-foo/);
  t.deepEqual(r.headers, [{ name: 'Accept-Encoding', value: ACCEPT_ENCODING }]);
});

test('a body that inflates beyond the cap is 413 without inflating it all (a zip bomb)', (t) => {
  const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024));
  t.true(bomb.length < 100 * 1024);
  const r = decodeSipBody(enc('deflate'), bomb, 64 * 1024);
  t.false(r.ok);
  t.is(!r.ok && r.status, 413);
});

test('a malformed compressed body is 400', (t) => {
  const r = decodeSipBody(enc('gzip'), Buffer.from('not gzip at all'), 1024);
  t.false(r.ok);
  t.is(!r.ok && r.status, 400);
  t.regex((!r.ok && r.reason) || '', /malformed gzip body/);
});
