import test from 'ava';
import fc from 'fast-check';
import { SipStreamFramer } from '../../../protocols/sip/framer.js';
import { getHeader, serializeSipMessage, type SipParseError } from '../../../protocols/sip/message.js';
import { vector } from '../vectors.js';

const message = (n: number, body = `body ${n} ✓`) =>
  serializeSipMessage({
    kind: 'request',
    method: 'MESSAGE',
    uri: 'sip:b@x',
    headers: [{ name: 'Call-ID', value: `c${n}` }],
    body: Buffer.from(body, 'utf8'),
  });

function feed(framer: SipStreamFramer, stream: Buffer, cuts: number[]) {
  const got = [];
  let from = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < stream.length)].sort((a, b) => a - b).concat(stream.length)) {
    got.push(...framer.push(stream.subarray(from, cut)));
    from = cut;
  }
  return got;
}

test('messages split anywhere or coalesced come out whole, keep-alives skipped and counted as pings', (t) => {
  const stream = Buffer.concat([
    Buffer.from('\r\n\r\n'),
    message(1),
    message(2),
    Buffer.from('\r\n\r\n'),
    vector('sip-message-cpim-fthttp.txt'),
    message(3),
  ]);
  for (const step of [1, 2, 3, 7, 64, stream.length]) {
    const f = new SipStreamFramer();
    const cuts = Array.from({ length: Math.ceil(stream.length / step) }, (_, i) => i * step);
    const got = feed(f, stream, cuts);
    t.deepEqual(
      got.map((m) => getHeader(m.headers, 'Call-ID')),
      ['c1', 'c2', '7c2d9e4f-1a6b-4f3c-8d2e-0a9b8c7d6e51@iwf1.ims.example.net', 'c3'],
      `chunks of ${step}`,
    );
    t.is(got[0].body.toString('utf8'), 'body 1 ✓');
    t.is(got[2].body.length, 847);
    t.is(f.pings, 2, `chunks of ${step}`);
    t.is(f.failed, undefined);
  }
});

test('any chunking of a stream yields the same messages', (t) => {
  const stream = Buffer.concat([message(1), Buffer.from('\r\n\r\n'), message(2, 'x'.repeat(500)), message(3, '')]);
  fc.assert(
    fc.property(fc.array(fc.nat(stream.length), { maxLength: 40 }), (cuts) => {
      const got = feed(new SipStreamFramer(), stream, cuts);
      return got.map((m) => getHeader(m.headers, 'Call-ID')).join() === 'c1,c2,c3' && got[1].body.length === 500;
    }),
  );
  t.pass();
});

test('a message without Content-Length fails the stream, which then yields nothing more', (t) => {
  const f = new SipStreamFramer();
  t.deepEqual(f.push(Buffer.from('MESSAGE sip:x SIP/2.0\r\nVia: x\r\n\r\n')), []);
  t.regex(f.failed ?? '', /Content-Length/);
  t.deepEqual(f.push(message(1)), []);
});

test('conflicting or non-numeric Content-Length fails the stream', (t) => {
  for (const head of ['Content-Length: 1\r\nl: 2', 'Content-Length: -1', 'Content-Length: 1e3']) {
    const f = new SipStreamFramer();
    f.push(Buffer.from(`MESSAGE sip:x SIP/2.0\r\n${head}\r\n\r\n12`));
    t.truthy(f.failed, head);
  }
});

test('a head or message over the bound fails the stream', (t) => {
  const endless = new SipStreamFramer(1000);
  endless.push(Buffer.from(`MESSAGE sip:x SIP/2.0\r\n${'X-A: 1\r\n'.repeat(200)}`));
  t.regex(endless.failed ?? '', /too large/);
  const big = new SipStreamFramer(1000);
  big.push(Buffer.from('MESSAGE sip:x SIP/2.0\r\nContent-Length: 5000\r\n\r\n'));
  t.regex(big.failed ?? '', /larger than 1000/);
});

test('a framed message that does not parse is reported and the stream goes on', (t) => {
  const invalid: SipParseError[] = [];
  const f = new SipStreamFramer(undefined, (e) => invalid.push(e));
  const got = f.push(
    Buffer.concat([
      Buffer.from('MESSAGE sip:x SIP/2.0\r\nCall-ID: bad\r\nNoColonHere\r\nContent-Length: 2\r\n\r\nhi'),
      message(2),
    ]),
  );
  t.deepEqual(
    got.map((m) => getHeader(m.headers, 'Call-ID')),
    ['c2'],
  );
  t.is(invalid.length, 1);
  t.regex(invalid[0].error, /malformed header/);
  t.is(getHeader(invalid[0].partial!.headers, 'Call-ID'), 'bad');
  t.is(f.failed, undefined);
});

test('a head trickling in byte by byte costs linear time', (t) => {
  const head = Buffer.from(
    `OPTIONS sip:x SIP/2.0\r\n${`X-Pad: ${'a'.repeat(2000)}\r\n`.repeat(100)}Content-Length: 0\r\n\r\n`,
  );
  const f = new SipStreamFramer(300_000);
  // CPU time of this process, not wall time: a busy machine does not fail it.
  const start = process.cpuUsage();
  const got = [];
  for (let i = 0; i < head.length; i++) got.push(...f.push(head.subarray(i, i + 1)));
  t.is(got.length, 1);
  const used = process.cpuUsage(start);
  const ms = (used.user + used.system) / 1000;
  t.true(ms < 1000, `took ${ms} ms CPU for ${head.length} bytes`);
});

test('hostile streams never throw', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), (chunks) => {
      const f = new SipStreamFramer(2000, () => {});
      for (const c of chunks) f.push(Buffer.from(c));
      return true;
    }),
  );
  t.pass();
});
