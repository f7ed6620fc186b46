/**
 * Overload: MMS -> CPM offered open-loop at a fixed rate (default 8/s, about twice what this
 * 2-core machine sustains) for a fixed time against the real IWF on the embedded dev server
 * (SQLite file), one SMTP connection per MM4_forward.REQ as an MMSC sends them. Each PDU is
 * answered 250 (accepted), 451 4.3.2 (pushed back: ingress.maxInFlight) or 421 (connection
 * limit); pushed-back PDUs are not retried, so the figures are for the offered load itself.
 * Prints the counts, the SMTP answer time, accepted -> SIP MESSAGE at the CPM side (p50/p99),
 * and the RSS of this process (the IWF) and of the Temporal dev server before, at the end of
 * the drive and after the drain. This process is the IWF and also the load generator, the test
 * MMSC and the SIP peer, so its RSS includes theirs; the backlog is the figure to compare.
 * Not part of `npm test`: node --expose-gc --import tsx bench/overload.bench.ts (the live heap needs --expose-gc)
 * Env: BENCH_RATE (8), BENCH_SECONDS (60), BENCH_MAX_IN_FLIGHT (ingress.maxInFlight, 200; 0 = none).
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCpim } from '../protocols/cpim/cpim.js';
import { buildConfig } from '../worker/config.js';
import { startDevServer } from '../worker/dev-server.js';
import { startIwf } from '../worker/iwf.js';
import { createLogger } from '../worker/logger.js';
import { forwardReq, sendMm4, startFakeMmsc } from '../test/helpers/mmsc.js';
import { freePort } from '../test/helpers/ports.js';
import { startSipPeer } from '../test/helpers/sip-peer.js';

const RATE = Number(process.env.BENCH_RATE ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const MAX_IN_FLIGHT = Number(process.env.BENCH_MAX_IN_FLIGHT ?? 200);

const pct = (xs: number[], p: number) =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : NaN;
const fmt = (xs: number[]) =>
  `p50 ${(pct(xs, 50) / 1000).toFixed(2)} s, p99 ${(pct(xs, 99) / 1000).toFixed(2)} s, max ${(Math.max(...xs) / 1000).toFixed(2)} s (n=${xs.length})`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Live JS heap of this process after a full GC (run with --expose-gc), in MiB; NaN without it. */
function heapMiB(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return NaN;
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

/** Resident set of a process in MiB, from /proc (Linux). */
function rssMiB(pid: number | string = 'self'): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'iwf-overload-'));
  const dbFile = join(dir, 'temporal.sqlite');
  const server = await startDevServer({ port: await freePort(), namespace: 'default', dbFile });
  const temporalPid = readFileSync(`${dbFile}.pid`, 'utf8').trim();
  const mmsc = await startFakeMmsc();
  const routedAt = new Map<string, number>();
  const peer = await startSipPeer((req) => {
    const c = parseCpim(req.body);
    if (c.ok) routedAt.set(c.message.content.body.toString('utf8').trim(), performance.now());
    return 202;
  });
  const config = buildConfig({
    log: { level: 'warn' },
    // Payloads in clear: the figure is for push-back, not for the codec.
    temporal: { address: server.address, taskQueue: 'iwf-overload', encryption: { enabled: false } },
    mm4: {
      listen: '127.0.0.1:0',
      peers: [
        {
          name: 'bench',
          domains: ['mms.mnc001.mcc001.gprs'],
          smtp: `127.0.0.1:${mmsc.port}`,
          allow: ['127.0.0.1'],
          numbers: ['+49'],
        },
      ],
    },
    sip: { listen: '127.0.0.1:0', outboundProxy: `127.0.0.1:${peer.port}` },
    cpm: { users: ['+1202555*'] },
    ingress: { maxInFlight: MAX_IN_FLIGHT },
    media: { listen: '127.0.0.1:0', dir: join(dir, 'media') },
    audit: { file: join(dir, 'audit.jsonl') },
  });
  const iwf = await startIwf(config, createLogger('warn'));
  await sleep(2000); // the worker polls, the gauge has its first count
  const rss0 = { iwf: rssMiB(), heap: heapMiB(), temporal: rssMiB(temporalPid) };

  const acceptedAt = new Map<string, number>();
  const answerMs: number[] = [];
  const outcome = { accepted: 0, pushedBack: 0, connectionRefused: 0, other: 0 };
  const otherReplies = new Map<string, number>();
  const sends: Promise<void>[] = [];
  // Backlog: accepted here but not yet seen at the CPM side, sampled every second of the drive.
  const backlog = () => [...acceptedAt.keys()].filter((id) => !routedAt.has(id)).length;
  let maxBacklog = 0;
  const sampler = setInterval(() => (maxBacklog = Math.max(maxBacklog, backlog())), 1000);
  const t0 = performance.now();
  const total = Math.round(RATE * SECONDS);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const id = `ovl-${i}`;
    sends.push(
      (async () => {
        const start = performance.now();
        const r = await sendMm4(iwf.mm4.port, forwardReq({ messageId: id, text: id, deliveryReport: false }), {
          from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
          to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
        });
        const end = performance.now();
        answerMs.push(end - start);
        if (r.ok) {
          outcome.accepted++;
          acceptedAt.set(id, end);
        } else if (r.code === 451 && /4\.3\.2/.test(r.response)) outcome.pushedBack++;
        else if (r.code === 421) outcome.connectionRefused++;
        else {
          outcome.other++;
          const key = `${r.code ?? '-'} ${r.response.slice(0, 60)}`;
          otherReplies.set(key, (otherReplies.get(key) ?? 0) + 1);
        }
      })(),
    );
  }
  await Promise.all(sends);
  clearInterval(sampler);
  const endBacklog = backlog();
  const driveSeconds = (performance.now() - t0) / 1000;
  const routedDuringDrive = [...routedAt.values()].filter((at) => at <= t0 + driveSeconds * 1000).length;
  const rss1 = { iwf: rssMiB(), heap: heapMiB(), temporal: rssMiB(temporalPid) };

  // Drain: every accepted delivery reaches the CPM side (bounded wait).
  const drainEnd = performance.now() + 10 * 60_000;
  while ([...acceptedAt.keys()].some((id) => !routedAt.has(id)) && performance.now() < drainEnd) await sleep(200);
  const drainSeconds = (performance.now() - t0) / 1000 - driveSeconds;
  await sleep(2000);
  const rss2 = { iwf: rssMiB(), heap: heapMiB(), temporal: rssMiB(temporalPid) };

  const latencies = [...acceptedAt.entries()]
    .filter(([id]) => routedAt.has(id))
    .map(([id, at]) => routedAt.get(id)! - at);
  const mib = (r: { iwf: number; heap: number; temporal: number }) =>
    `IWF ${r.iwf.toFixed(0)} MiB (live heap ${r.heap.toFixed(0)} MiB), Temporal ${r.temporal.toFixed(0)} MiB`;
  console.log(
    [
      `cpm-mms-iwf overload: MMS -> CPM offered at ${RATE}/s for ${SECONDS} s (${total} MM4_forward.REQ), ingress.maxInFlight ${MAX_IN_FLIGHT || 'unbounded'}`,
      `  accepted (250) ${outcome.accepted}, pushed back (451 4.3.2) ${outcome.pushedBack}, connection refused (421) ${outcome.connectionRefused}, other ${outcome.other}${otherReplies.size ? ` ${JSON.stringify(Object.fromEntries(otherReplies))}` : ''}`,
      `  routed during the drive: ${routedDuringDrive} (${(routedDuringDrive / driveSeconds).toFixed(1)}/s); drive ${driveSeconds.toFixed(1)} s, drain after it ${drainSeconds.toFixed(1)} s`,
      `  backlog (accepted, not yet at the CPM side): max ${maxBacklog} during the drive, ${endBacklog} at its end`,
      `  SMTP answer time (any reply): ${fmt(answerMs)}`,
      `  accepted (250) -> SIP MESSAGE at the CPM side: ${fmt(latencies)}`,
      `  RSS before: ${mib(rss0)}; end of drive: ${mib(rss1)}; after drain: ${mib(rss2)}`,
    ].join('\n'),
  );

  await iwf.stop();
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
