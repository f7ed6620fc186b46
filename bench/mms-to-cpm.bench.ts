/**
 * `npm run bench`: N text MMS through SMTP -> mmsToCpm workflow -> SIP (a fast local answerer) ->
 * MM4_forward.RES, on the embedded dev server (SQLite file, WAL), then the floor (a no-op workflow
 * with the same number of activities) with the same concurrency, in the same run.
 * Env: BENCH_N (default 200), BENCH_CONCURRENCY (default 20).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { Worker, NativeConnection } from '@temporalio/worker';
import { cpimHeader, parseCpim } from '../protocols/cpim/cpim.js';
import { buildConfig } from '../worker/config.js';
import { startDevServer } from '../worker/dev-server.js';
import { startIwf } from '../worker/iwf.js';
import { createLogger } from '../worker/logger.js';
import { forwardReq, startFakeMmsc } from '../test/helpers/mmsc.js';
import { freePort } from '../test/helpers/ports.js';
import { startSipPeer } from '../test/helpers/sip-peer.js';

const N = Number(process.env.BENCH_N ?? 200);
const C = Number(process.env.BENCH_CONCURRENCY ?? 20);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms, p90 ${pct(xs, 90).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;

async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'iwf-bench-'));
  const server = await startDevServer({ port: await freePort(), namespace: 'default', dbFile: join(dir, 'temporal.sqlite') });
  const mmsc = await startFakeMmsc();
  const sipAt = new Map<string, number>();
  const peer = await startSipPeer((req) => {
    const c = parseCpim(req.body);
    if (c.ok) sipAt.set(c.message.content.body.toString('utf8'), performance.now());
    return 202;
  });
  const config = buildConfig({
    log: { level: 'warn' },
    temporal: { address: server.address, taskQueue: 'iwf-bench' },
    mm4: { listen: '127.0.0.1:0', peers: [{ name: 'bench', domains: ['mms.mnc001.mcc001.gprs'], smtp: `127.0.0.1:${mmsc.port}`, allow: ['127.0.0.1'] }] },
    sip: { listen: '127.0.0.1:0', outboundProxy: `127.0.0.1:${peer.port}` },
    cpm: { users: ['+1202555*'] },
  });
  const iwf = await startIwf(config, createLogger('warn'));

  // --- the IWF path
  const accepted = new Map<string, number>();
  const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: iwf.mm4.port, ignoreTLS: true, pool: true, maxConnections: C, maxMessages: Infinity });
  const ids = Array.from({ length: N }, (_, i) => `bench-${i}`);
  const t0 = performance.now();
  await pool(ids, C, async (id) => {
    await smtp.sendMail({
      envelope: { from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs', to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'] },
      raw: forwardReq({ messageId: id, text: id }),
    });
    accepted.set(id, performance.now());
  });
  const resAt = new Map<string, number>();
  while (resAt.size < N) {
    for (const r of mmsc.received) if (!resAt.has(r.pdu.messageId)) resAt.set(r.pdu.messageId, performance.now());
    await new Promise((r) => setTimeout(r, 5));
  }
  const iwfSeconds = (Math.max(...resAt.values()) - t0) / 1000;
  smtp.close();
  const toSip = ids.map((id) => sipAt.get(id)! - accepted.get(id)!);
  const toRes = ids.map((id) => resAt.get(id)! - accepted.get(id)!);
  await iwf.stop();

  // --- the floor: same server, same concurrency, three no-op activities per workflow
  const conn = await NativeConnection.connect({ address: server.address });
  const worker = await Worker.create({
    connection: conn,
    taskQueue: 'floor',
    workflowsPath: fileURLToPath(new URL('./floor.workflow.ts', import.meta.url)),
    activities: { noop: async (x: number) => x },
    maxCachedWorkflows: 1000,
  });
  const { Client, Connection } = await import('@temporalio/client');
  const clientConn = await Connection.connect({ address: server.address });
  const client = new Client({ connection: clientConn });
  const floorSeconds = await worker.runUntil(async () => {
    const f0 = performance.now();
    await pool(ids, C, async (id) => {
      await client.workflow.execute('floor', { taskQueue: 'floor', workflowId: `floor-${id}` });
    });
    return (performance.now() - f0) / 1000;
  });
  await clientConn.close();
  await conn.close();

  const ours = N / iwfSeconds;
  const floor = N / floorSeconds;
  console.log(`cpm-mms-iwf benchmark: ${N} text MMS, ${C} concurrent SMTP connections, embedded dev server (SQLite WAL)`);
  console.log(`  MMS -> CPM   ${ours.toFixed(1)} deliveries/s (${iwfSeconds.toFixed(2)} s)`);
  console.log(`    accepted (SMTP 250) -> SIP MESSAGE at peer: ${fmt(toSip)}`);
  console.log(`    accepted (SMTP 250) -> MM4_forward.RES at MMSC: ${fmt(toRes)}`);
  console.log(`  floor (no-op workflow, 3 activities)   ${floor.toFixed(1)} workflows/s (${floorSeconds.toFixed(2)} s)`);
  console.log(`  ratio to floor: ${(ours / floor).toFixed(2)}`);

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
