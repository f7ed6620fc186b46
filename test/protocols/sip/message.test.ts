import test from 'ava';
import fc from 'fast-check';
import {
  getHeader,
  getHeaders,
  parseSipMessage,
  serializeSipMessage,
  setHeader,
  type SipMessage,
} from '../../../protocols/sip/message.js';
import { statusReason } from '../../../protocols/sip/status.js';
import { vector } from '../vectors.js';

const VECTORS = ['sip-message-cpim-text.txt', 'sip-message-cpim-fthttp.txt'];
const parsed = (raw: string | Buffer) => {
  const r = parseSipMessage(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8'));
  if (!r.ok) throw new Error(r.error);
  return r.message;
};

for (const name of VECTORS) {
  test(`the ${name} vector parses, its Content-Length counts the body's bytes, and it serializes back byte for byte`, (t) => {
    const raw = vector(name);
    const m = parsed(raw);
    if (m.kind !== 'request') return t.fail('not a request');
    t.is(m.method, 'MESSAGE');
    t.is(m.uri, 'tel:+12025550199');
    t.is(getHeader(m.headers, 'Content-Type'), 'message/cpim');
    t.is(Number(getHeader(m.headers, 'Content-Length')), m.body.length);
    t.is(m.body.length, raw.length - raw.indexOf('\r\n\r\n') - 4);
    t.true(serializeSipMessage(m).equals(raw));
  });
}

test('the FT-over-HTTP vector keeps its two Accept-Contact headers apart and in order', (t) => {
  const m = parsed(vector('sip-message-cpim-fthttp.txt'));
  const ac = getHeaders(m.headers, 'accept-contact');
  t.is(ac.length, 2);
  t.regex(ac[1], /iari\.rcs\.fthttp";require;explicit$/);
  t.is(m.body.length, 847);
});

test('compact header names are expanded to their full names', (t) => {
  const compact = {
    i: 'Call-ID',
    f: 'From',
    t: 'To',
    v: 'Via',
    m: 'Contact',
    l: 'Content-Length',
    c: 'Content-Type',
    k: 'Supported',
    s: 'Subject',
    e: 'Content-Encoding',
    o: 'Event',
  };
  const lines = Object.keys(compact).map((k) => (k === 'l' ? 'l: 2' : `${k}: value-${k}`));
  const m = parsed(`MESSAGE sip:b@x SIP/2.0\r\n${lines.join('\r\n')}\r\n\r\nhi`);
  t.deepEqual(
    m.headers.map((h) => h.name),
    Object.values(compact),
  );
  t.is(getHeader(m.headers, 'Call-ID'), 'value-i');
  t.is(getHeader(m.headers, 'i'), 'value-i', 'a compact name also finds the header');
  t.is(m.body.toString(), 'hi');
});

test('folded header lines are joined with a single space', (t) => {
  const m = parsed('OPTIONS sip:b@x SIP/2.0\r\nSubject: one\r\n two\r\n\t three\r\nCall-ID: c\r\n\r\n');
  t.is(getHeader(m.headers, 'Subject'), 'one two three');
  t.is(getHeader(m.headers, 'Call-ID'), 'c');
});

test('comma-separated values and repeated headers are kept as written', (t) => {
  const m = parsed(
    'OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\nVia: SIP/2.0/TCP c\r\nAccept: text/plain, message/cpim\r\n\r\n',
  );
  t.deepEqual(getHeaders(m.headers, 'via'), [
    'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2',
    'SIP/2.0/TCP c',
  ]);
  t.is(getHeader(m.headers, 'Accept'), 'text/plain, message/cpim');
});

test('leading CRLFs and bare LF line ends are tolerated', (t) => {
  const m = parsed('\r\n\r\nSIP/2.0 202 Accepted\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n');
  if (m.kind !== 'response') return t.fail();
  t.is(m.status, 202);
  t.is(m.reason, 'Accepted');
  t.is(getHeader(m.headers, 'CSeq'), '1 MESSAGE');
});

test('a datagram body ends at Content-Length; without one it is the rest of the datagram', (t) => {
  t.is(parsed('MESSAGE sip:x SIP/2.0\r\nContent-Length: 3\r\n\r\nabcdef').body.toString(), 'abc');
  t.is(parsed('MESSAGE sip:x SIP/2.0\r\nCall-ID: c\r\n\r\nabcdef').body.toString(), 'abcdef');
});

test('a body shorter than Content-Length is an error that still returns the readable request', (t) => {
  const r = parseSipMessage(Buffer.from('MESSAGE sip:x SIP/2.0\r\nCall-ID: c1\r\nContent-Length: 10\r\n\r\nabc'));
  if (r.ok) return t.fail('parsed');
  t.regex(r.error, /shorter than Content-Length/);
  t.is(r.partial?.kind, 'request');
  t.is(getHeader(r.partial!.headers, 'Call-ID'), 'c1');
});

test('malformed messages are errors', (t) => {
  const bad = {
    'no empty line': 'MESSAGE sip:x SIP/2.0\r\nCall-ID: c',
    'bad start line': 'HELLO\r\n\r\n',
    'unknown version': 'MESSAGE sip:x SIP/3.0\r\n\r\n',
    'status out of range': 'SIP/2.0 700 Odd\r\n\r\n',
    'header without colon': 'MESSAGE sip:x SIP/2.0\r\nNoColon\r\n\r\n',
    'non-numeric Content-Length': 'MESSAGE sip:x SIP/2.0\r\nContent-Length: 1x\r\n\r\n1',
    'conflicting Content-Lengths': 'MESSAGE sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n12',
  };
  for (const [what, raw] of Object.entries(bad)) t.false(parseSipMessage(Buffer.from(raw)).ok, what);
  t.regex((parseSipMessage(Buffer.alloc(70_000, 65)) as { error: string }).error, /larger than/);
  t.false(parseSipMessage(Buffer.from('MESSAGE sip:x SIP/2.0\r\n\r\nabc'), 20).ok, 'a smaller bound is honoured');
  const many = `OPTIONS sip:x SIP/2.0\r\n${'X-A: 1\r\n'.repeat(300)}\r\n`;
  t.regex((parseSipMessage(Buffer.from(many)) as { error: string }).error, /headers/);
});

test('serialize writes CRLF, Content-Length last and equal to the UTF-8 byte length, replacing a given one', (t) => {
  const body = Buffer.from('Grüße ✓', 'utf8');
  const out = serializeSipMessage({
    kind: 'request',
    method: 'MESSAGE',
    uri: 'sip:b@x',
    headers: [
      { name: 'l', value: '1' },
      { name: 'Call-ID', value: 'c' },
      { name: 'Content-Length', value: '99' },
    ],
    body,
  });
  t.is(out.toString('utf8'), `MESSAGE sip:b@x SIP/2.0\r\nCall-ID: c\r\nContent-Length: ${body.length}\r\n\r\nGrüße ✓`);
  t.is(body.length, 11);
});

test('serialize refuses header injection and impossible values', (t) => {
  const base: SipMessage = { kind: 'response', status: 200, reason: 'OK', headers: [], body: Buffer.alloc(0) };
  t.throws(() => serializeSipMessage({ ...base, headers: [{ name: 'Subject', value: 'x\r\nVia: evil' }] }), {
    instanceOf: TypeError,
  });
  t.throws(() => serializeSipMessage({ ...base, headers: [{ name: 'Bad Name', value: 'x' }] }), {
    instanceOf: TypeError,
  });
  t.throws(() => serializeSipMessage({ ...base, status: 99 }), { instanceOf: TypeError });
  t.throws(() => serializeSipMessage({ ...base, reason: 'OK\r\n' }), { instanceOf: TypeError });
  t.throws(
    () =>
      serializeSipMessage({ kind: 'request', method: 'MESSAGE', uri: 'sip:a b', headers: [], body: Buffer.alloc(0) }),
    { instanceOf: TypeError },
  );
});

test('setHeader replaces every occurrence, compact ones included, where the first stood', (t) => {
  const h = [
    { name: 'From', value: 'a' },
    { name: 'i', value: 'old' },
    { name: 'To', value: 'b' },
    { name: 'Call-ID', value: 'old2' },
  ];
  t.deepEqual(setHeader(h, 'Call-ID', 'new'), [
    { name: 'From', value: 'a' },
    { name: 'Call-ID', value: 'new' },
    { name: 'To', value: 'b' },
  ]);
  t.deepEqual(setHeader([], 'Max-Forwards', '70'), [{ name: 'Max-Forwards', value: '70' }]);
  t.is(h.length, 4, 'the input is not changed');
});

test('default reason phrases come from RFC 3261 and the status class', (t) => {
  t.is(statusReason(202), 'Accepted');
  t.is(statusReason(408), 'Request Timeout');
  t.is(statusReason(481), 'Call/Transaction Does Not Exist');
  t.is(statusReason(499), 'Client Error');
  t.is(statusReason(699), 'Global Failure');
});

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/).filter((n) => n.length > 1);
const value = fc.stringMatching(/^[!-~]([ !-~]{0,40}[!-~])?$/);

test('any well-formed message survives serialize then parse', (t) => {
  const message = fc.record({
    kind: fc.constant('request' as const),
    method: fc.constantFrom('MESSAGE', 'OPTIONS', 'X-CUSTOM'),
    uri: fc.stringMatching(/^sip:[a-z0-9+]{1,12}@[a-z0-9.]{1,12}$/),
    headers: fc.array(fc.record({ name: token.filter((n) => n.toLowerCase() !== 'content-length'), value }), {
      maxLength: 12,
    }),
    body: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  });
  fc.assert(
    fc.property(message, (m) => {
      const back = parseSipMessage(serializeSipMessage(m));
      if (!back.ok || back.message.kind !== 'request') return false;
      return (
        back.message.body.equals(m.body) &&
        back.message.headers.length === m.headers.length + 1 &&
        back.message.headers.every(
          (h, i) => i === m.headers.length || (h.name === m.headers[i].name && h.value === m.headers[i].value),
        )
      );
    }),
  );
  t.pass();
});

test('hostile input never throws: random bytes, and random damage to the vectors', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => typeof parseSipMessage(Buffer.from(b)).ok === 'boolean'),
  );
  const raw = vector('sip-message-cpim-text.txt');
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(raw.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 20 }),
      fc.nat(raw.length),
      (edits, cut) => {
        const b = Buffer.from(raw.subarray(0, cut));
        for (const [i, v] of edits) if (i < b.length) b[i] = v;
        return typeof parseSipMessage(b).ok === 'boolean';
      },
    ),
  );
  // CPU time of this process, not wall time: a busy machine does not fail it.
  const start = process.cpuUsage();
  parseSipMessage(Buffer.from(`MESSAGE ${'a'.repeat(30_000)} ${'b '.repeat(15_000)}\r\n\r\n`));
  parseSipMessage(Buffer.from(`SIP/2.0 200 ${' '.repeat(60_000)}x\r\n\r\n`));
  const used = process.cpuUsage(start);
  t.true((used.user + used.system) / 1000 < 500, 'long start lines are not a regex trap');
});

test('another SIP version is answerable with 505 (RFC 3261 21.5.7)', (t) => {
  const r = parseSipMessage(
    Buffer.from(
      'MESSAGE sip:x@h SIP/3.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\nContent-Length: 0\r\n\r\n',
    ),
  );
  t.false(r.ok);
  if (r.ok) return;
  t.is(r.status, 505);
  t.is(r.partial?.kind, 'request');
});

test('beyond 256 headers the message is malformed but keeps what a 400 copies', (t) => {
  const vias = Array.from({ length: 600 }, (_, i) => `Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK${i}`).join('\r\n');
  const r = parseSipMessage(
    Buffer.from(
      `MESSAGE sip:x@h SIP/2.0\r\n${vias}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\r\n`,
    ),
    1 << 20,
  );
  t.false(r.ok);
  if (r.ok || r.partial?.kind !== 'request') return t.fail();
  t.regex(r.error, /more than 256 headers/);
  for (const h of ['From', 'To', 'Call-ID', 'CSeq']) t.truthy(getHeader(r.partial.headers, h), h);
  t.is(getHeaders(r.partial.headers, 'Via').length, 256);
});
