import { assign } from 'xstate';
import type { ActorError } from './common.js';
import {
  applyImdn,
  reportForSipFailure,
  reportNumber,
  type ImdnEvent,
  type PendingReport,
  type ReportsSent,
  type SentReport,
} from './mms-reports.js';
import { mmsToCpmSetup, type MmsToCpmContext, type ReportResEvent } from './mms-to-cpm.setup.js';

/**
 * The reporting region of the MMS -> CPM chart, from the MM4_forward.RES on: the CPM recipients'
 * IMDNs (RFC 5438) and final SIP failures become MM4_delivery_report.REQ / MM4_read_reply_report.REQ
 * to the originator MMSE (3GPP TS 23.140 §8.4.3, §8.4.4) until the message expires; each report that
 * asked for a `.RES` is resent until it comes or `mm4Ack.maxAttempts` sends were made.
 */

/** The report numbers of a send that asked for no `.RES` (see {@link ReportsSent}). */
const noAckOf = (sent: ReportsSent | undefined) => (sent && sent.noAck) || [];
const noAckNote = (noAck: number[]) => (noAck.length ? `; no .RES asked for report(s) ${noAck.join(', ')}` : '');

/** The queued reports the running send covers, numbered after those sent before. */
const numbered = (ctx: MmsToCpmContext): SentReport[] =>
  ctx.queue.slice(0, ctx.inFlight).map((r, i) => ({ ...r, n: ctx.reportsSent + 1 + i, sends: 0 }));

/** The delivery reports for recipients not reported yet, all with one status (when reports were asked). */
function reportUnreported(
  ctx: MmsToCpmContext,
  status: string,
  statusText?: string,
): Pick<MmsToCpmContext, 'queue' | 'recipients'> {
  const open = ctx.recipients.filter((r) => r.reported === undefined);
  const reports = open.map((r): PendingReport => ({
    mms: r.mms,
    kind: 'delivery',
    status,
    ...(statusText === undefined ? {} : { statusText }),
  }));
  return {
    queue: ctx.request.mm4.deliveryReport ? [...ctx.queue, ...reports] : ctx.queue,
    recipients: ctx.recipients.map((r) => (r.reported === undefined ? { ...r, reported: status } : r)),
  };
}

export const reportingSetup = mmsToCpmSetup.extend({
  guards: {
    /** Reports only for an MM the MMSC was told was accepted (an error .RES already refused it). */
    wantsReports: ({ context }) =>
      (context.request.mm4.deliveryReport || context.request.mm4.readReply) &&
      (context.outcome?.mm4Status === 'Ok' || context.earlyAcked) &&
      !context.request.intakeError,
    hasQueue: ({ context }) => context.queue.length > 0,
    notExpired: ({ context }) => !context.expired,
    hasUnacked: ({ context }) => context.unacked.length > 0,
    canResendReports: ({ context }) => context.unacked.some((r) => r.sends < context.request.mm4Ack.maxAttempts),
    allReported: ({ context }) =>
      context.unacked.length === 0 &&
      (context.expired ||
        context.recipients.every(
          (r) =>
            r.reported !== undefined &&
            (!context.request.mm4.readReply || r.reported !== 'Retrieved' || r.readReported),
        )),
  },
  actions: {
    /** An IMDN queues the MM4 report(s) it stands for (RFC 5438 -> 23.140 §8.4.3/§8.4.4); sent from awaitingImdn. */
    recordImdn: assign(({ context }, imdn: ImdnEvent) =>
      applyImdn(context.recipients, context.queue, context.request.mm4, imdn),
    ),
    /** That report needs no resend. An error status is an answer too: resending it changes nothing. */
    recordReportRes: assign(({ context }, res: ReportResEvent) => {
      const n = reportNumber(res.transactionId);
      const dup = n !== undefined && context.answered.includes(n);
      return {
        unacked: context.unacked.filter((r) => r.n !== n),
        answered: n === undefined || dup ? context.answered : [...context.answered, n],
        note: `${res.pduType} ${res.status ?? '(no status)'} for report ${n ?? res.transactionId}${dup ? ' (duplicate)' : ''}`,
      };
    }),
    /** Final SIP failures are reported at once; IMDNs that overtook the .RES stay queued. */
    queueFailureReports: assign(({ context }) => {
      const failed = context.recipients.filter((r) => r.status !== 'Ok');
      if (!context.request.mm4.deliveryReport)
        return { recipients: context.recipients.map((r) => (r.status !== 'Ok' ? { ...r, reported: 'none' } : r)) };
      return {
        queue: [
          ...context.queue,
          ...failed.map((r): PendingReport => ({
            mms: r.mms,
            kind: 'delivery',
            status: r.reportAs ?? reportForSipFailure(r.status),
            statusText: r.reason,
          })),
        ],
        recipients: context.recipients.map((r) =>
          r.status !== 'Ok' ? { ...r, reported: r.reportAs ?? reportForSipFailure(r.status) } : r,
        ),
      };
    }),
    /** The operator stops waiting: whether the unreported recipients got the MM is unknown. */
    abandonReports: assign(({ context }, { reason }: { reason: string }) => ({
      expired: true,
      ...reportUnreported(context, 'Indeterminate', `abandoned by operator: ${reason}`),
      note: `operator: abandon (${reason})`,
    })),
    stopWaitingForRes: assign(({ context }, { reason }: { reason: string }) => ({
      unacked: [],
      note: `operator: abandon (${reason}); stopped waiting for .RES to report(s) ${context.unacked.map((r) => r.n).join(', ')}`,
    })),
    /** X-Mms-Expiry passed: recipients without an IMDN are reported Expired. */
    expireUnreported: assign(({ context }) => ({
      expired: true,
      ...reportUnreported(context, 'Expired'),
      note: `message expired with ${context.recipients.filter((r) => r.reported === undefined).length} recipient(s) unreported`,
    })),
    /** Every unanswered report was sent maxAttempts times: stop waiting, say so in the trail. */
    giveUpResends: assign(({ context }) => ({
      unacked: [],
      note: `no .RES for report(s) ${context.unacked.map((r) => r.n).join(', ')} after ${context.request.mm4Ack.maxAttempts} send(s); given up`,
    })),
    recordResent: assign(({ context }, sent: ReportsSent | undefined) => {
      const max = context.request.mm4Ack.maxAttempts;
      const noAck = noAckOf(sent);
      const resent = context.unacked.filter((r) => r.sends < max);
      return {
        unacked: context.unacked
          .filter((r) => !noAck.includes(r.n))
          .map((r) => (r.sends < max ? { ...r, sends: r.sends + 1 } : r)),
        note: `report(s) ${resent.map((r) => r.n).join(', ')} resent (no .RES yet)${noAckNote(noAck)}`,
      };
    }),
    dropUnacked: assign(({ context }, err: ActorError) => ({
      unacked: [],
      note: `reports ${context.unacked.map((r) => r.n).join(', ')} not resent: ${err.message}`,
    })),
    beginSend: assign(({ context }) => ({ inFlight: context.queue.length })),
    /**
     * A .RES that overtook the record of its send already answered its report; a report that asked
     * for no .RES is answered by being sent.
     */
    recordSent: assign(({ context }, sent: ReportsSent | undefined) => {
      const noAck = noAckOf(sent);
      return {
        reportsSent: context.reportsSent + context.inFlight,
        unacked: [
          ...context.unacked,
          ...numbered(context)
            .filter((r) => !context.answered.includes(r.n) && !noAck.includes(r.n))
            .map((r) => ({ ...r, sends: 1 })),
        ],
        note:
          context.queue
            .slice(0, context.inFlight)
            .map((r) => `${r.kind} report ${r.status} for ${r.mms}`)
            .join('; ') +
          ' sent' +
          noAckNote(noAck),
        queue: context.queue.slice(context.inFlight),
      };
    }),
    dropSend: assign(({ context }, err: ActorError) => ({
      queue: context.queue.slice(context.inFlight),
      note: `reports not sent: ${err.message}`,
    })),
  },
  delays: {
    untilExpiry: ({ context }) => {
      const now = context.now();
      return Math.max(1, (context.deadline ?? now) - now);
    },
    reportAckTimeout: ({ context }) => context.request.mm4Ack.timeoutMs,
  },
});

const errorOf = ({ event }: { event: { error: unknown } }) => event.error as ActorError;

/** The reporting states, placed after `acking` in the chart. */
export const reportingStates = {
  afterAck: reportingSetup.createStateConfig({
    description: 'Wait for IMDNs when the MMS asked for delivery or read reports; report final SIP failures at once.',
    always: [{ guard: 'wantsReports', target: 'awaitingImdn', actions: 'queueFailureReports' }, { target: 'done' }],
  }),
  awaitingImdn: reportingSetup.createStateConfig({
    description:
      "Waiting for the CPM recipients' IMDNs until the message expires (X-Mms-Expiry or the default), " +
      "and for the originator MMSC's .RES to each report sent (resent after delivery.mm4Ack.timeout).",
    always: [
      { guard: 'hasQueue', target: 'sendingReports' },
      { guard: 'allReported', target: 'done' },
    ],
    on: {
      'operator.retry': {
        guard: 'hasUnacked',
        target: 'resendingReports',
        actions: assign({ note: 'operator: resend unanswered reports now' }),
      },
      // Operators stop waiting: unreported recipients get the report the protocol requires; once
      // only .RES answers are awaited, abandoning stops waiting for them.
      'operator.abandon': [
        {
          guard: 'notExpired',
          target: 'sendingReports',
          actions: { type: 'abandonReports', params: ({ event }) => ({ reason: event.reason }) },
        },
        {
          guard: 'hasUnacked',
          actions: { type: 'stopWaitingForRes', params: ({ event }) => ({ reason: event.reason }) },
        },
      ],
    },
    // Timers start in this order (the workflow's timer commands follow it).
    after: {
      untilExpiry: { guard: 'notExpired', target: 'sendingReports', actions: 'expireUnreported' },
      reportAckTimeout: [
        { guard: 'canResendReports', target: 'resendingReports' },
        { guard: 'hasUnacked', actions: 'giveUpResends' },
      ],
    },
  }),
  resendingReports: reportingSetup.createStateConfig({
    description: 'Send again the reports the originator MMSC has not answered (same transaction ids, so it can tell).',
    invoke: {
      id: 'resendReports',
      src: 'sendReports',
      input: ({ context }) => ({
        reports: context.unacked.filter((r) => r.sends < context.request.mm4Ack.maxAttempts),
      }),
      onDone: { target: 'awaitingImdn', actions: { type: 'recordResent', params: ({ event }) => event.output } },
      onError: { target: 'awaitingImdn', actions: { type: 'dropUnacked', params: errorOf } },
    },
  }),
  sendingReports: reportingSetup.createStateConfig({
    description: 'MM4_delivery_report.REQ / MM4_read_reply_report.REQ to the originator MMSC.',
    entry: 'beginSend',
    invoke: {
      id: 'sendReports',
      src: 'sendReports',
      input: ({ context }) => ({ reports: numbered(context) }),
      onDone: { target: 'awaitingImdn', actions: { type: 'recordSent', params: ({ event }) => event.output } },
      onError: { target: 'awaitingImdn', actions: { type: 'dropSend', params: errorOf } },
    },
  }),
};
