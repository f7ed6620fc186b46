import { and, assign } from 'xstate';
import type {
  ConvertedMessage,
  MmsContent,
  MmsToCpmInput,
  RecipientPlan,
  SipAttemptResult,
} from '../model/delivery.js';
import type { Mm4Status } from '../model/mm4-status.js';
import type { DeliveryOutcome, RecipientOutcome } from '../model/outcome.js';
import { retryDelayMs, type ActorError } from './common.js';
import { reportingSetup, reportingStates } from './mms-to-cpm.reporting.js';
import type { MmsToCpmContext, RecipientState } from './mms-to-cpm.setup.js';

export {
  imdnToMmStatus,
  type ImdnEvent,
  type PendingReport,
  type ReportsSent,
  type SentReport,
} from './mms-reports.js';
export type { MmsToCpmContext, MmsToCpmEvent, MmsToCpmMachineInput, ResInput, RouteInput } from './mms-to-cpm.setup.js';

/**
 * The MMS -> CPM delivery (one MM4_forward.REQ):
 * received -> converting -> storing (media to the Media Storage Server) -> routing <-> retryWait
 * -> concluding -> acking -> reporting (mms-to-cpm.reporting.ts) -> done.
 *
 * Pure: actors are placeholders supplied by the workflow with `.provide({ actors })`; timers come
 * from `after` (a durable Temporal timer inside a workflow, a SimulatedClock in tests) and the
 * current time from the `now` of the input, never from Date.now().
 */

/** Overall MM4 answer from per-recipient results (one `.RES` per MM4 request, 23.140 §8.4.2). */
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

/** Marks every still-open recipient as failed with the given status. */
function closeOpen(ctx: MmsToCpmContext, status: Mm4Status, reason: string): RecipientState[] {
  return ctx.recipients.map((r) => (r.final ? r : { ...r, final: true, status, reason }));
}

const errorOf = ({ event }: { event: { error: unknown } }) => event.error as ActorError;

export const mmsToCpmMachine = reportingSetup
  .extend({
    guards: {
      intakeRefused: ({ context }) => context.request.intakeError !== undefined,
      nothingRoutable: ({ context }) => pendingOf(context).length === 0,
      /**
       * Store-and-forward: when the MMS asked for a delivery report and the CPM side answered
       * transiently, the MMSC gets `.RES Ok` now (the MM is accepted, 23.140 §8.4.2) and the outcome
       * later as an MM4_delivery_report.REQ (§8.4.3).
       */
      ackEarly: ({ context }) =>
        context.request.mm4.ackRequest && context.request.mm4.deliveryReport && !context.earlyAcked,
      finalAckDue: ({ context }) => context.request.mm4.ackRequest && !context.earlyAcked,
      /**
       * Retry only transient failures, within the attempt budget and while the message lives: a
       * backoff that would pass the expiry is cut short so the last attempt comes just before it.
       */
      canRetry: ({ context }) => {
        if (pendingOf(context).length === 0) return false;
        if (context.attempt >= context.request.retry.maxAttempts) return false;
        return context.deadline === undefined || context.now() + LAST_TRY_BEFORE_EXPIRY_MS < context.deadline;
      },
    },
    actions: {
      refuseAtIntake: assign(({ context }) => {
        const err = context.request.intakeError!;
        return { recipients: closeOpen(context, err.status, err.reason), note: `refused at intake: ${err.reason}` };
      }),
      /** What the intake tolerated or could not read goes into the trail with the first step. */
      noteIntake: assign(({ context }) =>
        context.request.intakeNotes?.length ? { note: `intake: ${context.request.intakeNotes.join('; ')}` } : {},
      ),
      recordConversion: assign(({ context }, converted: ConvertedMessage) => {
        const recipients = context.recipients.map((r, i): RecipientState => {
          const plan = converted.recipients[i];
          if (!plan || plan.refused) {
            const refused = plan?.refused ?? {
              status: 'Error-sending-address-unresolved' as Mm4Status,
              reason: 'not converted',
            };
            return { ...r, final: true, status: refused.status, reason: refused.reason };
          }
          return { ...r, uri: plan.uri };
        });
        const routable = recipients.filter((r) => !r.final).length;
        return { converted, recipients, note: `${routable} of ${recipients.length} recipient(s) are CPM users` };
      }),
      failConversion: assign(({ context }, err: ActorError) => {
        const status: Mm4Status =
          err.type === 'MalformedMessage'
            ? 'Error-message-format-corrupt'
            : err.type === 'AddressNotRoutable'
              ? 'Error-sending-address-unresolved'
              : 'Error-unspecified';
        return { recipients: closeOpen(context, status, err.message), note: `conversion failed: ${err.message}` };
      }),
      recordContent: assign((_, content: MmsContent) => ({
        content,
        note: `text ${content.text.length} chars, ${content.files.length} media part(s) stored`,
      })),
      failStore: assign(({ context }, err: ActorError) => ({
        recipients: closeOpen(context, 'Error-content-not-accepted', err.message),
        note: `media could not be stored: ${err.message}`,
      })),
      countAttempt: assign(({ context }) => ({ attempt: context.attempt + 1 })),
      recordAttempt: assign(({ context }, results: SipAttemptResult[]) => {
        const byUri = new Map(results.map((r) => [r.uri, r]));
        const recipients = context.recipients.map((r): RecipientState => {
          const res = r.final || !r.uri ? undefined : byUri.get(r.uri);
          if (!res) return r;
          return {
            ...r,
            attempts: r.attempts + 1,
            sipStatus: res.sipStatus,
            status: res.mm4Status,
            reason: `SIP ${res.sipStatus} ${res.reason}${res.note ? `; ${res.note}` : ''}`,
            final: res.outcome !== 'transient',
          };
        });
        const note = results.map((r) => `${r.sipStatus} ${r.outcome}${r.note ? ` (${r.note})` : ''}`).join(', ');
        return { recipients, note: `attempt ${context.attempt}: ${note}` };
      }),
      /** The activity itself gave up (SIP stack unusable); treated like a transient refusal. */
      failAttempt: assign(({ context }, err: ActorError) => {
        const recipients = context.recipients.map((r): RecipientState =>
          r.final ? r : { ...r, attempts: r.attempts + 1, status: 'Error-network-problem', reason: err.message },
        );
        return { recipients, note: `attempt ${context.attempt} failed: ${err.message}` };
      }),
      stopTrying: assign(({ context }) => {
        const open = pendingOf(context).length;
        if (open === 0) return { note: 'every recipient answered finally' };
        const expired = context.deadline !== undefined && context.attempt < context.request.retry.maxAttempts;
        const why = expired ? 'message expiry reached' : `gave up after ${context.attempt} attempt(s)`;
        return {
          recipients: context.recipients.map((r) =>
            r.final ? r : { ...r, final: true, reason: `${r.reason}; ${why}` },
          ),
          note: why,
        };
      }),
      /** The IWF stopped trying: whether the user would have got it is unknown (Indeterminate). */
      abandonRetries: assign(({ context }, { reason }: { reason: string }) => ({
        recipients: context.recipients.map((r) =>
          r.final
            ? r
            : {
                ...r,
                final: true,
                status: 'Error-network-problem' as const,
                reason: `abandoned by operator: ${reason}`,
                reportAs: 'Indeterminate',
              },
        ),
        note: `operator: abandon (${reason})`,
      })),
      conclude: assign(({ context }) => ({ outcome: summarise(context.recipients, context.earlyAcked) })),
      recordResSent: assign(({ context }) => ({
        outcome: { ...context.outcome!, resSent: true },
        note: `MM4_forward.RES ${context.outcome!.mm4Status} sent`,
      })),
    },
    delays: {
      retryDelay: ({ context }) => {
        const backoff = retryDelayMs(context.request.retry, context.attempt);
        if (context.deadline === undefined) return backoff;
        return Math.max(1, Math.min(backoff, context.deadline - LAST_TRY_BEFORE_EXPIRY_MS - context.now()));
      },
    },
  })
  .createMachine({
    id: 'mmsToCpm',
    context: ({ input: { request, now } }) => ({
      request,
      now,
      recipients: request.mm4.recipients.map((mms) => ({
        mms,
        status: 'Error-unspecified',
        attempts: 0,
        reason: 'not tried',
        final: false,
      })),
      attempt: 0,
      deadline: expiryOf(request),
      queue: [],
      reportsSent: 0,
      inFlight: 0,
      unacked: [],
      answered: [],
      expired: false,
      earlyAcked: false,
    }),
    initial: 'received',
    on: {
      // IMDNs are recorded whenever they come: a fast client may confirm before our .RES went out.
      'sip.imdn': { actions: { type: 'recordImdn', params: ({ event }) => event } },
      // The originator MMSC's answer to one of our reports (23.140 §8.4.3/§8.4.4).
      'mm4.res': { actions: { type: 'recordReportRes', params: ({ event }) => event } },
    },
    states: {
      received: {
        description: 'The MM4_forward.REQ is durably recorded; the MMSC got its SMTP 250.',
        always: [
          { guard: 'intakeRefused', target: 'concluding', actions: 'refuseAtIntake' },
          { target: 'converting', actions: 'noteIntake' },
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
            actions: { type: 'recordConversion', params: ({ event }) => event.output },
          },
          onError: { target: 'concluding', actions: { type: 'failConversion', params: errorOf } },
        },
      },
      checkingRoutes: {
        always: [{ guard: 'nothingRoutable', target: 'concluding' }, { target: 'storing' }],
      },
      storing: {
        description:
          'Split the stored MM into text and media; store each media part (with thumbnails) for FT-over-HTTP.',
        invoke: {
          id: 'store',
          src: 'store',
          input: ({ context }) => context.request.raw,
          onDone: { target: 'routing', actions: { type: 'recordContent', params: ({ event }) => event.output } },
          onError: { target: 'concluding', actions: { type: 'failStore', params: errorOf } },
        },
      },
      routing: {
        description:
          'One SIP MESSAGE (message/cpim) per open recipient through the outbound proxy; each SIP ' +
          "non-INVITE transaction is awaited to its final response (the CPM side's answer).",
        entry: 'countAttempt',
        invoke: {
          id: 'route',
          src: 'route',
          input: ({ context }) => ({
            converted: context.converted!,
            content: context.content!,
            pending: pendingOf(context),
            attempt: context.attempt,
          }),
          onDone: { target: 'routed', actions: { type: 'recordAttempt', params: ({ event }) => event.output } },
          onError: { target: 'routed', actions: { type: 'failAttempt', params: errorOf } },
        },
      },
      routed: {
        always: [
          { guard: and(['canRetry', 'ackEarly']), target: 'ackingEarly' },
          { guard: 'canRetry', target: 'retryWait' },
          { target: 'concluding', actions: 'stopTrying' },
        ],
      },
      retryWait: {
        description: 'Durable backoff before the next attempt for recipients that answered transiently.',
        after: { retryDelay: { target: 'routing' } },
        on: {
          'operator.retry': { target: 'routing', actions: assign({ note: 'operator: retry now' }) },
          'operator.abandon': {
            target: 'concluding',
            actions: { type: 'abandonRetries', params: ({ event }) => ({ reason: event.reason }) },
          },
        },
      },
      ackingEarly: {
        description:
          'The recipient is offline and the MMS wants a delivery report: accept now (.RES Ok), report later.',
        invoke: {
          id: 'sendEarlyRes',
          src: 'sendRes',
          input: () => ({
            status: 'Ok' as const,
            statusText: 'Accepted for store-and-forward; the outcome follows as a delivery report',
          }),
          onDone: {
            target: 'retryWait',
            actions: assign({ earlyAcked: true, note: 'MM4_forward.RES Ok sent (store-and-forward)' }),
          },
          onError: {
            target: 'retryWait',
            actions: assign(({ event }) => ({
              note: `early MM4_forward.RES not sent: ${(event.error as ActorError).message}`,
            })),
          },
        },
      },
      concluding: {
        description: 'Every recipient has a final answer (or the attempts/expiry ran out): summarise.',
        entry: 'conclude',
        always: [{ guard: 'finalAckDue', target: 'acking' }, { target: 'afterAck' }],
      },
      acking: {
        description:
          'Answer the originating MMSC with MM4_forward.RES (X-Mms-Ack-Request: Yes), a new SMTP transaction.',
        invoke: {
          id: 'sendRes',
          src: 'sendRes',
          input: ({ context }) => ({ status: context.outcome!.mm4Status, statusText: context.outcome!.statusText }),
          onDone: { target: 'afterAck', actions: 'recordResSent' },
          onError: {
            target: 'afterAck',
            actions: assign(({ event }) => ({
              note: `MM4_forward.RES not sent: ${(event.error as ActorError).message}`,
            })),
          },
        },
      },
      ...reportingStates,
      done: {
        type: 'final',
        description: 'The delivery is finished; the output is its DeliveryOutcome.',
      },
    },
    output: ({ context }) => context.outcome ?? summarise(context.recipients),
  });
