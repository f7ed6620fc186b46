import { and, assign, fromPromise, setup } from 'xstate';
import type {
  ConvertedMessage,
  MmsContent,
  OperatorEvent,
  MmsToCpmInput,
  RecipientPlan,
  SipAttemptResult,
  StoredRef,
} from '../model/delivery.js';
import type { Mm4Status } from '../model/mm4-status.js';
import type { DeliveryOutcome, RecipientOutcome } from '../model/outcome.js';
import { retryDelayMs, type ActorError } from './common.js';
import { applyImdn, reportForSipFailure, reportNumber, type ImdnEvent, type PendingReport, type Reportable, type SentReport } from './mms-reports.js';

export { imdnToMmStatus, type ImdnEvent, type PendingReport, type SentReport } from './mms-reports.js';

/**
 * The MMS -> CPM delivery (one MM4_forward.REQ):
 * received -> converting -> storing (media to the Media Storage Server) -> routing <-> retryWait
 * -> concluding -> acking -> done.
 *
 * Pure: actors are placeholders supplied by the workflow with `.provide({ actors })`, time comes
 * from `after` (a durable Temporal timer inside a workflow, a SimulatedClock in tests).
 */

export interface RouteInput {
  converted: ConvertedMessage;
  content: MmsContent;
  /** Recipients still to be tried in this round (accepted and permanently refused ones are not). */
  pending: RecipientPlan[];
  attempt: number;
}

export interface ResInput {
  status: Mm4Status;
  statusText: string;
}

interface RecipientState extends RecipientOutcome, Reportable {
  final: boolean;
  /** The delivery report this recipient's failure stands for, when not the SIP mapping's. */
  reportAs?: string;
}

export interface MmsToCpmContext {
  request: MmsToCpmInput;
  converted?: ConvertedMessage;
  /** The MM's text and stored media (references only). */
  content?: MmsContent;
  recipients: RecipientState[];
  /** Routing rounds done so far. */
  attempt: number;
  /** Absolute end of the message's life in ms (X-Mms-Expiry), when the MMSC gave one. */
  deadline?: number;
  outcome?: DeliveryOutcome;
  /** Reports waiting to be sent, and how many were sent so far (numbers their transaction ids). */
  queue: PendingReport[];
  reportsSent: number;
  /** How many queued reports the running send covers (IMDNs may queue more meanwhile). */
  inFlight: number;
  /** Reports sent whose `.RES` has not come: resent after `mm4Ack.timeoutMs`, up to `maxAttempts` sends. */
  unacked: SentReport[];
  /** Report numbers the MMSC answered; a `.RES` may overtake the record of its own send. */
  answered: number[];
  /** The message's expiry passed while waiting for IMDNs. */
  expired: boolean;
  /** MM4_forward.RES Ok went out before the outcome was known (store-and-forward). */
  earlyAcked: boolean;
  /** One-line explanation of the last transition, recorded in the audit trail. */
  note?: string;
}

const notImplemented = (name: string) =>
  fromPromise<never, unknown>(async () => {
    throw new Error(`actor '${name}' must be provided by the workflow`);
  });

/** Overall MM4 answer from per-recipient results (one `.RES` per MM4 request, 23.140 8.4.2). */
export function summarise(recipients: RecipientOutcome[], resSent = false): DeliveryOutcome {
  const accepted = recipients.filter((r) => r.status === 'Ok');
  const refused = recipients.filter((r) => r.status !== 'Ok');
  if (refused.length === 0) {
    const text = `Accepted by CPM for ${accepted.length} recipient(s)`;
    return { result: 'delivered', mm4Status: 'Ok', statusText: text, recipients, resSent };
  }
  const reasons = refused.map((r) => `${r.mms}: ${r.reason}`).join('; ');
  if (accepted.length > 0) {
    const text = `Accepted for ${accepted.length} of ${recipients.length} recipients; refused ${reasons}`;
    return { result: 'partial', mm4Status: 'Ok', statusText: text, recipients, resSent };
  }
  const permanent = refused.find((r) => r.status !== 'Error-network-problem');
  return {
    result: permanent ? 'rejected' : 'failed',
    mm4Status: (permanent ?? refused[0]).status,
    statusText: `Not delivered: ${reasons}`,
    recipients,
    resSent,
  };
}

function expiryOf(request: MmsToCpmInput): number | undefined {
  const at = request.mm4.expiry ? Date.parse(request.mm4.expiry) : NaN;
  return Number.isFinite(at) ? at : undefined;
}

const pendingOf = (ctx: MmsToCpmContext) =>
  ctx.recipients.filter((r) => !r.final && r.uri).map((r): RecipientPlan => ({ mms: r.mms, uri: r.uri }));

/** How long before X-Mms-Expiry the last attempt is made (it needs time for its SIP transaction). */
const LAST_TRY_BEFORE_EXPIRY_MS = 1000;

/** The queued reports the running send covers, numbered after those sent before. */
const numbered = (ctx: MmsToCpmContext): SentReport[] =>
  ctx.queue.slice(0, ctx.inFlight).map((r, i) => ({ ...r, n: ctx.reportsSent + 1 + i, sends: 0 }));

/** Marks every still-open recipient as failed with the given status. */
function closeOpen(ctx: MmsToCpmContext, status: Mm4Status, reason: string): RecipientState[] {
  return ctx.recipients.map((r) => (r.final ? r : { ...r, final: true, status, reason }));
}

export const mmsToCpmMachine = setup({
  types: {
    context: {} as MmsToCpmContext,
    input: {} as MmsToCpmInput,
    events: {} as OperatorEvent | ImdnEvent | { type: 'mm4.res'; pduType: string; status?: string; transactionId: string },
    output: {} as DeliveryOutcome,
  },
  actors: {
    convert: notImplemented('convert') as unknown as ReturnType<
      typeof fromPromise<ConvertedMessage, MmsToCpmInput>
    >,
    store: notImplemented('store') as unknown as ReturnType<typeof fromPromise<MmsContent, StoredRef | undefined>>,
    route: notImplemented('route') as unknown as ReturnType<typeof fromPromise<SipAttemptResult[], RouteInput>>,
    sendRes: notImplemented('sendRes') as unknown as ReturnType<typeof fromPromise<void, ResInput>>,
    sendReports: notImplemented('sendReports') as unknown as ReturnType<typeof fromPromise<void, { reports: SentReport[] }>>,
  },
  guards: {
    intakeRefused: ({ context }) => context.request.intakeError !== undefined,
    nothingRoutable: ({ context }) => pendingOf(context).length === 0,
    /** Reports only for an MM the MMSC was told was accepted (an error .RES already refused it). */
    wantsReports: ({ context }) =>
      (context.request.mm4.deliveryReport || context.request.mm4.readReply) &&
      (context.outcome?.mm4Status === 'Ok' || context.earlyAcked) &&
      !context.request.intakeError,
    /**
     * Store-and-forward (issue 5.3): when the MMS asked for a delivery report and the CPM side
     * answered transiently, the MMSC gets `.RES Ok` now and the outcome later as a report.
     */
    ackEarly: ({ context }) => context.request.mm4.ackRequest && context.request.mm4.deliveryReport && !context.earlyAcked,
    finalAckDue: ({ context }) => context.request.mm4.ackRequest && !context.earlyAcked,
    hasQueue: ({ context }) => context.queue.length > 0,
    notExpired: ({ context }) => !context.expired,
    hasUnacked: ({ context }) => context.unacked.length > 0,
    canResendReports: ({ context }) => context.unacked.some((r) => r.sends < context.request.mm4Ack.maxAttempts),
    allReported: ({ context }) =>
      context.unacked.length === 0 &&
      (context.expired ||
      context.recipients.every((r) => r.reported !== undefined && (!context.request.mm4.readReply || r.reported !== 'Retrieved' || r.readReported))),
    /**
     * Retry only transient failures, within the attempt budget and while the message lives: a
     * backoff that would pass the expiry is cut short so the last attempt comes just before it.
     */
    canRetry: ({ context }) => {
      if (pendingOf(context).length === 0) return false;
      if (context.attempt >= context.request.retry.maxAttempts) return false;
      return context.deadline === undefined || Date.now() + LAST_TRY_BEFORE_EXPIRY_MS < context.deadline;
    },
  },
  actions: {
    /** An IMDN queues the MM4 report(s) it stands for (issue 5.2); sent from awaitingImdn. */
    recordImdn: assign(({ context, event }) => applyImdn(context.recipients, context.queue, context.request.mm4, event as ImdnEvent)),
  },
  delays: {
    retryDelay: ({ context }) => {
      const backoff = retryDelayMs(context.request.retry, context.attempt);
      if (context.deadline === undefined) return backoff;
      return Math.max(1, Math.min(backoff, context.deadline - LAST_TRY_BEFORE_EXPIRY_MS - Date.now()));
    },
    untilExpiry: ({ context }) => Math.max(1, (context.deadline ?? Date.now()) - Date.now()),
    reportAckTimeout: ({ context }) => context.request.mm4Ack.timeoutMs,
  },
}).createMachine({
  id: 'mmsToCpm',
  context: ({ input }) => ({
    request: input,
    recipients: input.mm4.recipients.map((mms) => ({
      mms,
      status: 'Error-unspecified' as Mm4Status,
      attempts: 0,
      reason: 'not tried',
      final: false,
    })),
    attempt: 0,
    deadline: expiryOf(input),
    queue: [],
    reportsSent: 0,
    inFlight: 0,
    unacked: [],
    answered: [],
    expired: false,
    earlyAcked: false,
  }),
  initial: 'received',
  // IMDNs are recorded whenever they come: a fast client may confirm before our .RES went out.
  on: {
    'sip.imdn': { actions: 'recordImdn' },
    // The originator MMSC's answer to one of our reports (23.140 8.4.3/8.4.4): that report needs no
    // resend. An error status is an answer too (the MMSC will not take it, resending changes nothing).
    'mm4.res': {
      actions: assign(({ context, event }) => {
        const n = reportNumber(event.transactionId);
        const dup = n !== undefined && context.answered.includes(n);
        return {
          unacked: context.unacked.filter((r) => r.n !== n),
          answered: n === undefined || dup ? context.answered : [...context.answered, n],
          note: `${event.pduType} ${event.status ?? '(no status)'} for report ${n ?? event.transactionId}${dup ? ' (duplicate)' : ''}`,
        };
      }),
    },
  },
  states: {
    received: {
      description: 'The MM4_forward.REQ is durably recorded; the MMSC got its SMTP 250.',
      always: [
        {
          guard: 'intakeRefused',
          target: 'concluding',
          actions: assign(({ context }) => {
            const err = context.request.intakeError!;
            const recipients = closeOpen(context, err.status, err.reason);
            return { recipients, note: `refused at intake: ${err.reason}` };
          }),
        },
        { target: 'converting' },
      ],
    },
    converting: {
      description: 'Map MMS addresses to CPM URIs, check each recipient is a CPM user, derive IMDN requests.',
      invoke: {
        id: 'convert',
        src: 'convert',
        input: ({ context }) => context.request,
        onDone: {
          target: 'checkingRoutes',
          actions: assign(({ context, event }) => {
            const converted = event.output;
            const recipients = context.recipients.map((r, i): RecipientState => {
              const plan = converted.recipients[i];
              if (!plan || plan.refused) {
                const refused = plan?.refused ?? { status: 'Error-sending-address-unresolved' as Mm4Status, reason: 'not converted' };
                return { ...r, final: true, status: refused.status, reason: refused.reason };
              }
              return { ...r, uri: plan.uri };
            });
            const routable = recipients.filter((r) => !r.final).length;
            return { converted, recipients, note: `${routable} of ${recipients.length} recipient(s) are CPM users` };
          }),
        },
        onError: {
          target: 'concluding',
          actions: assign(({ context, event }) => {
            const err = event.error as ActorError;
            const status: Mm4Status = err.type === 'MalformedMessage' ? 'Error-message-format-corrupt' : 'Error-unspecified';
            return { recipients: closeOpen(context, status, err.message), note: `conversion failed: ${err.message}` };
          }),
        },
      },
    },
    checkingRoutes: {
      always: [{ guard: 'nothingRoutable', target: 'concluding' }, { target: 'storing' }],
    },
    storing: {
      description: 'Split the stored MM into text and media; store each media part (with thumbnails) for FT-over-HTTP.',
      invoke: {
        id: 'store',
        src: 'store',
        input: ({ context }) => context.request.raw,
        onDone: {
          target: 'routing',
          actions: assign(({ event }) => ({ content: event.output, note: `text ${event.output.text.length} chars, ${event.output.files.length} media part(s) stored` })),
        },
        onError: {
          target: 'concluding',
          actions: assign(({ context, event }) => {
            const err = event.error as ActorError;
            return { recipients: closeOpen(context, 'Error-content-not-accepted', err.message), note: `media could not be stored: ${err.message}` };
          }),
        },
      },
    },
    routing: {
      description:
        'One SIP MESSAGE (message/cpim) per open recipient through the outbound proxy; each SIP ' +
        'non-INVITE transaction is awaited to its final response (the CPM side\'s answer).',
      entry: assign(({ context }) => ({ attempt: context.attempt + 1 })),
      invoke: {
        id: 'route',
        src: 'route',
        input: ({ context }) => ({ converted: context.converted!, content: context.content!, pending: pendingOf(context), attempt: context.attempt }),
        onDone: {
          target: 'routed',
          actions: assign(({ context, event }) => {
            const byUri = new Map(event.output.map((r) => [r.uri, r]));
            const recipients = context.recipients.map((r): RecipientState => {
              const res = r.final || !r.uri ? undefined : byUri.get(r.uri);
              if (!res) return r;
              return {
                ...r,
                attempts: r.attempts + 1,
                sipStatus: res.sipStatus,
                status: res.mm4Status,
                reason: `SIP ${res.sipStatus} ${res.reason}`,
                final: res.outcome !== 'transient',
              };
            });
            const note = event.output.map((r) => `${r.sipStatus} ${r.outcome}`).join(', ');
            return { recipients, note: `attempt ${context.attempt}: ${note}` };
          }),
        },
        onError: {
          // The activity itself gave up (SIP stack unusable); treated like a transient refusal.
          target: 'routed',
          actions: assign(({ context, event }) => {
            const err = event.error as ActorError;
            const recipients = context.recipients.map((r): RecipientState =>
              r.final ? r : { ...r, attempts: r.attempts + 1, status: 'Error-network-problem', reason: err.message },
            );
            return { recipients, note: `attempt ${context.attempt} failed: ${err.message}` };
          }),
        },
      },
    },
    routed: {
      always: [
        { guard: and(['canRetry', 'ackEarly']), target: 'ackingEarly' },
        { guard: 'canRetry', target: 'retryWait' },
        {
          target: 'concluding',
          actions: assign(({ context }) => {
            const open = pendingOf(context).length;
            if (open === 0) return { note: 'every recipient answered finally' };
            const expired = context.deadline !== undefined && context.attempt < context.request.retry.maxAttempts;
            const why = expired ? 'message expiry reached' : `gave up after ${context.attempt} attempt(s)`;
            return {
              recipients: context.recipients.map((r) => (r.final ? r : { ...r, final: true, reason: `${r.reason}; ${why}` })),
              note: why,
            };
          }),
        },
      ],
    },
    retryWait: {
      description: 'Durable backoff before the next attempt for recipients that answered transiently.',
      after: { retryDelay: { target: 'routing' } },
      on: {
        'operator.retry': { target: 'routing', actions: assign({ note: 'operator: retry now' }) },
        'operator.abandon': {
          target: 'concluding',
          actions: assign(({ context, event }) => ({
            // The IWF stopped trying: whether the user would have got it is unknown (Indeterminate).
            recipients: context.recipients.map((r) =>
              r.final ? r : { ...r, final: true, status: 'Error-network-problem', reason: `abandoned by operator: ${event.reason}`, reportAs: 'Indeterminate' },
            ),
            note: `operator: abandon (${event.reason})`,
          })),
        },
      },
    },
    ackingEarly: {
      description: 'The recipient is offline and the MMS wants a delivery report: accept now (.RES Ok), report later.',
      invoke: {
        id: 'sendEarlyRes',
        src: 'sendRes',
        input: () => ({ status: 'Ok' as const, statusText: 'Accepted for store-and-forward; the outcome follows as a delivery report' }),
        onDone: { target: 'retryWait', actions: assign({ earlyAcked: true, note: 'MM4_forward.RES Ok sent (store-and-forward)' }) },
        onError: { target: 'retryWait', actions: assign(({ event }) => ({ note: `early MM4_forward.RES not sent: ${(event.error as ActorError).message}` })) },
      },
    },
    concluding: {
      description: 'Every recipient has a final answer (or the attempts/expiry ran out): summarise.',
      entry: assign(({ context }) => ({ outcome: summarise(context.recipients, context.earlyAcked) })),
      always: [{ guard: 'finalAckDue', target: 'acking' }, { target: 'afterAck' }],
    },
    acking: {
      description: 'Answer the originating MMSC with MM4_forward.RES (X-Mms-Ack-Request: Yes), a new SMTP transaction.',
      invoke: {
        id: 'sendRes',
        src: 'sendRes',
        input: ({ context }) => ({ status: context.outcome!.mm4Status, statusText: context.outcome!.statusText }),
        onDone: {
          target: 'afterAck',
          actions: assign(({ context }) => ({
            outcome: { ...context.outcome!, resSent: true },
            note: `MM4_forward.RES ${context.outcome!.mm4Status} sent`,
          })),
        },
        onError: {
          target: 'afterAck',
          actions: assign(({ event }) => ({ note: `MM4_forward.RES not sent: ${(event.error as ActorError).message}` })),
        },
      },
    },
    afterAck: {
      description: 'Wait for IMDNs when the MMS asked for delivery or read reports; report final SIP failures at once.',
      always: [
        {
          guard: 'wantsReports',
          target: 'awaitingImdn',
          actions: assign(({ context }) => {
            const failed = context.recipients.filter((r) => r.status !== 'Ok');
            if (!context.request.mm4.deliveryReport) return { recipients: context.recipients.map((r) => (r.status !== 'Ok' ? { ...r, reported: 'none' } : r)) };
            return {
              // Keep what IMDNs that overtook the .RES already queued.
              queue: [...context.queue, ...failed.map((r): PendingReport => ({ mms: r.mms, kind: 'delivery', status: r.reportAs ?? reportForSipFailure(r.status), statusText: r.reason }))],
              recipients: context.recipients.map((r) => (r.status !== 'Ok' ? { ...r, reported: r.reportAs ?? reportForSipFailure(r.status) } : r)),
            };
          }),
        },
        { target: 'done' },
      ],
    },
    awaitingImdn: {
      description:
        'Waiting for the CPM recipients\' IMDNs until the message expires (X-Mms-Expiry or the default), ' +
        'and for the originator MMSC\'s .RES to each report sent (resent after delivery.mm4Ack.timeout).',
      always: [{ guard: 'hasQueue', target: 'sendingReports' }, { guard: 'allReported', target: 'done' }],
      on: {
        'operator.retry': { guard: 'hasUnacked', target: 'resendingReports', actions: assign({ note: 'operator: resend unanswered reports now' }) },
        // Operators stop waiting: unreported recipients get the report the protocol requires; once
        // only .RES answers are awaited, abandoning stops waiting for them.
        'operator.abandon': [
          {
            guard: 'notExpired',
            target: 'sendingReports',
            actions: assign(({ context, event }) => {
              const open = context.recipients.filter((r) => r.reported === undefined);
              return {
                expired: true,
                queue: context.request.mm4.deliveryReport ? [...context.queue, ...open.map((r): PendingReport => ({ mms: r.mms, kind: 'delivery', status: 'Indeterminate', statusText: `abandoned by operator: ${event.reason}` }))] : context.queue,
                recipients: context.recipients.map((r) => (r.reported === undefined ? { ...r, reported: 'Indeterminate' } : r)),
                note: `operator: abandon (${event.reason})`,
              };
            }),
          },
          {
            guard: 'hasUnacked',
            actions: assign(({ context, event }) => ({
              unacked: [],
              note: `operator: abandon (${event.reason}); stopped waiting for .RES to report(s) ${context.unacked.map((r) => r.n).join(', ')}`,
            })),
          },
        ],
      },
      after: {
        untilExpiry: {
          guard: 'notExpired',
          target: 'sendingReports',
          actions: assign(({ context }) => {
            const open = context.recipients.filter((r) => r.reported === undefined);
            return {
              expired: true,
              queue: context.request.mm4.deliveryReport ? [...context.queue, ...open.map((r): PendingReport => ({ mms: r.mms, kind: 'delivery', status: 'Expired' }))] : context.queue,
              recipients: context.recipients.map((r) => (r.reported === undefined ? { ...r, reported: 'Expired' } : r)),
              note: `message expired with ${open.length} recipient(s) unreported`,
            };
          }),
        },
        reportAckTimeout: [
          { guard: 'canResendReports', target: 'resendingReports' },
          {
            // Every unanswered report was sent maxAttempts times: stop waiting, say so in the trail.
            guard: 'hasUnacked',
            actions: assign(({ context }) => ({
              unacked: [],
              note: `no .RES for report(s) ${context.unacked.map((r) => r.n).join(', ')} after ${context.request.mm4Ack.maxAttempts} send(s); given up`,
            })),
          },
        ],
      },
    },
    resendingReports: {
      description: 'Send again the reports the originator MMSC has not answered (same transaction ids, so it can tell).',
      invoke: {
        id: 'resendReports',
        src: 'sendReports',
        input: ({ context }) => ({ reports: context.unacked.filter((r) => r.sends < context.request.mm4Ack.maxAttempts) }),
        onDone: {
          target: 'awaitingImdn',
          actions: assign(({ context }) => {
            const max = context.request.mm4Ack.maxAttempts;
            const resent = context.unacked.filter((r) => r.sends < max);
            return {
              unacked: context.unacked.map((r) => (r.sends < max ? { ...r, sends: r.sends + 1 } : r)),
              note: `report(s) ${resent.map((r) => r.n).join(', ')} resent (no .RES yet)`,
            };
          }),
        },
        onError: {
          target: 'awaitingImdn',
          actions: assign(({ context, event }) => ({ unacked: [], note: `reports ${context.unacked.map((r) => r.n).join(', ')} not resent: ${(event.error as ActorError).message}` })),
        },
      },
    },
    sendingReports: {
      description: 'MM4_delivery_report.REQ / MM4_read_reply_report.REQ to the originator MMSC.',
      entry: assign(({ context }) => ({ inFlight: context.queue.length })),
      invoke: {
        id: 'sendReports',
        src: 'sendReports',
        input: ({ context }) => ({ reports: numbered(context) }),
        onDone: {
          target: 'awaitingImdn',
          actions: assign(({ context }) => ({
            reportsSent: context.reportsSent + context.inFlight,
            unacked: [...context.unacked, ...numbered(context).filter((r) => !context.answered.includes(r.n)).map((r) => ({ ...r, sends: 1 }))],
            note: context.queue.slice(0, context.inFlight).map((r) => `${r.kind} report ${r.status} for ${r.mms}`).join('; ') + ' sent',
            queue: context.queue.slice(context.inFlight),
          })),
        },
        onError: {
          target: 'awaitingImdn',
          actions: assign(({ context, event }) => ({ queue: context.queue.slice(context.inFlight), note: `reports not sent: ${(event.error as ActorError).message}` })),
        },
      },
    },
    done: {
      type: 'final',
      description: 'The delivery is finished; the output is its DeliveryOutcome.',
    },
  },
  output: ({ context }) => context.outcome ?? summarise(context.recipients),
});
