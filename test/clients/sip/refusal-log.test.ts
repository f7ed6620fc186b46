/**
 * Traceable refusals: every final answer >= 300 our server transactions write is logged once, with
 * what finds the request in a trace (method, Call-ID, CSeq, source ip:port, transport, status,
 * reason; RFC 3261 8.1.1.4, 8.1.1.5), whether the endpoint made it (501 to INVITE, 400 for a bad
 * CSeq or an unparseable request, 500 from a failed handler) or the handler did. Retransmissions
 * are absorbed, so not logged again; successes are not logged. The log is the real pino logger.
 */
import test from 'ava';
import dgram from 'node:dgram';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { staticCpmDirectory } from '../../../clients/cpm-directory.js';
import { createSipEndpoint, type SipEndpoint } from '../../../clients/sip/endpoint.js';
import type { Dispatcher } from '../../../ingress/dispatch.js';
import { attachSipIngress } from '../../../ingress/sip-server.js';
import { createLogger } from '../../../worker/logger.js';

interface Line {
  msg: string;
  [k: string]: unknown;
}

/** An endpoint on 127.0.0.1 logging through pino into `lines`. */
async function logged() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  const log = createLogger('info', { destination: stream, showNumbers: true }).child({ src: 'sip' });
  const iwf = await createSipEndpoint({ host: '127.0.0.1', port: 0, log, timers: { t1: 50, t2: 200 } });
  return { iwf, log, lines, refusals: () => lines.filter((l) => l.msg === 'SIP request refused') };
}

function request(o: {
  method?: string;
  callId: string;
  cseq?: string;
  port: number;
  branch: string;
  extra?: string[];
}) {
  const method = o.method ?? 'MESSAGE';
  return Buffer.from(
    [
      `${method} sip:iwf@127.0.0.1 SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${o.port};branch=${o.branch};rport`,
      'Max-Forwards: 70',
      'From: <sip:+12025550199@ims.example.net;user=phone>;tag=f1',
      'To: <sip:iwf@127.0.0.1>',
      `Call-ID: ${o.callId}`,
      `CSeq: ${o.cseq ?? `1 ${method}`}`,
      ...(o.extra ?? []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** A UDP socket that sends raw requests to `iwf` and collects the status lines it gets back. */
async function udpPeer(iwf: SipEndpoint) {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const answers: string[] = [];
  const waiters: Array<() => void> = [];
  sock.on('message', (m) => {
    answers.push(m.toString('utf8').split('\r\n')[0]);
    waiters.shift()?.();
  });
  return {
    port: sock.address().port,
    answers,
    /** Sends and waits for the next answer. */
    exchange: (b: Buffer) =>
      new Promise<string>((resolve) => {
        waiters.push(() => resolve(answers.at(-1)!));
        sock.send(b, iwf.port, '127.0.0.1');
      }),
    close: () => sock.close(),
  };
}

test('refusals the endpoint makes itself are logged once each with the fields that trace them', async (t) => {
  const { iwf, refusals, lines } = await logged();
  iwf.onRequest(() => {
    throw new Error('store exploded');
  });
  const peer = await udpPeer(iwf);
  t.teardown(async () => (peer.close(), await iwf.close()));
  const remote = `127.0.0.1:${peer.port}`;

  t.is(
    await peer.exchange(request({ method: 'INVITE', callId: 'inv-1', port: peer.port, branch: 'z9hG4bK-inv1' })),
    'SIP/2.0 501 Not Implemented (INVITE)',
  );
  t.is(
    await peer.exchange(request({ callId: 'cseq-1', cseq: '3 OPTIONS', port: peer.port, branch: 'z9hG4bK-cs1' })),
    'SIP/2.0 400 Bad Request (bad CSeq)',
  );
  const unparseable = request({
    callId: 'parse-1',
    cseq: '7 MESSAGE',
    port: peer.port,
    branch: 'z9hG4bK-p1',
    extra: ['this line has no colon'],
  });
  t.is(await peer.exchange(unparseable), "SIP/2.0 400 Bad Request (malformed header line 'this line has no colon')");
  const failing = request({
    callId: 'fail-1',
    port: peer.port,
    branch: 'z9hG4bK-f1',
    extra: ['Content-Type: text/plain', 'Content-Encoding: identity'],
  });
  t.is(await peer.exchange(failing), 'SIP/2.0 500 Server Internal Error');
  // A retransmission gets the same answer again but is the same refusal: not logged again.
  t.is(await peer.exchange(failing), 'SIP/2.0 500 Server Internal Error');

  const common = { level: 40, src: 'sip', remote, transport: 'udp' };
  t.deepEqual(
    refusals().map(({ method, callId, cseq, status, reason }) => ({ method, callId, cseq, status, reason })),
    [
      { method: 'INVITE', callId: 'inv-1', cseq: '1 INVITE', status: 501, reason: 'Not Implemented (INVITE)' },
      { method: 'MESSAGE', callId: 'cseq-1', cseq: '3 OPTIONS', status: 400, reason: 'Bad Request (bad CSeq)' },
      {
        method: 'MESSAGE',
        callId: 'parse-1',
        cseq: '7 MESSAGE',
        status: 400,
        reason: "Bad Request (malformed header line 'this line has no colon')",
      },
      { method: 'MESSAGE', callId: 'fail-1', cseq: '1 MESSAGE', status: 500, reason: 'Server Internal Error' },
    ],
  );
  for (const r of refusals()) t.like(r, common);
  t.like(refusals()[3], { contentType: 'text/plain', contentEncoding: 'identity' });
  // The 500's cause is logged beside it, with the Call-ID that ties the two together.
  t.like(
    lines.find((l) => l.msg === 'SIP request handler failed'),
    { callId: 'fail-1', error: 'store exploded', method: 'MESSAGE' },
  );
  // The answered unparseable request is its refusal line only, not a second "unparseable" line.
  t.is(lines.filter((l) => l.msg === 'unparseable SIP message').length, 0);
});

test('a success is not logged; a refusal over TCP says tcp and the connection source', async (t) => {
  const { iwf, refusals } = await logged();
  iwf.onRequest((req) =>
    req.method === 'OPTIONS' ? { status: 200 } : { status: 488, reason: 'Not Acceptable Here (no CPIM)' },
  );
  t.teardown(() => iwf.close());
  const sock = connect({ host: '127.0.0.1', port: iwf.port });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  t.teardown(() => sock.destroy());
  const local = sock.localPort!;
  const answers: string[] = [];
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) break;
      answers.push(buf.slice(0, buf.indexOf('\r\n')));
      buf = buf.slice(end + 4);
    }
  });
  const tcp = (b: Buffer) => b.toString('utf8').replace('SIP/2.0/UDP', 'SIP/2.0/TCP');
  sock.write(tcp(request({ method: 'OPTIONS', callId: 'ok-1', port: local, branch: 'z9hG4bK-ok1' })));
  sock.write(tcp(request({ callId: 'tcp-1', port: local, branch: 'z9hG4bK-t1' })));
  const until = Date.now() + 5000;
  while (answers.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(answers, ['SIP/2.0 200 OK', 'SIP/2.0 488 Not Acceptable Here (no CPIM)']);
  t.is(refusals().length, 1);
  t.like(refusals()[0], {
    method: 'MESSAGE',
    callId: 'tcp-1',
    cseq: '1 MESSAGE',
    remote: `127.0.0.1:${local}`,
    transport: 'tcp',
    status: 488,
    reason: 'Not Acceptable Here (no CPIM)',
  });
});

test('an ingress refusal is one line, from the server transaction, naming the encoding', async (t) => {
  const { iwf, log, refusals, lines } = await logged();
  const unused = () => Promise.reject(new Error('not reached by these requests'));
  const dispatcher: Dispatcher = {
    startMmsToCpm: unused,
    startCpmToMms: unused,
    signalMm4: unused,
    signalImdn: unused,
  };
  // The ingress logs through the same logger: a second refusal line from it would show here.
  attachSipIngress(iwf, {
    trusted: ['127.0.0.1'],
    directory: staticCpmDirectory([]),
    isf: { maxMessageBytes: 10_000, maxFileBytes: 1e6, contentTypes: ['text/plain'], interworkCpmUsers: false },
    dispatcher,
    mm4Ack: { timeoutMs: 1000, maxAttempts: 1 },
    reportWaitMs: 1000,
    log: log.child({ src: 'sip-ingress' }),
  });
  const peer = await udpPeer(iwf);
  t.teardown(async () => (peer.close(), await iwf.close()));
  const answer = await peer.exchange(
    request({
      callId: 'enc-1',
      port: peer.port,
      branch: 'z9hG4bK-e1',
      extra: ['Content-Type: message/cpim', 'Content-Encoding: x-foo'],
    }),
  );
  t.regex(answer, /^SIP\/2\.0 415 .*unsupported Content-Encoding x-foo/);
  t.is(refusals().length, 1, JSON.stringify(lines));
  t.like(refusals()[0], {
    src: 'sip',
    method: 'MESSAGE',
    callId: 'enc-1',
    cseq: '1 MESSAGE',
    remote: `127.0.0.1:${peer.port}`,
    transport: 'udp',
    contentType: 'message/cpim',
    contentEncoding: 'x-foo',
    status: 415,
  });
  t.regex(String(refusals()[0].reason), /unsupported Content-Encoding x-foo/);
});
