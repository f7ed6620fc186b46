import { setup } from 'xstate';
import type {
  AdaptedContent,
  CpmToMmsInput,
  IsfDecision,
  Mm4Route,
  OperatorEvent,
  StoredRef,
} from '../model/delivery.js';
import type { Mm4Status } from '../model/mm4-status.js';
import type { CpmToMmsOutcome } from '../model/outcome.js';
import type { MessageTooLargeDetails } from '../model/peer.js';
import { placeholder } from './common.js';
import type { ImdnDeliveryStatus } from './cpm-reports.js';

/** The CPM -> MMS chart's context, events and actors; cpm-to-mms.machine.ts extends this setup. */

export interface SendInput {
  route: Mm4Route;
  attempt: number;
  content: AdaptedContent;
}

export interface AdaptInput {
  text: string;
  file?: StoredRef;
  peer: string;
  /**
   * Bytes the MM4_forward.REQ may have as sent, when the peer refused a larger one
   * (MessageTooLarge): adaptation fits within it as well as within the peer's own limits.
   */
  limitBytes?: number;
}

/**
 * What a send tells the machine (the `sendForward` actor's output). `tooLarge`: the peer refused
 * the MM4_forward.REQ for its size (or it was over the peer's EHLO SIZE and not sent): adapt once
 * more within `limitBytes`. The workflow reports it so only in runs that may (patched
 * 'mm4-too-large-readapt'); otherwise it stays the send's failure (type MessageTooLarge).
 */
export interface SendResult {
  tooLarge?: MessageTooLargeDetails;
}

export interface ImdnInput {
  kind: 'delivery' | 'display' | 'processing';
  status: 'delivered' | 'failed' | 'forbidden' | 'error' | 'displayed' | 'processed';
  reason: string;
}

/**
 * What the workflow starts the machine with: the delivery's input, plus the rules the workflow
 * decided this run may apply (see workflows/cpm-to-mms.workflow.ts; absent = off, as before).
 */
export type CpmToMmsMachineInput = CpmToMmsInput & {
  /**
   * Answer the MMSC's MM4_forward.RES with an RFC 5438 processing notification (`<processed/>` or
   * `<error/>`) when the sender asked for `processing`. Decided by the workflow with
   * `patched('processing-imdn')`: histories recorded before the rule replay without its activity.
   */
  processingImdn?: boolean;
};

/** The MMSC's MM4_forward.RES (3GPP TS 23.140 §8.4.2). */
export type ForwardResEvent = {
  type: 'mm4.res';
  status?: string;
  statusText?: string;
  transactionId: string;
  /** What the MM4 reader tolerated or could not read in the PDU, for the audit trail only. */
  notes?: string[];
};
/** An MM4_delivery_report.REQ or MM4_read_reply_report.REQ about our MM (23.140 §8.4.3, §8.4.4). */
export type ReportEvent = {
  type: 'mm4.report';
  report: 'delivery' | 'read';
  status?: string;
  statusText?: string;
  statusExtension?: string;
  /** What the MM4 reader tolerated or could not read in the PDU, for the audit trail only. */
  notes?: string[];
};

export type CpmToMmsEvent = OperatorEvent | ForwardResEvent | ReportEvent;

export interface CpmToMmsContext {
  request: CpmToMmsInput;
  /** Whether this run sends processing notifications (CpmToMmsMachineInput.processingImdn). */
  processingImdn: boolean;
  decision?: IsfDecision;
  route?: Mm4Route;
  /** An MMSC peer an operator chose instead of the routing table's. */
  peerOverride?: string;
  /** The FT-over-HTTP file, fetched into our store. */
  fetched?: StoredRef;
  content?: AdaptedContent;
  /** The size refusal the content was adapted again for (once per peer). */
  tooLarge?: MessageTooLargeDetails;
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

export const cpmToMmsSetup = setup({
  types: {
    context: {} as CpmToMmsContext,
    input: {} as CpmToMmsMachineInput,
    events: {} as CpmToMmsEvent,
    output: {} as CpmToMmsOutcome,
  },
  actors: {
    select: placeholder<IsfDecision, CpmToMmsInput>('select'),
    convert: placeholder<Mm4Route, { request: CpmToMmsInput; peer?: string }>('convert'),
    fetch: placeholder<StoredRef, NonNullable<CpmToMmsInput['cpm']['file']>>('fetch'),
    adapt: placeholder<AdaptedContent, AdaptInput>('adapt'),
    sendForward: placeholder<SendResult, SendInput>('sendForward'),
    sendImdn: placeholder<void, ImdnInput>('sendImdn'),
  },
});
