import test from 'ava';
import { createSipEndpoint } from '../../../clients/sip/endpoint.js';
import { getHeader, parseSipMessage, type SipRequest, type SipResponse } from '../../../protocols/sip/message.js';
import { FakeClock, runTimersUntil } from './fake-clock.js';
import { answer, deferred, fastTimers, message, quiet, rawMessage, udpPeer } from './fixtures.js';

/** `p` as it settles, with the fake time it settled at. */
function track<T>(p: Promise<T>, clock: FakeClock) {
  const out: { value?: T; at?: number } = {};
  void p.then((v) => Object.assign(out, { value: v, at: clock.now() }));
  return out;
}

test('an unanswered request is retransmitted at T1 then 2*T1 and resolves when the peer answers', async (t) => {
  const clock = new FakeClock();
  const peer = await udpPeer((m, n) => (n > 2 ? [answer(m as SipRequest, 200, 'OK')] : undefined), clock);
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet, clock });
  try {
    const res = track(a.sendRequest(message('e'), { host: '127.0.0.1', port: peer.port, transport: 'udp' }), clock);
    await runTimersUntil(
      clock,
      () => peer.settle(a.port),
      () => res.value !== undefined,
    );
    t.is(res.value!.status, 200);
    t.is(res.at, 150, 'resolved by the answer to the third send');
    t.deepEqual(
      peer.received.map((r) => r.at),
      [0, 50, 150],
      'sent at 0, then after T1 (50 ms), then after 2*T1 (RFC 3261 17.1.2.2)',
    );
    t.true(
      peer.received.every((r) => r.raw.equals(peer.received[0].raw)),
      'retransmissions are the same bytes',
    );
    t.deepEqual(clock.pending(), [], 'the final response stopped Timers E and F');
    clock.advance(64 * fastTimers.t1);
    await peer.settle(a.port);
    t.is(peer.received.length, 3, 'no retransmission after the final response');
  } finally {
    await a.close();
    await peer.close();
  }
});

test('Timer E doubles up to T2 and, after a provisional response, fires every T2', async (t) => {
  const clock = new FakeClock();
  const peer = await udpPeer(
    (m, n) =>
      n === 1
        ? [answer(m as SipRequest, 100, 'Trying')]
        : n === 4
          ? [answer(m as SipRequest, 202, 'Accepted')]
          : undefined,
    clock,
  );
  const plain = await udpPeer((m, n) => (n === 5 ? [answer(m as SipRequest, 202, 'Accepted')] : undefined), clock);
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 40, t2: 100 }, log: quiet, clock });
  try {
    const afterTrying = track(
      a.sendRequest(message('p'), { host: '127.0.0.1', port: peer.port, transport: 'udp' }),
      clock,
    );
    const doubling = track(
      a.sendRequest(message('q'), { host: '127.0.0.1', port: plain.port, transport: 'udp' }),
      clock,
    );
    const settle = () => Promise.all([peer.settle(a.port), plain.settle(a.port)]);
    await runTimersUntil(clock, settle, () => afterTrying.value !== undefined && doubling.value !== undefined);
    t.is(afterTrying.value!.status, 202, 'a provisional does not resolve; the final does');
    t.is(afterTrying.at, 300);
    t.is(doubling.value!.status, 202);
    t.is(doubling.at, 320);
    t.deepEqual(
      peer.received.map((r) => r.at),
      [0, 100, 200, 300],
      'every T2 (100 ms) in Proceeding (100 Trying came at 0)',
    );
    t.deepEqual(
      plain.received.map((r) => r.at),
      [0, 40, 120, 220, 320],
      '40 then 80 ms, then capped at T2 (100 ms)',
    );
  } finally {
    await a.close();
    await Promise.all([peer.close(), plain.close()]);
  }
});

test('no final response within Timer F (64*T1) resolves as 408', async (t) => {
  const clock = new FakeClock();
  const peer = await udpPeer(undefined, clock);
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 10, t2: 40 }, log: quiet, clock });
  try {
    const res = track(a.sendRequest(message('f'), { host: '127.0.0.1', port: peer.port, transport: 'udp' }), clock);
    await runTimersUntil(
      clock,
      () => peer.settle(a.port),
      () => res.value !== undefined,
    );
    t.is(res.value!.status, 408);
    t.is(res.at, 640, 'Timer F is 64*T1');
    const resent = [10, 30, 70, 110, 150, 190, 230, 270, 310, 350, 390, 430, 470, 510, 550, 590, 630];
    t.deepEqual(
      peer.received.map((r) => r.at),
      [0, ...resent],
      'retransmitted all along: 10, 20, then every T2 (40 ms)',
    );
    t.deepEqual(clock.pending(), []);
    clock.advance(64 * 10);
    await peer.settle(a.port);
    t.is(peer.received.length, 18, 'nothing more after Timer F');
  } finally {
    await a.close();
    await peer.close();
  }
});

test('responses for another branch or another method do not complete the transaction', async (t) => {
  const peer = await udpPeer((m) => {
    const req = m as SipRequest;
    const other = {
      ...req,
      headers: req.headers.map((h) =>
        h.name === 'Via' ? { ...h, value: h.value.replace(/branch=[^;]+/, 'branch=z9hG4bKother') } : h,
      ),
    };
    const wrongMethod = {
      ...req,
      headers: req.headers.map((h) => (h.name === 'CSeq' ? { ...h, value: '1 OPTIONS' } : h)),
    };
    return [answer(other, 500, 'Other'), answer(wrongMethod, 500, 'Wrong'), answer(req, 202, 'Accepted')];
  });
  // The fake clock never moves: one send, no retransmission; the outcome is the first matching response.
  const a = await createSipEndpoint({
    host: '127.0.0.1',
    port: 0,
    timers: fastTimers,
    log: quiet,
    clock: new FakeClock(),
  });
  try {
    t.is((await a.sendRequest(message('m'), { host: '127.0.0.1', port: peer.port, transport: 'udp' })).status, 202);
  } finally {
    await a.close();
    await peer.close();
  }
});

test('a retransmitted request is absorbed (handler called once) and the same response re-sent to the rport source', async (t) => {
  const b = await createSipEndpoint({
    host: '127.0.0.1',
    port: 0,
    timers: fastTimers,
    log: quiet,
    clock: new FakeClock(),
  });
  let calls = 0;
  const called = deferred();
  const release = deferred();
  b.onRequest(async () => {
    calls++;
    called.resolve();
    await release.promise;
    return { status: 202 };
  });
  const peer = await udpPeer();
  try {
    const req = rawMessage('abs', 'SIP/2.0/UDP 192.0.2.1:5099;branch=z9hG4bKabsorb;rport');
    await peer.send(req, b.port);
    await called.promise;
    await peer.send(req, b.port); // while the handler runs: nothing to re-send yet
    await peer.flush(b.port);
    t.is(peer.received.length, 0, 'nothing re-sent while the handler runs');
    release.resolve();
    await peer.count(1);
    await peer.send(req, b.port);
    await peer.count(2);
    await peer.flush(b.port);
    t.is(calls, 1);
    t.is(peer.received.length, 2);
    t.true(peer.received[0].raw.equals(peer.received[1].raw), 'the same response, same To-tag, each time');
    const res = peer.received[0].message as SipResponse;
    t.is(res.status, 202);
    t.is(
      getHeader(res.headers, 'Via'),
      `SIP/2.0/UDP 192.0.2.1:5099;branch=z9hG4bKabsorb;rport=${peer.port};received=127.0.0.1`,
    );
  } finally {
    await peer.close();
    await b.close();
  }
});

test('Timer J: a retransmission up to 64*T1 after the response is absorbed, one at 64*T1 starts a new transaction', async (t) => {
  const clock = new FakeClock();
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet, clock });
  let calls = 0;
  b.onRequest(() => ({ status: 202, reason: `Accepted ${++calls}` }));
  const peer = await udpPeer(undefined, clock);
  try {
    const req = rawMessage('tj', 'SIP/2.0/UDP 192.0.2.1:5099;branch=z9hG4bKtimerj;rport');
    await peer.send(req, b.port);
    await peer.count(1);
    t.deepEqual(
      clock.pending(),
      [{ at: 64 * fastTimers.t1, unref: true }],
      "Timer J (RFC 3261 17.2.2), unref'd: it keeps no process alive",
    );
    clock.advance(64 * fastTimers.t1 - 1);
    await peer.send(req, b.port);
    await peer.count(2);
    t.is(calls, 1, 'absorbed 1 ms before Timer J');
    t.true(peer.received[1].raw.equals(peer.received[0].raw), 'and answered with the same response');
    clock.advance(1);
    t.deepEqual(clock.pending(), []);
    await peer.send(req, b.port);
    await peer.count(3);
    t.is(calls, 2, 'the same request at 64*T1 is a new transaction');
    t.is((peer.received[2].message as SipResponse).reason, 'Accepted 2');
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
    await listener.count(1);
    await sender.flush(b.port);
    t.is(sender.received.length, 0);
    t.is(listener.received.length, 1);
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
    await peer.count(4);
    await peer.flush(b.port);
    t.is(calls, 4);
    t.deepEqual(peer.received.map((r) => (r.message as SipResponse).reason).sort(), ['OK 1', 'OK 2', 'OK 3', 'OK 4']);
  } finally {
    await peer.close();
    await b.close();
  }
});

test('a request with a truncated body is answered 400; one without readable headers is dropped', async (t) => {
  const warnings: string[] = [];
  const b = await createSipEndpoint({
    host: '127.0.0.1',
    port: 0,
    timers: fastTimers,
    log: { debug() {}, warn: (o) => warnings.push(JSON.stringify(o)) },
  });
  let calls = 0;
  b.onRequest(() => ({ status: 200, reason: `${++calls}` }));
  const peer = await udpPeer();
  try {
    const full = rawMessage('trunc', 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKtrunc;rport');
    await peer.send(full.subarray(0, full.length - 3), b.port);
    await peer.send(Buffer.from('garbage that is no SIP at all\r\n\r\n'), b.port);
    await peer.send(Buffer.from('\r\n\r\n'), b.port);
    await peer.flush(b.port);
    t.is(calls, 0);
    t.is(peer.received.length, 1);
    const res = parseSipMessage(peer.received[0].raw);
    t.true(
      res.ok &&
        res.message.kind === 'response' &&
        res.message.status === 400 &&
        /Content-Length/.test(res.message.reason),
    );
    // The flush's INVITE gets 501, a refusal logged too: not one of the datagrams under test.
    t.is(
      warnings.filter((w) => !w.includes('"callId":"flush-')).length,
      2,
      'both unparseable datagrams are logged, the keep-alive is not',
    );
  } finally {
    await peer.close();
    await b.close();
  }
});

test('a CANCEL for a pending non-INVITE transaction is answered 200 and does not stop it', async (t) => {
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  const called = deferred();
  const release = deferred();
  b.onRequest(async () => {
    called.resolve();
    await release.promise;
    return { status: 202 };
  });
  const peer = await udpPeer();
  try {
    const via = 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKcancelme;rport';
    await peer.send(rawMessage('cx', via), b.port);
    await called.promise;
    const cancel = rawMessage('cx', via)
      .toString('latin1')
      .replace('MESSAGE sip:', 'CANCEL sip:')
      .replace('CSeq: 1 MESSAGE', 'CSeq: 1 CANCEL');
    await peer.send(Buffer.from(cancel, 'latin1'), b.port);
    await peer.count(1);
    release.resolve();
    await peer.count(2);
    const statuses = peer.received.map(
      (r) => `${(r.message as SipResponse).status} ${getHeader(r.message!.headers, 'CSeq')}`,
    );
    t.deepEqual(
      statuses,
      ['200 1 CANCEL', '202 1 MESSAGE'],
      'the CANCEL is answered while the MESSAGE is pending, which still gets its answer',
    );
  } finally {
    await peer.close();
    await b.close();
  }
});
