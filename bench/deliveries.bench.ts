/**
 * `npm run bench`: both directions through the real IWF on the embedded dev server (SQLite file,
 * WAL), in one run:
 *  1. codec path (bench/codec.bench.ts), one core, before anything else is started;
 *  2. events per delivery by kind, counted in the histories this run wrote;
 *  3. closed-loop throughput at BENCH_CONCURRENCY in flight:
 *     MMS -> CPM: text MMS over SMTP -> mmsToCpm -> SIP (a local answerer) -> MM4_forward.RES;
 *     CPM -> MMS: CPIM MESSAGEs over SIP -> cpmToMms -> MM4_forward.REQ -> .RES from a local MMSC;
 *  4. open-loop latency at half the measured maximum, BENCH_OPEN_SECONDS per direction;
 *  5. floors (bench/floor.workflow.ts) on the same server at the same concurrency.
 * Then one `BENCH-JSON {...}` line with every figure.
 *
 *   npm run bench -- --soak N   only sends N MMS -> CPM text deliveries and prints this process's
 *                               RSS (it runs the worker) at 1,000 and at N.
 * Env: BENCH_N (default 200), BENCH_CONCURRENCY (default 20), BENCH_OPEN_SECONDS (default 60).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSipEndpoint } from '../clients/sip/endpoint.js';
import { cpmDeliveryId } from '../ingress/sip-server.js';
import { buildImdnCpim, cpimHeader, IMDN_NS, parseCpim, serializeCpim, uriOf } from '../protocols/cpim/cpim.js';
import type { ImdnNotification } from '../protocols/cpim/imdn.js';
import type { SipRequest } from '../protocols/sip/message.js';
import { buildConfig } from '../worker/config.js';
import { startDevServer } from '../worker/dev-server.js';
import { startIwf } from '../worker/iwf.js';
import { createLogger } from '../worker/logger.js';
import { mmsToCpmWorkflowId } from '../workflows/messages.js';
import {
  answerAddress,
  forwardReq,
  MMSC_SYSTEM,
  mmscReport,
  mmscRes,
  sendMm4,
  startFakeMmsc,
} from '../test/helpers/mmsc.js';
import { freePort } from '../test/helpers/ports.js';
import { startSipPeer } from '../test/helpers/sip-peer.js';
import { codecLine, runCodecBench } from './codec.bench.js';

const N = Number(process.env.BENCH_N ?? 200);
const C = Number(process.env.BENCH_CONCURRENCY ?? 20);
const OPEN_SECONDS = Number(process.env.BENCH_OPEN_SECONDS ?? 60);
const soakAt = process.argv.indexOf('--soak');
const SOAK = soakAt < 0 ? 0 : Number(process.argv[soakAt + 1] ?? 10000);
if (soakAt >= 0 && !(Number.isInteger(SOAK) && SOAK > 1000)) {
  console.error('usage: deliveries.bench.ts --soak N   (N > 1000 text deliveries)');
  process.exit(2);
}

/** Goals for the events one delivery writes to its history. */
const EVENT_GOALS = { mmsToCpmPlain: 20, cpmToMmsPlain: 24, mmsToCpmBothReports: 40, cpmToMmsBothReports: 40 };
const RATIO_GOAL = 0.5;
const P50_GOAL_MS = 150;
/** The CPM -> MMS recipient whose MMSC reports delivery and then the read (both-reports case). */
const REPORTING_MMS = '+4915177777777';
const SENDER = 'tel:+12025550101';

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const percentiles = (xs: number[]) => ({
  p50: Math.round(pct(xs, 50)),
  p90: Math.round(pct(xs, 90)),
  p99: Math.round(pct(xs, 99)),
  max: Math.round(Math.max(...xs)),
});
const fmt = (xs: number[]) => {
  const p = percentiles(xs);
  return `p50 ${p.p50} ms, p90 ${p.p90} ms, p99 ${p.p99} ms, max ${p.max} ms`;
};
const met = (ok: boolean) => (ok ? 'met' : 'not met');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, done: () => boolean, timeoutMs = 600_000) {
  const end = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** Starts `count` sends at a fixed `rate` per second, each as it falls due, whatever the earlier ones do. */
async function openLoop(count: number, rate: number, send: (i: number) => Promise<void>) {
  const t0 = performance.now();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    sends.push(send(i));
  }
  await Promise.all(sends);
}

const rss = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
};
const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;

async function main() {
  // Before anything else runs, so the codec figure has the core to itself.
  const codec = SOAK ? undefined : runCodecBench();

  const dir = mkdtempSync(join(tmpdir(), 'iwf-bench-'));
  const server = await startDevServer({
    port: await freePort(),
    namespace: 'default',
    dbFile: join(dir, 'temporal.sqlite'),
  });
  const seen = new Map<string, number>(); // message text -> when the far side saw it
  const resAt = new Map<string, number>();
  const messages = new Map<string, SipRequest>(); // message text -> the SIP MESSAGE that carried it
  let iwfMm4Port = 0;
  const mmsc = await startFakeMmsc(0, (m) => {
    if (m.type === 'MM4_forward.RES') return void resAt.set(m.messageId!, performance.now());
    if (m.type !== 'MM4_forward.REQ') return;
    // The first copy counts: a resend (no .RES in time, 23.140 §8.4.1) must not move the figure.
    const text = (m.text ?? '').trim();
    if (!seen.has(text)) seen.set(text, performance.now());
    const answer = { from: MMSC_SYSTEM, to: [answerAddress(m)] };
    void sendMm4(iwfMm4Port, mmscRes(m), answer);
    // Both-reports case: the recipient's MMSC reports delivery, then the read (23.140 §8.4.3, §8.4.4).
    if (m.envelope.to[0]?.startsWith(REPORTING_MMS)) {
      const reports = [
        mmscReport(m, { type: 'MM4_delivery_report.REQ', mmStatus: 'Retrieved' }, `dr-${m.messageId}`),
        mmscReport(m, { type: 'MM4_read_reply_report.REQ', readStatus: 'Read' }, `rr-${m.messageId}`),
      ];
      reports.forEach((r, i) => setTimeout(() => void sendMm4(iwfMm4Port, r, answer), 100 + 100 * i));
    }
  });
  const peer = await startSipPeer((req) => {
    const c = parseCpim(req.body);
    if (c.ok && req.method === 'MESSAGE') {
      const text = c.message.content.body.toString('utf8');
      // The first copy counts, not a retransmission (RFC 3261 §17.1.2).
      if (!seen.has(text)) seen.set(text, performance.now());
      messages.set(text, req);
    }
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
    // Unbounded admission: the closed-loop phase keeps BENCH_CONCURRENCY in flight to find the
    // IWF's own ceiling; with a bound the ingress would push back (SMTP 4xx / SIP 503) and we would
    // measure the admission limit and the client's retries instead of the delivery path.
    ingress: { maxInFlight: 0 },
    media: { listen: '127.0.0.1:0', dir: join(dir, 'media') },
    audit: { file: join(dir, 'audit.jsonl') },
  });
  const iwf = await startIwf(config, createLogger('warn'));
  iwfMm4Port = iwf.mm4.port;
  mmsc.answerReports(iwf.mm4.port);
  const ua = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  const iwfSip = { host: '127.0.0.1', port: iwf.sip.port, transport: 'udp' as const };

  const smtp = nodemailer.createTransport({
    host: '127.0.0.1',
    port: iwf.mm4.port,
    ignoreTLS: true,
    pool: true,
    maxConnections: Math.max(C, 50),
    maxMessages: Infinity,
  });
  /** One MMS -> CPM text (its text is its id); resolves at the SMTP 250. */
  const sendMms = async (id: string, o: { to?: string; deliveryReport?: boolean; readReply?: boolean } = {}) => {
    const to = `${o.to ?? '+12025550199'}/TYPE=PLMN@mms.iwf.example.net`;
    await smtp.sendMail({
      envelope: { from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs', to: [to] },
      raw: forwardReq({
        messageId: id,
        text: id,
        to: [to],
        deliveryReport: o.deliveryReport ?? false,
        readReply: o.readReply ?? false,
      }),
    });
  };
  /** One CPM -> MMS text (its text is its imdn.Message-ID); resolves at the SIP 202. */
  const sendCpm = async (id: string, o: { to?: string; disposition?: string } = {}) => {
    const to = `tel:${o.to ?? '+4915112345678'}`;
    const cpim = [
      `From: <${SENDER}>`,
      `To: <${to}>`,
      `DateTime: ${new Date().toISOString()}`,
      'NS: imdn <urn:ietf:params:imdn>',
      `imdn.Message-ID: ${id}`,
      ...(o.disposition ? [`imdn.Disposition-Notification: ${o.disposition}`] : []),
      '',
      'Content-Type: text/plain; charset=utf-8',
      '',
      id,
    ].join('\r\n');
    const res = await ua.sendRequest(
      {
        method: 'MESSAGE',
        uri: to,
        headers: [
          { name: 'From', value: `<${SENDER}>;tag=b` },
          { name: 'To', value: `<${to}>` },
          { name: 'Call-ID', value: id },
          { name: 'CSeq', value: '1 MESSAGE' },
          { name: 'P-Asserted-Identity', value: `<${SENDER}>` },
          { name: 'Content-Type', value: 'message/cpim' },
        ],
        body: Buffer.from(cpim),
      },
      iwfSip,
    );
    if (res.status !== 202) throw new Error(`MESSAGE ${id}: ${res.status}`);
  };
  /** The IMDN the CPM recipient's client sends back for the MESSAGE that carried `text` (RFC 5438 §7.2). */
  const imdnBack = async (text: string, kind: 'delivery' | 'display', status: string) => {
    const msg = messages.get(text);
    const c = msg && parseCpim(msg.body);
    if (!msg || !c?.ok) throw new Error(`no CPIM MESSAGE carried ${text}`);
    const recipient = uriOf(cpimHeader(c.message, 'To')!);
    const sender = uriOf(cpimHeader(c.message, 'From')!);
    const body = serializeCpim(
      buildImdnCpim({
        from: recipient,
        to: sender,
        dateTime: new Date(),
        imdnMessageId: `imdn-${kind}-${text}`,
        notification: {
          messageId: cpimHeader(c.message, 'Message-ID', IMDN_NS)!,
          datetime: new Date().toISOString(),
          recipientUri: recipient,
          kind,
          status,
        } as ImdnNotification,
      }),
    );
    const res = await ua.sendRequest(
      {
        method: 'MESSAGE',
        uri: sender,
        headers: [
          { name: 'From', value: `<${recipient}>;tag=r${kind}` },
          { name: 'To', value: `<${sender}>` },
          { name: 'Call-ID', value: `imdn-${kind}-${text}` },
          { name: 'CSeq', value: '1 MESSAGE' },
          { name: 'P-Asserted-Identity', value: `<${recipient}>` },
          { name: 'Content-Type', value: 'message/cpim' },
        ],
        body,
      },
      iwfSip,
    );
    if (res.status !== 202 && res.status !== 200) throw new Error(`IMDN for ${text} answered ${res.status}`);
  };
  const m2cHandle = (id: string) => iwf.client.workflow.getHandle(mmsToCpmWorkflowId(MMSC_SYSTEM, id));
  const c2mHandle = (id: string) => iwf.client.workflow.getHandle(cpmDeliveryId(SENDER, id));
  const eventsOf = async (h: WorkflowHandle) => {
    await h.result();
    return (await h.fetchHistory()).events?.length ?? 0;
  };

  /** Closed loop: `ids` MMS -> CPM at C in flight until every .RES is at the MMSC; deliveries/s. */
  const m2cClosed = async (ids: string[]) => {
    const t0 = performance.now();
    await pool(ids, C, (id) => sendMms(id));
    await until('MM4_forward.RES of every MMS -> CPM delivery', () => ids.every((id) => resAt.has(id)));
    return ids.length / ((Math.max(...ids.map((id) => resAt.get(id)!)) - t0) / 1000);
  };

  if (SOAK) {
    // Soak: only MMS -> CPM, the RSS of this process (it runs the worker) after 1,000 and after N.
    const ids = Array.from({ length: SOAK }, (_, i) => `soak-${i}`);
    await m2cClosed(ids.slice(0, 1000));
    const at1000 = rss();
    console.log(`  soak: 1,000 delivered, RSS ${mb(at1000)}; sending the other ${SOAK - 1000}`);
    const rate = await m2cClosed(ids.slice(1000));
    const atN = rss();
    const growth = (100 * (atN - at1000)) / at1000;
    const gc = (globalThis as { gc?: unknown }).gc ? 'after gc()' : 'no --expose-gc, so without a gc() first';
    console.log(
      [
        `cpm-mms-iwf soak: ${SOAK} MMS -> CPM text deliveries, ${C} in flight (${rate.toFixed(1)} deliveries/s after the first 1,000)`,
        `  IWF process RSS (${gc}): ${mb(at1000)} at 1,000, ${mb(atN)} at ${SOAK}: growth ${growth.toFixed(1)} % (goal < 10 %: ${met(growth < 10)})`,
      ].join('\n'),
    );
    console.log(
      `BENCH-JSON ${JSON.stringify({ bench: 'soak', deliveries: SOAK, rssAt1000: at1000, rssAtN: atN, rssGrowthPct: +growth.toFixed(2) })}`,
    );
  } else {
    const out: string[] = [
      `cpm-mms-iwf benchmark: ${N} text messages per direction, ${C} in flight, embedded dev server (SQLite WAL)`,
    ];
    if (codec) out.push(codecLine(codec));

    // --- events per delivery, from the histories of one delivery of each kind
    await sendMms('ev-m2c-plain');
    const evM2cPlain = await eventsOf(m2cHandle('ev-m2c-plain'));
    await sendCpm('ev-c2m-plain');
    const evC2mPlain = await eventsOf(c2mHandle('ev-c2m-plain'));
    await sendMms('ev-m2c-both', { to: '+12025550166', deliveryReport: true, readReply: true });
    await until('MESSAGE of ev-m2c-both', () => messages.has('ev-m2c-both'), 60_000);
    await imdnBack('ev-m2c-both', 'delivery', 'delivered');
    await imdnBack('ev-m2c-both', 'display', 'displayed');
    const evM2cBoth = await eventsOf(m2cHandle('ev-m2c-both'));
    await sendCpm('ev-c2m-both', { to: REPORTING_MMS, disposition: 'positive-delivery, display' });
    const evC2mBoth = await eventsOf(c2mHandle('ev-c2m-both'));
    const events = {
      mmsToCpmPlain: evM2cPlain,
      cpmToMmsPlain: evC2mPlain,
      mmsToCpmBothReports: evM2cBoth,
      cpmToMmsBothReports: evC2mBoth,
    };
    out.push('  events per delivery (history length):');
    const eventLabels: Record<keyof typeof events, string> = {
      mmsToCpmPlain: 'MMS -> CPM plain (no delivery report, no read reply)',
      cpmToMmsPlain: 'CPM -> MMS plain (no disposition notification)',
      mmsToCpmBothReports: 'MMS -> CPM with delivery + read reports',
      cpmToMmsBothReports: 'CPM -> MMS with delivery + display notifications',
    };
    for (const k of Object.keys(events) as (keyof typeof events)[])
      out.push(
        `    ${eventLabels[k].padEnd(50)} ${String(events[k]).padStart(3)} (goal <= ${EVENT_GOALS[k]}: ${met(events[k] <= EVENT_GOALS[k])})`,
      );

    // --- closed-loop throughput
    const ids = Array.from({ length: N }, (_, i) => `bench-${i}`);
    const m2cRate = await m2cClosed(ids);
    out.push(`  MMS -> CPM   ${m2cRate.toFixed(1)} deliveries/s (closed loop, ${C} in flight)`);
    const c2mIds = ids.map((id) => `c2m-${id}`);
    let t0 = performance.now();
    const done = new Map<string, number>();
    await pool(c2mIds, C, (id) => sendCpm(id));
    await pool(c2mIds, C, async (id) => {
      await c2mHandle(id).result();
      done.set(id, performance.now());
    });
    const c2mRate = N / ((Math.max(...done.values()) - t0) / 1000);
    out.push(`  CPM -> MMS   ${c2mRate.toFixed(1)} deliveries/s (closed loop, ${C} in flight)`);

    // --- open loop at half the measured maximum
    const openLatency = async (dir: 'm2c' | 'c2m', rate: number) => {
      const count = Math.max(1, Math.round(rate * OPEN_SECONDS));
      const accepted = new Map<string, number>();
      const openIds = Array.from({ length: count }, (_, i) => `open-${dir}-${i}`);
      await openLoop(count, rate, async (i) => {
        await (dir === 'm2c' ? sendMms(openIds[i]) : sendCpm(openIds[i]));
        accepted.set(openIds[i], performance.now());
      });
      await until(`far side of every open-loop ${dir} delivery`, () => openIds.every((id) => seen.has(id)));
      // Let the tail finish (the .RES each way) so the next phase starts on an idle IWF.
      if (dir === 'm2c') await until('open-loop .RES', () => openIds.every((id) => resAt.has(id)));
      else await Promise.all(openIds.map((id) => c2mHandle(id).result()));
      return openIds.map((id) => seen.get(id)! - accepted.get(id)!);
    };
    const m2cOpenRate = m2cRate / 2;
    const m2cLat = await openLatency('m2c', m2cOpenRate);
    const c2mOpenRate = c2mRate / 2;
    const c2mLat = await openLatency('c2m', c2mOpenRate);
    const latLine = (label: string, rate: number, xs: number[]) => {
      const p = percentiles(xs);
      return `    ${label} at ${rate.toFixed(1)}/s for ${OPEN_SECONDS} s (${xs.length}): ${fmt(xs)} (goal p50 <= ${P50_GOAL_MS} ms: ${met(p.p50 <= P50_GOAL_MS)}; p99 <= 3 x p50: ${met(p.p99 <= 3 * p.p50)})`;
    };
    out.push('  open-loop latency at half the measured maximum:');
    out.push(latLine('MMS -> CPM accepted (SMTP 250) -> SIP MESSAGE at peer', m2cOpenRate, m2cLat));
    out.push(latLine('CPM -> MMS accepted (SIP 202) -> MM4_forward.REQ at MMSC', c2mOpenRate, c2mLat));
    smtp.close();
    await ua.close();
    await iwf.stop();

    // --- floors: same server, same run, same concurrency, the IWF stopped
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
    const withSignal = (type: 'floorOne' | 'floorWithSignal') => async (id: string) => {
      const h = await client.workflow.start(type, { taskQueue: 'floor', workflowId: `${type}-${id}` });
      await h.signal('poke');
      await h.result();
    };
    const [floorOne, floorFive] = await worker.runUntil(async () => {
      t0 = performance.now();
      await pool(ids, C, withSignal('floorOne'));
      const one = N / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      await pool(ids, C, withSignal('floorWithSignal'));
      return [one, N / ((performance.now() - t0) / 1000)];
    });
    await clientConn.close();
    await conn.close();
    const m2cRatio = m2cRate / floorOne;
    const c2mRatio = c2mRate / floorOne;
    out.push(`  floor, 1 activity + 1 signal    ${floorOne.toFixed(1)} workflows/s`);
    out.push(`    MMS -> CPM / floor  ${m2cRatio.toFixed(2)} (goal >= ${RATIO_GOAL}: ${met(m2cRatio >= RATIO_GOAL)})`);
    out.push(`    CPM -> MMS / floor  ${c2mRatio.toFixed(2)} (goal >= ${RATIO_GOAL}: ${met(c2mRatio >= RATIO_GOAL)})`);
    out.push(
      `  old floor, 5 activities + 1 signal ${floorFive.toFixed(1)} workflows/s (MMS -> CPM ratio ${(m2cRate / floorFive).toFixed(2)}, CPM -> MMS ratio ${(c2mRate / floorFive).toFixed(2)})`,
    );
    const workerRss = rss();
    out.push(`  IWF process RSS at the end: ${mb(workerRss)}`);
    console.log(out.join('\n'));
    const round1 = (x: number) => Math.round(x * 10) / 10;
    console.log(
      `BENCH-JSON ${JSON.stringify({
        bench: 'deliveries',
        n: N,
        concurrency: C,
        events,
        deliveriesPerSecond: { mmsToCpm: round1(m2cRate), cpmToMms: round1(c2mRate) },
        floorOnePerSecond: round1(floorOne),
        floorFivePerSecond: round1(floorFive),
        ratioToFloor: { mmsToCpm: +m2cRatio.toFixed(3), cpmToMms: +c2mRatio.toFixed(3) },
        openLoop: {
          seconds: OPEN_SECONDS,
          mmsToCpm: { rate: round1(m2cOpenRate), ...percentiles(m2cLat) },
          cpmToMms: { rate: round1(c2mOpenRate), ...percentiles(c2mLat) },
        },
        codecMessagesPerSecond: codec ? Math.round(codec.messagesPerSecond) : undefined,
        rss: workerRss,
      })}`,
    );
  }

  if (SOAK) {
    smtp.close();
    await ua.close();
    await iwf.stop();
  }
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
