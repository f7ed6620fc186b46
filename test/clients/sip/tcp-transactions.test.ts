import test from 'ava';
import net from 'node:net';
import { createSipEndpoint } from '../../../clients/sip/endpoint.js';
import { SipStreamFramer } from '../../../protocols/sip/framer.js';
import { getHeader, type SipMessage, type SipRequest } from '../../../protocols/sip/message.js';
import { freePort } from '../../helpers/ports.js';
import { answer, endpointPair, fastTimers, message, quiet, rawMessage, sleep } from './fixtures.js';

/** A raw TCP server that hands each connection and the requests framed on it to `onRequest`. */
async function tcpPeer(onRequest: (req: SipRequest, socket: net.Socket) => void) {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    const framer = new SipStreamFramer();
    s.on('data', (d) => framer.push(d).forEach((m) => onRequest(m as SipRequest, s)));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

/** A raw TCP client connection to `port` collecting what comes back, framed. */
async function tcpClient(port: number) {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const framer = new SipStreamFramer();
  const got: SipMessage[] = [];
  const raw: Buffer[] = [];
  let ended = false;
  s.on('data', (d) => {
    raw.push(d);
    got.push(...framer.push(d));
  });
  s.on('close', () => (ended = true));
  s.on('error', () => {});
  return { s, got, raw, ended: () => ended };
}

test('a TCP destination that refuses the connection resolves fast as 503 naming the error', async (t) => {
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  try {
    const started = Date.now();
    const res = await a.sendRequest(message('r'), { host: '127.0.0.1', port: await freePort(), transport: 'tcp' });
    t.is(res.status, 503);
    t.regex(res.reason, /ECONNREFUSED/);
    t.true(Date.now() - started < 500);
  } finally {
    await a.close();
  }
});

test('a connection reset before the answer resolves as 503 at once, not at Timer F', async (t) => {
  const peer = await tcpPeer((_req, s) => s.resetAndDestroy());
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 500 }, log: quiet });
  try {
    const started = Date.now();
    const res = await a.sendRequest(message('reset'), { host: '127.0.0.1', port: peer.port, transport: 'tcp' });
    t.is(res.status, 503);
    t.regex(res.reason, /ECONNRESET|closed/);
    t.true(Date.now() - started < 2000, 'well before Timer F (32 s)');
  } finally {
    await a.close();
    await peer.close();
  }
});

test('over TCP nothing is retransmitted and Timer F still gives 408', async (t) => {
  const seen: SipRequest[] = [];
  const peer = await tcpPeer((req) => seen.push(req));
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 10, t2: 40 }, log: quiet });
  try {
    const res = await a.sendRequest(message('silent'), { host: '127.0.0.1', port: peer.port, transport: 'tcp' });
    t.is(res.status, 408);
    t.is(seen.length, 1);
  } finally {
    await a.close();
    await peer.close();
  }
});

test('requests to one TCP destination share one connection, also when sent at once', async (t) => {
  const peer = await tcpPeer((req, s) => s.write(answer(req, 200, 'OK')));
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  try {
    const dest = { host: '127.0.0.1', port: peer.port, transport: 'tcp' as const };
    const first = await Promise.all([1, 2, 3].map((n) => a.sendRequest(message(`c${n}`), dest)));
    const later = await a.sendRequest(message('c4'), dest);
    t.deepEqual([...first, later].map((r) => r.status), [200, 200, 200, 200]);
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
    await sleep(100);
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
    const bad = rawMessage('bad', 'SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKbad').toString('latin1').replace('To: ', 'Broken header line\r\nTo: ');
    c.s.write(bad);
    await sleep(100);
    t.like(c.got[0], { kind: 'response', status: 400 });
    t.false(c.ended());
    c.s.write('MESSAGE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKnolength\r\n\r\n');
    await sleep(100);
    t.true(c.ended(), 'no Content-Length on a stream: the connection is closed');
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
  await sleep(50);
  t.true(c.ended(), 'the raw client saw its connection closed');
  c.s.destroy();
});
