/**
 * R2: the embedded Temporal dev server is killed (SIGKILL, its pid from <dataDir>/temporal.sqlite.pid)
 * mid-run; the IWF's supervisor restarts it on the same SQLite file. While it is away the
 * front-ends must push back (SMTP 451, RFC 5321 §4.2.1 transient; SIP 503, RFC 3261 §21.5.4) and
 * never take (250 / 202) what they cannot record; afterwards every delivery completes exactly once.
 */
import {
  cpmMessage,
  emptyResult,
  sleep,
  token,
  alive,
  type Delivery,
  type GroupResult,
  type Rig,
  MMS_ENVELOPE,
  mmsForward,
} from '../harness.js';
import { sendMm4 } from '../../test/helpers/mmsc.js';

export async function r2Temporal(rig: Rig, o: { short: boolean; log: (s: string) => void }): Promise<GroupResult> {
  const r = emptyResult('R2', 'kill the embedded Temporal server mid-run: push-back, then exactly-once');
  r.rssBeforeKb = rig.iwf.rssKb();
  const crashesBefore = rig.iwf.unexpectedExits.length;
  // Kills per cycle: the supervisor's backoff doubles (1 s, 2 s, 4 s) so three kills in a row keep
  // Temporal away longer than ingress waits for it (10 s, ingress/dispatch.ts), and the front-ends
  // must push back. At most 4 in all: the fifth exit in 10 minutes makes npm start give up (exit 70).
  const killsPerCycle = o.short ? [3] : [1, 3];
  const cycles = killsPerCycle.length;
  const batch = o.short ? 3 : 6;
  const answers: Record<string, number> = {};
  const count = (k: string) => (answers[k] = (answers[k] ?? 0) + 1);
  let downMs = 0;
  for (let c = 0; c < cycles; c++) {
    rig.uasDelayMs = 800;
    rig.resDelayMs = 800;
    const ds: Delivery[] = [];
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < batch; i++) {
      const m: Delivery = { dir: 'mms-to-cpm', tok: token('rel-r2m-') };
      const p: Delivery = { dir: 'cpm-to-mms', tok: token('rel-r2c-') };
      ds.push(m, p);
      sends.push(rig.sendMms(m.tok, 150_000), rig.sendCpm(p.tok, 150_000));
    }
    await sleep(300);
    const pid = rig.iwf.temporalPid();
    if (!pid || !alive(pid)) {
      r.failures.push(`cycle ${c}: no live Temporal pid in ${rig.iwf.temporalPidFile}`);
      r.violations++;
      break;
    }
    const kills = killsPerCycle[c];
    const restartsBefore = rig.iwf.logLines(/dev server restarted/).length;
    process.kill(pid, 'SIGKILL');
    let killed = 1;
    let lastPid = pid;
    const killedAt = Date.now();
    // Probes while it is away: one try each, as sent; what was taken must be delivered.
    const refused: Delivery[] = [];
    let back = false;
    const restarted = () => {
      const now = rig.iwf.temporalPid();
      const up = now !== undefined && now !== lastPid && alive(now);
      const restarts = rig.iwf.logLines(/dev server restarted/).length - restartsBefore;
      if (up && restarts >= killed && killed < kills) {
        process.kill(now, 'SIGKILL'); // again, as soon as it is back
        killed++;
        lastPid = now;
        return false;
      }
      return up && restarts >= kills;
    };
    // One probe pair every 250 ms while it is away, each answered whenever the front-end decides:
    // held until Temporal is back and then taken, or pushed back at once; never taken unrecorded.
    const probes: Promise<void>[] = [];
    const probe = async () => {
      const m: Delivery = { dir: 'mms-to-cpm', tok: token('rel-r2p-') };
      const p: Delivery = { dir: 'cpm-to-mms', tok: token('rel-r2q-') };
      const msg = cpmMessage({
        sipPort: rig.iwf.ports.sip,
        imdnId: `imdn-${p.tok}`,
        text: `reliability ${p.tok}`,
        localPort: rig.core.port,
      });
      const [a, b] = await Promise.all([
        sendMm4(rig.iwf.ports.mm4, mmsForward(m.tok), MMS_ENVELOPE),
        rig.core.transaction(msg.bytes, msg.branch, rig.iwf.ports.sip, 32_000),
      ]);
      const when = back ? ' (answered after the restart)' : ' (answered while down)';
      const smtp = a.ok ? 250 : (a.code ?? 'no-connection');
      count(`smtp ${smtp}${when}`);
      count(`sip ${b}${when}`);
      r.cases += 2;
      if (smtp === 250) ds.push(m);
      else if (smtp === 451 || smtp === 421) refused.push(m);
      else {
        r.violations++;
        r.failures.push(`MM4 probe while Temporal was down answered ${smtp}: ${a.response}`);
      }
      if (b === 202) ds.push(p);
      else if (b === 503) refused.push(p);
      else if (b === 'timeout') {
        r.hangs++;
        r.failures.push(`SIP probe while Temporal was down got no final answer in 32 s (${p.tok})`);
      } else {
        r.violations++;
        r.failures.push(`SIP probe while Temporal was down answered ${b}`);
      }
    };
    while (!back && Date.now() - killedAt < 90_000) {
      probes.push(probe());
      await sleep(250);
      back = restarted();
    }
    await Promise.all(probes);
    downMs += Date.now() - killedAt;
    o.log(
      `R2 cycle ${c} (${kills} kills): Temporal back after ${Date.now() - killedAt} ms; probes ${JSON.stringify(answers)}`,
    );
    rig.uasDelayMs = 0;
    rig.resDelayMs = 20;
    await rig.resetTemporal();
    // The pushed-back ones come again, as an MMSC's queue and a CPM client do.
    for (const d of refused) sends.push(d.dir === 'mms-to-cpm' ? rig.sendMms(d.tok) : rig.sendCpm(d.tok));
    ds.push(...refused);
    await Promise.all(sends);
    const s = await rig.settle(ds, 120_000);
    r.cases += batch * 2;
    r.lost += s.lost.length;
    r.duplicated += s.duplicated.length;
    for (const d of s.lost) r.failures.push(`lost ${d.dir} ${d.tok}`);
    for (const d of s.duplicated) r.failures.push(`duplicated ${d.d.dir} ${d.d.tok}: ${d.why}`);
  }
  r.crashes = rig.iwf.unexpectedExits.length - crashesBefore;
  if (!alive(rig.iwf.pid)) {
    r.crashes = Math.max(r.crashes, 1);
    r.failures.push(`the IWF process is gone: ${rig.iwf.recentLog(5)}`);
  }
  r.rssAfterKb = rig.iwf.rssKb();
  r.figures.temporalDownMs = downMs;
  for (const [k, v] of Object.entries(answers)) r.figures[k] = v;
  return r;
}
