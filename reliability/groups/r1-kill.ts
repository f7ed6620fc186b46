/**
 * R1: SIGKILL of the IWF process at a chosen machine state with deliveries in flight both ways,
 * then a restart on the same Temporal database. Durable state is in Temporal, so every delivery
 * must complete, and exactly once as its peers count (harness.ts Rig.duplicates).
 */
import {
  emptyResult,
  sleep,
  token,
  type Delivery,
  type GroupResult,
  type Rig,
  cpmWorkflowId,
  mmsWorkflowId,
} from '../harness.js';

type Dir = Delivery['dir'];

/** Machine states in the order a delivery passes them (machines/*.machine.ts). */
const ORDER: Record<Dir, string[]> = {
  'mms-to-cpm': [
    'received',
    'converting',
    'checkingRoutes',
    'storing',
    'routing',
    'routed',
    'concluding',
    'acking',
    'done',
  ],
  'cpm-to-mms': ['received', 'selecting', 'converting', 'adapting', 'sending', 'awaitingRes', 'accepted', 'done'],
};

const FULL: [Dir, string][] = [
  ['mms-to-cpm', 'converting'],
  ['mms-to-cpm', 'storing'],
  ['mms-to-cpm', 'routing'],
  ['mms-to-cpm', 'acking'],
  ['cpm-to-mms', 'selecting'],
  ['cpm-to-mms', 'converting'],
  ['cpm-to-mms', 'sending'],
  ['cpm-to-mms', 'awaitingRes'],
];
const SHORT: [Dir, string][] = [
  ['mms-to-cpm', 'routing'],
  ['cpm-to-mms', 'awaitingRes'],
];

export async function r1Kill(rig: Rig, o: { short: boolean; log: (s: string) => void }): Promise<GroupResult> {
  const r = emptyResult('R1', 'SIGKILL of the IWF at each machine state, restart, exactly-once');
  r.rssBeforeKb = rig.iwf.rssKb();
  const crashesBefore = rig.iwf.unexpectedExits.length;
  const batch = o.short ? 2 : 4;
  const hits: string[] = [];
  let resends = 0;
  const recovery: number[] = [];
  for (const [dir, target] of o.short ? SHORT : FULL) {
    // The peers hold the states that wait on them (routing: the UAS answer; awaitingRes: the .RES).
    rig.uasDelayMs = 1500;
    rig.resDelayMs = 1500;
    const probe: Delivery = { dir, tok: token(`rel-r1${dir === 'mms-to-cpm' ? 'm' : 'c'}-`) };
    const ds: Delivery[] = [probe];
    for (let i = 0; i < batch; i++) {
      ds.push({ dir: 'mms-to-cpm', tok: token('rel-r1m-') }, { dir: 'cpm-to-mms', tok: token('rel-r1c-') });
    }
    const send = (d: Delivery): Promise<unknown> =>
      d.dir === 'mms-to-cpm' ? rig.sendMms(d.tok, 150_000) : rig.sendCpm(d.tok, 150_000);
    const rest = ds.slice(1).map(send);
    await sleep(50); // the probe last, so the others are in flight when it reaches its state
    const sends = [send(probe), ...rest];
    const wf = dir === 'mms-to-cpm' ? mmsWorkflowId(probe.tok) : cpmWorkflowId(`imdn-${probe.tok}`);
    const order = ORDER[dir];
    const want = order.indexOf(target);
    let state: string | undefined;
    const until = Date.now() + 30_000;
    // A delivery started on 0.2 publishes its state only at rest (workflows/run-machine.ts
    // LocalSteps): the steps of one workflow task (converting .. routing, selecting .. sending)
    // are told by their peer instead: the UAS holding the probe's MESSAGE is routing, the MMSC
    // holding its .RES is awaitingRes.
    const peerState = () =>
      dir === 'mms-to-cpm'
        ? rig.uas.byToken(probe.tok).length > 0
          ? 'routing'
          : undefined
        : rig.mmsc.forwardsFor(probe.tok).length > 0
          ? 'awaitingRes'
          : undefined;
    for (;;) {
      const published = await rig.stateOf(wf);
      const told = peerState();
      state = told && (!published || order.indexOf(told) > order.indexOf(published)) ? told : published;
      if (state && (order.indexOf(state) >= want || !order.includes(state))) break;
      if (Date.now() > until) break;
      await sleep(5);
    }
    await rig.iwf.kill();
    hits.push(`${dir}:${target}->${state ?? 'unknown'}`);
    o.log(`R1 ${dir} target ${target}: killed at ${state ?? 'unknown'} with ${ds.length} in flight`);
    rig.uasDelayMs = 0;
    rig.resDelayMs = 20;
    await rig.resetTemporal();
    await rig.iwf.start();
    const answers = await Promise.all(sends);
    answers.forEach((a, i) => (ds[i].answer = JSON.stringify(a)));
    const restartedAt = Date.now();
    const s = await rig.settle(ds, 240_000);
    recovery.push(Date.now() - restartedAt);
    r.cases += ds.length;
    r.lost += s.lost.length;
    r.duplicated += s.duplicated.length;
    // Copies the peers saw beyond one per delivery: retransmissions and resends of the same request.
    for (const d of ds) {
      const copies =
        d.dir === 'mms-to-cpm'
          ? rig.uas.byToken(d.tok).reduce((n, t) => n + t.copies, 0)
          : rig.mmsc.forwardsFor(d.tok).length;
      resends += Math.max(0, copies - 1);
    }
    for (const d of s.lost) {
      const id = d.dir === 'mms-to-cpm' ? mmsWorkflowId(d.tok) : cpmWorkflowId(`imdn-${d.tok}`);
      const far = d.dir === 'mms-to-cpm' ? rig.uas.byToken(d.tok).length : rig.mmsc.forwardsFor(d.tok).length;
      r.failures.push(
        `lost ${d.dir} ${id} (kill ${dir}:${target} at ${state}; front-end answers ${d.answer}; ` +
          `now ${await rig.stateOf(id)}, far peer saw ${far}, audit records ${rig.auditCount(id)})`,
      );
    }
    for (const d of s.duplicated)
      r.failures.push(`duplicated ${d.d.dir} ${d.d.tok} (killed at ${target}/${state}): ${d.why}`);
  }
  r.crashes = rig.iwf.unexpectedExits.length - crashesBefore;
  r.rssAfterKb = rig.iwf.rssKb();
  r.figures.kills = hits.length;
  r.figures['ms from restart to all complete, per kill'] = recovery.join(' ');
  r.figures['resent copies of the same request (not duplicates)'] = resends;
  r.figures.killedAt = hits.join(' ');
  return r;
}
