/**
 * `npm run bench`: both directions through the real IWF on the embedded dev server (SQLite file,
 * WAL), each against its floor measured in the same run:
 *  - MMS -> CPM: N text MMS over SMTP -> mmsToCpm -> SIP (a fast local answerer) -> MM4_forward.RES;
 *  - CPM -> MMS: N CPIM MESSAGEs over SIP -> cpmToMms -> MM4_forward.REQ -> .RES from a local MMSC;
 *  - floors: no-op workflows with the same number of activities (5) and signals at the same concurrency.
 * Env: BENCH_N (default 200), BENCH_CONCURRENCY (default 20).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSipEndpoint } from '../clients/sip/endpoint.js';
import { cpmDeliveryId } from '../ingress/sip-server.js';
import { parseCpim } from '../protocols/cpim/cpim.js';
import { buildConfig } from '../worker/config.js';
import { startDevServer } from '../worker/dev-server.js';
import { startIwf } from '../worker/iwf.js';
import { createLogger } from '../worker/logger.js';
import { answerAddress, forwardReq, mmscRes, sendMm4, startFakeMmsc } from '../test/helpers/mmsc.js';
import { freePort } from '../test/helpers/ports.js';
import { startSipPeer } from '../test/helpers/sip-peer.js';

const N = Number(process.env.BENCH_N ?? 200);
const C = Number(process.env.BENCH_CONCURRENCY ?? 20);
const ids = Array.from({ length: N }, (_, i) => `bench-${i}`);

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(0)} ms, p90 ${pct(xs, 90).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
const until = async (done: () => boolean) => {
  while (!done()) await new Promise((r) => setTimeout(r, 5));
};

async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'iwf-bench-'));
  const server = await startDevServer({
    port: await freePort(),
    namespace: 'default',
    dbFile: join(dir, 'temporal.sqlite'),
  });
  const seen = new Map<string, number>(); // message text -> when the far side saw it
  const resAt = new Map<string, number>();
  let iwfMm4Port = 0;
  const mmsc = await startFakeMmsc(0, (m) => {
    if (m.type === 'MM4_forward.RES') return void resAt.set(m.messageId!, performance.now());
    if (m.type !== 'MM4_forward.REQ') return;
    seen.set((m.text ?? '').trim(), performance.now());
    void sendMm4(iwfMm4Port, mmscRes(m), { from: 'sys@mms.mnc001.mcc001.gprs', to: [answerAddress(m)] });
  });
  const peer = await startSipPeer((req) => {
    const c = parseCpim(req.body);
    if (c.ok) seen.set(c.message.content.body.toString('utf8'), performance.now());
    return 202;
  });
  const config = buildConfig({
    log: { level: 'warn' },
    temporal: { address: server.address, taskQueue: 'iwf-bench', encryption: { enabled: false } },
    mm4: {
      listen: '127.0.0.1:0',
      peers: [
        {
          name: 'bench',
          domains: ['mms.mnc001.mcc001.gprs'],
          smtp: `127.0.0.1:${mmsc.port}`,
          allow: ['127.0.0.1'],
          numbers: ['+49'],
          maxConnections: 100,
        },
      ],
    },
    sip: { listen: '127.0.0.1:0', outboundProxy: `127.0.0.1:${peer.port}` },
    cpm: { users: ['+1202555*'] },
    ingress: { maxInFlight: 0 },
    media: { listen: '127.0.0.1:0', dir: join(dir, 'media') },
    audit: { file: join(dir, 'audit.jsonl') },
  });
  const iwf = await startIwf(config, createLogger('warn'));
  iwfMm4Port = iwf.mm4.port;
  const out: string[] = [
    `cpm-mms-iwf benchmark: ${N} text messages per direction, ${C} in flight, embedded dev server (SQLite WAL)`,
  ];

  // --- MMS -> CPM
  const accepted = new Map<string, number>();
  const smtp = nodemailer.createTransport({
    host: '127.0.0.1',
    port: iwf.mm4.port,
    ignoreTLS: true,
    pool: true,
    maxConnections: C,
    maxMessages: Infinity,
  });
  let t0 = performance.now();
  await pool(ids, C, async (id) => {
    await smtp.sendMail({
      envelope: {
        from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
        to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
      },
      raw: forwardReq({ messageId: id, text: id, deliveryReport: false }),
    });
    accepted.set(id, performance.now());
  });
  await until(() => ids.every((id) => resAt.has(id)));
  const m2cSeconds = (Math.max(...ids.map((id) => resAt.get(id)!)) - t0) / 1000;
  smtp.close();
  out.push(`  MMS -> CPM   ${(N / m2cSeconds).toFixed(1)} deliveries/s (${m2cSeconds.toFixed(2)} s)`);
  out.push(
    `    accepted (SMTP 250) -> SIP MESSAGE at peer: ${fmt(ids.map((id) => seen.get(id)! - accepted.get(id)!))}`,
  );
  out.push(
    `    accepted (SMTP 250) -> MM4_forward.RES at MMSC: ${fmt(ids.map((id) => resAt.get(id)! - accepted.get(id)!))}`,
  );

  // --- CPM -> MMS
  const ua = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  const c2mIds = ids.map((id) => `c2m-${id}`);
  const done = new Map<string, number>();
  accepted.clear();
  t0 = performance.now();
  await pool(c2mIds, C, async (id) => {
    const cpim = `From: <tel:+12025550101>\r\nTo: <tel:+4915112345678>\r\nDateTime: ${new Date().toISOString()}\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: ${id}\r\n\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${id}`;
    const res = await ua.sendRequest(
      {
        method: 'MESSAGE',
        uri: 'tel:+4915112345678',
        headers: [
          { name: 'From', value: '<tel:+12025550101>;tag=b' },
          { name: 'To', value: '<tel:+4915112345678>' },
          { name: 'Call-ID', value: id },
          { name: 'CSeq', value: '1 MESSAGE' },
          { name: 'P-Asserted-Identity', value: '<tel:+12025550101>' },
          { name: 'Content-Type', value: 'message/cpim' },
        ],
        body: Buffer.from(cpim),
      },
      { host: '127.0.0.1', port: iwf.sip.port, transport: 'udp' },
    );
    if (res.status !== 202) throw new Error(`MESSAGE ${id}: ${res.status}`);
    accepted.set(id, performance.now());
  });
  await pool(c2mIds, C, async (id) => {
    await iwf.client.workflow.getHandle(cpmDeliveryId('tel:+12025550101', id)).result();
    done.set(id, performance.now());
  });
  const c2mSeconds = (Math.max(...done.values()) - t0) / 1000;
  out.push(`  CPM -> MMS   ${(N / c2mSeconds).toFixed(1)} deliveries/s (${c2mSeconds.toFixed(2)} s)`);
  out.push(
    `    accepted (SIP 202) -> MM4_forward.REQ at MMSC: ${fmt(c2mIds.map((id) => seen.get(id)! - accepted.get(id)!))}`,
  );
  out.push(
    `    accepted (SIP 202) -> delivery complete (.RES processed, seen by a result poller): ${fmt(c2mIds.map((id) => done.get(id)! - accepted.get(id)!))}`,
  );
  await ua.close();
  await iwf.stop();

  // --- floors: same server, same concurrency
  const conn = await NativeConnection.connect({ address: server.address });
  const clientConn = await Connection.connect({ address: server.address });
  const client = new Client({ connection: clientConn });
  const worker = await Worker.create({
    connection: conn,
    taskQueue: 'floor',
    workflowsPath: fileURLToPath(new URL('./floor.workflow.ts', import.meta.url)),
    activities: { noop: async (x: number) => x },
    maxCachedWorkflows: 1000,
  });
  const [floorA, floorB] = await worker.runUntil(async () => {
    let f0 = performance.now();
    await pool(
      ids,
      C,
      async (id) => void (await client.workflow.execute('floor', { taskQueue: 'floor', workflowId: `floor-${id}` })),
    );
    const a = (performance.now() - f0) / 1000;
    f0 = performance.now();
    await pool(ids, C, async (id) => {
      const h = await client.workflow.start('floorWithSignal', {
        taskQueue: 'floor',
        workflowId: `floor-signal-${id}`,
      });
      await h.signal('poke');
      await h.result();
    });
    return [a, (performance.now() - f0) / 1000];
  });
  await clientConn.close();
  await conn.close();
  out.push(
    `  floor, 5 activities            ${(N / floorA).toFixed(1)} workflows/s -> MMS -> CPM ratio ${(floorA / m2cSeconds).toFixed(2)}`,
  );
  out.push(
    `  floor, 5 activities + 1 signal ${(N / floorB).toFixed(1)} workflows/s -> CPM -> MMS ratio ${(floorB / c2mSeconds).toFixed(2)}`,
  );
  console.log(out.join('\n'));

  await peer.close();
  await mmsc.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e);
    process.exit(1);
  },
);
