import test from 'ava';
import { createActor, fromPromise, toPromise } from 'xstate';
import type { ActorError } from '../../machines/common.js';
import {
  cpmToMmsMachine,
  type AdaptInput,
  type CpmToMmsMachineInput,
  type ImdnInput,
  type SendInput,
  type SendResult,
} from '../../machines/cpm-to-mms.machine.js';
import { transitionsOf } from '../../machines/trail.js';
import type { AdaptedContent, CpmToMmsInput, IsfDecision, Mm4Route } from '../../model/delivery.js';
import type { MessageTooLargeDetails } from '../../model/peer.js';
import { drive, StepClock } from './harness.js';

const declared = Object.keys(cpmToMmsMachine.root.states);
const visited = new Set<string>();

/** When every scenario starts (the simulated clock's epoch). */
const T0 = Date.parse('2025-03-04T10:15:02Z');

function input(
  disposition: CpmToMmsInput['cpm']['disposition'] = ['positive-delivery', 'negative-delivery'],
): CpmToMmsInput {
  return {
    receivedAt: new Date(T0).toISOString(),
    cpm: {
      senderUri: 'tel:+12025550101',
      recipientUri: 'tel:+4915112345678',
      imdnMessageId: 'imdn-1',
      disposition,
      contentType: 'text/plain',
      sizeBytes: 5,
    },
    text: 'hello',
    mm4Ack: { timeoutMs: 60_000, maxAttempts: 2 },
    reportWaitMs: 3_600_000,
  };
}

/** What a failed activity delivers to the machine (the workflow unwraps ActivityFailure into it). */
const fault = (type: string, message: string): ActorError => ({ type, message });

const ROUTE: Mm4Route = {
  peer: 'operator-b',
  from: '+12025550101/TYPE=PLMN@mms.iwf',
  to: '+4915112345678/TYPE=PLMN@mms.b',
  messageId: 'iwf1.x.m',
};

interface Stubs {
  decision?: IsfDecision;
  convertFails?: string;
  sendFails?: ActorError;
  /**
   * The peer refuses attempt n for its size: what the workflow hands the machine when patched
   * 'mm4-too-large-readapt' (undefined: the send goes through).
   */
  tooLarge?: (attempt: number) => MessageTooLargeDetails | undefined;
  /** What the MMSC answers after attempt n (undefined: never). */
  res?: (attempt: number) => string | undefined;
  /** MMS reports sent once the delivery waits for them. */
  reports?: { status?: string; read?: string }[];
  /** No read report comes after them: the delivery's wait for one runs out. */
  waitAfterReports?: boolean;
  /** The MMSC's .RES is lost but its delivery report with this status arrives. */
  reportInsteadOfRes?: string;
  /** The sendImdn activity fails for the IMDNs this picks (its retries ran out). */
  imdnFails?: (imdn: ImdnInput) => boolean;
}

/** The states in which a delivery waits for the outside world: an event or one of its timers. */
const WAITS = ['awaitingRes', 'awaitingReport', 'awaitingRead'];

async function run(req: CpmToMmsMachineInput, stubs: Stubs = {}) {
  const calls = { send: [] as SendInput[], imdn: [] as ImdnInput[], adapt: [] as AdaptInput[] };
  const clock = new StepClock(T0);
  const states: string[] = ['received'];
  const machine = cpmToMmsMachine.provide({
    actors: {
      select: fromPromise(async () => stubs.decision ?? { interwork: true, reason: 'not a CPM user' }),
      convert: fromPromise(async () => {
        if (stubs.convertFails) throw fault('AddressNotRoutable', stubs.convertFails);
        return ROUTE;
      }),
      fetch: fromPromise(async () => ({
        id: 'f',
        contentType: 'image/jpeg',
        size: 10,
        sha256: 'x',
        expiresAt: '2099-01-01T00:00:00Z',
      })),
      adapt: fromPromise(async ({ input }: { input: AdaptInput }): Promise<AdaptedContent> => {
        calls.adapt.push(input);
        return { text: input.text, parts: [], notes: [] };
      }),
      sendForward: fromPromise(async ({ input }: { input: SendInput }): Promise<SendResult> => {
        calls.send.push(input);
        if (stubs.sendFails) throw stubs.sendFails;
        const tooLarge = stubs.tooLarge?.(calls.send.length);
        return tooLarge ? { tooLarge } : {};
      }),
      sendImdn: fromPromise(async ({ input }: { input: ImdnInput }) => {
        calls.imdn.push(input);
        if (stubs.imdnFails?.(input)) throw fault('SipRejected', 'SIP 403 Forbidden');
      }),
    },
  });
  const actor = createActor(machine, {
    input: req,
    clock,
    inspect: (ev) => {
      for (const tr of transitionsOf(ev)) {
        states.push(tr.to);
        visited.add(tr.from).add(tr.to);
      }
    },
  });
  // The outside world, each time the delivery waits. The MMSC's .RES is a separate SMTP
  // transaction: it arrives as an event after the send, once per attempt it answers (or its
  // delivery report does, the .RES being lost); the MMS reports once the delivery waits for them;
  // otherwise time moves on to the delivery's next timer.
  const answered = new Set<number>();
  let reportedInsteadOfRes = false;
  let reportsSent = false;
  actor.start();
  await drive(actor, WAITS, (state) => {
    const attempt = calls.send.length;
    const status = stubs.res?.(attempt);
    if (state === 'awaitingRes' && status && !answered.has(attempt)) {
      answered.add(attempt);
      return actor.send({ type: 'mm4.res', status, transactionId: 't' });
    }
    if (state === 'awaitingRes' && stubs.reportInsteadOfRes && !reportedInsteadOfRes) {
      reportedInsteadOfRes = true;
      return actor.send({ type: 'mm4.report', report: 'delivery', status: stubs.reportInsteadOfRes });
    }
    if (state === 'awaitingReport' && stubs.reports && !reportsSent) {
      reportsSent = true;
      for (const r of stubs.reports)
        actor.send({ type: 'mm4.report', report: r.read ? 'read' : 'delivery', status: r.read ?? r.status });
      return;
    }
    if (state === 'awaitingRead' && !stubs.waitAfterReports)
      throw new Error('the delivery waits for a read report the scenario does not send');
    clock.next();
  });
  return { output: await toPromise(actor), calls, states };
}

test('an MMSC Ok completes the delivery; without notifications requested it ends at once', async (t) => {
  const { output, calls, states } = await run(input([]), { res: () => 'Ok' });
  t.deepEqual(states, [
    'received',
    'selecting',
    'converting',
    'adapting',
    'sending',
    'awaitingRes',
    'accepted',
    'done',
  ]);
  t.is(calls.send.length, 1);
  t.like(output, { result: 'delivered', mm4Status: 'Ok', peer: 'operator-b', attempts: 1, imdnSent: false });
});

test('a Retrieved report becomes an IMDN delivered when positive-delivery was asked', async (t) => {
  const { output, states, calls } = await run(input(), { res: () => 'Ok', reports: [{ status: 'Retrieved' }] });
  t.true(states.includes('awaitingReport'));
  t.is(output.report, 'Retrieved');
  t.deepEqual(
    calls.imdn.map((i) => [i.kind, i.status]),
    [['delivery', 'delivered']],
  );
});

test('failure reports map to failed, forbidden or error; interim ones wait; duplicates are not forwarded', async (t) => {
  const failed = await run(input(['negative-delivery']), {
    res: () => 'Ok',
    reports: [{ status: 'Deferred' }, { status: 'Expired' }, { status: 'Expired' }, { status: 'Retrieved' }],
  });
  t.deepEqual(
    failed.calls.imdn.map((i) => i.status),
    ['failed'],
    'Deferred waits, one Expired is forwarded, later reports ignored',
  );
  t.is(failed.output.report, 'Expired', 'a final status is never overwritten');
  const err = await run(input(['negative-delivery']), { res: () => 'Ok', reports: [{ status: 'Indeterminate' }] });
  t.deepEqual(
    err.calls.imdn.map((i) => i.status),
    ['error'],
  );
  const notAsked = await run(input(['negative-delivery']), { res: () => 'Ok', reports: [{ status: 'Retrieved' }] });
  t.is(notAsked.calls.imdn.length, 0, 'success was not asked for');
});

test('a delivery report that overtakes a lost .RES stands for it: no resend, the IMDN goes out', async (t) => {
  const { output, states, calls } = await run(input(), { reportInsteadOfRes: 'Retrieved' });
  t.is(calls.send.length, 1);
  t.deepEqual(states.slice(5, 8), ['awaitingRes', 'accepted', 'awaitingReport']);
  t.like(output, { result: 'delivered', report: 'Retrieved' });
  t.deepEqual(
    calls.imdn.map((i) => [i.kind, i.status]),
    [['delivery', 'delivered']],
  );
});

test('a read report after delivery becomes an IMDN displayed when display was asked', async (t) => {
  const { calls, states } = await run(input(['positive-delivery', 'display']), {
    res: () => 'Ok',
    reports: [{ status: 'Retrieved' }, { read: 'Read' }],
  });
  t.deepEqual(
    calls.imdn.map((i) => [i.kind, i.status]),
    [
      ['delivery', 'delivered'],
      ['display', 'displayed'],
    ],
  );
  t.true(states.includes('awaitingRead'));
});

test('a read report that never comes ends on the durable wait', async (t) => {
  const { calls, states } = await run(input(['positive-delivery', 'display']), {
    res: () => 'Ok',
    reports: [{ status: 'Retrieved' }],
    waitAfterReports: true,
  });
  t.is(calls.imdn.length, 1);
  t.deepEqual(states.slice(-2), ['awaitingRead', 'done']);
});

test('the report wait ends on its durable timer', async (t) => {
  const { output, states } = await run(input(), { res: () => 'Ok' });
  t.deepEqual(states.slice(-2), ['awaitingReport', 'done']);
  t.is(output.result, 'delivered');
  t.is(output.report, undefined);
});

test('an MMSC error status fails the delivery and sends the negative-delivery IMDN', async (t) => {
  const { output, calls } = await run(input(), { res: () => 'Error-content-not-accepted' });
  t.like(output, { result: 'rejected', mm4Status: 'Error-content-not-accepted', imdnSent: true });
  t.is(calls.imdn.length, 1);
  t.regex(calls.imdn[0].reason, /MMSC answered Error-content-not-accepted/);
});

test('no IMDN when the sender did not ask for negative-delivery notifications', async (t) => {
  const { output, calls } = await run(input(['positive-delivery']), { res: () => 'Error-service-denied' });
  t.is(calls.imdn.length, 0);
  t.false(output.imdnSent);
});

test('a missing .RES is answered by resending the same message, then failure', async (t) => {
  const { output, calls, states } = await run(input());
  t.is(calls.send.length, 2);
  t.deepEqual(
    calls.send.map((s) => s.route.messageId),
    [ROUTE.messageId, ROUTE.messageId],
  );
  t.deepEqual(
    calls.send.map((s) => s.attempt),
    [1, 2],
  );
  t.is(states.filter((s) => s === 'sending').length, 2);
  t.like(output, { result: 'failed', mm4Status: 'Error-network-problem', imdnSent: true });
});

test('a .RES after a resend still completes the delivery', async (t) => {
  const { output, calls } = await run(input([]), { res: (n) => (n === 2 ? 'Ok' : undefined) });
  t.is(calls.send.length, 2);
  t.is(output.result, 'delivered');
});

test('a file transfer is fetched before adaptation', async (t) => {
  const req = input([]);
  req.cpm.file = { url: 'http://x/f.jpg', until: '2099-01-01T00:00:00Z', size: 10, contentType: 'image/jpeg' };
  const { states } = await run(req, { res: () => 'Ok' });
  t.deepEqual(states.slice(2, 6), ['converting', 'fetching', 'adapting', 'sending']);
});

test('the ISF refusing ends the delivery without MM4 traffic', async (t) => {
  const { output, calls } = await run(input(), { decision: { interwork: false, reason: 'recipient is a CPM user' } });
  t.is(calls.send.length, 0);
  t.like(output, { result: 'rejected', imdnSent: true });
  t.regex(output.statusText, /CPM user/);
});

test('an unroutable recipient fails with the reason', async (t) => {
  const { output, calls } = await run(input(), { convertFails: 'no MMSC peer serves +4915112345678' });
  t.is(calls.send.length, 0);
  t.like(output, { result: 'failed', mm4Status: 'Error-sending-address-unresolved' });
  t.regex(output.statusText, /no MMSC peer/);
});

test('an SMTP refusal by the MMSC is a rejection', async (t) => {
  const { output } = await run(input(), { sendFails: { type: 'MmscRejected', message: 'SMTP 554' } });
  t.like(output, { result: 'rejected', mm4Status: 'Error-service-denied' });
});

test('an MMSC that cannot be reached is a failure', async (t) => {
  const { output } = await run(input(), { sendFails: { type: 'Error', message: 'ECONNREFUSED' } });
  t.like(output, { result: 'failed', mm4Status: 'Error-network-problem' });
});

const REFUSED_552: MessageTooLargeDetails = {
  limitBytes: 60_000,
  sentBytes: 80_000,
  limitSource: 'estimate',
  smtpCode: 552,
};

test('a send refused for its size is adapted once more within the limit given, resent and delivered', async (t) => {
  const { output, calls, states } = await run(input([]), {
    tooLarge: (n) => (n === 1 ? REFUSED_552 : undefined),
    res: (n) => (n === 2 ? 'Ok' : undefined),
  });
  t.deepEqual(states.slice(3, 9), ['adapting', 'sending', 'adapting', 'sending', 'awaitingRes', 'accepted']);
  t.deepEqual(
    calls.adapt.map((a) => a.limitBytes),
    [undefined, 60_000],
    'the second adaptation is budgeted for the limit of the refusal',
  );
  t.deepEqual(
    calls.send.map((s) => [s.attempt, s.route.messageId]),
    [
      [1, ROUTE.messageId],
      [2, ROUTE.messageId],
    ],
    'a fresh transaction id (attempt), the same message id',
  );
  t.like(output, { result: 'delivered', mm4Status: 'Ok' });
});

test('a send refused for its size does not use up a resend: a lost .RES after it is still resent', async (t) => {
  // mm4Ack.maxAttempts 2: the refused send, then two sends that may wait for a .RES.
  const { output, calls } = await run(input([]), {
    tooLarge: (n) => (n === 1 ? { ...REFUSED_552, limitSource: 'smtp-size', smtpCode: undefined } : undefined),
    res: (n) => (n === 3 ? 'Ok' : undefined),
  });
  t.is(calls.send.length, 3);
  t.is(calls.adapt.length, 2);
  t.like(output, { result: 'delivered', attempts: 3 });
});

test('a send still too large after adapting again fails with Error-content-not-accepted', async (t) => {
  const { output, calls, states } = await run(input(), { tooLarge: () => REFUSED_552 });
  t.is(calls.adapt.length, 2, 'adapted again once, not twice');
  t.is(calls.send.length, 2);
  t.deepEqual(states.slice(-4), ['sending', 'failed', 'notifying', 'done']);
  t.like(output, { result: 'rejected', mm4Status: 'Error-content-not-accepted', imdnSent: true });
  t.regex(output.statusText, /still too large for the peer after adapting within 60000 B/);
  t.deepEqual(kinds(calls.imdn), ['delivery:failed']);
});

test('without the mm4-too-large-readapt patch a size refusal fails the delivery at once, as recorded', async (t) => {
  // A history recorded before the rule: the workflow leaves MessageTooLarge the send's failure.
  const { output, calls } = await run(input(), {
    sendFails: { type: 'MessageTooLarge', message: 'MM4_forward.REQ to operator-b: 80000 B refused for its size' },
  });
  t.is(calls.adapt.length, 1);
  t.is(calls.send.length, 1);
  t.like(output, { result: 'rejected', mm4Status: 'Error-content-not-accepted', imdnSent: true });
  t.deepEqual(kinds(calls.imdn), ['delivery:failed']);
});

/** A delivery of the current code: the workflow enabled processing notifications (patched). */
const withProcessing = (disposition: CpmToMmsInput['cpm']['disposition']): CpmToMmsMachineInput => ({
  ...input(disposition),
  processingImdn: true,
});
const kinds = (imdns: ImdnInput[]) => imdns.map((i) => `${i.kind}:${i.status}`);

test('processing asked: the .RES Ok becomes a processing IMDN processed, before the delivery IMDN', async (t) => {
  const { output, calls, states } = await run(withProcessing(['processing', 'positive-delivery']), {
    res: () => 'Ok',
    reports: [{ status: 'Retrieved' }],
  });
  t.deepEqual(kinds(calls.imdn), ['processing:processed', 'delivery:delivered']);
  t.deepEqual(states.slice(5, 9), ['awaitingRes', 'accepted', 'notifyingProcessed', 'awaitingReport']);
  t.like(output, { result: 'delivered', report: 'Retrieved', imdnSent: true });
});

test('processing asked alone: processed, then the delivery ends without waiting for reports', async (t) => {
  const { output, calls, states } = await run(withProcessing(['processing']), { res: () => 'Ok' });
  t.deepEqual(kinds(calls.imdn), ['processing:processed']);
  t.deepEqual(states.slice(-3), ['accepted', 'notifyingProcessed', 'done']);
  t.like(output, { result: 'delivered', imdnSent: true });
});

test('a report standing for a lost .RES is processed too', async (t) => {
  const { calls } = await run(withProcessing(['processing', 'positive-delivery']), {
    reportInsteadOfRes: 'Retrieved',
  });
  t.deepEqual(kinds(calls.imdn), ['processing:processed', 'delivery:delivered']);
  t.is(calls.imdn[0].reason, 'a report stands for the MM4_forward.RES');
});

test('processing asked: an error .RES becomes processing error, besides the negative-delivery IMDN', async (t) => {
  const both = await run(withProcessing(['processing', 'negative-delivery']), {
    res: () => 'Error-content-not-accepted',
  });
  t.deepEqual(kinds(both.calls.imdn), ['processing:error', 'delivery:failed']);
  t.deepEqual(both.states.slice(-4), ['failed', 'notifyingProcessingError', 'notifying', 'done']);
  t.like(both.output, { result: 'rejected', mm4Status: 'Error-content-not-accepted', imdnSent: true });
  t.regex(both.calls.imdn[0].reason, /MMSC answered Error-content-not-accepted/);
  const alone = await run(withProcessing(['processing']), { res: () => 'Error-service-denied' });
  t.deepEqual(kinds(alone.calls.imdn), ['processing:error']);
  t.deepEqual(alone.states.slice(-3), ['failed', 'notifyingProcessingError', 'done']);
});

test('only the MMSC refusal is a processing error: no .RES at all gets the negative-delivery IMDN alone', async (t) => {
  const { calls, output } = await run(withProcessing(['processing', 'negative-delivery']));
  t.deepEqual(kinds(calls.imdn), ['delivery:failed']);
  t.like(output, { result: 'failed', mm4Status: 'Error-network-problem' });
});

test('a processing IMDN that cannot be sent does not stop the delivery notifications', async (t) => {
  const ok = await run(withProcessing(['processing', 'positive-delivery']), {
    res: () => 'Ok',
    reports: [{ status: 'Retrieved' }],
    imdnFails: (i) => i.kind === 'processing',
  });
  t.deepEqual(kinds(ok.calls.imdn), ['processing:processed', 'delivery:delivered']);
  t.true(ok.output.imdnSent, 'the delivery IMDN went out');
  const refused = await run(withProcessing(['processing', 'negative-delivery']), {
    res: () => 'Error-content-not-accepted',
    imdnFails: (i) => i.kind === 'processing',
  });
  t.deepEqual(kinds(refused.calls.imdn), ['processing:error', 'delivery:failed']);
  const alone = await run(withProcessing(['processing']), { res: () => 'Ok', imdnFails: () => true });
  t.false(alone.output.imdnSent);
  t.deepEqual(alone.states.slice(-2), ['notifyingProcessed', 'done']);
  const aloneRefused = await run(withProcessing(['processing']), {
    res: () => 'Error-service-denied',
    imdnFails: () => true,
  });
  t.false(aloneRefused.output.imdnSent);
});

test('without the processing-imdn patch (a history recorded before it) processing is not answered', async (t) => {
  // The workflow gives the flag only to runs that recorded the patch marker: older runs replay
  // with the chart they were recorded with, the same states and the same activities.
  const ok = await run(input(['processing', 'positive-delivery']), {
    res: () => 'Ok',
    reports: [{ status: 'Retrieved' }],
  });
  t.deepEqual(kinds(ok.calls.imdn), ['delivery:delivered']);
  t.false(ok.states.includes('notifyingProcessed'));
  const refused = await run(input(['processing', 'negative-delivery']), { res: () => 'Error-content-not-accepted' });
  t.deepEqual(kinds(refused.calls.imdn), ['delivery:failed']);
  t.false(refused.states.includes('notifyingProcessingError'));
});

test('processing notifications only when asked: the flag alone sends none', async (t) => {
  const { calls } = await run(
    { ...input(['positive-delivery', 'negative-delivery']), processingImdn: true },
    {
      res: () => 'Error-content-not-accepted',
    },
  );
  t.deepEqual(kinds(calls.imdn), ['delivery:failed']);
});

test.after('the scenarios visit every state of the chart', (t) => {
  t.deepEqual(
    declared.filter((s) => !visited.has(s)),
    [],
  );
});
