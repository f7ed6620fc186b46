import test from 'ava';
import { createSipEndpoint } from '../../../clients/sip/endpoint.js';
import { getHeader, parseSipMessage, type SipRequest, type SipResponse } from '../../../protocols/sip/message.js';
import { answer, fastTimers, message, quiet, rawMessage, sleep, udpPeer } from './fixtures.js';

const gaps = (at: number[]) => at.slice(1).map((v, i) => v - at[i]);
/** Timer checks leave room for a busy 2-core CI machine: 0.6x to 2x the nominal interval. */
const near = (ms: number, nominal: number) => ms >= 0.6 * nominal && ms <= 2 * nominal;

test('an unanswered request is retransmitted at T1 then 2*T1 and resolves when the peer answers', async (t) => {
  const peer = await udpPeer((m, n) => (n > 2 ? [answer(m as SipRequest, 200, 'OK')] : undefined));
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  try {
    const res = await a.sendRequest(message('e'), { host: '127.0.0.1', port: peer.port, transport: 'udp' });
    t.is(res.status, 200);
    t.is(peer.received.length, 3);
    t.true(peer.received.every((r) => r.raw.equals(peer.received[0].raw)), 'retransmissions are the same bytes');
    const [g1, g2] = gaps(peer.received.map((r) => r.at));
    t.true(near(g1, 50), `first retransmission after ~T1 (50 ms), was ${g1} ms`);
    t.true(near(g2, 100), `second after ~2*T1 (100 ms), was ${g2} ms`);
    await sleep(250);
    t.is(peer.received.length, 3, 'no retransmission after the final response');
  } finally {
    await a.close();
    await peer.close();
  }
});

test('Timer E doubles up to T2 and, after a provisional response, fires every T2', async (t) => {
  const peer = await udpPeer((m, n) => (n === 1 ? [answer(m as SipRequest, 100, 'Trying')] : n === 4 ? [answer(m as SipRequest, 202, 'Accepted')] : undefined));
  const plain = await udpPeer((m, n) => (n === 5 ? [answer(m as SipRequest, 202, 'Accepted')] : undefined));
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 40, t2: 100 }, log: quiet });
  try {
    const [afterTrying, doubling] = await Promise.all([
      a.sendRequest(message('p'), { host: '127.0.0.1', port: peer.port, transport: 'udp' }),
      a.sendRequest(message('q'), { host: '127.0.0.1', port: plain.port, transport: 'udp' }),
    ]);
    t.is(afterTrying.status, 202, 'a provisional does not resolve; the final does');
    t.is(doubling.status, 202);
    for (const g of gaps(peer.received.map((r) => r.at))) t.true(near(g, 100), `every T2 (100 ms) in Proceeding, was ${g}`);
    const d = gaps(plain.received.map((r) => r.at));
    t.true(near(d[0], 40) && near(d[1], 80), `40 then 80 ms, was ${d}`);
    t.true(near(d[2], 100) && near(d[3], 100) && d[2] + d[3] < 320, `then capped at T2 (100 ms), was ${d}`);
  } finally {
    await a.close();
    await Promise.all([peer.close(), plain.close()]);
  }
});

test('no final response within Timer F (64*T1) resolves as 408', async (t) => {
  const peer = await udpPeer();
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 10, t2: 40 }, log: quiet });
  try {
    const started = Date.now();
    const res = await a.sendRequest(message('f'), { host: '127.0.0.1', port: peer.port, transport: 'udp' });
    t.is(res.status, 408);
    t.true(Date.now() - started >= 640 && Date.now() - started < 1500, `Timer F is 64*T1, took ${Date.now() - started} ms`);
    t.true(peer.received.length >= 15, 'retransmitted all along');
  } finally {
    await a.close();
    await peer.close();
  }
});

test('responses for another branch or another method do not complete the transaction', async (t) => {
  const peer = await udpPeer((m) => {
    const req = m as SipRequest;
    const other = { ...req, headers: req.headers.map((h) => (h.name === 'Via' ? { ...h, value: h.value.replace(/branch=[^;]+/, 'branch=z9hG4bKother') } : h)) };
    const wrongMethod = { ...req, headers: req.headers.map((h) => (h.name === 'CSeq' ? { ...h, value: '1 OPTIONS' } : h)) };
    return [answer(other, 500, 'Other'), answer(wrongMethod, 500, 'Wrong'), answer(req, 202, 'Accepted')];
  });
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  try {
    t.is((await a.sendRequest(message('m'), { host: '127.0.0.1', port: peer.port, transport: 'udp' })).status, 202);
  } finally {
    await a.close();
    await peer.close();
  }
});

test('a retransmitted request is absorbed (handler called once) and the same response re-sent to the rport source', async (t) => {
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  let calls = 0;
  b.onRequest(async () => {
    calls++;
    await sleep(80);
    return { status: 202 };
  });
  const peer = await udpPeer();
  try {
    const req = rawMessage('abs', 'SIP/2.0/UDP 192.0.2.1:5099;branch=z9hG4bKabsorb;rport');
    await peer.send(req, b.port);
    await sleep(20);
    await peer.send(req, b.port); // while the handler runs: nothing to re-send yet
    await sleep(120);
    await peer.send(req, b.port);
    await sleep(60);
    t.is(calls, 1);
    t.is(peer.received.length, 2);
    t.true(peer.received[0].raw.equals(peer.received[1].raw), 'the same response, same To-tag, each time');
    const res = peer.received[0].message as SipResponse;
    t.is(res.status, 202);
    t.is(getHeader(res.headers, 'Via'), `SIP/2.0/UDP 192.0.2.1:5099;branch=z9hG4bKabsorb;rport=${peer.port};received=127.0.0.1`);
  } finally {
    await peer.close();
    await b.close();
  }
});

test('without rport the response goes to the Via sent-by port at the source address', async (t) => {
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  b.onRequest(() => ({ status: 200 }));
  const sender = await udpPeer();
  const listener = await udpPeer();
  try {
    await sender.send(rawMessage('norport', `SIP/2.0/UDP 127.0.0.1:${listener.port};branch=z9hG4bKnorport`), b.port);
    await sleep(100);
    t.is(sender.received.length, 0);
    t.is((listener.received[0]?.message as SipResponse | undefined)?.status, 200);
  } finally {
    await Promise.all([sender.close(), listener.close(), b.close()]);
  }
});

test('the same branch from another sent-by, or a method without the magic cookie, is a new transaction', async (t) => {
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  let calls = 0;
  b.onRequest(() => ({ status: 200, reason: `OK ${++calls}` }));
  const peer = await udpPeer();
  try {
    await peer.send(rawMessage('s1', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKshared;rport'), b.port);
    await peer.send(rawMessage('s2', 'SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKshared;rport'), b.port);
    await peer.send(rawMessage('o1', 'SIP/2.0/UDP 192.0.2.1:5060;branch=old2543;rport'), b.port);
    await peer.send(rawMessage('o2', 'SIP/2.0/UDP 192.0.2.1:5060;branch=old2543;rport'), b.port);
    await sleep(100);
    t.is(calls, 4);
  } finally {
    await peer.close();
    await b.close();
  }
});

test('a request with a truncated body is answered 400; one without readable headers is dropped', async (t) => {
  const warnings: string[] = [];
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: { debug() {}, warn: (o) => warnings.push(JSON.stringify(o)) } });
  let calls = 0;
  b.onRequest(() => ({ status: 200, reason: `${++calls}` }));
  const peer = await udpPeer();
  try {
    const full = rawMessage('trunc', 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKtrunc;rport');
    await peer.send(full.subarray(0, full.length - 3), b.port);
    await peer.send(Buffer.from('garbage that is no SIP at all\r\n\r\n'), b.port);
    await peer.send(Buffer.from('\r\n\r\n'), b.port);
    await sleep(100);
    t.is(calls, 0);
    t.is(peer.received.length, 1);
    const res = parseSipMessage(peer.received[0].raw);
    t.true(res.ok && res.message.kind === 'response' && res.message.status === 400 && /Content-Length/.test(res.message.reason));
    t.is(warnings.length, 2, 'both unparseable datagrams are logged, the keep-alive is not');
  } finally {
    await peer.close();
    await b.close();
  }
});

test('a CANCEL for a pending non-INVITE transaction is answered 200 and does not stop it', async (t) => {
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  b.onRequest(async () => {
    await sleep(80);
    return { status: 202 };
  });
  const peer = await udpPeer();
  try {
    const via = 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKcancelme;rport';
    await peer.send(rawMessage('cx', via), b.port);
    const cancel = rawMessage('cx', via).toString('latin1').replace('MESSAGE sip:', 'CANCEL sip:').replace('CSeq: 1 MESSAGE', 'CSeq: 1 CANCEL');
    await peer.send(Buffer.from(cancel, 'latin1'), b.port);
    await sleep(150);
    const statuses = peer.received.map((r) => `${(r.message as SipResponse).status} ${getHeader(r.message!.headers, 'CSeq')}`);
    t.deepEqual(statuses.sort(), ['200 1 CANCEL', '202 1 MESSAGE']);
  } finally {
    await peer.close();
    await b.close();
  }
});
