import type { Mm4Status } from '../model/mm4-status.js';

/**
 * MMS -> CPM reporting rules, pure: which MM4 report (MM4_delivery_report.REQ, 3GPP TS 23.140
 * §8.4.3; MM4_read_reply_report.REQ, §8.4.4) an IMDN (RFC 5438) or a final SIP outcome stands
 * for, and how an IMDN updates what is queued and already reported.
 */

/** An MM4 report to send to the originator MMSE about one recipient. */
export interface PendingReport {
  mms: string;
  kind: 'delivery' | 'read';
  /** X-Mms-MM-Status-Code or X-Mms-Read-Status. */
  status: string;
  statusText?: string;
}

/** A report that went out and whose `.RES` (when one was asked, see {@link ReportsSent}) has not come yet. */
export interface SentReport extends PendingReport {
  /** Its number within the delivery: the `.r<n>` of its minted X-Mms-Transaction-ID. */
  n: number;
  /** How many times it was sent (the first send included). */
  sends: number;
}

/**
 * What a send of reports tells the machine (the `sendReports` actor's output).
 */
export interface ReportsSent {
  /**
   * The reports that went with X-Mms-Ack-Request: No (the peer's rule `reportAck: none`): nobody
   * answers them, so they count as answered once sent: no wait for a `.RES`, no resend. The workflow
   * sets it only in runs that may (patched 'report-ack-none'); histories recorded before the rule
   * wait for, and resend, every report as they did.
   */
  noAck?: number[];
}

/** The report number a `.RES` answers, from our minted transaction id `iwf1.<wf>.r<n>`. */
export function reportNumber(transactionId: string): number | undefined {
  const m = /\.r(\d+)$/.exec(transactionId);
  return m ? Number(m[1]) : undefined;
}

/** An IMDN from a CPM recipient (routed by the SIP front-end). */
export type ImdnEvent = {
  type: 'sip.imdn';
  recipientUri: string;
  kind: 'delivery' | 'display' | 'processing';
  status: string;
  /**
   * Set by the workflow on a processing notification when this run may report it (patched
   * 'processing-imdn'): a `stored` one becomes an interim Deferred delivery report. Without it a
   * processing notification is ignored, as in histories recorded before the rule.
   */
  reportProcessing?: boolean;
};

/** The reporting state of one recipient. */
export interface Reportable {
  mms: string;
  uri?: string;
  /** MM status already reported (or queued) to the originator; 'none' when no report was asked. */
  reported?: string;
  readReported?: boolean;
  /** An interim Deferred delivery report (from a processing `stored` IMDN) was queued already. */
  deferredReported?: boolean;
}

/** IMDN -> MM4 status: delivered -> Retrieved, failed/forbidden -> Rejected, error -> Indeterminate. */
export function imdnToMmStatus(status: string): string | undefined {
  return (
    { delivered: 'Retrieved', failed: 'Rejected', forbidden: 'Rejected', error: 'Indeterminate' } as Record<
      string,
      string
    >
  )[status];
}

/** The delivery report a final SIP outcome stands for. */
export function reportForSipFailure(status: Mm4Status): string {
  if (status === 'Error-network-problem') return 'Expired'; // offline until the attempts or the expiry ran out
  if (status === 'Error-sending-address-unresolved') return 'Unrecognised';
  return 'Rejected';
}

/**
 * Applies one IMDN. A final status is never overwritten and a duplicate never forwarded twice: the
 * originator MMSE gets one delivery report per recipient (23.140 §8.4.3) and one read report
 * (§8.4.4); `displayed` implies delivered, so a missing delivery report goes first. A processing
 * `stored` (RFC 5438 §5.1: a store-and-forward server holds the message) is the interim
 * X-Mms-MM-Status-Code Deferred, at most once and only before the final report.
 */
export function applyImdn<R extends Reportable>(
  recipients: R[],
  queue: PendingReport[],
  wants: { deliveryReport: boolean; readReply: boolean },
  event: ImdnEvent,
): { recipients?: R[]; queue?: PendingReport[]; note: string } {
  const i = recipients.findIndex((r) => r.uri === event.recipientUri);
  const r = recipients[i];
  if (!r) return { note: `IMDN from an unknown recipient ${event.recipientUri} ignored` };
  const update = (patch: Partial<Reportable>) => recipients.map((x, j) => (j === i ? { ...x, ...patch } : x));
  if (event.kind === 'delivery') {
    const mmStatus = imdnToMmStatus(event.status);
    if (!mmStatus || r.reported !== undefined)
      return { note: `IMDN ${event.status} for ${r.mms} not forwarded (already reported or not final)` };
    return {
      recipients: update({ reported: wants.deliveryReport ? mmStatus : 'none' }),
      queue: wants.deliveryReport ? [...queue, { mms: r.mms, kind: 'delivery', status: mmStatus }] : queue,
      note: `IMDN ${event.status} from ${r.mms}`,
    };
  }
  if (event.kind === 'display' && event.status === 'displayed' && !r.readReported) {
    const implied: PendingReport[] =
      r.reported === undefined && wants.deliveryReport ? [{ mms: r.mms, kind: 'delivery', status: 'Retrieved' }] : [];
    const read: PendingReport[] = wants.readReply ? [{ mms: r.mms, kind: 'read', status: 'Read' }] : [];
    return {
      recipients: update({ readReported: true, reported: r.reported ?? (wants.deliveryReport ? 'Retrieved' : 'none') }),
      queue: [...queue, ...implied, ...read],
      note: `IMDN displayed from ${r.mms}`,
    };
  }
  if (event.kind === 'processing' && event.status === 'stored' && event.reportProcessing) {
    if (!wants.deliveryReport || r.reported !== undefined || r.deferredReported)
      return { note: `IMDN processing stored for ${r.mms} not forwarded (not asked, already reported or final)` };
    return {
      recipients: update({ deferredReported: true }),
      queue: [...queue, { mms: r.mms, kind: 'delivery', status: 'Deferred', statusText: 'stored by the CPM side' }],
      note: `IMDN processing stored from ${r.mms}`,
    };
  }
  return { note: `IMDN ${event.kind}/${event.status} from ${r.mms} ignored` };
}
