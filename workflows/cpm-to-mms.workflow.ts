import {
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  cpmToMmsMachine,
  type AdaptInput,
  type ImdnInput,
  type SendInput,
  type SendResult,
} from '../machines/cpm-to-mms.machine.js';
import type { AdaptedContent, CpmToMmsInput } from '../model/delivery.js';
import { ErrorType, NON_RETRYABLE_ERRORS } from '../model/errors.js';
import type { CpmToMmsOutcome } from '../model/outcome.js';
import type { MessageTooLargeDetails } from '../model/peer.js';
import { IwfPeer, mm4InboundSignal } from './messages.js';
import { callWith, fromActivity, localSteps, runMachine, toActorError } from './run-machine.js';

const local = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});

/** Fetching and adapting media: network and CPU, a few retries (4xx links fail at once). */
const media = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  retry: { initialInterval: '2s', maximumAttempts: 4, nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});

/** SMTP toward the MMSC: transient failures (4xx, connection) are retried for a while, then the delivery fails. */
const mmsc = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '2s',
    maximumInterval: '1m',
    maximumAttempts: 8,
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS],
  },
});

/** The failure notification must reach the sender eventually; keep trying for a day. */
const sip = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  scheduleToCloseTimeout: '24h',
  retry: {
    initialInterval: '5s',
    maximumInterval: '10m',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS, 'SipRejected'],
  },
});

/*
 * Deliveries started on 0.2 and later run their steps as local activities (one marker each, see
 * workflows/mms-to-cpm.workflow.ts for why that keeps every guarantee), with the same timeouts and
 * retries as the activities above. Fetching and adapting a file stay activities (network and CPU
 * work of minutes); a text-only message needs no adaptation at all.
 */
const localSelect = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});
const localMmsc = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '2s',
    maximumInterval: '1m',
    maximumAttempts: 8,
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS],
  },
});
const localSip = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2m',
  scheduleToCloseTimeout: '24h',
  retry: {
    initialInterval: '5s',
    maximumInterval: '10m',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS, 'SipRejected'],
  },
});

/** CPM -> MMS delivery of one pager-mode MESSAGE. Thin glue: the machine decides, activities act. */
export async function cpmToMms(input: CpmToMmsInput): Promise<CpmToMmsOutcome> {
  const { workflowId } = workflowInfo();
  // Decided once, in the delivery's first workflow task: a delivery recorded by 0.1 replays (and
  // runs to its end) with the activities it was recorded with. A delivery started on 0.2 has
  // every rule below without a marker of its own.
  const steps = patched('local-steps') ? localSteps() : undefined;
  const step = steps ? steps.wrap : <I, O>(call: (i: I) => Promise<O>) => call;
  const io = steps ? { select: localSelect, mmsc: localMmsc, sip: localSip } : { select: local, mmsc, sip };
  // RFC 5438 processing notifications (the MMSC's MM4_forward.RES as <processed/> or <error/>) add a
  // command, a sendImdn activity, that histories recorded before this rule do not have. The machine
  // is pure, so the workflow decides, once and here, in the delivery's first workflow task:
  // patched() records a marker in a new run (true) and, replaying a history without it, answers
  // false, so that run keeps the chart it was recorded with to its end, also when a new worker
  // picks it up halfway. Asked only when the sender asked for `processing` (a deterministic input
  // field): no other delivery gets a marker it does not need.
  const processingImdn =
    input.cpm.disposition.includes('processing') && (steps !== undefined || patched('processing-imdn'));
  const machine = cpmToMmsMachine.provide({
    actors: {
      select: fromActivity(
        step((req: CpmToMmsInput) => callWith(steps, io.select.selectForMms, 'interworking selection', req)),
      ),
      convert: fromActivity(
        step(async ({ request, peer }: { request: CpmToMmsInput; peer?: string }) => {
          const route = await callWith(steps, io.select.convertCpmToMms, 'route to an MMSC peer', {
            workflowId,
            request,
            peer,
          });
          // Known once the number is routed; 0.2 publishes it with the next state.
          if (steps) steps.publishLater({ key: IwfPeer, value: route.peer });
          else upsertSearchAttributes([{ key: IwfPeer, value: route.peer }]);
          return route;
        }),
      ),
      fetch: fromActivity((file: NonNullable<CpmToMmsInput['cpm']['file']>) =>
        callWith(steps, media.fetchFile, `fetch the file (${file.size} B)`, file),
      ),
      // Text alone has nothing to adapt (adaptForMms returns it as it is): 0.2 skips the activity.
      adapt: fromActivity((a: AdaptInput) =>
        steps && !a.file
          ? step(async (): Promise<AdaptedContent> => ({ text: a.text, parts: [], notes: [] }))(a)
          : callWith(steps, media.adaptForMms, `adapt the file for ${a.peer}`, a),
      ),
      sendForward: fromActivity(
        step(async ({ route, attempt, content }: SendInput): Promise<SendResult> => {
          try {
            await callWith(steps, io.mmsc.sendMm4Forward, `MM4_forward.REQ to ${route.peer}, attempt ${attempt}`, {
              workflowId,
              attempt,
              route,
              request: input,
              content,
            });
            return {};
          } catch (err) {
            // A peer refusing the MM for its size (MessageTooLarge) is adapted for once more and
            // resent: an adaptForMms activity and a new send that histories recorded before this
            // rule lack (they failed the delivery there). Decided here, in the workflow task that
            // records the failure: patched() is true live (and records a marker), false replaying a
            // task recorded without it. Asked only on that failure: no other delivery gets a marker.
            const e = toActorError(err);
            const details = e.details as MessageTooLargeDetails | undefined;
            if (
              e.type === ErrorType.MessageTooLarge &&
              details?.limitBytes &&
              (steps !== undefined || patched('mm4-too-large-readapt'))
            )
              return { tooLarge: details };
            throw err;
          }
        }),
      ),
      sendImdn: fromActivity(
        step(async ({ kind, status }: ImdnInput) => {
          await callWith(steps, io.sip.sendImdn, `IMDN ${kind} ${status} to the sender`, {
            workflowId,
            to: input.cpm.senderUri,
            from: input.cpm.recipientUri,
            originalMessageId: input.cpm.imdnMessageId,
            originalDateTime: input.cpm.dateTime,
            kind,
            status,
          });
        }),
      ),
    },
  });
  const machineInput = { ...input, processingImdn };
  return runMachine(
    machine,
    machineInput,
    'cpm-to-mms',
    { imdnMessageId: input.cpm.imdnMessageId },
    (send) => {
      // .RES and reports arrive on the MM4 front-end and are routed here by the ids we minted.
      let deliveryReported = false;
      setHandler(mm4InboundSignal, (s) => {
        if (s.type === 'MM4_delivery_report.REQ') deliveryReported = true;
        // Some MMSCs send a read report and never a delivery report: an MM that was read was
        // delivered (23.140 §8.4.3), so the read report first stands for a Retrieved one.
        // patched(): histories recorded before this rule replay as they ran.
        if (
          s.type === 'MM4_read_reply_report.REQ' &&
          !deliveryReported &&
          (steps !== undefined || patched('read-implies-delivered'))
        ) {
          deliveryReported = true;
          send({
            type: 'mm4.report',
            report: 'delivery',
            status: 'Retrieved',
            statusText: 'implied by the read report',
          });
        }
        // What the MM4 reader tolerated goes into the audit trail only (context, no command).
        const notes = s.notes ? { notes: s.notes } : {};
        if (s.type === 'MM4_forward.RES')
          send({
            type: 'mm4.res',
            status: s.status,
            statusText: s.statusText,
            transactionId: s.transactionId,
            ...notes,
          });
        else if (s.type === 'MM4_delivery_report.REQ')
          send({
            type: 'mm4.report',
            report: 'delivery',
            status: s.status,
            statusText: s.statusText,
            statusExtension: s.statusExtension,
            ...notes,
          });
        else if (s.type === 'MM4_read_reply_report.REQ')
          send({ type: 'mm4.report', report: 'read', status: s.status, statusText: s.statusText, ...notes });
      });
    },
    steps,
  );
}
