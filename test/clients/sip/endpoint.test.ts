import test from 'ava';
import dgram from 'node:dgram';
import { createSipEndpoint, type SipEndpoint } from '../../../clients/sip/endpoint.js';
import { parseNameAddrParams } from '../../../protocols/sip/headers.js';
import { getHeader, parseSipMessage, serializeSipMessage, type SipRequest } from '../../../protocols/sip/message.js';
import { freePort } from '../../helpers/ports.js';

const timers = { t1: 50, t2: 200 };
const quiet = { debug() {}, warn() {} };

function message(n: string, body = 'Grüße ✓') {
  return {
    method: 'MESSAGE',
    uri: 'sip:bob@127.0.0.1',
    headers: [
      { name: 'From', value: `<sip:alice@example.net>;tag=a${n}` },
      { name: 'To', value: '<sip:bob@example.net>' },
      { name: 'Call-ID', value: `call-${n}` },
      { name: 'CSeq', value: '1 MESSAGE' },
      { name: 'Content-Type', value: 'text/plain;charset=utf-8' },
    ],
    body: Buffer.from(body, 'utf8'),
  };
}

async function pair() {
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet });
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet });
  const seen: SipRequest[] = [];
  b.onRequest((req) => {
    seen.push(req);
    return { status: 202 };
  });
  return { a, b, seen, close: () => Promise.all([a.close(), b.close()]) };
}

for (const transport of ['udp', 'tcp'] as const) {
  test(`a MESSAGE over ${transport} is answered 202 with a To-tag and its UTF-8 body intact`, async (t) => {
    const { a, b, seen, close } = await pair();
    try {
      const res = await a.sendRequest(message(transport), { host: '127.0.0.1', port: b.port, transport });
      t.is(res.status, 202);
      t.is(res.reason, 'Accepted');
      t.truthy(parseNameAddrParams(getHeader(res.headers, 'To')!)?.params.tag);
      t.is(getHeader(res.headers, 'Call-ID'), `call-${transport}`);
      t.is(seen.length, 1);
      t.is(seen[0].body.toString('utf8'), 'Grüße ✓');
      t.regex(getHeader(seen[0].headers, 'Via')!, new RegExp(`^SIP/2.0/${transport.toUpperCase()} 127.0.0.1:${a.port};branch=z9hG4bK`));
    } finally {
      await close();
    }
  });
}

/** A raw UDP peer that ignores the first `ignore` copies of a request, then answers 200. */
async function stubbornPeer(ignore: number) {
  const sock = dgram.createSocket('udp4');
  const arrivals: number[] = [];
  sock.on('message', (buf, rinfo) => {
    arrivals.push(Date.now());
    if (arrivals.length <= ignore) return;
    const parsed = parseSipMessage(buf);
    if (!parsed.ok || parsed.message.kind !== 'request') return;
    const req = parsed.message;
    const keep = ['Via', 'From', 'To', 'Call-ID', 'CSeq'];
    const res = serializeSipMessage({
      kind: 'response',
      status: 200,
      reason: 'OK',
      headers: req.headers.filter((h) => keep.includes(h.name)),
      body: Buffer.alloc(0),
    });
    sock.send(res, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, arrivals, close: () => new Promise<void>((r) => sock.close(() => r())) };
}

test('over UDP an unanswered request is retransmitted with Timer E doubling from T1', async (t) => {
  const peer = await stubbornPeer(2);
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet });
  try {
    const res = await a.sendRequest(message('e'), { host: '127.0.0.1', port: peer.port, transport: 'udp' });
    t.is(res.status, 200);
    t.is(peer.arrivals.length, 3);
    const gaps = [peer.arrivals[1] - peer.arrivals[0], peer.arrivals[2] - peer.arrivals[1]];
    t.true(gaps[0] >= 40 && gaps[0] < 150, `first retransmission after ~T1, was ${gaps[0]} ms`);
    t.true(gaps[1] >= 80 && gaps[1] < 250, `second after ~2*T1, was ${gaps[1]} ms`);
  } finally {
    await a.close();
    await peer.close();
  }
});

test('no final response within Timer F resolves as 408', async (t) => {
  const peer = await stubbornPeer(1000);
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 10, t2: 40 }, log: quiet });
  try {
    const started = Date.now();
    const res = await a.sendRequest(message('f'), { host: '127.0.0.1', port: peer.port, transport: 'udp' });
    t.is(res.status, 408);
    t.true(Date.now() - started >= 600, 'Timer F is 64*T1');
  } finally {
    await a.close();
    await peer.close();
  }
});

test('a TCP destination that refuses the connection resolves fast as 503', async (t) => {
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet });
  try {
    const res = await a.sendRequest(message('r'), { host: '127.0.0.1', port: await freePort(), transport: 'tcp' });
    t.is(res.status, 503);
    t.regex(res.reason, /ECONNREFUSED/);
  } finally {
    await a.close();
  }
});

test('a retransmitted request is absorbed by the server transaction and its response re-sent', async (t) => {
  const b: SipEndpoint = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers, log: quiet });
  let calls = 0;
  b.onRequest(() => {
    calls++;
    return { status: 202 };
  });
  const sock = dgram.createSocket('udp4');
  const responses: string[] = [];
  sock.on('message', (buf) => responses.push(buf.toString()));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    const req = serializeSipMessage({
      kind: 'request',
      ...message('abs'),
      headers: [{ name: 'Via', value: `SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bKabsorb;rport` }, ...message('abs').headers],
    });
    for (let i = 0; i < 3; i++) {
      sock.send(req, b.port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 60));
    }
    t.is(calls, 1);
    t.is(responses.length, 3);
    t.is(new Set(responses).size, 1, 'the same response, same To-tag, each time');
    t.regex(responses[0], /^SIP\/2.0 202 Accepted/);
    t.regex(responses[0], new RegExp(`;rport=${sock.address().port}`));
  } finally {
    sock.close();
    await b.close();
  }
});

test('a request missing mandatory headers is answered 400 naming them', async (t) => {
  const { a, b, seen, close } = await pair();
  try {
    const bad = message('bad');
    bad.headers = bad.headers.filter((h) => h.name !== 'Call-ID');
    const res = await a.sendRequest(bad, { host: '127.0.0.1', port: b.port, transport: 'udp' });
    t.is(res.status, 400);
    t.regex(res.reason, /Call-ID/);
    t.is(seen.length, 0);
  } finally {
    await close();
  }
});
