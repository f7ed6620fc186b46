import { patched, proxyActivities, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  mmsToCpmMachine,
  type ReportsSent,
  type ResInput,
  type RouteInput,
  type SentReport,
} from '../machines/mms-to-cpm.machine.js';
import type { MmsContent, MmsToCpmInput, SipAttemptResult, StoredRef } from '../model/delivery.js';
import { NON_RETRYABLE_ERRORS } from '../model/errors.js';
import type { DeliveryOutcome } from '../model/outcome.js';
import { imdnSignal, mm4InboundSignal } from './messages.js';
import { callWith, fromActivity, localSteps, runMachine, toActorError } from './run-machine.js';

/** Conversion is local CPU work plus config lookups: short timeout, few retries. */
const local = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});

/**
 * One SIP non-INVITE transaction: at most Timer F (64*T1 = 32 s by default) plus margin. The
 * activity heartbeats, so a crashed worker is noticed within heartbeatTimeout and the same
 * transaction (same branch) is retransmitted by the next worker.
 */
const sip = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '2s', maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});

/** Media extraction stores parts and makes thumbnails: CPU and disk, a few retries. */
const media = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});

/** The MM4 answer must get through eventually: keep retrying an unreachable MMSC for a day. */
const mmsc = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '5s', maximumInterval: '10m', nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});

/*
 * Deliveries started on 0.2 and later run their steps as local activities (one marker each,
 * inside the workflow task that calls them) instead of activity tasks (three events and a
 * workflow task each): the same at-least-once execution, retried by the worker that replays the
 * task when the one running it dies. A SIP MESSAGE is then resent with the same Call-ID, CSeq and
 * imdn.Message-ID (a retransmission, RFC 3261 17.2.2), a .RES with the same transaction id. The
 * options keep each step's timeouts and retries; a local retry that waits longer than a minute
 * waits on a durable timer (the SDK's localRetryThreshold). Media extraction stays an activity:
 * it is CPU and disk work of minutes, not a step to hold a workflow task for.
 */
const localConvert = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});
/** One SIP non-INVITE transaction ends within Timer F (64*T1, 32 s by default). */
const localSip = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '2s', maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});
const localMmsc = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '5s', maximumInterval: '10m', nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS] },
});

/** MMS -> CPM delivery of one MM4_forward.REQ. Thin glue: the machine decides, activities act. */
export async function mmsToCpm(input: MmsToCpmInput): Promise<DeliveryOutcome> {
  const { workflowId } = workflowInfo();
  // Decided once, in the delivery's first workflow task: a delivery recorded by 0.1 replays (and
  // runs to its end) with the activities it was recorded with.
  const steps = patched('local-steps') ? localSteps() : undefined;
  const step = steps ? steps.wrap : <I, O>(call: (i: I) => Promise<O>) => call;
  const io = steps ? { convert: localConvert, sip: localSip, mmsc: localMmsc } : { convert: local, sip, mmsc };
  const machine = mmsToCpmMachine.provide({
    actors: {
      convert: fromActivity(
        step((req: MmsToCpmInput) =>
          callWith(steps, io.convert.convertMmsToCpm, `addresses of ${req.mm4.recipients.length} recipient(s)`, req),
        ),
      ),
      store: fromActivity(
        // A text-only MM's text came with the input (protocols/interworking/mm4-intake.ts).
        steps && input.text !== undefined
          ? step(async (): Promise<MmsContent> => ({ text: input.text!, files: [] }))
          : async (raw: StoredRef | undefined): Promise<MmsContent> =>
              raw ? callWith(steps, media.extractMmsContent, 'extract text and media', raw) : { text: '', files: [] },
      ),
      route: fromActivity(
        step(async ({ converted, content, pending, attempt }: RouteInput) => {
          // allSettled: one recipient's failing activity must not discard another's acceptance.
          const settled = await Promise.allSettled(
            pending.map((p, i) =>
              callWith(
                steps,
                io.sip.sendCpmMessage,
                `SIP MESSAGE to recipient ${i + 1} of ${pending.length}, attempt ${attempt}`,
                {
                  workflowId,
                  attempt,
                  recipientUri: p.uri!,
                  senderUri: converted.senderUri,
                  disposition: converted.disposition,
                  subject: input.mm4.subject,
                  dateTime: input.mm4.date ?? input.receivedAt,
                  content,
                  hideSender: input.mm4.senderVisibility === 'Hide',
                },
              ),
            ),
          );
          return settled.map((s, i): SipAttemptResult =>
            s.status === 'fulfilled'
              ? s.value
              : {
                  uri: pending[i].uri!,
                  outcome: 'transient',
                  sipStatus: 0,
                  reason: toActorError(s.reason).message,
                  mm4Status: 'Error-network-problem',
                  imdnMessageId: '',
                  callId: '',
                },
          );
        }),
      ),
      sendRes: fromActivity(
        step(({ status, statusText }: ResInput) =>
          callWith(steps, io.mmsc.sendMm4ForwardRes, `MM4_forward.RES ${status} to ${input.peer}`, {
            peer: input.peer,
            originatorSystem: input.mm4.originatorSystem,
            // Where the .RES goes when neither Originator-System nor the peer's systemAddress is a mailbox.
            from: input.mm4.from,
            version: input.mm4.version,
            transactionId: input.mm4.transactionId,
            messageId: input.mm4.messageId,
            idsQuoted: input.mm4.idsQuoted,
            status,
            statusText,
          }),
        ),
      ),
      sendReports: fromActivity(
        step(async ({ reports }: { reports: SentReport[] }): Promise<ReportsSent> => {
          const noAck: number[] = [];
          for (const r of reports) {
            const sent = await callWith(steps, io.mmsc.sendMm4Report, `MM4 ${r.kind} report ${r.n} to ${input.peer}`, {
              workflowId,
              peer: input.peer,
              n: r.n,
              version: input.mm4.version,
              messageId: input.mm4.messageId,
              idsQuoted: input.mm4.idsQuoted,
              originalSender: input.mm4.from,
              originatorSystem: input.mm4.originatorSystem,
              recipient: r.mms,
              kind: r.kind,
              status: r.status,
              statusText: r.statusText,
            });
            // Results recorded before the activity said so have no ackRequested: a .RES was asked.
            if (sent.ackRequested === false) noAck.push(r.n);
          }
          // A report sent without X-Mms-Ack-Request (the peer's reportAck: none) is answered once
          // sent: the machine then neither waits for its .RES nor resends it, fewer timers and
          // activities than histories recorded before this rule have (they waited and resent). So
          // the workflow decides, in the workflow task that records the send: patched() is true live
          // (and records a marker), false replaying a task recorded without it. Asked only when a
          // report went without an ack request: no other delivery gets a marker.
          // A delivery started on 0.2 has every rule of 0.2 (local-steps): no marker of its own.
          return noAck.length && (steps || patched('report-ack-none')) ? { noAck } : {};
        }),
      ),
    },
  });
  return runMachine(
    machine,
    // The machine's clock: inside the sandbox Date.now() is workflow time (the current workflow
    // task's, replayed from history), so guards and delays decide the same on every replay.
    { request: input, now: () => Date.now() },
    'mms-to-cpm',
    { peer: input.peer, mm4MessageId: input.mm4.messageId, mm4TransactionId: input.mm4.transactionId },
    (send) => {
      setHandler(imdnSignal, (s) => {
        // A processing notification may now become an MM4 report (a `stored` one an interim
        // Deferred delivery report): a new sendReports activity that histories recorded before
        // this rule lack. The machine is pure, so the decision is made here, in the workflow task
        // that takes the signal, and travels on the event: patched() is true live (and records a
        // marker), false when replaying a task recorded without the marker. Asked only for
        // processing notifications, so other IMDNs leave histories as they were.
        const reportProcessing = s.kind === 'processing' && (steps !== undefined || patched('processing-imdn'));
        send({
          type: 'sip.imdn',
          recipientUri: s.recipientUri,
          kind: s.kind,
          status: s.status,
          ...(reportProcessing ? { reportProcessing } : {}),
        });
      });
      // .RES to our delivery/read reports, routed back by their minted transaction ids.
      setHandler(mm4InboundSignal, (s) =>
        send({ type: 'mm4.res', pduType: s.type, status: s.status, transactionId: s.transactionId }),
      );
    },
    steps,
  );
}
