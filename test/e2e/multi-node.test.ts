/**
 * Several IWF nodes on one Temporal cluster: real processes (`npm start`'s worker/main.ts) on their
 * own loopback addresses, one task queue, the S3 media store (SeaweedFS) and the PostgreSQL audit
 * store shared. An MMS accepted by one node is delivered by whichever worker takes it and its file
 * downloads from the other node; a node SIGKILLed while its SIP MESSAGE is in flight leaves the
 * delivery to the other, which sends the same request again and nothing twice; a CPM message
 * accepted by the second node reaches the MMSC; an ingress-only node plus a worker-only node
 * deliver end to end.
 */
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import nodemailer from 'nodemailer';
import pg from 'pg';
import sharp from 'sharp';
import { createSipEndpoint, type SipEndpoint } from '../../clients/sip/endpoint.js';
import { cpimHeader, IMDN_NS, parseCpim } from '../../protocols/cpim/cpim.js';
import { FTHTTP_CONTENT_TYPE, parseFtHttp } from '../../protocols/cpim/fthttp.js';
import { getHeader } from '../../protocols/sip/message.js';
import { mmsToCpmWorkflowId } from '../../workflows/messages.js';
import { ConfigError, loadConfig } from '../../worker/config.js';
import type { DevServer } from '../../worker/dev-server.js';
import { startTestTemporal, testConfigTree } from '../helpers/iwf.js';
import { startIwfProcess, type IwfProcessInfo } from '../helpers/iwf-process.js';
import { answerAddress, MMSC_SYSTEM, mmscRes, startFakeMmsc, type FakeMmsc } from '../helpers/mmsc.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { startSeaweedFs, type SeaweedFs } from '../helpers/seaweedfs.js';
import { startSipPeer } from '../helpers/sip-peer.js';
import { testWith, toolsAvailable } from '../helpers/tools.js';

const postgresUrl = process.env.IWF_TEST_POSTGRES_URL ?? '';
const ORIGINATOR = '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs';
const RECIPIENT = '+12025550199/TYPE=PLMN@mms.iwf.example.net';

interface Node {
  child: ChildProcess;
  info: IwfProcessInfo;
}

let env: {
  temporal: DevServer;
  sw: SeaweedFs;
  mmsc: FakeMmsc;
  peer: Awaited<ReturnType<typeof startSipPeer>>;
  /** The SIP peer's answer for each new request; a test may hold or change it. */
  answer: (n: number, via: string) => Promise<number> | number;
  core: SipEndpoint;
  connection: Connection;
  client: Client;
  db: pg.Pool;
  taskQueue: string;
  children: ChildProcess[];
  a: Node;
  b: Node;
};

/** One node's config file: every listener on `ip`, the shared task queue, S3 media and PostgreSQL audit. */
async function startNode(ip: string, o: { args?: string[]; env?: NodeJS.ProcessEnv; publicUrl?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `iwf-node-${ip}-`));
  const tree = testConfigTree({
    temporalAddress: env.temporal.address,
    mmscPort: env.mmsc.port,
    outboundProxyPort: env.peer.port,
    // The test's MMSC and SIP core send from 127.0.0.1; the nodes listen on other loopback addresses.
    allow: ['127.0.0.0/8'],
    trusted: ['127.0.0.0/8'],
    sipListen: `${ip}:0`,
  });
  const mediaPort = await freePort();
  const mediaUrl = `http://${ip}:${mediaPort}`;
  const t = tree as Record<string, Record<string, unknown>>;
  t.temporal.taskQueue = env.taskQueue;
  t.mm4.listen = `${ip}:0`;
  t.media = {
    ...t.media,
    listen: `${ip}:${mediaPort}`,
    publicUrl: o.publicUrl ?? mediaUrl,
    store: 's3',
    s3: env.sw.s3('multi-node/'),
  };
  t.audit = { store: 'postgres', postgresUrl };
  t.metrics = { listen: `${ip}:0` };
  const file = join(dir, 'iwf.json');
  // `info`: the "IWF running" line the helper waits for.
  writeFileSync(file, JSON.stringify({ ...tree, log: { level: 'info' }, dataDir: dir }));
  const started = await startIwfProcess(file, o);
  env.children.push(started.child);
  return { child: started.child, info: started.info, mediaUrl };
}

/** SMTP to an MM4 listener on any loopback address, from 127.0.0.1 (an allowed peer address). */
async function smtpTo(
  at: { host: string; port: number },
  raw: string | Buffer,
  envelope: { from: string; to: string[] },
) {
  const t = nodemailer.createTransport({
    host: at.host,
    port: at.port,
    secure: false,
    ignoreTLS: true,
    name: 'mmsc.test',
  });
  try {
    return (await t.sendMail({ envelope, raw })).response;
  } finally {
    t.close();
  }
}

function mmsWithImage(id: string, jpeg: Buffer, deliveryReport = false): string {
  return [
    `From: ${ORIGINATOR}`,
    `To: ${RECIPIENT}`,
    'Date: Tue, 04 Mar 2025 10:15:02 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    'X-Mms-3GPP-MMS-Version: 6.16.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    `X-Mms-Transaction-ID: "T-${id}"`,
    `X-Mms-Message-ID: "${id}"`,
    'X-Mms-Ack-Request: Yes',
    `X-Mms-Delivery-Report: ${deliveryReport ? 'Yes' : 'No'}`,
    `X-Mms-Originator-System: ${MMSC_SYSTEM}`,
    '',
    '--b1',
    'Content-Type: image/jpeg; name="harbour.jpg"',
    'Content-Transfer-Encoding: base64',
    '',
    jpeg.toString('base64').replace(/.{76}/g, '$&\r\n'),
    '--b1--',
    '',
  ].join('\r\n');
}

async function jpeg(seed: number): Promise<Buffer> {
  // A width of its own per seed, so each test's photo is told from the others' by its size.
  const width = 160 + 16 * seed;
  const pixels = Buffer.alloc(width * 120 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = ((i + seed) * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height: 120, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** The FT-over-HTTP descriptor of the delivery whose file is `size` bytes. */
function fileTransferOf(size: number) {
  for (const s of env.peer.seen) {
    const c = parseCpim(s.req.body);
    if (!c.ok || c.message.content.headers[0].value !== FTHTTP_CONTENT_TYPE) continue;
    const d = parseFtHttp(c.message.content.body.toString());
    if (d.ok && d.descriptor.file.size === size) return { descriptor: d.descriptor, seen: s };
  }
  return undefined;
}

const auditCount = async (workflowId: string) =>
  Number(
    (await env.db.query<{ n: string }>('SELECT count(*) AS n FROM iwf_audit WHERE workflow_id = $1', [workflowId]))
      .rows[0].n,
  );

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

test.before(async () => {
  // Without SeaweedFS or PostgreSQL the tests below are skipped (or fail under CI: testWith); so is the rig.
  if (!toolsAvailable('weed', 'postgres')) return;
  const temporal = await startTestTemporal();
  const sw = await startSeaweedFs();
  const mmsc = await startFakeMmsc();
  const partial = {
    temporal,
    sw,
    mmsc,
    answer: (() => 202) as (n: number, via: string) => Promise<number> | number,
    taskQueue: `iwf-multi-${randomUUID()}`,
    children: [] as ChildProcess[],
  };
  env = partial as typeof env;
  env.peer = await startSipPeer((req, n) => env.answer(n, getHeader(req.headers, 'Via') ?? ''));
  env.core = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
  env.core.onRequest(() => ({ status: 202 }));
  env.connection = await Connection.connect({ address: temporal.address });
  env.client = new Client({ connection: env.connection });
  env.db = new pg.Pool({ connectionString: postgresUrl, max: 2 });
  // Both nodes at once: each compiles its workflow bundle.
  const [a, b] = await Promise.all([startNode('127.0.0.2'), startNode('127.0.0.3')]);
  env.a = a;
  env.b = b;
});

test.after.always(async () => {
  await Promise.all((env?.children ?? []).map(stopChild));
  await env?.db?.end();
  await env?.connection?.close();
  await env?.core?.close();
  await env?.peer?.close();
  await env?.mmsc?.close();
  await env?.sw?.stop();
  await env?.temporal?.stop();
});

const serial = testWith('weed', 'postgres').serial;

test('role: --role wins over IWF_ROLE, a bad value names the key, a worker needs media.publicUrl', (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'iwf-role-')), 'iwf.json');
  writeFileSync(file, JSON.stringify({ media: { publicUrl: 'http://127.0.0.4:8090' } }));
  t.is(loadConfig(['--config', file], {}).role, 'all');
  t.is(loadConfig(['--config', file], { IWF_ROLE: 'worker' }).role, 'worker');
  t.is(loadConfig(['--config', file, '--role', 'ingress'], { IWF_ROLE: 'worker' }).role, 'ingress');
  t.throws(() => loadConfig(['--config', file, '--role', 'both'], {}), { instanceOf: ConfigError, message: /role/ });
  t.throws(() => loadConfig(['--config', file, '--role'], {}), { instanceOf: ConfigError, message: /--role/ });
  t.throws(() => loadConfig(['--role', 'worker'], {}), { instanceOf: ConfigError, message: /media\.publicUrl/ });
  t.is(loadConfig(['--role', 'ingress'], {}).role, 'ingress', 'an ingress node serves media itself');
});

serial('an MMS photo accepted by node A is delivered and its file downloads from node B', async (t) => {
  t.timeout(120_000);
  const id = `M-a-${randomUUID().slice(0, 8)}`;
  const image = await jpeg(1);
  const reply = await smtpTo(env.a.info.mm4!, mmsWithImage(id, image), { from: ORIGINATOR, to: [RECIPIENT] });
  t.regex(reply, /^250 /);
  await env.client.workflow.getHandle(mmsToCpmWorkflowId(MMSC_SYSTEM, id)).result();
  await waitFor('.RES', () => env.mmsc.received.find((r) => r.transactionId === `T-${id}`));
  const ft = fileTransferOf(image.length);
  if (!ft) return t.fail('no FT-over-HTTP MESSAGE for the photo');
  const url = new URL(ft.descriptor.file.url);
  // Whichever worker ran it, the file is in the shared bucket: node B's media server serves it.
  const viaB = `${env.b.info.media!.host}:${env.b.info.media!.port}`;
  t.true(url.host === viaB || url.host === `${env.a.info.media!.host}:${env.a.info.media!.port}`, url.host);
  url.host = viaB;
  const got = await fetch(url);
  t.is(got.status, 200);
  t.deepEqual(Buffer.from(await got.arrayBuffer()), image);
});

serial('a CPM message accepted by node B reaches the MMSC, whose .RES node B takes', async (t) => {
  t.timeout(120_000);
  const id = `cpm-${randomUUID().slice(0, 8)}`;
  const uri = 'tel:+4915112345678';
  const cpim = [
    'From: <sip:anonymous@anonymous.invalid>',
    `To: <${uri}>`,
    'DateTime: 2025-03-04T10:15:02.000Z',
    'NS: imdn <urn:ietf:params:imdn>',
    `imdn.Message-ID: ${id}`,
    '',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hallo von Knoten B',
  ].join('\r\n');
  const res = await env.core.sendRequest(
    {
      method: 'MESSAGE',
      uri,
      headers: [
        { name: 'From', value: '<tel:+12025550101>;tag=t1' },
        { name: 'To', value: `<${uri}>` },
        { name: 'Call-ID', value: `call-${id}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: '<tel:+12025550101>' },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body: Buffer.from(cpim),
    },
    { host: env.b.info.sip.host, port: env.b.info.sip.port, transport: 'udp' },
  );
  t.is(res.status, 202);
  const req = await waitFor('MM4_forward.REQ', () =>
    env.mmsc.received.find((r) => r.type === 'MM4_forward.REQ' && r.text?.includes('Hallo von Knoten B')),
  );
  t.true(req.envelope.to[0].startsWith('+4915112345678'));
  // The MMSC answers to the node that accepted the message (its X-Mms-Originator-System): node B.
  const answer = await smtpTo(env.b.info.mm4!, mmscRes(req, 'Ok'), { from: MMSC_SYSTEM, to: [answerAddress(req)] });
  t.regex(answer, /^250 /);
});

serial('node A SIGKILLed mid-delivery: node B completes it with nothing sent twice', async (t) => {
  t.timeout(180_000);
  const id = `M-b-${randomUUID().slice(0, 8)}`;
  const image = await jpeg(2);
  const killed: string[] = [];
  env.answer = async (n, via) => {
    // The first MESSAGE of this delivery: the node whose worker sent it (its Via sent-by) dies holding it.
    if (killed.length === 0) {
      const victim = [env.a, env.b].find((x) => via.includes(`${x.info.sip.host}:${x.info.sip.port}`));
      if (victim) {
        killed.push(victim.info.sip.host);
        victim.child.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return 202;
  };
  try {
    const before = env.peer.seen.length;
    // No delivery report: the delivery ends with its .RES, which bounds what it sends.
    const reply = await smtpTo(env.a.info.mm4!, mmsWithImage(id, image), { from: ORIGINATOR, to: [RECIPIENT] });
    t.regex(reply, /^250 /);
    const workflowId = mmsToCpmWorkflowId(MMSC_SYSTEM, id);
    t.like(await env.client.workflow.getHandle(workflowId).result(), { result: 'delivered' });
    t.is(killed.length, 1, 'a node was killed holding the MESSAGE');
    t.log(`killed the node on ${killed[0]}; the other completed the delivery`);

    const msgs = env.peer.seen.slice(before).filter((s) => s.req.method === 'MESSAGE');
    t.true(msgs.length >= 2, 'the surviving node resent the in-flight request');
    t.is(new Set(msgs.map((m) => `${m.callId} ${m.cseq}`)).size, 1, 'every copy is the same SIP request');
    const imdnIds = msgs.map((m) => {
      const c = parseCpim(m.req.body);
      return c.ok ? cpimHeader(c.message, 'Message-ID', IMDN_NS) : undefined;
    });
    t.is(new Set(imdnIds).size, 1, 'and the same CPM message');
    t.is(env.mmsc.received.filter((r) => r.transactionId === `T-${id}`).length, 1, 'one .RES');
    await waitFor('the audit record', async () => ((await auditCount(workflowId)) > 0 ? true : undefined));
    t.is(await auditCount(workflowId), 1, 'one audit record in the shared store');
  } finally {
    env.answer = () => 202;
  }
});

serial('an ingress-only node plus a worker-only node deliver an MMS end to end', async (t) => {
  t.timeout(180_000);
  const ingress = await startNode('127.0.0.4', { args: ['--role', 'ingress'] });
  const worker = await startNode('127.0.0.5', { env: { IWF_ROLE: 'worker' }, publicUrl: ingress.mediaUrl });
  // Stop the A/B nodes still running, so this delivery can only be taken by the worker-only node.
  await Promise.all([env.a, env.b].map((x) => stopChild(x.child)));
  t.is(ingress.info.role, 'ingress');
  t.is(worker.info.role, 'worker');
  t.is(worker.info.mm4, undefined, 'no MM4 listener on a worker node');
  t.is(worker.info.media, undefined, 'no media server on a worker node');
  const ready = await fetch(`http://${ingress.info.metrics!.host}:${ingress.info.metrics!.port}/readyz`);
  t.is(ready.status, 200, await ready.text());

  // A request routed to the worker node gets 503 with Retry-After: its SIP endpoint takes only responses.
  const wrong = await env.core.sendRequest(
    {
      method: 'MESSAGE',
      uri: 'tel:+4915112345678',
      headers: [
        { name: 'From', value: '<tel:+12025550101>;tag=t2' },
        { name: 'To', value: '<tel:+4915112345678>' },
        { name: 'Call-ID', value: `call-wrong-${randomUUID()}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'Content-Type', value: 'text/plain' },
      ],
      body: Buffer.from('hello'),
    },
    { host: worker.info.sip.host, port: worker.info.sip.port, transport: 'udp' },
  );
  t.is(wrong.status, 503);
  t.truthy(getHeader(wrong.headers, 'Retry-After'));

  const id = `M-d-${randomUUID().slice(0, 8)}`;
  const image = await jpeg(3);
  const reply = await smtpTo(ingress.info.mm4!, mmsWithImage(id, image), { from: ORIGINATOR, to: [RECIPIENT] });
  t.regex(reply, /^250 /);
  await env.client.workflow.getHandle(mmsToCpmWorkflowId(MMSC_SYSTEM, id)).result();
  await waitFor('.RES', () => env.mmsc.received.find((r) => r.transactionId === `T-${id}`));
  const ft = fileTransferOf(image.length);
  if (!ft) return t.fail('no FT-over-HTTP MESSAGE for the photo');
  t.true(
    ft.seen.req.headers.some((h) => /^via$/i.test(h.name) && h.value.includes('127.0.0.5')),
    'sent by the worker node',
  );
  t.true(ft.descriptor.file.url.startsWith(ingress.mediaUrl), ft.descriptor.file.url);
  const got = await fetch(ft.descriptor.file.url);
  t.is(got.status, 200);
  t.deepEqual(Buffer.from(await got.arrayBuffer()), image);
});
