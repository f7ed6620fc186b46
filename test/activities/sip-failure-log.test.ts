/**
 * A failed outgoing MESSAGE is logged with the transport it really went over. With
 * `sip.transport: udp` a request over 1300 bytes goes over TCP (RFC 3261 18.1.1): the endpoint
 * reports that, and `SIP MESSAGE failed` must say `tcp`, or an operator looks for it in the wrong
 * trace. Real endpoints on loopback, the real activity in Temporal's activity environment, the
 * real pino logger.
 */
import test from 'ava';
import { Writable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createSipActivities, type CpmMessageInput } from '../../activities/sip.js';
import { createSipEndpoint } from '../../clients/sip/endpoint.js';
import type { SipAttemptResult } from '../../model/delivery.js';
import { createLogger, temporalLogger } from '../../worker/logger.js';

interface Line {
  msg: string;
  [k: string]: unknown;
}

async function rig() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  const logger = temporalLogger(createLogger('info', { destination: stream, showNumbers: true }));
  const timers = { t1: 50, t2: 200 };
  // The core refuses every MESSAGE (480, a transient refusal) and notes the transport it came over.
  const core = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers });
  const seen: string[] = [];
  core.onRequest((_req, info) => {
    seen.push(info.transport);
    return { status: 480, reason: 'Temporarily Unavailable (not registered)' };
  });
  const iwf = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers });
  const acts = createSipActivities({
    endpoint: iwf,
    mediaPublicUrl: () => 'http://127.0.0.1:8090',
    domain: 'ims.iwf.example.net',
    outboundProxy: { host: '127.0.0.1', port: core.port },
    transport: 'udp',
  });
  const env = new MockActivityEnvironment(undefined, { logger });
  return {
    iwf,
    core,
    seen,
    failures: () => lines.filter((l) => l.msg === 'SIP MESSAGE failed'),
    send: (text: string, id: string) =>
      env.run<[CpmMessageInput], SipAttemptResult, (a: CpmMessageInput) => Promise<SipAttemptResult>>(
        (a) => acts.sendCpmMessage(a),
        input(text, id),
      ),
    close: async () => (await iwf.close(), await core.close()),
  };
}

function input(text: string, id: string): CpmMessageInput {
  return {
    workflowId: `mms-to-cpm/system-user@mms.example/${id}`,
    attempt: 1,
    recipientUri: 'sip:+12025550199@ims.iwf.example.net;user=phone',
    senderUri: 'sip:+4915112345678@ims.iwf.example.net;user=phone',
    disposition: ['positive-delivery'],
    dateTime: '2025-03-04T10:15:02.000Z',
    content: { text, files: [] },
    hideSender: false,
  };
}

test('the endpoint reports the transport used: udp as asked, tcp when the size moved it', async (t) => {
  const r = await rig();
  t.teardown(r.close);
  const dest = { host: '127.0.0.1', port: r.core.port, transport: 'udp' as const };
  const headers = (id: string) => [
    { name: 'From', value: `<sip:iwf@127.0.0.1>;tag=${id}` },
    { name: 'To', value: '<sip:core@127.0.0.1>' },
    { name: 'Call-ID', value: `size-${id}` },
    { name: 'CSeq', value: '1 MESSAGE' },
  ];
  const small = await r.iwf.sendRequest({ method: 'MESSAGE', uri: 'sip:core@127.0.0.1', headers: headers('s') }, dest);
  const big = await r.iwf.sendRequest(
    { method: 'MESSAGE', uri: 'sip:core@127.0.0.1', headers: headers('b'), body: Buffer.alloc(1400, 'x') },
    dest,
  );
  t.deepEqual([small.status, small.transport], [480, 'udp']);
  t.deepEqual([big.status, big.transport], [480, 'tcp']);
  t.deepEqual(r.seen, ['udp', 'tcp'], 'what the core saw');
});

test('SIP MESSAGE failed names the transport the request went over, not the configured one', async (t) => {
  const r = await rig();
  t.teardown(r.close);

  const short = await r.send('hello', 'short');
  t.like(short, { sipStatus: 480, outcome: 'transient' });
  let text = '';
  while (Buffer.byteLength(text) < 2000) text += 'Long MMS text — Ελληνικά, русский, 日本語 🎉. ';
  const long = await r.send(text, 'long');
  t.like(long, { sipStatus: 480, outcome: 'transient' });
  t.deepEqual(r.seen, ['udp', 'tcp']);

  const failures = r.failures();
  t.is(failures.length, 2);
  const fields = failures.map(({ method, transport, status, destination }) => ({
    method,
    transport,
    status,
    destination,
  }));
  const destination = `127.0.0.1:${r.core.port}`;
  t.deepEqual(fields, [
    { method: 'MESSAGE', transport: 'udp', status: 480, destination },
    { method: 'MESSAGE', transport: 'tcp', status: 480, destination },
  ]);
  t.is(failures[1].callId, long.callId);
  t.is(failures[1].cseq, '1 MESSAGE');
  t.is(failures[1].reason, 'Temporarily Unavailable (not registered)');
});
