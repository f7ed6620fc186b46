/**
 * R6: 2x overload. First the sustainable rate is measured in the same run (closed loop: a few
 * senders, each sending its next delivery when the last one completed); then twice that rate is
 * offered open loop for a fixed time. With `ingress.maxInFlight` set the front-ends must push back
 * (SMTP 451 4.3.2 / 421, RFC 5321 §4.2.3; SIP 503 with Retry-After, RFC 3261 §21.5.4) instead of
 * taking more than they can finish, and everything they took must complete.
 */
import {
  cpmMessage,
  emptyResult,
  MMS_ENVELOPE,
  mmsForward,
  percentile,
  Rig,
  sleep,
  token,
  type Delivery,
  type GroupResult,
} from '../harness.js';
import { sendMm4 } from '../../test/helpers/mmsc.js';

/** The push-back limit R6 configures (another change adds the key; see README "Reliability suite"). */
export const MAX_IN_FLIGHT = 16;

export async function r6Overload(o: { short: boolean; log: (s: string) => void }): Promise<GroupResult> {
  const r = emptyResult('R6', '2x overload: push-back, latency of accepted deliveries');
  const rig = await Rig.start({ startIwf: false, extra: { ingress: { maxInFlight: MAX_IN_FLIGHT } } });
  try {
    try {
      await rig.iwf.start();
    } catch (e) {
      const err = e as { code?: number; stderr?: string; message: string };
      if (err.code === 2) {
        r.status = 'waiting';
        r.failures.push(
          `waiting for push-back: the IWF refuses ingress.maxInFlight (${(err.stderr ?? err.message).trim().split('\n')[0]})`,
        );
        return r;
      }
      throw e;
    }
    r.rssBeforeKb = rig.iwf.rssKb();
    const measureMs = o.short ? 8_000 : 20_000;
    const overloadMs = o.short ? 10_000 : 30_000;

    // 1. Sustainable rate, closed loop.
    let done = 0;
    const stopAt = Date.now() + measureMs;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 6 }, async (_, w) => {
        for (let i = 0; Date.now() < stopAt; i++) {
          const d: Delivery = { dir: (w + i) % 2 ? 'mms-to-cpm' : 'cpm-to-mms', tok: token('rel-r6s-') };
          const ok =
            d.dir === 'mms-to-cpm'
              ? (await rig.sendMms(d.tok, 20_000)).ok
              : (await rig.sendCpm(d.tok, 20_000)).at(-1) === 202;
          if (!ok) continue;
          const until = Date.now() + 30_000;
          while (!rig.complete(d) && Date.now() < until) await sleep(20);
          if (rig.complete(d)) done++;
        }
      }),
    );
    const rate = done / ((Date.now() - started) / 1000);
    const offered = Math.max(2, rate * 2);
    r.figures.sustainablePerSec = Number(rate.toFixed(2));
    r.figures.offeredPerSec = Number(offered.toFixed(2));
    o.log(`R6: sustainable ${rate.toFixed(2)}/s, offering ${offered.toFixed(2)}/s for ${overloadMs} ms`);

    // 2. Twice that, open loop, one try per delivery.
    const accepted: { d: Delivery; sentAt: number; doneAt?: number }[] = [];
    const answers: Record<string, number> = {};
    const count = (k: string) => (answers[k] = (answers[k] ?? 0) + 1);
    const inflight: Promise<void>[] = [];
    const t0 = Date.now();
    for (let n = 0; Date.now() - t0 < overloadMs; n++) {
      const due = t0 + (n * 1000) / offered;
      if (due > Date.now()) await sleep(due - Date.now());
      const d: Delivery = { dir: n % 2 ? 'mms-to-cpm' : 'cpm-to-mms', tok: token('rel-r6o-') };
      const sentAt = Date.now();
      r.cases++;
      inflight.push(
        (async () => {
          if (d.dir === 'mms-to-cpm') {
            const a = await sendMm4(rig.iwf.ports.mm4, mmsForward(d.tok), MMS_ENVELOPE);
            const code = a.ok ? 250 : (a.code ?? 'no-connection');
            count(`smtp ${code}`);
            if (code === 250) accepted.push({ d, sentAt });
            else if (code !== 451 && code !== 421) {
              r.violations++;
              r.failures.push(`SMTP under overload answered ${code}: ${a.response}`);
            }
          } else {
            const m = cpmMessage({
              sipPort: rig.iwf.ports.sip,
              imdnId: `imdn-${d.tok}`,
              text: `reliability ${d.tok}`,
              localPort: rig.core.port,
            });
            const a = await rig.core.transaction(m.bytes, m.branch, rig.iwf.ports.sip, 32_000);
            count(`sip ${a}`);
            if (a === 202) accepted.push({ d, sentAt });
            else if (a === 'timeout') {
              r.hangs++;
              r.failures.push(`SIP under overload: no final answer in 32 s (${d.tok})`);
            } else if (a !== 503) {
              r.violations++;
              r.failures.push(`SIP under overload answered ${a}`);
            }
          }
        })(),
      );
    }
    await Promise.all(inflight);
    const end = Date.now() + 180_000;
    while (Date.now() < end && accepted.some((a) => a.doneAt === undefined)) {
      const now = Date.now();
      for (const a of accepted) if (a.doneAt === undefined && rig.complete(a.d)) a.doneAt = now;
      await sleep(50);
    }
    const lat = accepted
      .filter((a) => a.doneAt !== undefined)
      .map((a) => a.doneAt! - a.sentAt)
      .sort((x, y) => x - y);
    const lost = accepted.filter((a) => a.doneAt === undefined);
    r.lost = lost.length;
    for (const a of lost.slice(0, 20)) r.failures.push(`lost ${a.d.dir} ${a.d.tok} (accepted under overload)`);
    for (const a of accepted) {
      const why = rig.duplicates(a.d);
      if (why) {
        r.duplicated++;
        r.failures.push(`duplicated ${a.d.dir} ${a.d.tok}: ${why}`);
      }
    }
    const pushedBack = (answers['smtp 451'] ?? 0) + (answers['smtp 421'] ?? 0) + (answers['sip 503'] ?? 0);
    r.figures.accepted = accepted.length;
    r.figures.pushedBack = pushedBack;
    r.figures.p50Ms = percentile(lat, 50);
    r.figures.p99Ms = percentile(lat, 99);
    for (const [k, v] of Object.entries(answers)) r.figures[k] = v;
    r.crashes = rig.iwf.unexpectedExits.length;
    r.rssAfterKb = rig.iwf.rssKb();
    return r;
  } finally {
    await rig.stop();
  }
}
