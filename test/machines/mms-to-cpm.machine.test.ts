import test from 'ava';
import { createActor, fromPromise, toPromise, transition } from 'xstate';
import { transitionsOf } from '../../machines/trail.js';
import type { ActorError } from '../../machines/common.js';
import {
  imdnToMmStatus,
  mmsToCpmMachine,
  summarise,
  type MmsToCpmMachineInput,
  type ResInput,
  type ReportsSent,
  type RouteInput,
  type SentReport,
} from '../../machines/mms-to-cpm.machine.js';
import type {
  ConvertedMessage,
  MmsContent,
  MmsToCpmInput,
  OperatorEvent,
  SipAttemptResult,
} from '../../model/delivery.js';
import { drive, StepClock } from './harness.js';

/** Every state the chart declares; the last test checks the scenarios below visit all of them. */
const declared = Object.keys(mmsToCpmMachine.root.states);
const visited = new Set<string>();

/** When every scenario starts: the simulated clock's epoch (X-Mms-Expiry is an absolute time). */
const T0 = Date.parse('2025-03-04T10:15:02Z');

function input(over: Partial<MmsToCpmInput['mm4']> = {}, extra: Partial<MmsToCpmInput> = {}): MmsToCpmInput {
  return {
    peer: 'peer-a',
    receivedAt: new Date(T0).toISOString(),
    mm4: {
      version: '6.16.0',
      transactionId: 'T-1',
      messageId: 'M-1',
      idsQuoted: true,
      from: '+12025550101/TYPE=PLMN@mms.a.example',
      recipients: ['+12025550199/TYPE=PLMN@mms.iwf.example'],
      deliveryReport: false,
      readReply: false,
      ackRequest: true,
      originatorSystem: 'system@mms.a.example',
      ...over,
    },
    retry: { maxAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2, maxIntervalMs: 10_000 },
    mm4Ack: { timeoutMs: 60_000, maxAttempts: 3 },
    ...extra,
  };
}

/** The machine input for a request, at a fixed time (for tests that take single transitions). */
const at = (request: MmsToCpmInput, now = T0): MmsToCpmMachineInput => ({ request, now: () => now });

/** What a failed activity delivers to the machine (the workflow unwraps ActivityFailure into it). */
const fault = (type: string, message: string): ActorError => ({ type, message });

const tel = (mms: string) => `tel:${mms.split('/')[0]}`;

function convertAll(req: MmsToCpmInput): ConvertedMessage {
  return {
    senderUri: 'tel:+12025550101',
    recipients: req.mm4.recipients.map((mms) =>
      mms.includes('555')
        ? { mms, uri: tel(mms) }
        : { mms, refused: { status: 'Error-sending-address-unresolved', reason: 'not a CPM user' } },
    ),
    disposition: ['positive-delivery', 'negative-delivery'],
  };
}

type Answer = Pick<SipAttemptResult, 'outcome' | 'sipStatus' | 'mm4Status'>;
const OK: Answer = { outcome: 'accepted', sipStatus: 202, mm4Status: 'Ok' };
const OFFLINE: Answer = { outcome: 'transient', sipStatus: 480, mm4Status: 'Error-network-problem' };
const NOT_FOUND: Answer = { outcome: 'permanent', sipStatus: 404, mm4Status: 'Error-sending-address-unresolved' };

type Imdn = {
  recipientUri: string;
  kind: 'delivery' | 'display' | 'processing';
  status: string;
  /** What the workflow sets on processing notifications when patched('processing-imdn'). */
  reportProcessing?: boolean;
};

interface Stubs {
  convert?: (req: MmsToCpmInput) => Promise<ConvertedMessage>;
  /** Answer per attempt number (1-based) and recipient uri. */
  answer?: (attempt: number, uri: string) => Answer;
  routeFails?: boolean;
  storeFails?: boolean;
  /** The CPM recipients' IMDNs, sent once the delivery waits for them. */
  imdns?: Imdn[];
  /** IMDNs that come while our MM4_forward.RES is still being sent (a fast client overtakes it). */
  imdnsDuringRes?: Imdn[];
  resFails?: boolean;
  /** How the originator MMSC answers our reports: at once (default), never, or twice each. */
  reportRes?: 'ok' | 'none' | 'twice';
  /**
   * The peer's reportAck is `none`: every report goes without an ack request, and the workflow
   * (patched 'report-ack-none') says so in the send's output.
   */
  noAck?: boolean;
  /** An operator command, sent the first time the delivery waits in the given state. */
  operator?: { in: 'retryWait' | 'awaitingImdn'; event: OperatorEvent };
}

/** The states in which a delivery waits for the outside world: an event or one of its timers. */
const WAITS = ['retryWait', 'awaitingImdn'];

/** The originator MMSC's MM4_delivery_report.RES to report `n` (our minted transaction id). */
const reportRes = (n: number) => ({
  type: 'mm4.res' as const,
  pduType: 'MM4_delivery_report.RES',
  status: 'Ok',
  transactionId: `iwf1.d2Y.r${n}`,
});

async function run(req: MmsToCpmInput, stubs: Stubs = {}) {
  const calls = {
    convert: 0,
    route: [] as RouteInput[],
    routedAt: [] as number[],
    res: [] as ResInput[],
    reports: [] as SentReport[],
    reportedAt: [] as number[],
    waits: 0,
  };
  const clock = new StepClock(T0);
  const machine = mmsToCpmMachine.provide({
    actors: {
      convert: fromPromise(async ({ input }: { input: MmsToCpmInput }) => {
        calls.convert++;
        return (stubs.convert ?? (async (r) => convertAll(r)))(input);
      }),
      store: fromPromise(async (): Promise<MmsContent> => {
        if (stubs.storeFails) throw fault('MalformedMessage', 'stored MM is gone');
        return { text: 'hello', files: [] };
      }),
      route: fromPromise(async ({ input }: { input: RouteInput }) => {
        calls.route.push(input);
        calls.routedAt.push(clock.now());
        if (stubs.routeFails) throw fault('Error', 'SIP stack down');
        return input.pending.map((p): SipAttemptResult => {
          const a = (stubs.answer ?? (() => OK))(input.attempt, p.uri!);
          return { ...a, uri: p.uri!, reason: String(a.sipStatus), imdnMessageId: 'x', callId: 'c' };
        });
      }),
      sendRes: fromPromise(async ({ input }: { input: ResInput }) => {
        calls.res.push(input);
        for (const e of stubs.imdnsDuringRes ?? []) actor.send({ type: 'sip.imdn', ...e });
        if (stubs.resFails) throw fault('Error', 'MMSC unreachable');
      }),
      sendReports: fromPromise(async ({ input }: { input: { reports: SentReport[] } }): Promise<ReportsSent> => {
        calls.reports.push(...input.reports);
        if (input.reports.length) calls.reportedAt.push(clock.now());
        return stubs.noAck ? { noAck: input.reports.map((r) => r.n) } : {};
      }),
    },
  });
  const states: string[] = ['received'];
  const events: string[] = [];
  const actor = createActor(machine, {
    input: { request: req, now: () => clock.now() },
    clock,
    inspect: (ev) => {
      for (const tr of transitionsOf(ev)) {
        states.push(tr.to);
        events.push(tr.event);
        visited.add(tr.from).add(tr.to);
        if (tr.to === 'retryWait') calls.waits++;
      }
    },
  });
  // The outside world, each time the delivery waits: the operator's command, the originator MMSC's
  // .RES to each report it got, the scripted IMDNs; when none of them has anything left to say,
  // time moves on to the delivery's next timer (a backoff, the expiry, a report's ack timeout).
  const resPerReport = { ok: 1, none: 0, twice: 2 }[stubs.reportRes ?? 'ok'];
  const answered = new Set<number>();
  let operated = false;
  let imdnsSent = false;
  actor.start();
  await drive(actor, WAITS, (state) => {
    if (stubs.operator?.in === state && !operated) {
      operated = true;
      return actor.send(stubs.operator.event);
    }
    const unanswered = [...new Set(calls.reports.map((r) => r.n))].filter((n) => resPerReport > 0 && !answered.has(n));
    if (unanswered.length) {
      for (const n of unanswered) {
        answered.add(n);
        for (let i = 0; i < resPerReport; i++) actor.send(reportRes(n));
      }
      return;
    }
    if (state === 'awaitingImdn' && stubs.imdns?.length && !imdnsSent) {
      imdnsSent = true;
      for (const e of stubs.imdns) actor.send({ type: 'sip.imdn', ...e });
      return;
    }
    clock.next();
  });
  const output = await toPromise(actor);
  return { output, calls, states, events };
}

test('a CPM user who accepts gets one MESSAGE and the MMSC gets an Ok .RES', async (t) => {
  const { output, calls, states } = await run(input());
  t.deepEqual(states, [
    'received',
    'converting',
    'checkingRoutes',
    'storing',
    'routing',
    'routed',
    'concluding',
    'acking',
    'afterAck',
    'done',
  ]);
  t.is(calls.route.length, 1);
  t.deepEqual(calls.res, [{ status: 'Ok', statusText: 'Accepted by CPM for 1 recipient(s)' }]);
  t.is(output.result, 'delivered');
  t.true(output.resSent);
});

test('no .RES is sent when the MMSC did not ask for an acknowledgement', async (t) => {
  const { output, calls } = await run(input({ ackRequest: false }));
  t.is(calls.res.length, 0);
  t.is(output.mm4Status, 'Ok');
  t.false(output.resSent);
});

test('a recipient that is not a CPM user is refused without any SIP traffic', async (t) => {
  const { output, calls } = await run(input({ recipients: ['+4930123/TYPE=PLMN@x'] }));
  t.is(calls.route.length, 0);
  t.is(calls.res[0].status, 'Error-sending-address-unresolved');
  t.is(output.result, 'rejected');
});

test('a permanent SIP refusal ends at once with the mapped MM4 status', async (t) => {
  const { output, calls } = await run(input(), { answer: () => NOT_FOUND });
  t.is(calls.route.length, 1);
  t.is(calls.res[0].status, 'Error-sending-address-unresolved');
  t.is(output.recipients[0].sipStatus, 404);
});

test('a transient refusal is retried after a durable wait and then accepted', async (t) => {
  const { output, calls, states, events } = await run(input(), { answer: (n) => (n === 1 ? OFFLINE : OK) });
  t.deepEqual(
    [...new Set(events)],
    ['start', 'convert.done', 'store.done', 'route.done', 'after.retryDelay', 'sendRes.done'],
  );
  t.is(calls.route.length, 2);
  t.true(states.includes('retryWait'));
  t.is(output.mm4Status, 'Ok');
  t.is(output.recipients[0].attempts, 2);
});

test('transient refusals stop after maxAttempts with Error-network-problem', async (t) => {
  const { output, calls } = await run(input(), { answer: () => OFFLINE });
  t.is(calls.route.length, 3);
  t.is(calls.waits, 2);
  t.is(calls.res[0].status, 'Error-network-problem');
  t.is(output.result, 'failed');
  t.regex(output.recipients[0].reason, /gave up after 3 attempt/);
});

test('no retry is scheduled past the message expiry', async (t) => {
  const soon = new Date(T0 + 500).toISOString();
  const { output, calls } = await run(input({ expiry: soon }), { answer: () => OFFLINE });
  t.is(calls.route.length, 1);
  t.regex(output.recipients[0].reason, /expiry/);
});

test('a backoff that would pass the expiry is cut short: one last attempt just before it', async (t) => {
  // A 60 s backoff, a message living 2.5 s more.
  const deadline = T0 + 2500;
  const req = input(
    { expiry: new Date(deadline).toISOString() },
    { retry: { maxAttempts: 5, initialIntervalMs: 60_000, backoffCoefficient: 2, maxIntervalMs: 600_000 } },
  );
  const { output, calls } = await run(req, { answer: () => OFFLINE });
  const routedAt = calls.routedAt;
  t.is(routedAt.length, 2, 'the first attempt, and one cut short to just before the expiry');
  t.true(routedAt[1] < deadline, 'the last attempt is made while the message lives');
  t.is(routedAt[1], deadline - 1000, 'leaving its SIP transaction time before the expiry');
  t.regex(output.recipients[0].reason, /expiry reached/);
});

test('several recipients get one MESSAGE each and one .RES, partial success is Ok', async (t) => {
  const recipients = ['+12025550199/TYPE=PLMN@x', '+12025550198/TYPE=PLMN@x', '+4930999/TYPE=PLMN@x'];
  const { output, calls } = await run(input({ recipients }), {
    answer: (_n, uri) => (uri.endsWith('199') ? OK : NOT_FOUND),
  });
  t.is(calls.route.length, 1);
  t.is(calls.route[0].pending.length, 2);
  t.is(calls.res.length, 1);
  t.is(output.result, 'partial');
  t.is(output.mm4Status, 'Ok');
  t.regex(output.statusText, /Accepted for 1 of 3/);
});

test('only recipients that answered transiently are tried again', async (t) => {
  const recipients = ['+12025550199/TYPE=PLMN@x', '+12025550198/TYPE=PLMN@x'];
  const { calls } = await run(input({ recipients }), {
    answer: (n, uri) => (uri.endsWith('198') && n === 1 ? OFFLINE : OK),
  });
  t.is(calls.route.length, 2);
  t.deepEqual(
    calls.route[1].pending.map((p) => p.uri),
    ['tel:+12025550198'],
  );
});

test('a request refused at intake is answered with its status and never converted', async (t) => {
  const req = input({}, { intakeError: { status: 'Error-content-not-accepted', reason: 'media not supported' } });
  const { calls, output } = await run(req);
  t.is(calls.convert, 0);
  t.is(calls.route.length, 0);
  t.is(calls.res[0].status, 'Error-content-not-accepted');
  t.is(output.result, 'rejected');
});

test('a failed conversion answers the MMSC instead of hanging', async (t) => {
  const { calls } = await run(input(), {
    convert: async () => {
      throw fault('MalformedMessage', 'bad From');
    },
  });
  t.is(calls.res[0].status, 'Error-message-format-corrupt');
});

test('a routing activity that gives up counts as a transient failure', async (t) => {
  const { output, calls } = await run(input(), { routeFails: true });
  t.is(calls.route.length, 3);
  t.is(output.mm4Status, 'Error-network-problem');
});

test('media that cannot be stored answers the MMSC Error-content-not-accepted without SIP traffic', async (t) => {
  const { calls } = await run(input(), { storeFails: true });
  t.is(calls.route.length, 0);
  t.is(calls.res[0].status, 'Error-content-not-accepted');
});

test('a .RES that cannot be sent still ends the delivery, recorded as not sent', async (t) => {
  const { output } = await run(input(), { resFails: true });
  t.is(output.mm4Status, 'Ok');
  t.false(output.resSent);
});

test('summarise prefers a permanent status over a transient one when nobody accepted', (t) => {
  const o = summarise([
    { mms: 'a', status: 'Error-network-problem', attempts: 3, reason: 'x' },
    { mms: 'b', status: 'Error-service-denied', attempts: 1, reason: 'y' },
  ]);
  t.is(o.result, 'rejected');
  t.is(o.mm4Status, 'Error-service-denied');
});

test('IMDNs become MM4 delivery and read reports for the originator, each once', async (t) => {
  const recipients = ['+12025550199/TYPE=PLMN@x', '+12025550198/TYPE=PLMN@x'];
  const { calls, output, states } = await run(input({ recipients, deliveryReport: true, readReply: true }), {
    imdns: [
      { recipientUri: 'tel:+12025550199', kind: 'delivery', status: 'delivered' },
      { recipientUri: 'tel:+12025550199', kind: 'delivery', status: 'delivered' },
      { recipientUri: 'tel:+12025550199', kind: 'display', status: 'displayed' },
      { recipientUri: 'tel:+12025550198', kind: 'delivery', status: 'forbidden' },
    ],
  });
  t.deepEqual(
    calls.reports.map((r) => `${r.mms.slice(0, 12)} ${r.kind} ${r.status}`),
    ['+12025550199 delivery Retrieved', '+12025550199 read Read', '+12025550198 delivery Rejected'],
  );
  t.true(states.includes('sendingReports'));
  t.is(output.mm4Status, 'Ok');
});

test('recipients without an IMDN get an Expired report when the message expires', async (t) => {
  const { calls, states } = await run(input({ deliveryReport: true }), { imdns: [] });
  t.deepEqual(
    calls.reports.map((r) => r.status),
    ['Expired'],
  );
  t.deepEqual(states.slice(-4), ['awaitingImdn', 'sendingReports', 'awaitingImdn', 'done']);
});

test('the Expired report goes out at X-Mms-Expiry, not before', async (t) => {
  const expiry = T0 + 3_600_000;
  const { calls } = await run(input({ deliveryReport: true, expiry: new Date(expiry).toISOString() }), { imdns: [] });
  t.deepEqual(
    calls.reports.map((r) => r.status),
    ['Expired'],
  );
  t.deepEqual(calls.reportedAt, [expiry]);
});

test('a final SIP refusal is reported at once; no reports after an error .RES', async (t) => {
  const recipients = ['+12025550199/TYPE=PLMN@x', '+12025550198/TYPE=PLMN@x'];
  const partial = await run(input({ recipients, deliveryReport: true }), {
    answer: (_n, uri) => (uri.endsWith('198') ? NOT_FOUND : OK),
    imdns: [{ recipientUri: 'tel:+12025550199', kind: 'delivery', status: 'delivered' }],
  });
  t.deepEqual(
    partial.calls.reports.map((r) => r.status),
    ['Unrecognised', 'Retrieved'],
  );
  const refused = await run(input({ deliveryReport: true }), { answer: () => NOT_FOUND });
  t.is(refused.calls.reports.length, 0, 'the error .RES already told the MMSC');
});

test('an IMDN that overtakes the .RES is still reported', async (t) => {
  // The recipient's client confirms while our .RES is still on its way.
  const { calls } = await run(input({ deliveryReport: true }), {
    imdnsDuringRes: [{ recipientUri: 'tel:+12025550199', kind: 'delivery', status: 'delivered' }],
  });
  t.deepEqual(
    calls.reports.map((r) => r.status),
    ['Retrieved'],
  );
});

test('an operator abandoning the wait for IMDNs sends Indeterminate reports and ends', async (t) => {
  const { calls } = await run(input({ deliveryReport: true }), {
    operator: { in: 'awaitingImdn', event: { type: 'operator.abandon', reason: 'subscriber gone' } },
  });
  t.deepEqual(
    calls.reports.map((r) => [r.status, r.statusText]),
    [['Indeterminate', 'abandoned by operator: subscriber gone']],
  );
});

test('an operator abandoning a retry wait after the early .RES reports Indeterminate with the reason', async (t) => {
  const { calls, output } = await run(input({ deliveryReport: true }), {
    answer: () => OFFLINE,
    operator: { in: 'retryWait', event: { type: 'operator.abandon', reason: 'subscriber ported out' } },
  });
  t.deepEqual(
    calls.reports.map((r) => [r.status, r.statusText]),
    [['Indeterminate', 'abandoned by operator: subscriber ported out']],
  );
  t.is(output.result, 'failed');
});

test('store-and-forward: an offline recipient with a delivery report asked gets .RES Ok at once, then Expired', async (t) => {
  const { calls, states, output } = await run(input({ deliveryReport: true }), { answer: () => OFFLINE, imdns: [] });
  t.deepEqual(
    calls.res.map((r) => r.status),
    ['Ok'],
    'one .RES, sent early',
  );
  t.is(states.indexOf('ackingEarly'), states.indexOf('routed') + 1);
  t.is(calls.route.length, 3, 'still retried to the end');
  t.deepEqual(
    calls.reports.map((r) => r.status),
    ['Expired'],
  );
  t.true(output.resSent);
});

test('store-and-forward: a late acceptance becomes a Retrieved report after the IMDN', async (t) => {
  const { calls } = await run(input({ deliveryReport: true }), {
    answer: (n) => (n === 1 ? OFFLINE : OK),
    imdns: [{ recipientUri: 'tel:+12025550199', kind: 'delivery', status: 'delivered' }],
  });
  t.deepEqual(
    calls.res.map((r) => r.status),
    ['Ok'],
  );
  t.deepEqual(
    calls.reports.map((r) => r.status),
    ['Retrieved'],
  );
});

test('an unanswered report is resent after the ack timeout, at most mm4Ack.maxAttempts times, then given up', async (t) => {
  const { calls, states, output } = await run(input({ deliveryReport: true }), {
    imdns: [{ recipientUri: 'tel:+12025550199', kind: 'delivery', status: 'delivered' }],
    reportRes: 'none',
  });
  t.deepEqual(
    calls.reports.map((r) => `${r.n} ${r.status}`),
    ['1 Retrieved', '1 Retrieved', '1 Retrieved'],
    'same report number on every send',
  );
  t.is(states.filter((s) => s === 'resendingReports').length, 2);
  t.is(states.at(-1), 'done');
  t.is(output.mm4Status, 'Ok');
});

test('a report sent without an ack request (reportAck none) is answered once sent: no wait, no resend', async (t) => {
  const { calls, states, events, output } = await run(input({ deliveryReport: true, readReply: true }), {
    imdns: [{ recipientUri: 'tel:+12025550199', kind: 'display', status: 'displayed' }],
    reportRes: 'none',
    noAck: true,
  });
  t.deepEqual(
    calls.reports.map((r) => `${r.n} ${r.kind} ${r.status}`),
    ['1 delivery Retrieved', '2 read Read'],
    'each report sent once',
  );
  t.false(states.includes('resendingReports'));
  t.false(events.includes('after.reportAckTimeout'), 'no wait for a .RES nobody sends');
  t.is(states.at(-1), 'done');
  t.is(output.mm4Status, 'Ok');
});

test('a resend that goes without an ack request (the rule changed meanwhile) ends the wait for that report', (t) => {
  const actor = createActor(mmsToCpmMachine, { input: at(input({ deliveryReport: true })) });
  const snap = mmsToCpmMachine.resolveState({
    value: 'resendingReports',
    context: {
      ...actor.getSnapshot().context,
      expired: true,
      unacked: [
        { mms: 'x', kind: 'delivery', status: 'Retrieved', n: 1, sends: 1 },
        { mms: 'y', kind: 'delivery', status: 'Rejected', n: 2, sends: 1 },
      ],
    },
  });
  const [next] = transition(mmsToCpmMachine, snap, {
    type: 'xstate.done.actor.resendReports',
    output: { noAck: [1] },
  } as never);
  t.deepEqual(
    next.context.unacked.map((r) => [r.n, r.sends]),
    [[2, 2]],
  );
  t.regex(next.context.note ?? '', /no \.RES asked for report\(s\) 1$/);
});

test('a report answered twice is neither resent nor a reason to wait', async (t) => {
  const { calls, states } = await run(input({ deliveryReport: true, readReply: true }), {
    imdns: [{ recipientUri: 'tel:+12025550199', kind: 'display', status: 'displayed' }],
    reportRes: 'twice',
  });
  t.deepEqual(
    calls.reports.map((r) => `${r.n} ${r.kind} ${r.status}`),
    ['1 delivery Retrieved', '2 read Read'],
  );
  t.false(states.includes('resendingReports'));
});

test('a .RES that overtakes the record of its own send stops the resends', (t) => {
  // The MMSC answered before the send activity's completion was recorded.
  const actor = createActor(mmsToCpmMachine, { input: at(input({ deliveryReport: true })) });
  const snap = mmsToCpmMachine.resolveState({
    value: 'sendingReports',
    context: {
      ...actor.getSnapshot().context,
      queue: [{ mms: 'x', kind: 'delivery', status: 'Retrieved' }],
      inFlight: 1,
      answered: [1],
    },
  });
  t.deepEqual(snap.context.answered, [1]);
  const [next] = transition(mmsToCpmMachine, snap, {
    type: 'xstate.done.actor.sendReports',
    output: undefined,
  } as never);
  t.deepEqual(next.context.unacked, []);
});

test('an operator retry in awaitingImdn resends unanswered reports at once; refused when nothing is unanswered', (t) => {
  const actor = createActor(mmsToCpmMachine, { input: at(input({ deliveryReport: true })) });
  const base = actor.getSnapshot().context;
  const waiting = mmsToCpmMachine.resolveState({
    value: 'awaitingImdn',
    context: { ...base, unacked: [{ mms: 'x', kind: 'delivery', status: 'Retrieved', n: 1, sends: 1 }] },
  });
  t.true(waiting.can({ type: 'operator.retry' }));
  const idle = mmsToCpmMachine.resolveState({ value: 'awaitingImdn', context: base });
  t.false(idle.can({ type: 'operator.retry' }));
});

test('abandoning a delivery that only waits for .RES answers ends it; nothing left to abandon is refused', (t) => {
  const actor = createActor(mmsToCpmMachine, { input: at(input({ deliveryReport: true })) });
  const base = { ...actor.getSnapshot().context, expired: true };
  const waiting = mmsToCpmMachine.resolveState({
    value: 'awaitingImdn',
    context: { ...base, unacked: [{ mms: 'x', kind: 'delivery', status: 'Expired', n: 2, sends: 1 }] },
  });
  const [next] = transition(mmsToCpmMachine, waiting, { type: 'operator.abandon', reason: 'MMSC decommissioned' });
  t.is(next.value, 'done');
  t.false(
    mmsToCpmMachine
      .resolveState({ value: 'awaitingImdn', context: base })
      .can({ type: 'operator.abandon', reason: 'x' }),
  );
});

/** A processing `stored` IMDN as the current workflow sends it to the machine (patch recorded). */
const stored = (recipientUri = 'tel:+12025550199'): Imdn => ({
  recipientUri,
  kind: 'processing',
  status: 'stored',
  reportProcessing: true,
});
const delivered = (recipientUri = 'tel:+12025550199'): Imdn => ({
  recipientUri,
  kind: 'delivery',
  status: 'delivered',
});

test('a processing stored IMDN becomes an interim Deferred delivery report, once, before the final one', async (t) => {
  const { calls, output } = await run(input({ deliveryReport: true }), {
    imdns: [stored(), stored(), delivered(), stored()],
  });
  t.deepEqual(
    calls.reports.map((r) => `${r.kind} ${r.status}`),
    ['delivery Deferred', 'delivery Retrieved'],
    'a repeated stored is not sent again; one after the final report is not sent',
  );
  t.is(calls.reports[0].statusText, 'stored by the CPM side');
  t.deepEqual(
    calls.reports.map((r) => r.n),
    [1, 2],
  );
  t.is(output.mm4Status, 'Ok');
});

test('a Deferred report keeps the delivery waiting: the final status still comes (Expired at the expiry)', async (t) => {
  const { calls, states } = await run(input({ deliveryReport: true }), { imdns: [stored()] });
  t.deepEqual(
    calls.reports.map((r) => r.status),
    ['Deferred', 'Expired'],
  );
  t.is(states.at(-1), 'done');
});

test('a processing stored IMDN never overwrites a final report', (t) => {
  const base = createActor(mmsToCpmMachine, { input: at(input({ deliveryReport: true })) }).getSnapshot().context;
  const waiting = mmsToCpmMachine.resolveState({
    value: 'awaitingImdn',
    context: {
      ...base,
      recipients: base.recipients.map((r) => ({ ...r, uri: 'tel:+12025550199', reported: 'Rejected' })),
    },
  });
  const [next] = transition(mmsToCpmMachine, waiting, { type: 'sip.imdn', ...stored() });
  t.deepEqual(next.context.queue, []);
  t.regex(next.context.note ?? '', /not forwarded/);
});

test('no Deferred report without a delivery report asked, or without the processing-imdn patch', async (t) => {
  const notAsked = await run(input({ readReply: true }), {
    imdns: [stored(), { recipientUri: 'tel:+12025550199', kind: 'display', status: 'displayed' }],
  });
  t.deepEqual(
    notAsked.calls.reports.map((r) => `${r.kind} ${r.status}`),
    ['read Read'],
  );
  // A history recorded before the rule: the workflow put no flag on the event, so it is ignored.
  const unflagged: Imdn = { ...stored(), reportProcessing: undefined };
  const old = await run(input({ deliveryReport: true }), { imdns: [unflagged, delivered()] });
  t.deepEqual(
    old.calls.reports.map((r) => r.status),
    ['Retrieved'],
  );
  const processed = await run(input({ deliveryReport: true }), {
    imdns: [{ ...stored(), status: 'processed' }, delivered()],
  });
  t.deepEqual(
    processed.calls.reports.map((r) => r.status),
    ['Retrieved'],
    'processed is no MM4 status',
  );
});

test('IMDN statuses map to MM4 statuses', (t) => {
  t.deepEqual(['delivered', 'failed', 'forbidden', 'error', 'processed'].map(imdnToMmStatus), [
    'Retrieved',
    'Rejected',
    'Rejected',
    'Indeterminate',
    undefined,
  ]);
});

test.after('the scenarios above visit every state of the chart', (t) => {
  t.deepEqual(
    [...visited].filter((s) => !declared.includes(s)),
    [],
  );
  t.deepEqual(
    declared.filter((s) => !visited.has(s)),
    [],
  );
});
