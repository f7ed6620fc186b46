import test from 'ava';
import net from 'node:net';
import { createSipEndpoint } from '../../../clients/sip/endpoint.js';
import { SipStreamFramer } from '../../../protocols/sip/framer.js';
import { getHeader, type SipMessage, type SipRequest, type SipResponse } from '../../../protocols/sip/message.js';
import { freePort } from '../../helpers/ports.js';
import { FakeClock } from './fake-clock.js';
import {
  answer,
  Conditions,
  endpointPair,
  fastTimers,
  message,
  pingAnswered,
  pingRequest,
  quiet,
  rawMessage,
} from './fixtures.js';

/**
 * A raw TCP server that hands each connection and the requests framed on it to `onRequest`.
 * `flush()` pings the endpoint on the first connection (see pingRequest) and awaits its answer.
 */
async function tcpPeer(onRequest: (req: SipRequest, socket: net.Socket) => void) {
  const sockets: net.Socket[] = [];
  const events = new Conditions();
  const pongs = new Set<number>();
  const server = net.createServer((s) => {
    sockets.push(s);
    const framer = new SipStreamFramer();
    s.on('data', (d) => {
      for (const m of framer.push(d)) {
        const pong = pingAnswered(m);
        if (pong === undefined) onRequest(m as SipRequest, s);
        else pongs.add(pong);
      }
      events.check();
    });
    s.on('error', () => {});
    events.check();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  let pings = 0;
  return {
    port,
    sockets,
    events,
    flush: async () => {
      const n = ++pings;
      sockets[0].write(pingRequest(n, 'TCP', port));
      await events.until(() => pongs.has(n));
    },
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

/** A raw TCP client connection to `port` collecting what comes back, framed (pings' answers aside). */
async function tcpClient(port: number) {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const framer = new SipStreamFramer();
  const events = new Conditions();
  const pongs = new Set<number>();
  const got: SipMessage[] = [];
  const raw: Buffer[] = [];
  let ended = false;
  s.on('data', (d) => {
    raw.push(d);
    for (const m of framer.push(d)) {
      const pong = pingAnswered(m);
      if (pong === undefined) got.push(m);
      else pongs.add(pong);
    }
    events.check();
  });
  s.on('close', () => {
    ended = true;
    events.check();
  });
  s.on('error', () => {});
  let pings = 0;
  return {
    s,
    got,
    raw,
    ended: () => ended,
    /** Resolves once `n` messages have come back. */
    count: (n: number) => events.until(() => got.length >= n),
    closed: () => events.until(() => ended),
    /** A ping round trip on this connection: whatever the endpoint wrote on it before has arrived. */
    flush: async () => {
      const n = ++pings;
      s.write(pingRequest(n, 'TCP', s.localPort!));
      await events.until(() => pongs.has(n));
    },
  };
}

test('a TCP destination that refuses the connection resolves fast as 503 naming the error', async (t) => {
  const clock = new FakeClock();
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet, clock });
  try {
    const res = await a.sendRequest(message('r'), { host: '127.0.0.1', port: await freePort(), transport: 'tcp' });
    t.is(res.status, 503);
    t.regex(res.reason, /ECONNREFUSED/);
    t.is(clock.now(), 0, 'with no timer fired: the fake clock never moved');
    t.deepEqual(clock.pending(), [], 'Timer F and the connect timeout are stopped');
  } finally {
    await a.close();
  }
});

test('a connection reset before the answer resolves as 503 at once, not at Timer F', async (t) => {
  const peer = await tcpPeer((_req, s) => s.resetAndDestroy());
  const clock = new FakeClock();
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 500 }, log: quiet, clock });
  try {
    const res = await a.sendRequest(message('reset'), { host: '127.0.0.1', port: peer.port, transport: 'tcp' });
    t.is(res.status, 503);
    t.regex(res.reason, /ECONNRESET|closed/);
    t.is(clock.now(), 0, 'well before Timer F (32 s): the fake clock never moved');
    t.deepEqual(clock.pending(), []);
  } finally {
    await a.close();
    await peer.close();
  }
});

test('over TCP nothing is retransmitted and Timer F still gives 408', async (t) => {
  const seen: SipRequest[] = [];
  const peer = await tcpPeer((req) => seen.push(req));
  const clock = new FakeClock();
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 10, t2: 40 }, log: quiet, clock });
  try {
    let res: SipResponse | undefined;
    const pending = a
      .sendRequest(message('silent'), { host: '127.0.0.1', port: peer.port, transport: 'tcp' })
      .then((r) => (res = r));
    await peer.events.until(() => seen.length === 1);
    t.deepEqual(clock.pending(), [{ at: 640, unref: false }], 'only Timer F: no Timer E on TCP (RFC 3261 17.1.2.2)');
    clock.advance(639);
    await peer.flush();
    t.is(seen.length, 1, 'nothing retransmitted');
    t.is(res, undefined, 'no outcome before Timer F');
    clock.advance(1);
    await pending;
    t.is(res!.status, 408);
    t.is(clock.now(), 640, 'at 64*T1');
    clock.advance(640);
    await peer.flush();
    t.is(seen.length, 1);
  } finally {
    await a.close();
    await peer.close();
  }
});

test('requests to one TCP destination share one connection, also when sent at once', async (t) => {
  const peer = await tcpPeer((req, s) => s.write(answer(req, 200, 'OK')));
  const a = await createSipEndpoint({
    host: '127.0.0.1',
    port: 0,
    timers: fastTimers,
    log: quiet,
    clock: new FakeClock(),
  });
  try {
    const dest = { host: '127.0.0.1', port: peer.port, transport: 'tcp' as const };
    const first = await Promise.all([1, 2, 3].map((n) => a.sendRequest(message(`c${n}`), dest)));
    const later = await a.sendRequest(message('c4'), dest);
    t.deepEqual(
      [...first, later].map((r) => r.status),
      [200, 200, 200, 200],
    );
    t.is(peer.sockets.length, 1);
  } finally {
    await a.close();
    await peer.close();
  }
});

test('a response goes back on the connection the request came on, and a CRLF CRLF ping gets a CRLF pong', async (t) => {
  const { b, close } = await endpointPair();
  const c = await tcpClient(b.port);
  try {
    c.s.write('\r\n\r\n');
    c.s.write(rawMessage('conn', 'SIP/2.0/TCP client.invalid:5999;branch=z9hG4bKconn'));
    await c.count(1);
    await c.flush();
    t.is(c.got.length, 1);
    t.like(c.got[0], { kind: 'response', status: 202 });
    t.is(getHeader(c.got[0].headers, 'Via'), 'SIP/2.0/TCP client.invalid:5999;branch=z9hG4bKconn;received=127.0.0.1');
    t.is(Buffer.concat(c.raw).subarray(0, 2).toString(), '\r\n', 'pong first (RFC 5626 4.4.1)');
  } finally {
    c.s.destroy();
    await close();
  }
});

test('a framing error closes the connection; a framed but malformed request gets 400 on it first', async (t) => {
  const { b, seen, close } = await endpointPair();
  const c = await tcpClient(b.port);
  try {
    const bad = rawMessage('bad', 'SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKbad')
      .toString('latin1')
      .replace('To: ', 'Broken header line\r\nTo: ');
    c.s.write(Buffer.from(bad, 'latin1')); // the same bytes: the body is UTF-8, Content-Length counts its bytes
    await c.count(1);
    t.like(c.got[0], { kind: 'response', status: 400 });
    await c.flush();
    t.false(c.ended(), 'the connection still answers');
    c.s.write('MESSAGE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKnolength\r\n\r\n');
    await c.closed();
    t.true(c.ended(), 'no Content-Length on a stream: the connection is closed');
    t.is(c.got.length, 1);
    t.is(seen.length, 0);
  } finally {
    c.s.destroy();
    await close();
  }
});

test('close() also closes accepted and outgoing TCP connections', async (t) => {
  const { a, b, close } = await endpointPair();
  const c = await tcpClient(b.port);
  t.is((await a.sendRequest(message('x'), { host: '127.0.0.1', port: b.port, transport: 'tcp' })).status, 202);
  await close();
  await c.closed();
  t.true(c.ended(), 'the raw client saw its connection closed');
  c.s.destroy();
});

test('Timer J is zero on TCP: once it has fired, the same request on the connection is a new transaction', async (t) => {
  const clock = new FakeClock();
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet, clock });
  let calls = 0;
  b.onRequest(() => ({ status: 202, reason: `Accepted ${++calls}` }));
  const c = await tcpClient(b.port);
  try {
    const req = rawMessage('tj', 'SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKtcpj');
    c.s.write(req);
    await c.count(1);
    t.deepEqual(clock.pending(), [{ at: 0, unref: true }], 'Timer J: 0 on a reliable transport (RFC 3261 17.2.2)');
    clock.advance(0);
    t.deepEqual(clock.pending(), []);
    c.s.write(req);
    await c.count(2);
    t.is(calls, 2);
    t.deepEqual(
      c.got.map((m) => (m as SipResponse).reason),
      ['Accepted 1', 'Accepted 2'],
    );
  } finally {
    c.s.destroy();
    await b.close();
  }
});
