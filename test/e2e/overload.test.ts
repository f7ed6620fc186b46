/**
 * Push-back under overload, all real: a Temporal dev server, the IWF (and a second IWF process on
 * the same task queue), a fake MMSC and a SIP peer at the outbound proxy that holds every MESSAGE
 * unanswered until the test releases it, so MMS -> CPM deliveries stay in `routing` (accepted,
 * not yet routed). With ingress.maxInFlight 3 the next MM4_forward.REQ gets 451 4.3.2 and a new
 * SIP MESSAGE 503 + Retry-After, on both processes; IMDNs for the held deliveries are still taken;
 * once the peer answers, new deliveries are accepted again. Connection limits: SMTP per peer and
 * in all (421 4.3.2 at connect), SIP TCP per source (closed at once).
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { createSipEndpoint, type SipEndpoint } from '../../clients/sip/endpoint.js';
import { buildImdnCpim, cpimHeader, IMDN_NS, parseCpim, serializeCpim } from '../../protocols/cpim/cpim.js';
import { getHeader } from '../../protocols/sip/message.js';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import { forwardReq, sendMm4, startFakeMmsc } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { startSipPeer } from '../helpers/sip-peer.js';

let release!: () => void;
const held = new Promise<void>((r) => (release = r));

let env: Awaited<ReturnType<typeof setup>>;
async function setup() {
  const temporal = await startTestTemporal();
  const mmsc = await startFakeMmsc();
  // The CPM side answers nothing until released: its MESSAGEs stay in their SIP transactions.
  const peer = await startSipPeer(async () => {
    await held;
    return 202;
  });
  const base = {
    temporalAddress: temporal.address,
    mmscPort: mmsc.port,
    outboundProxyPort: peer.port,
    // Both processes must read each other's payloads: no per-process test key.
    encryption: { enabled: false },
    peerKeys: { maxConnections: 2 },
    mm4Keys: { maxConnections: 3 },
    // T1 1 s: Timer F (64*T1) is far beyond the test, so a held MESSAGE stays held until released.
    sipKeys: { maxTcpConnectionsPerSource: 2, timers: { t1: '1s', t2: '4s' } },
    extraPeers: [
      {
        name: 'operator-b',
        domains: ['mms.mnc002.mcc001.gprs'],
        smtp: `127.0.0.1:${mmsc.port}`,
        allow: ['127.0.0.2'],
        numbers: ['+33'],
        maxConnections: 5,
      },
    ],
  };
  const taskQueue = `iwf-overload-${randomUUID()}`;
  // Two processes of one deployment: one task queue, one media store (either worker runs any activity).
  const mediaDir = mkdtempSync(join(tmpdir(), 'iwf-overload-media-'));
  const configure = (tree: Record<string, unknown>) => {
    tree.ingress = { maxInFlight: 3, retryAfter: '7s' };
    (tree.temporal as Record<string, unknown>).taskQueue = taskQueue;
    (tree.media as Record<string, unknown>).dir = mediaDir;
  };
  const iwf = await startTestIwf({ ...base, configure });
  const other = await startTestIwf({ ...base, configure });
  mmsc.answerReports(iwf.mm4.port);
  const core: SipEndpoint = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
  return { temporal, mmsc, peer, iwf, other, core };
}

test.before(async () => {
  env = await setup();
});
test.after.always(async () => {
  release?.();
  await env?.other.stop();
  await env?.iwf.stop();
  await env?.core.close();
  await env?.peer.close();
  await env?.mmsc.close();
  await env?.temporal.stop();
});

/** Opens an SMTP connection and reads its first reply; the socket stays open unless the server closes it. */
async function smtpConnect(port: number, localAddress = '127.0.0.1') {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.setEncoding('latin1');
  socket.on('error', () => {});
  const closed = new Promise<true>((r) => socket.once('close', () => r(true)));
  const greeting = await new Promise<string>((resolve) => {
    let buf = '';
    socket.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i).trimEnd());
    });
    socket.once('close', () => resolve(buf.trimEnd() || '(closed without a reply)'));
  });
  return { greeting, socket, closed };
}

/** Opens a SIP TCP connection and sends OPTIONS on it: the status line, or `closed` if the IWF dropped it. */
async function sipTcpOptions(port: number, localAddress: string) {
  const socket: Socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.setEncoding('latin1');
  socket.on('error', () => {});
  const answer = new Promise<string>((resolve) => {
    let buf = '';
    socket.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\r\n\r\n')) resolve(buf.split('\r\n')[0]);
    });
    socket.once('close', () => resolve('closed'));
  });
  const branch = `z9hG4bK-${randomUUID()}`;
  socket.write(
    [
      `OPTIONS sip:iwf@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/TCP ${localAddress}:5999;branch=${branch}`,
      'Max-Forwards: 70',
      `From: <sip:probe@${localAddress}>;tag=p`,
      `To: <sip:iwf@127.0.0.1>`,
      `Call-ID: ${branch}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  return { status: await answer, socket };
}

test.serial('the (n+1)th SMTP connection of a peer, and the one over mm4.maxConnections, get 421 4.3.2', async (t) => {
  const port = env.iwf.mm4.port;
  const a1 = await smtpConnect(port);
  const a2 = await smtpConnect(port);
  t.regex(a1.greeting, /^220 /);
  t.regex(a2.greeting, /^220 /);
  const a3 = await smtpConnect(port);
  t.is(a3.greeting, '421 4.3.2 Too many connections, try later', 'operator-a has maxConnections 2');
  t.true(await a3.closed, 'RFC 5321 3.8: closed after the 421');

  const b1 = await smtpConnect(port, '127.0.0.2');
  t.regex(b1.greeting, /^220 /, 'operator-b has its own limit (5)');
  const b2 = await smtpConnect(port, '127.0.0.2');
  t.is(b2.greeting, '421 4.3.2 Too many connections, try later', 'mm4.maxConnections 3 reached in all');

  // A connection that goes frees its place.
  a1.socket.destroy();
  const again = await waitFor('a connection from operator-a accepted again', async () => {
    const c = await smtpConnect(port);
    if (c.greeting.startsWith('220')) return c;
    c.socket.destroy();
    return undefined;
  });
  t.regex(again.greeting, /^220 /);
  for (const c of [a2, b1, again]) c.socket.destroy();
});

test.serial('SIP TCP connections are bounded per source address', async (t) => {
  const port = env.iwf.sip.port;
  const c1 = await sipTcpOptions(port, '127.0.0.1');
  const c2 = await sipTcpOptions(port, '127.0.0.1');
  t.regex(c1.status, /^SIP\/2\.0 200/);
  t.regex(c2.status, /^SIP\/2\.0 200/);
  const c3 = await sipTcpOptions(port, '127.0.0.1');
  t.is(c3.status, 'closed', 'sip.maxTcpConnectionsPerSource 2: the third is dropped unanswered');
  const other = await sipTcpOptions(port, '127.0.0.2');
  t.regex(other.status, /^SIP\/2\.0 403/, 'another source has its own count (and is untrusted: 403)');
  c1.socket.destroy();
  const again = await waitFor('a SIP connection from 127.0.0.1 accepted again', async () => {
    const c = await sipTcpOptions(port, '127.0.0.1');
    if (c.status !== 'closed') return c;
    return undefined;
  });
  t.regex(again.status, /^SIP\/2\.0 200/);
  for (const c of [c2, other, again]) c.socket.destroy();
});

const rcpt = (n: string) => [`+${n}/TYPE=PLMN@mms.iwf.example.net`];
const mmsTo = (port: number, messageId: string, n: string) =>
  sendMm4(port, forwardReq({ messageId, to: rcpt(n) }), {
    from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
    to: rcpt(n),
  });

let calls = 0;
/** A pager-mode MESSAGE from the core for an MMS recipient (+49: operator-a). */
function cpmMessage(id: string, port = env.iwf.sip.port) {
  const uri = 'tel:+4915112345678';
  const body = Buffer.from(
    [
      'From: <sip:anonymous@anonymous.invalid>',
      `To: <${uri}>`,
      'DateTime: 2025-03-04T10:15:02.000Z',
      'NS: imdn <urn:ietf:params:imdn>',
      `imdn.Message-ID: ${id}`,
      '',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Hallo aus RCS',
    ].join('\r\n'),
  );
  return env.core.sendRequest(
    {
      method: 'MESSAGE',
      uri,
      headers: [
        { name: 'From', value: '<tel:+12025550101>;tag=t1' },
        { name: 'To', value: `<${uri}>` },
        { name: 'Call-ID', value: `overload-${++calls}-${id}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: '<sip:+12025550101@ims.example.net;user=phone>, <tel:+12025550101>' },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body,
    },
    { host: '127.0.0.1', port, transport: 'udp' },
  );
}

/** The CPM recipient's delivered IMDN for the MESSAGE it got (held or not), routed by its Message-ID. */
function imdnFor(number: string) {
  const uri = `sip:+${number}@ims.iwf.example.net;user=phone`;
  const seen = env.peer.seen.find((s) => s.req.method === 'MESSAGE' && s.req.uri === uri);
  const c = parseCpim(seen!.req.body);
  if (!c.ok) throw new Error(c.error);
  const body = serializeCpim(
    buildImdnCpim({
      from: uri,
      to: 'sip:+12025550101@ims.iwf.example.net;user=phone',
      dateTime: new Date(),
      imdnMessageId: `imdn-${number}`,
      notification: {
        messageId: cpimHeader(c.message, 'Message-ID', IMDN_NS)!,
        datetime: '2025-03-04T10:15:02.000Z',
        recipientUri: uri,
        kind: 'delivery',
        status: 'delivered',
      },
    }),
  );
  return env.core.sendRequest(
    {
      method: 'MESSAGE',
      uri: 'sip:+12025550101@ims.iwf.example.net;user=phone',
      headers: [
        { name: 'From', value: `<${uri}>;tag=x` },
        { name: 'To', value: '<sip:+12025550101@ims.iwf.example.net;user=phone>' },
        { name: 'Call-ID', value: `imdn-${number}-${++calls}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: `<${uri}>` },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body,
    },
    { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'udp' },
  );
}

test.serial(
  'over ingress.maxInFlight new deliveries are pushed back on both processes; after the drain they are taken',
  async (t) => {
    const port = env.iwf.mm4.port;
    const numbers = ['12025550111', '12025550112', '12025550113'];
    for (const [i, n] of numbers.entries()) {
      const r = await mmsTo(port, `M-over-${i + 1}`, n);
      t.true(r.ok, `delivery ${i + 1} of 3 accepted: ${JSON.stringify(r)}`);
    }
    await waitFor('the 3 MESSAGEs held at the CPM side', () => env.peer.seen.length >= 3 || undefined);
    // Temporal's own count (visibility, IwfState) holds the backlog, not only this process's memory.
    await waitFor('the gauge to count 3 unrouted deliveries in Temporal', () =>
      env.iwf.admission.snapshot().counted === 3 ? true : undefined,
    );

    const fourth = await mmsTo(port, 'M-over-4', '12025550114');
    t.false(fourth.ok);
    if (!fourth.ok) {
      t.is(fourth.code, 451);
      t.regex(fourth.response, /^451 4\.3\.2 System not accepting network messages/);
    }

    // The other process started none of them, and refuses as well: its count is Temporal's.
    await waitFor('the second process to count them', () =>
      env.other.admission.snapshot().counted === 3 ? true : undefined,
    );
    t.is(env.other.admission.snapshot().recent, 0);
    const viaOther = await mmsTo(env.other.mm4.port, 'M-over-5', '12025550115');
    t.false(viaOther.ok);
    if (!viaOther.ok) t.is(viaOther.code, 451);

    const pushed = await cpmMessage('cpm-over-1');
    t.is(pushed.status, 503);
    t.is(getHeader(pushed.headers, 'Retry-After'), '7', 'ingress.retryAfter, RFC 3261 20.33');

    // A report about a held delivery is still taken: it helps deliveries finish, it adds none.
    const imdn = await imdnFor(numbers[0]);
    t.is(imdn.status, 202);

    release();
    await waitFor('the held deliveries routed', () => (env.iwf.admission.snapshot().inFlight === 0 ? true : undefined));
    const retried = await mmsTo(port, 'M-over-4', '12025550114');
    t.true(retried.ok, `the MMSC's retry is accepted: ${JSON.stringify(retried)}`);
    const taken = await cpmMessage('cpm-over-1');
    t.is(taken.status, 202, "the core's retry is accepted");
  },
);
