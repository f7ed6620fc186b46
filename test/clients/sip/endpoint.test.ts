import test from 'ava';
import { createSipEndpoint } from '../../../clients/sip/endpoint.js';
import { parseNameAddrParams, parseVia } from '../../../protocols/sip/headers.js';
import { getHeader, getHeaders } from '../../../protocols/sip/message.js';
import { deferred, endpointPair, fastTimers, message, quiet, UTF8_BODY } from './fixtures.js';

for (const transport of ['udp', 'tcp'] as const) {
  test(`a MESSAGE over ${transport} is answered 202 with a To-tag and its UTF-8 body bytes intact`, async (t) => {
    const { a, b, seen, close } = await endpointPair();
    try {
      const res = await a.sendRequest(message(transport), { host: '127.0.0.1', port: b.port, transport });
      t.is(res.status, 202);
      t.is(res.reason, 'Accepted');
      t.truthy(parseNameAddrParams(getHeader(res.headers, 'To')!)?.params.tag);
      t.is(getHeader(res.headers, 'Call-ID'), `call-${transport}`);
      t.is(seen.length, 1);
      t.true(seen[0].req.body.equals(UTF8_BODY));
      t.is(Number(getHeader(seen[0].req.headers, 'Content-Length')), UTF8_BODY.length);
      t.is(seen[0].transport, transport);
      t.is(seen[0].remote.host, '127.0.0.1');
      const via = parseVia(getHeader(seen[0].req.headers, 'Via')!);
      t.like(via, { transport: transport.toUpperCase(), host: '127.0.0.1', port: a.port });
      t.true(via!.params.branch.startsWith('z9hG4bK'));
      t.true('rport' in via!.params);
      t.is(getHeader(seen[0].req.headers, 'Max-Forwards'), '70');
    } finally {
      await close();
    }
  });
}

test('UDP and TCP listen on the same port number, also when it is chosen by the OS', async (t) => {
  const e = await createSipEndpoint({ host: '127.0.0.1', port: 0, log: quiet });
  try {
    t.true(e.port > 0);
    const { a, close } = await endpointPair();
    e.onRequest(() => ({ status: 200 }));
    t.is((await a.sendRequest(message('u'), { host: '127.0.0.1', port: e.port, transport: 'udp' })).status, 200);
    t.is((await a.sendRequest(message('t'), { host: '127.0.0.1', port: e.port, transport: 'tcp' })).status, 200);
    await close();
  } finally {
    await e.close();
  }
});

test("the handler's status, reason, headers and body make the response; the caller's Max-Forwards is kept", async (t) => {
  const { a, b, close } = await endpointPair();
  b.onRequest(() => ({
    status: 480,
    reason: 'Temporarily Unavailable (try later)',
    headers: [{ name: 'Retry-After', value: '30' }],
    body: Buffer.from('ö'),
  }));
  try {
    const req = message('h');
    req.headers.push({ name: 'Max-Forwards', value: '5' });
    const res = await a.sendRequest(req, { host: '127.0.0.1', port: b.port, transport: 'tcp' });
    t.is(res.status, 480);
    t.is(res.reason, 'Temporarily Unavailable (try later)');
    t.is(getHeader(res.headers, 'Retry-After'), '30');
    t.is(res.body.toString('utf8'), 'ö');
  } finally {
    await close();
  }
});

test('a throwing handler gives 500, a missing handler 501, and a handler answering no final status 500', async (t) => {
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: fastTimers, log: quiet });
  const dest = { host: '127.0.0.1', port: b.port, transport: 'udp' as const };
  try {
    t.is((await a.sendRequest(message('none'), dest)).status, 501);
    b.onRequest(() => {
      throw new Error('boom');
    });
    t.is((await a.sendRequest(message('throw'), dest)).status, 500);
    b.onRequest(async () => ({ status: 180 }));
    t.is((await a.sendRequest(message('1xx'), dest)).status, 500);
    b.onRequest(() => ({ status: 200, headers: [{ name: 'X-Evil', value: 'a\r\nVia: x' }] }));
    t.is(
      (await a.sendRequest(message('inject'), dest)).status,
      500,
      'unwritable handler headers become 500, not a crash',
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('INVITE is answered 501 without reaching the handler; CANCEL of nothing is 481', async (t) => {
  const { a, b, seen, close } = await endpointPair();
  try {
    const invite = {
      ...message('inv'),
      method: 'INVITE',
      headers: message('inv').headers.map((h) => (h.name === 'CSeq' ? { name: 'CSeq', value: '1 INVITE' } : h)),
    };
    t.is((await a.sendRequest(invite, { host: '127.0.0.1', port: b.port, transport: 'udp' })).status, 501);
    const cancel = {
      ...message('c'),
      method: 'CANCEL',
      body: Buffer.alloc(0),
      headers: message('c').headers.map((h) => (h.name === 'CSeq' ? { name: 'CSeq', value: '1 CANCEL' } : h)),
    };
    t.is((await a.sendRequest(cancel, { host: '127.0.0.1', port: b.port, transport: 'udp' })).status, 481);
    t.is(seen.length, 0);
  } finally {
    await close();
  }
});

test('a request missing mandatory headers or with a CSeq for another method is answered 400', async (t) => {
  const { a, b, seen, clock, close } = await endpointPair();
  try {
    const noCallId = message('bad');
    noCallId.headers = noCallId.headers.filter((h) => h.name !== 'Call-ID');
    const res = await a.sendRequest(noCallId, { host: '127.0.0.1', port: b.port, transport: 'udp' });
    t.is(res.status, 400);
    t.regex(res.reason, /Call-ID/);
    const wrongCseq = message('cseq');
    wrongCseq.headers = wrongCseq.headers.map((h) => (h.name === 'CSeq' ? { name: 'CSeq', value: '1 OPTIONS' } : h));
    const tcp = { host: '127.0.0.1', port: b.port, transport: 'tcp' as const };
    const wrong = a.sendRequest({ ...wrongCseq, branch: 'z9hG4bKwrong-cseq' }, tcp);
    // b's 400 (CSeq 1 OPTIONS) comes back on the connection before its answer to a CANCEL sent after it.
    const cancel = {
      ...message('c'),
      method: 'CANCEL',
      body: Buffer.alloc(0),
      headers: message('c').headers.map((h) => (h.name === 'CSeq' ? { name: 'CSeq', value: '1 CANCEL' } : h)),
    };
    t.is((await a.sendRequest(cancel, tcp)).status, 481);
    clock.advance(64 * fastTimers.t1);
    t.is((await wrong).status, 408, 'a response for another method does not match the transaction (RFC 3261 17.1.3)');
    t.is(seen.length, 0);
  } finally {
    await close();
  }
});

test('the same branch while a transaction is pending yields its one outcome; a bad branch is refused', async (t) => {
  const { a, b, seen, close } = await endpointPair();
  try {
    const dest = { host: '127.0.0.1', port: b.port, transport: 'udp' as const };
    const req = { ...message('dup'), branch: 'z9hG4bKsame-branch' };
    const [r1, r2] = await Promise.all([a.sendRequest(req, dest), a.sendRequest(req, dest)]);
    t.is(r1, r2);
    t.is(seen.length, 1);
    await t.throwsAsync(a.sendRequest({ ...req, branch: 'no-cookie' }, dest), { instanceOf: TypeError });
  } finally {
    await close();
  }
});

test('close() resolves pending requests with 503 and later ones too', async (t) => {
  const { a, b, close } = await endpointPair();
  const reached = deferred();
  b.onRequest(() => {
    reached.resolve();
    return new Promise(() => {});
  });
  const pending = a.sendRequest(message('p'), { host: '127.0.0.1', port: b.port, transport: 'tcp' });
  await reached.promise;
  await close();
  const res = await pending;
  t.is(res.status, 503);
  t.regex(res.reason, /closed/);
  t.is((await a.sendRequest(message('late'), { host: '127.0.0.1', port: b.port, transport: 'udp' })).status, 503);
  t.deepEqual(getHeaders(res.headers, 'Via'), []);
});

test('a reason phrase quoting refused input keeps its status: control characters are replaced (RFC 3261 25.1)', async (t) => {
  const { a, b, close } = await endpointPair();
  b.onRequest(() => ({ status: 400, reason: "Bad Request (malformed line '\r7Rb\u0000')" }));
  try {
    const res = await a.sendRequest(message('r'), { host: '127.0.0.1', port: b.port, transport: 'udp' });
    t.is(res.status, 400);
    t.is(res.reason, "Bad Request (malformed line '?7Rb?')");
  } finally {
    await close();
  }
});
