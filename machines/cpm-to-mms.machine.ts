import { and, assign } from 'xstate';
import type { AdaptedContent, IsfDecision, Mm4Route } from '../model/delivery.js';
import type { Mm4Status } from '../model/mm4-status.js';
import type { CpmToMmsOutcome } from '../model/outcome.js';
import type { ActorError } from './common.js';
import { deliveryReportToImdn, requestedFor } from './cpm-reports.js';
import {
  cpmToMmsSetup,
  type CpmToMmsContext,
  type ForwardResEvent,
  type ReportEvent,
  type SendResult,
} from './cpm-to-mms.setup.js';

export type {
  AdaptInput,
  CpmToMmsContext,
  CpmToMmsEvent,
  CpmToMmsMachineInput,
  ForwardResEvent,
  ImdnInput,
  ReportEvent,
  SendInput,
  SendResult,
} from './cpm-to-mms.setup.js';

/**
 * The CPM -> MMS delivery (one pager-mode MESSAGE):
 * received -> selecting (ISF) -> converting -> [fetching] -> adapting -> sending -> awaitingRes -> accepted
 *   (a send the peer refuses for its size goes back to adapting once, within the limit it gave)
 *   -> [notifyingProcessed] -> awaitingReport (when delivery notifications were asked for) -> done;
 * every refusal or timeout -> failed -> [notifyingProcessingError] -> notifying (negative-delivery IMDN
 * when asked for) -> done. The bracketed states are the RFC 5438 processing notifications: only when
 * the sender asked for `processing` and the workflow enabled them (input.processingImdn).
 * Pure: actors come from the workflow, time from `after` (durable timers in Temporal); no guard or
 * delay reads the current time.
 */

const wants = (ctx: CpmToMmsContext, d: string) => ctx.request.cpm.disposition.includes(d as never);
const failWith = (result: 'rejected' | 'failed', mm4Status: Mm4Status, reason: string) => ({
  failure: { result, mm4Status, reason },
  note: `${result}: ${reason}`,
});
/**
 * A trail note with what the MM4 reader tolerated in the PDU (the peer's dialect) or could not
 * read: operators see why a report was taken as it was. Context only, no command.
 */
const withNotes = (note: string, notes: string[] | undefined) =>
  notes?.length ? `${note} (${notes.join('; ')})` : note;
/** The IMDN the last delivery report stands for; undefined while none or only an interim one came. */
const imdnOf = (ctx: CpmToMmsContext) =>
  ctx.report === undefined ? undefined : deliveryReportToImdn(ctx.report, ctx.reportExtension);
const errorOf = ({ event }: { event: { error: unknown } }) => event.error as ActorError;
/** The params of a `fail` action for an actor that failed: what was being done, and the failure's message. */
const failure =
  (result: 'rejected' | 'failed', mm4Status: Mm4Status, doing: string) =>
  ({ event }: { event: { error: unknown } }) => ({
    result,
    mm4Status,
    reason: `${doing}: ${(event.error as ActorError).message}`,
  });

export const cpmToMmsMachine = cpmToMmsSetup
  .extend({
    guards: {
      hasFile: ({ context }) => context.request.cpm.file !== undefined,
      resOk: ({ context }) => context.res?.status === 'Ok',
      resRefused: ({ context }) => context.res !== undefined && context.res.status !== 'Ok',
      /**
       * A report came while the .RES has not (lost, or still on its way): only an MMSE that accepted
       * the MM reports on it (23.140 8.4.3/8.4.4), so it stands for the missing `.RES Ok`.
       */
      reportBeforeRes: ({ context }) =>
        context.res === undefined && (context.report !== undefined || context.read !== undefined),
      // A send the peer refused for its size got no .RES to wait for: it is not one of the attempts.
      canResend: ({ context }) => context.attempt - (context.tooLarge ? 1 : 0) < context.request.mm4Ack.maxAttempts,
      /** The peer refused the MM4_forward.REQ for its size: adapted again once, within its limit. */
      tooLargeFirst: ({ context, event }) =>
        (event as { output?: SendResult }).output?.tooLarge !== undefined && context.tooLarge === undefined,
      tooLargeAgain: ({ event }) => (event as { output?: SendResult }).output?.tooLarge !== undefined,
      wantsAnyReport: ({ context }) =>
        ['positive-delivery', 'negative-delivery', 'display'].some((d) => wants(context, d)),
      /** A final delivery report arrived and has not been answered yet (reports may overtake the .RES). */
      finalReportPending: ({ context }) => context.reported === undefined && imdnOf(context) !== undefined,
      reportRequested: ({ context }) => wants(context, requestedFor(imdnOf(context)!)),
      reportedDelivered: ({ context }) => context.reported === 'delivered',
      wantsRead: ({ context }) => wants(context, 'display'),
      readPending: ({ context }) => context.read === 'Read',
      wantsFailureImdn: ({ context }) => wants(context, 'negative-delivery'),
      /**
       * The sender asked for processing notifications (RFC 5438 §5.1) and this run sends them; the
       * workflow decides the latter (patched), so histories recorded before the rule replay unchanged.
       */
      wantsProcessing: ({ context }) => context.processingImdn && wants(context, 'processing'),
      /** The failure is the MMSC's own refusal in its MM4_forward.RES (not a timeout, ISF or routing). */
      refusedByRes: ({ context }) => context.res !== undefined && context.res.status !== 'Ok',
    },
    actions: {
      fail: assign((_, f: NonNullable<CpmToMmsContext['failure']>) => failWith(f.result, f.mm4Status, f.reason)),
      recordDecision: assign((_, decision: IsfDecision) => ({ decision, note: `ISF: interwork (${decision.reason})` })),
      refuseByIsf: assign((_, decision: IsfDecision) => ({
        decision,
        ...failWith('rejected', 'Error-service-denied', `ISF: not interworked (${decision.reason})`),
      })),
      /**
       * Only the first final X-Mms-MM-Status-Code (23.140 §8.4.3) counts: a later delivery report, a
       * duplicate or a contradicting one, is not forwarded as a second IMDN.
       */
      recordReport: assign(({ context }, report: ReportEvent) => {
        if (report.report === 'read')
          return context.read
            ? {}
            : { read: report.status, note: withNotes(`read report ${report.status ?? ''}`, report.notes) };
        if (imdnOf(context) !== undefined)
          return {
            note: withNotes(
              `delivery report ${report.status ?? ''} ignored: final status ${context.report} already received`,
              report.notes,
            ),
          };
        return {
          report: report.status,
          reportExtension: report.statusExtension,
          note: withNotes(`delivery report ${report.status ?? ''}`, report.notes),
        };
      }),
      recordRes: assign((_, res: ForwardResEvent) => ({
        res: { status: res.status ?? 'Error-unspecified', statusText: res.statusText },
        note: withNotes(
          `MM4_forward.RES ${res.status ?? '(no status)'}${res.statusText ? `: ${res.statusText}` : ''}`,
          res.notes,
        ),
      })),
      recordRoute: assign((_, route: Mm4Route) => ({ route, note: `routed to MMSC peer ${route.peer}` })),
      recordContent: assign((_, content: AdaptedContent) => ({
        content,
        note: content.notes.length ? content.notes.join('; ') : 'no adaptation needed',
      })),
      /**
       * SMTP 5xx is the MMSC's refusal, a size refusal one of the content; anything else means it
       * could not be reached.
       */
      failSend: assign((_, e: ActorError) =>
        e.type === 'MmscRejected'
          ? failWith('rejected', 'Error-service-denied', e.message)
          : e.type === 'MessageTooLarge'
            ? failWith('rejected', 'Error-content-not-accepted', e.message)
            : failWith('failed', 'Error-network-problem', `MM4_forward.REQ not delivered: ${e.message}`),
      ),
      recordTooLarge: assign((_, d: NonNullable<SendResult['tooLarge']>) => ({
        tooLarge: d,
        note: `MM4_forward.REQ of ${d.sentBytes} B too large for the peer (${d.smtpCode ? `SMTP ${d.smtpCode}` : 'over its SIZE'}); adapting again within ${d.limitBytes} B (${d.limitSource})`,
      })),
      failTooLarge: assign(({ context }, d: NonNullable<SendResult['tooLarge']>) =>
        failWith(
          'rejected',
          'Error-content-not-accepted',
          `MM4_forward.REQ of ${d.sentBytes} B still too large for the peer after adapting within ${context.tooLarge!.limitBytes} B (limit ${d.limitBytes} B, ${d.limitSource})`,
        ),
      ),
      /** An error status in the MM4_forward.RES: the MMSC refused the MM (23.140 §8.4.2). */
      failOnRes: assign(({ context }) => {
        const { status, statusText } = context.res!;
        return failWith(
          'rejected',
          status as Mm4Status,
          `MMSC answered ${status}${statusText ? ` (${statusText})` : ''}`,
        );
      }),
      recordImdnSent: assign(({ context }) => ({
        reported: imdnOf(context),
        imdnSent: true,
        note: `IMDN ${imdnOf(context)} sent`,
      })),
      recordProcessingSent: assign((_, status: 'processed' | 'error') => ({
        imdnSent: true,
        note: `processing IMDN ${status} sent`,
      })),
      recordProcessingFailed: assign((_, err: ActorError) => ({ note: `processing IMDN not sent: ${err.message}` })),
      recordImdnFailed: assign(({ context }, err: ActorError) => ({
        reported: imdnOf(context),
        note: `IMDN not sent: ${err.message}`,
      })),
    },
    delays: {
      resTimeout: ({ context }) => context.request.mm4Ack.timeoutMs,
      reportWait: ({ context }) => context.request.reportWaitMs,
    },
  })
  .createMachine({
    id: 'cpmToMms',
    context: ({ input: { processingImdn, ...request } }) => ({
      request,
      processingImdn: processingImdn === true,
      attempt: 0,
      imdnSent: false,
    }),
    initial: 'received',
    on: {
      // An MM4_forward.RES may arrive while the send activity is still reporting completion.
      // Reports are recorded wherever they arrive (they may overtake the .RES).
      'mm4.report': { actions: { type: 'recordReport', params: ({ event }) => event } },
      'mm4.res': { actions: { type: 'recordRes', params: ({ event }) => event } },
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
              actions: { type: 'recordDecision', params: ({ event }) => event.output },
            },
            { target: 'failed', actions: { type: 'refuseByIsf', params: ({ event }) => event.output } },
          ],
          onError: {
            target: 'failed',
            actions: { type: 'fail', params: failure('failed', 'Error-unspecified', 'selection failed') },
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
            {
              guard: 'hasFile',
              target: 'fetching',
              actions: { type: 'recordRoute', params: ({ event }) => event.output },
            },
            { target: 'adapting', actions: { type: 'recordRoute', params: ({ event }) => event.output } },
          ],
          onError: {
            target: 'failed',
            actions: { type: 'fail', params: failure('failed', 'Error-sending-address-unresolved', 'not routable') },
          },
        },
      },
      fetching: {
        description: 'Download the FT-over-HTTP file (size cap, timeout, retries) into the Media Storage Server.',
        invoke: {
          id: 'fetch',
          src: 'fetch',
          input: ({ context }) => context.request.cpm.file!,
          onDone: {
            target: 'adapting',
            actions: assign(({ event }) => ({
              fetched: event.output,
              note: `file stored as ${event.output.id} (${event.output.size} B)`,
            })),
          },
          onError: {
            target: 'failed',
            actions: {
              type: 'fail',
              params: failure('rejected', 'Error-content-not-accepted', 'file could not be fetched'),
            },
          },
        },
      },
      adapting: {
        description: 'Fit the content to what the peer MMSC accepts (size, types, resolution), or degrade to a link.',
        invoke: {
          id: 'adapt',
          src: 'adapt',
          input: ({ context }) => ({
            text: context.request.text,
            file: context.fetched,
            peer: context.route!.peer,
            ...(context.tooLarge ? { limitBytes: context.tooLarge.limitBytes } : {}),
          }),
          onDone: { target: 'sending', actions: { type: 'recordContent', params: ({ event }) => event.output } },
          onError: {
            target: 'failed',
            actions: { type: 'fail', params: failure('rejected', 'Error-content-not-accepted', 'adaptation failed') },
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
          onDone: [
            {
              guard: 'tooLargeFirst',
              target: 'adapting',
              actions: { type: 'recordTooLarge', params: ({ event }) => event.output.tooLarge! },
            },
            {
              guard: 'tooLargeAgain',
              target: 'failed',
              actions: { type: 'failTooLarge', params: ({ event }) => event.output.tooLarge! },
            },
            {
              target: 'awaitingRes',
              actions: assign(({ context }) => ({ note: `MM4_forward.REQ sent (attempt ${context.attempt})` })),
            },
          ],
          onError: { target: 'failed', actions: { type: 'failSend', params: errorOf } },
        },
      },
      awaitingRes: {
        description: "Waiting for the MMSC's MM4_forward.RES (a separate SMTP transaction to our MM4 port).",
        always: [
          { guard: 'resOk', target: 'accepted' },
          {
            guard: 'reportBeforeRes',
            target: 'accepted',
            actions: assign({ note: 'a report came before the MM4_forward.RES: the MMSC has the message' }),
          },
          { guard: 'resRefused', target: 'failed', actions: 'failOnRes' },
        ],
        on: {
          'operator.retry': { target: 'sending', actions: assign({ note: 'operator: resend now' }) },
          'operator.reroute': {
            target: 'converting',
            actions: assign(({ event }) => ({
              peerOverride: event.peer,
              res: undefined,
              tooLarge: undefined, // another peer, other limits
              note: `operator: reroute to MMSC peer ${event.peer}`,
            })),
          },
          'operator.abandon': {
            target: 'failed',
            actions: assign(({ event }) =>
              failWith('failed', 'Error-network-problem', `abandoned by operator: ${event.reason}`),
            ),
          },
        },
        after: {
          resTimeout: [
            {
              guard: 'canResend',
              target: 'sending',
              actions: assign(({ context }) => ({
                note: `no MM4_forward.RES after attempt ${context.attempt}; resending`,
              })),
            },
            {
              target: 'failed',
              actions: assign(({ context }) =>
                failWith('failed', 'Error-network-problem', `no MM4_forward.RES after ${context.attempt} attempt(s)`),
              ),
            },
          ],
        },
      },
      accepted: {
        description: 'The MMS side accepted the message.',
        always: [
          { guard: 'wantsProcessing', target: 'notifyingProcessed' },
          { guard: 'wantsAnyReport', target: 'awaitingReport' },
          { target: 'done' },
        ],
      },
      notifyingProcessed: {
        description:
          'The MMSC accepted the MM (MM4_forward.RES Ok, or a report standing for it): processing IMDN ' +
          '<processed/> (RFC 5438 §5.1) to the CPM sender, before any delivery notification.',
        invoke: {
          id: 'sendProcessed',
          src: 'sendImdn',
          input: ({ context }) => ({
            kind: 'processing' as const,
            status: 'processed' as const,
            reason: context.res ? `MM4_forward.RES ${context.res.status}` : 'a report stands for the MM4_forward.RES',
          }),
          onDone: [
            {
              guard: 'wantsAnyReport',
              target: 'awaitingReport',
              actions: { type: 'recordProcessingSent', params: 'processed' },
            },
            { target: 'done', actions: { type: 'recordProcessingSent', params: 'processed' } },
          ],
          onError: [
            {
              guard: 'wantsAnyReport',
              target: 'awaitingReport',
              actions: { type: 'recordProcessingFailed', params: errorOf },
            },
            { target: 'done', actions: { type: 'recordProcessingFailed', params: errorOf } },
          ],
        },
      },
      awaitingReport: {
        description: 'The sender asked for notifications: wait for the MMS delivery report until the deadline.',
        always: [
          { guard: and(['finalReportPending', 'reportRequested']), target: 'reporting' },
          {
            guard: 'finalReportPending',
            target: 'reported',
            actions: assign(({ context }) => ({
              reported: imdnOf(context),
              note: 'no IMDN requested for this outcome',
            })),
          },
        ],
        after: {
          reportWait: { target: 'done', actions: assign({ note: 'no delivery report before the wait ended' }) },
        },
        on: {
          'operator.abandon': {
            target: 'done',
            actions: assign(({ event }) => ({ note: `operator: stop waiting for the report (${event.reason})` })),
          },
        },
      },
      reporting: {
        description: 'The MMS delivery report as an IMDN delivery notification to the CPM sender.',
        invoke: {
          id: 'sendReport',
          src: 'sendImdn',
          input: ({ context }) => ({
            kind: 'delivery' as const,
            status: imdnOf(context)!,
            reason: `delivery report ${context.report}`,
          }),
          onDone: { target: 'reported', actions: 'recordImdnSent' },
          onError: { target: 'reported', actions: { type: 'recordImdnFailed', params: errorOf } },
        },
      },
      reported: {
        always: [{ guard: and(['wantsRead', 'reportedDelivered']), target: 'awaitingRead' }, { target: 'done' }],
      },
      awaitingRead: {
        description: 'The sender asked for display notifications: wait for the MMS read-reply report.',
        always: { guard: 'readPending', target: 'reportingRead' },
        after: { reportWait: { target: 'done', actions: assign({ note: 'no read report before the wait ended' }) } },
        on: {
          'operator.abandon': {
            target: 'done',
            actions: assign(({ event }) => ({ note: `operator: stop waiting for the read report (${event.reason})` })),
          },
        },
      },
      reportingRead: {
        description: 'The MMS read report as an IMDN display notification (<displayed/>).',
        invoke: {
          id: 'sendRead',
          src: 'sendImdn',
          input: () => ({ kind: 'display' as const, status: 'displayed' as const, reason: 'read report Read' }),
          onDone: { target: 'done', actions: assign({ imdnSent: true, note: 'IMDN displayed sent' }) },
          onError: {
            target: 'done',
            actions: assign(({ event }) => ({ note: `IMDN not sent: ${(event.error as ActorError).message}` })),
          },
        },
      },
      failed: {
        description: 'The delivery could not be completed; tell the sender if it asked for failure notifications.',
        always: [
          { guard: and(['wantsProcessing', 'refusedByRes']), target: 'notifyingProcessingError' },
          { guard: 'wantsFailureImdn', target: 'notifying' },
          { target: 'done' },
        ],
      },
      notifyingProcessingError: {
        description:
          'The MMSC refused the MM in its MM4_forward.RES: processing IMDN <error/> (RFC 5438 §5.1) to the ' +
          'CPM sender, then the negative-delivery IMDN when that was asked for too.',
        invoke: {
          id: 'sendProcessingError',
          src: 'sendImdn',
          input: ({ context }) => ({
            kind: 'processing' as const,
            status: 'error' as const,
            reason: context.failure!.reason,
          }),
          onDone: [
            {
              guard: 'wantsFailureImdn',
              target: 'notifying',
              actions: { type: 'recordProcessingSent', params: 'error' },
            },
            { target: 'done', actions: { type: 'recordProcessingSent', params: 'error' } },
          ],
          onError: [
            {
              guard: 'wantsFailureImdn',
              target: 'notifying',
              actions: { type: 'recordProcessingFailed', params: errorOf },
            },
            { target: 'done', actions: { type: 'recordProcessingFailed', params: errorOf } },
          ],
        },
      },
      notifying: {
        description:
          'Negative-delivery IMDN (<failed/>, RFC 5438) to the CPM sender: the MMS side refused or never took the message.',
        invoke: {
          id: 'sendImdn',
          src: 'sendImdn',
          input: ({ context }) => ({
            kind: 'delivery' as const,
            status: 'failed' as const,
            reason: context.failure!.reason,
          }),
          onDone: { target: 'done', actions: assign({ imdnSent: true, note: 'negative-delivery IMDN sent' }) },
          onError: {
            target: 'done',
            actions: assign(({ event }) => ({ note: `IMDN not sent: ${(event.error as ActorError).message}` })),
          },
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }): CpmToMmsOutcome => {
      const base = {
        peer: context.route?.peer,
        attempts: context.attempt,
        imdnSent: context.imdnSent,
        report: context.report,
      };
      if (context.failure) {
        return {
          ...base,
          result: context.failure.result,
          mm4Status: context.failure.mm4Status,
          statusText: context.failure.reason,
        };
      }
      return {
        ...base,
        result: 'delivered',
        mm4Status: 'Ok',
        statusText: context.res?.statusText ?? 'accepted by the MMSC',
      };
    },
  });
