import { setup } from 'xstate';
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
import { placeholder, type Now } from './common.js';
import type { ImdnEvent, PendingReport, Reportable, ReportsSent, SentReport } from './mms-reports.js';

/**
 * What both halves of the MMS -> CPM chart share: its context, events and actors. The delivery
 * (mms-to-cpm.machine.ts) and the reporting region (mms-to-cpm.reporting.ts) each extend this
 * setup with their own guards, actions and delays.
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

/** What the workflow starts the machine with: the delivery's input and the clock to read. */
export interface MmsToCpmMachineInput {
  request: MmsToCpmInput;
  now: Now;
}

export interface RecipientState extends RecipientOutcome, Reportable {
  final: boolean;
  /** The delivery report this recipient's failure stands for, when not the SIP mapping's. */
  reportAs?: string;
}

export interface MmsToCpmContext {
  request: MmsToCpmInput;
  /** The time the guards and delays read (workflow time under Temporal). */
  now: Now;
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
  /** Reports sent that asked for a `.RES` which has not come: resent after `mm4Ack.timeoutMs`, up to `maxAttempts` sends. */
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

/** The originator MMSC's answer to one of our reports (23.140 §8.4.3 / §8.4.4). */
export type ReportResEvent = { type: 'mm4.res'; pduType: string; status?: string; transactionId: string };

export type MmsToCpmEvent = OperatorEvent | ImdnEvent | ReportResEvent;

export const mmsToCpmSetup = setup({
  types: {
    context: {} as MmsToCpmContext,
    input: {} as MmsToCpmMachineInput,
    events: {} as MmsToCpmEvent,
    output: {} as DeliveryOutcome,
  },
  actors: {
    convert: placeholder<ConvertedMessage, MmsToCpmInput>('convert'),
    store: placeholder<MmsContent, StoredRef | undefined>('store'),
    route: placeholder<SipAttemptResult[], RouteInput>('route'),
    sendRes: placeholder<void, ResInput>('sendRes'),
    sendReports: placeholder<ReportsSent, { reports: SentReport[] }>('sendReports'),
  },
});
