import { and, assign, fromPromise, setup } from 'xstate';
import type { AdaptedContent, CpmToMmsInput, IsfDecision, Mm4Route, OperatorEvent, StoredRef } from '../model/delivery.js';
import type { Mm4Status } from '../model/mm4-status.js';
import type { CpmToMmsOutcome } from '../model/outcome.js';
import type { ActorError } from './common.js';
import { deliveryReportToImdn, requestedFor, type ImdnDeliveryStatus } from '../protocols/interworking/reports.js';

/**
 * The CPM -> MMS delivery (one pager-mode MESSAGE):
 * received -> selecting (ISF) -> converting -> [fetching] -> adapting -> sending -> awaitingRes -> accepted
 *   -> awaitingReport (when delivery notifications were asked for) -> done;
 * every refusal or timeout -> failed -> notifying (negative-delivery IMDN when asked for) -> done.
 * Pure: actors come from the workflow, time from `after` (durable timers in Temporal).
 */

export interface SendInput {
  route: Mm4Route;
  attempt: number;
  content: AdaptedContent;
}

export interface AdaptInput {
  text: string;
  file?: StoredRef;
  peer: string;
}

export interface ImdnInput {
  kind: 'delivery' | 'display';
  status: 'delivered' | 'failed' | 'forbidden' | 'error' | 'displayed';
  reason: string;
}

export type CpmToMmsEvent =
  | OperatorEvent
  | { type: 'mm4.res'; status?: string; statusText?: string; transactionId: string }
  | { type: 'mm4.report'; report: 'delivery' | 'read'; status?: string; statusText?: string; statusExtension?: string };

export interface CpmToMmsContext {
  request: CpmToMmsInput;
  decision?: IsfDecision;
  route?: Mm4Route;
  /** An MMSC peer an operator chose instead of the routing table's. */
  peerOverride?: string;
  /** The FT-over-HTTP file, fetched into our store. */
  fetched?: StoredRef;
  content?: AdaptedContent;
  attempt: number;
  /** The MMSC's answer once it arrived (it may overtake the send activity's completion). */
  res?: { status: string; statusText?: string };
  failure?: { result: 'rejected' | 'failed'; mm4Status: Mm4Status; reason: string };
  /** Last X-Mms-MM-Status-Code received; `reported` is the IMDN status already sent for it. */
  report?: string;
  reportExtension?: string;
  reported?: ImdnDeliveryStatus;
  /** X-Mms-Read-Status received. */
  read?: string;
  imdnSent: boolean;
  note?: string;
}

const placeholder = <O, I>(name: string) =>
  fromPromise<O, I>(async () => {
    throw new Error(`actor '${name}' must be provided by the workflow`);
  });

const wants = (ctx: CpmToMmsContext, d: string) => ctx.request.cpm.disposition.includes(d as never);
const failWith = (result: 'rejected' | 'failed', mm4Status: Mm4Status, reason: string) => ({
  failure: { result, mm4Status, reason },
  note: `${result}: ${reason}`,
});

export const cpmToMmsMachine = setup({
  types: {
    context: {} as CpmToMmsContext,
    input: {} as CpmToMmsInput,
    events: {} as CpmToMmsEvent,
    output: {} as CpmToMmsOutcome,
  },
  actors: {
    select: placeholder<IsfDecision, CpmToMmsInput>('select'),
    convert: placeholder<Mm4Route, { request: CpmToMmsInput; peer?: string }>('convert'),
    fetch: placeholder<StoredRef, NonNullable<CpmToMmsInput['cpm']['file']>>('fetch'),
    adapt: placeholder<AdaptedContent, AdaptInput>('adapt'),
    sendForward: placeholder<void, SendInput>('sendForward'),
    sendImdn: placeholder<void, ImdnInput>('sendImdn'),
  },
  guards: {
    hasFile: ({ context }) => context.request.cpm.file !== undefined,
    resOk: ({ context }) => context.res?.status === 'Ok',
    resRefused: ({ context }) => context.res !== undefined && context.res.status !== 'Ok',
    /**
     * A report came while the .RES has not (lost, or still on its way): only an MMSE that accepted
     * the MM reports on it (23.140 8.4.3/8.4.4), so it stands for the missing `.RES Ok`.
     */
    reportBeforeRes: ({ context }) => context.res === undefined && (context.report !== undefined || context.read !== undefined),
    canResend: ({ context }) => context.attempt < context.request.mm4Ack.maxAttempts,
    wantsAnyReport: ({ context }) => ['positive-delivery', 'negative-delivery', 'display'].some((d) => wants(context, d)),
    /** A final delivery report arrived and has not been answered yet (reports may overtake the .RES). */
    finalReportPending: ({ context }) => context.reported === undefined && context.report !== undefined && deliveryReportToImdn(context.report, context.reportExtension) !== undefined,
    reportRequested: ({ context }) => wants(context, requestedFor(deliveryReportToImdn(context.report!, context.reportExtension)!)),
    wantsRead: ({ context }) => wants(context, 'display'),
    readPending: ({ context }) => context.read === 'Read',
    wantsFailureImdn: ({ context }) => wants(context, 'negative-delivery'),
  },
  delays: {
    resTimeout: ({ context }) => context.request.mm4Ack.timeoutMs,
    reportWait: ({ context }) => context.request.reportWaitMs,
  },
}).createMachine({
  id: 'cpmToMms',
  context: ({ input }) => ({ request: input, attempt: 0, imdnSent: false }),
  initial: 'received',
  on: {
    // An MM4_forward.RES may arrive while the send activity is still reporting completion.
    // Reports are recorded wherever they arrive; a final status is never overwritten (issue 5.4).
    'mm4.report': {
      actions: assign(({ context, event }) => {
        if (event.report === 'read') return context.read ? {} : { read: event.status, note: `read report ${event.status ?? ''}` };
        const final = context.report !== undefined && deliveryReportToImdn(context.report, context.reportExtension) !== undefined;
        if (final) return { note: `delivery report ${event.status ?? ''} ignored: final status ${context.report} already received` };
        return { report: event.status, reportExtension: event.statusExtension, note: `delivery report ${event.status ?? ''}` };
      }),
    },
    'mm4.res': {
      actions: assign(({ event }) => ({
        res: { status: event.status ?? 'Error-unspecified', statusText: event.statusText },
        note: `MM4_forward.RES ${event.status ?? '(no status)'}${event.statusText ? `: ${event.statusText}` : ''}`,
      })),
    },
  },
  states: {
    received: {
      description: 'The MESSAGE is durably recorded; the CPM side got its 202 Accepted.',
      always: 'selecting',
    },
    selecting: {
      description: 'Interworking Selection Function: recipient, message type and size under policy.',
      invoke: {
        id: 'select',
        src: 'select',
        input: ({ context }) => context.request,
        onDone: [
          {
            guard: ({ event }) => event.output.interwork,
            target: 'converting',
            actions: assign(({ event }) => ({ decision: event.output, note: `ISF: interwork (${event.output.reason})` })),
          },
          {
            target: 'failed',
            actions: assign(({ event }) => ({
              decision: event.output,
              ...failWith('rejected', 'Error-service-denied', `ISF: not interworked (${event.output.reason})`),
            })),
          },
        ],
        onError: {
          target: 'failed',
          actions: assign(({ event }) => failWith('failed', 'Error-unspecified', `selection failed: ${(event.error as ActorError).message}`)),
        },
      },
    },
    converting: {
      description: 'CPM -> MMS addresses (P-Asserted-Identity, Request-URI) and the MMSC peer for the number.',
      invoke: {
        id: 'convert',
        src: 'convert',
        input: ({ context }) => ({ request: context.request, peer: context.peerOverride }),
        onDone: [
          { guard: 'hasFile', target: 'fetching', actions: assign(({ event }) => ({ route: event.output, note: `routed to MMSC peer ${event.output.peer}` })) },
          { target: 'adapting', actions: assign(({ event }) => ({ route: event.output, note: `routed to MMSC peer ${event.output.peer}` })) },
        ],
        onError: {
          target: 'failed',
          actions: assign(({ event }) => failWith('failed', 'Error-sending-address-unresolved', `not routable: ${(event.error as ActorError).message}`)),
        },
      },
    },
    fetching: {
      description: 'Download the FT-over-HTTP file (size cap, timeout, retries) into the Media Storage Server.',
      invoke: {
        id: 'fetch',
        src: 'fetch',
        input: ({ context }) => context.request.cpm.file!,
        onDone: { target: 'adapting', actions: assign(({ event }) => ({ fetched: event.output, note: `file stored as ${event.output.id} (${event.output.size} B)` })) },
        onError: {
          target: 'failed',
          actions: assign(({ event }) => failWith('rejected', 'Error-content-not-accepted', `file could not be fetched: ${(event.error as ActorError).message}`)),
        },
      },
    },
    adapting: {
      description: 'Fit the content to what the peer MMSC accepts (size, types, resolution), or degrade to a link.',
      invoke: {
        id: 'adapt',
        src: 'adapt',
        input: ({ context }) => ({ text: context.request.text, file: context.fetched, peer: context.route!.peer }),
        onDone: {
          target: 'sending',
          actions: assign(({ event }) => ({ content: event.output, note: event.output.notes.length ? event.output.notes.join('; ') : 'no adaptation needed' })),
        },
        onError: {
          target: 'failed',
          actions: assign(({ event }) => failWith('rejected', 'Error-content-not-accepted', `adaptation failed: ${(event.error as ActorError).message}`)),
        },
      },
    },
    sending: {
      description: 'MM4_forward.REQ over SMTP to the peer (a resend reuses the X-Mms-Message-ID).',
      entry: assign(({ context }) => ({ attempt: context.attempt + 1 })),
      invoke: {
        id: 'sendForward',
        src: 'sendForward',
        input: ({ context }) => ({ route: context.route!, attempt: context.attempt, content: context.content! }),
        onDone: { target: 'awaitingRes', actions: assign(({ context }) => ({ note: `MM4_forward.REQ sent (attempt ${context.attempt})` })) },
        onError: {
          target: 'failed',
          actions: assign(({ event }) => {
            const e = event.error as ActorError;
            // SMTP 5xx is the MMSC's refusal; anything else means it could not be reached.
            return e.type === 'MmscRejected'
              ? failWith('rejected', 'Error-service-denied', e.message)
              : failWith('failed', 'Error-network-problem', `MM4_forward.REQ not delivered: ${e.message}`);
          }),
        },
      },
    },
    awaitingRes: {
      description: 'Waiting for the MMSC\'s MM4_forward.RES (a separate SMTP transaction to our MM4 port).',
      always: [
        { guard: 'resOk', target: 'accepted' },
        { guard: 'reportBeforeRes', target: 'accepted', actions: assign({ note: 'a report came before the MM4_forward.RES: the MMSC has the message' }) },
        {
          guard: 'resRefused',
          target: 'failed',
          actions: assign(({ context }) => {
            const { status, statusText } = context.res!;
            return failWith('rejected', status as Mm4Status, `MMSC answered ${status}${statusText ? ` (${statusText})` : ''}`);
          }),
        },
      ],
      on: {
        'operator.retry': { target: 'sending', actions: assign({ note: 'operator: resend now' }) },
        'operator.reroute': {
          target: 'converting',
          actions: assign(({ event }) => ({ peerOverride: event.peer, res: undefined, note: `operator: reroute to MMSC peer ${event.peer}` })),
        },
        'operator.abandon': {
          target: 'failed',
          actions: assign(({ event }) => failWith('failed', 'Error-network-problem', `abandoned by operator: ${event.reason}`)),
        },
      },
      after: {
        resTimeout: [
          { guard: 'canResend', target: 'sending', actions: assign(({ context }) => ({ note: `no MM4_forward.RES after attempt ${context.attempt}; resending` })) },
          { target: 'failed', actions: assign(({ context }) => failWith('failed', 'Error-network-problem', `no MM4_forward.RES after ${context.attempt} attempt(s)`)) },
        ],
      },
    },
    accepted: {
      description: 'The MMS side accepted the message.',
      always: [{ guard: 'wantsAnyReport', target: 'awaitingReport' }, { target: 'done' }],
    },
    awaitingReport: {
      description: 'The sender asked for notifications: wait for the MMS delivery report until the deadline.',
      always: [
        { guard: and(['finalReportPending', 'reportRequested']), target: 'reporting' },
        {
          guard: 'finalReportPending',
          target: 'reported',
          actions: assign(({ context }) => ({ reported: deliveryReportToImdn(context.report!, context.reportExtension), note: 'no IMDN requested for this outcome' })),
        },
      ],
      after: { reportWait: { target: 'done', actions: assign({ note: 'no delivery report before the wait ended' }) } },
      on: { 'operator.abandon': { target: 'done', actions: assign(({ event }) => ({ note: `operator: stop waiting for the report (${event.reason})` })) } },
    },
    reporting: {
      description: 'The MMS delivery report as an IMDN delivery notification to the CPM sender.',
      invoke: {
        id: 'sendReport',
        src: 'sendImdn',
        input: ({ context }) => ({ kind: 'delivery' as const, status: deliveryReportToImdn(context.report!, context.reportExtension)!, reason: `delivery report ${context.report}` }),
        onDone: {
          target: 'reported',
          actions: assign(({ context }) => ({ reported: deliveryReportToImdn(context.report!, context.reportExtension), imdnSent: true, note: `IMDN ${deliveryReportToImdn(context.report!, context.reportExtension)} sent` })),
        },
        onError: {
          target: 'reported',
          actions: assign(({ context, event }) => ({ reported: deliveryReportToImdn(context.report!, context.reportExtension), note: `IMDN not sent: ${(event.error as ActorError).message}` })),
        },
      },
    },
    reported: {
      always: [{ guard: and(['wantsRead', ({ context }) => context.reported === 'delivered']), target: 'awaitingRead' }, { target: 'done' }],
    },
    awaitingRead: {
      description: 'The sender asked for display notifications: wait for the MMS read-reply report.',
      always: { guard: 'readPending', target: 'reportingRead' },
      after: { reportWait: { target: 'done', actions: assign({ note: 'no read report before the wait ended' }) } },
      on: { 'operator.abandon': { target: 'done', actions: assign(({ event }) => ({ note: `operator: stop waiting for the read report (${event.reason})` })) } },
    },
    reportingRead: {
      description: 'The MMS read report as an IMDN display notification (<displayed/>).',
      invoke: {
        id: 'sendRead',
        src: 'sendImdn',
        input: () => ({ kind: 'display' as const, status: 'displayed' as const, reason: 'read report Read' }),
        onDone: { target: 'done', actions: assign({ imdnSent: true, note: 'IMDN displayed sent' }) },
        onError: { target: 'done', actions: assign(({ event }) => ({ note: `IMDN not sent: ${(event.error as ActorError).message}` })) },
      },
    },
    failed: {
      description: 'The delivery could not be completed; tell the sender if it asked for failure notifications.',
      always: [{ guard: 'wantsFailureImdn', target: 'notifying' }, { target: 'done' }],
    },
    notifying: {
      description: 'Negative-delivery IMDN (<failed/>) to the CPM sender (RFC 5438, protocols.md 7.4).',
      invoke: {
        id: 'sendImdn',
        src: 'sendImdn',
        input: ({ context }) => ({ kind: 'delivery' as const, status: 'failed' as const, reason: context.failure!.reason }),
        onDone: { target: 'done', actions: assign({ imdnSent: true, note: 'negative-delivery IMDN sent' }) },
        onError: { target: 'done', actions: assign(({ event }) => ({ note: `IMDN not sent: ${(event.error as ActorError).message}` })) },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }): CpmToMmsOutcome => {
    const base = { peer: context.route?.peer, attempts: context.attempt, imdnSent: context.imdnSent, report: context.report };
    if (context.failure) {
      return { ...base, result: context.failure.result, mm4Status: context.failure.mm4Status, statusText: context.failure.reason };
    }
    return { ...base, result: 'delivered', mm4Status: 'Ok', statusText: context.res?.statusText ?? 'accepted by the MMSC' };
  },
});
