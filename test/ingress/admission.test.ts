import test from 'ava';
import { AdmissionGauge, unroutedQuery, UNROUTED_STATES } from '../../ingress/admission.js';
import { cpmToMmsMachine } from '../../machines/cpm-to-mms.machine.js';
import { mmsToCpmMachine } from '../../machines/mms-to-cpm.machine.js';

/** The count Temporal would answer, settable per test; `fail` makes it reject (Temporal down). */
function harness(maxInFlight: number) {
  let now = 0;
  let remote = 0;
  let fail = false;
  const intervals: (() => void)[] = [];
  const gauge = new AdmissionGauge({
    maxInFlight,
    count: async () => {
      if (fail) throw new Error('14 UNAVAILABLE: connect ECONNREFUSED');
      return remote;
    },
    refreshMs: 1000,
    now: () => now,
    timers: { setInterval: (fn) => intervals.push(fn), clearInterval: () => {} },
  });
  return {
    gauge,
    intervals,
    setRemote: (n: number) => (remote = n),
    setFail: (f: boolean) => (fail = f),
    advance: (ms: number) => (now += ms),
  };
}

test('the bound counts Temporal plus local starts; a place is reserved before the start is made', async (t) => {
  const h = harness(3);
  h.setRemote(1);
  await h.gauge.refresh();
  const a = h.gauge.tryAdmit();
  const b = h.gauge.tryAdmit();
  t.truthy(a);
  t.truthy(b);
  t.is(h.gauge.tryAdmit(), undefined, '1 counted + 2 starts in progress = 3: a third concurrent one is refused');
  a!.settle('started');
  b!.settle('existing');
  t.like(h.gauge.snapshot(), { counted: 1, recent: 1, pending: 0, inFlight: 2 });
  t.truthy(h.gauge.tryAdmit(), 'a retransmission (existing) freed its place');
});

test('a refresh takes starts made before its query as counted, and later ones stay local', async (t) => {
  const h = harness(10);
  await h.gauge.refresh();
  h.gauge.tryAdmit()!.settle('started'); // at t=0
  h.advance(1500);
  h.gauge.tryAdmit()!.settle('started'); // at t=1500
  h.advance(500);
  h.setRemote(1); // the visibility store has the first only
  await h.gauge.refresh(); // query at t=2000: starts before 2000-1000 are in its count
  t.like(h.gauge.snapshot(), { counted: 1, recent: 1, inFlight: 2 });
  h.advance(1000);
  h.setRemote(2);
  await h.gauge.refresh();
  t.like(h.gauge.snapshot(), { counted: 2, recent: 0, inFlight: 2 });
});

test('deliveries that get routed (the count drops) make room again', async (t) => {
  const h = harness(2);
  h.setRemote(2);
  await h.gauge.refresh();
  t.is(h.gauge.tryAdmit(), undefined);
  h.setRemote(1);
  h.advance(1000);
  await h.gauge.refresh();
  t.truthy(h.gauge.tryAdmit());
});

test('Temporal unreachable: the stale gauge bounds only starts in progress, never refuses by itself', async (t) => {
  const h = harness(2);
  h.setRemote(5); // far over the bound
  await h.gauge.refresh();
  t.is(h.gauge.tryAdmit(), undefined);
  h.setFail(true);
  h.advance(4000);
  await h.gauge.refresh();
  t.is(h.gauge.tryAdmit(), undefined, 'within 5 refreshes the last count still holds');
  h.advance(1001);
  await h.gauge.refresh();
  t.false(h.gauge.snapshot().fresh);
  const a = h.gauge.tryAdmit();
  const b = h.gauge.tryAdmit();
  t.truthy(a);
  t.truthy(b);
  t.is(h.gauge.tryAdmit(), undefined, 'two starts hang on Temporal: a third waits');
  a!.settle('failed');
  b!.settle('failed');
  t.truthy(h.gauge.tryAdmit(), 'the failed starts (answered 451/503 by dispatch) freed their places');
  h.setFail(false);
  h.setRemote(0);
  await h.gauge.refresh();
  t.like(h.gauge.snapshot(), { fresh: true, counted: 0 });
});

test('before the first count the gauge admits (bounded by starts in progress)', (t) => {
  const h = harness(1);
  const a = h.gauge.tryAdmit();
  t.truthy(a);
  t.is(h.gauge.tryAdmit(), undefined);
});

test('maxInFlight 0 admits everything and never queries Temporal', (t) => {
  const h = harness(0);
  h.gauge.start();
  t.is(h.intervals.length, 0);
  for (let i = 0; i < 1000; i++) h.gauge.tryAdmit()!.settle('started');
  t.truthy(h.gauge.tryAdmit());
});

test('start() refreshes on the injected interval', async (t) => {
  const h = harness(5);
  h.gauge.start();
  t.is(h.intervals.length, 1);
  await h.gauge.refresh(); // joins the first refresh, made at start
  t.is(h.gauge.snapshot().counted, 0);
  h.setRemote(4);
  h.intervals[0]();
  await h.gauge.refresh(); // joins the refresh the interval began
  t.is(h.gauge.snapshot().counted, 4);
  h.gauge.stop();
});

test('the visibility query names every pre-routing state of each direction and the task queue', (t) => {
  const q = unroutedQuery("iwf'q");
  t.true(q.startsWith("ExecutionStatus = 'Running' AND TaskQueue = 'iwf\\'q' AND ("));
  t.true(
    q.includes(
      "(IwfDirection = 'mms-to-cpm' AND IwfState IN ('received', 'converting', 'checkingRoutes', 'storing', 'routing'))",
    ),
  );
  t.true(
    q.includes(
      "(IwfDirection = 'cpm-to-mms' AND IwfState IN ('received', 'selecting', 'converting', 'fetching', 'adapting', 'sending'))",
    ),
  );
  t.false(UNROUTED_STATES['mms-to-cpm'].includes('retryWait'), 'a delivery waiting on a durable timer costs nothing');
  t.false(UNROUTED_STATES['cpm-to-mms'].includes('awaitingRes'));
});

test('every counted state is a state of its machine (a renamed state must not silently stop counting)', (t) => {
  const machines = { 'mms-to-cpm': mmsToCpmMachine, 'cpm-to-mms': cpmToMmsMachine } as const;
  for (const [direction, machine] of Object.entries(machines)) {
    const states = Object.keys(machine.config.states ?? {});
    for (const s of UNROUTED_STATES[direction as keyof typeof machines])
      t.true(states.includes(s), `${direction}: ${s}`);
    t.is(machine.config.initial, 'received', 'the state dispatch gives a new delivery (IwfState at start)');
  }
});

test('a recent start the count already includes (by workflow id) is not counted twice', async (t) => {
  let asked: string[] = [];
  const gauge = new AdmissionGauge({
    maxInFlight: 3,
    count: async (ids) => ((asked = ids), { total: 2, visible: ids.filter((id) => id !== 'c') }),
    refreshMs: 1000,
    now: () => 0,
  });
  for (const id of ['a', 'b']) gauge.tryAdmit()!.settle('started', id);
  await gauge.refresh();
  t.deepEqual(asked, ['a', 'b']);
  t.like(gauge.snapshot(), { counted: 2, recent: 0, inFlight: 2 });
  const c = gauge.tryAdmit();
  t.truthy(c, 'the third of three is taken: its two predecessors count once');
  c!.settle('started', 'c');
  await gauge.refresh();
  t.like(gauge.snapshot(), { counted: 2, recent: 1, inFlight: 3 }, 'c is not visible yet: counted locally');
  t.is(gauge.tryAdmit(), undefined);
});
