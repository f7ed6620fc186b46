import test from 'ava';
import fc from 'fast-check';
import { SipStreamFramer } from '../../../protocols/sip/framer.js';
import { parseCSeq, parseNameAddrParams, parseVia } from '../../../protocols/sip/headers.js';
import { getHeader, parseSipMessage, serializeSipMessage } from '../../../protocols/sip/message.js';
import { crlf, vector } from '../vectors.js';

test('the pager-mode vectors parse with Content-Length counted in bytes', (t) => {
  for (const name of ['sip-message-cpim-text.txt', 'sip-message-cpim-fthttp.txt']) {
    const raw = crlf(vector(name));
    const r = parseSipMessage(raw);
    if (!r.ok || r.message.kind !== 'request') return t.fail(name);
    t.is(r.message.method, 'MESSAGE');
    t.is(Number(getHeader(r.message.headers, 'Content-Length')), r.message.body.length, name);
    t.deepEqual(parseSipMessage(serializeSipMessage(r.message)), r, `${name} round-trips`);
  }
});

test('compact and folded headers are expanded', (t) => {
  const raw = 'MESSAGE sip:b@x SIP/2.0\r\nv: SIP/2.0/UDP h:5060;branch=z9hG4bK1\r\ni: c1\r\nf: <sip:a@x>;tag=1\r\nt: <sip:b@x>\r\nSubject: one\r\n two\r\nl: 2\r\n\r\nhi';
  const r = parseSipMessage(Buffer.from(raw));
  if (!r.ok) return t.fail(r.error);
  t.is(getHeader(r.message.headers, 'Call-ID'), 'c1');
  t.is(getHeader(r.message.headers, 'v'), 'SIP/2.0/UDP h:5060;branch=z9hG4bK1');
  t.is(getHeader(r.message.headers, 'Subject'), 'one two');
  t.is(r.message.body.toString(), 'hi');
});

test('Via, CSeq and name-addr values parse', (t) => {
  t.deepEqual(parseVia('SIP/2.0/udp 10.0.0.1:5070;branch=z9hG4bKx;rport, SIP/2.0/TCP other'), {
    transport: 'UDP',
    host: '10.0.0.1',
    port: 5070,
    params: { branch: 'z9hG4bKx', rport: '' },
  });
  t.deepEqual(parseVia('SIP/2.0/TCP [::1]:5060;branch=b'), { transport: 'TCP', host: '::1', port: 5060, params: { branch: 'b' } });
  t.deepEqual(parseCSeq('7 message'), { seq: 7, method: 'MESSAGE' });
  t.deepEqual(parseNameAddrParams('"A, B" <sip:a@x;lr>;tag=9'), { uri: 'sip:a@x;lr', display: 'A, B', params: { tag: '9' } });
});

test('truncated bodies and bad start lines are errors, hostile input never throws', (t) => {
  t.like(parseSipMessage(Buffer.from('MESSAGE sip:x SIP/2.0\r\nContent-Length: 10\r\n\r\nabc')), { ok: false });
  t.like(parseSipMessage(Buffer.from('HELLO\r\n\r\n')), { ok: false });
  t.like(parseSipMessage(Buffer.alloc(70_000, 65)), { ok: false });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1500 }), (b) => typeof parseSipMessage(Buffer.from(b)).ok === 'boolean'));
});

test('the stream framer reassembles split and coalesced messages and skips keep-alives', (t) => {
  const one = (n: number) => serializeSipMessage({ kind: 'response', status: 200, reason: 'OK', headers: [{ name: 'Call-ID', value: `c${n}` }], body: Buffer.from(`body${n}`) });
  const stream = Buffer.concat([Buffer.from('\r\n\r\n'), one(1), one(2), Buffer.from('\r\n\r\n'), one(3)]);
  const f = new SipStreamFramer();
  const got = [];
  for (let i = 0; i < stream.length; i += 7) got.push(...f.push(stream.subarray(i, i + 7)));
  t.deepEqual(got.map((m) => getHeader(m.headers, 'Call-ID')), ['c1', 'c2', 'c3']);
  t.is(f.pings, 2);
  const bad = new SipStreamFramer();
  bad.push(Buffer.from('MESSAGE sip:x SIP/2.0\r\nVia: x\r\n\r\n'));
  t.regex(bad.failed ?? '', /Content-Length/);
});
