import type { Mm4Status } from './mm4-status.js';

/** Final per-recipient result of an MMS -> CPM delivery. */
export interface RecipientOutcome {
  mms: string;
  uri?: string;
  status: Mm4Status;
  sipStatus?: number;
  attempts: number;
  reason: string;
}

/**
 * How a delivery ended: outcomes are final machine states, not exceptions.
 * `delivered`: every recipient accepted; `partial`: some; `rejected`: none (permanent);
 * `failed`: none, after transient failures ran out of attempts or time.
 */
export interface OutcomeBase {
  result: 'delivered' | 'partial' | 'rejected' | 'failed';
  /** The MM4 request status of the delivery (sent in, or received as, MM4_forward.RES). */
  mm4Status: Mm4Status;
  statusText: string;
}

export interface DeliveryOutcome extends OutcomeBase {
  recipients: RecipientOutcome[];
  /** Whether an MM4_forward.RES was sent (only when the request asked for one). */
  resSent: boolean;
}

/**
 * How a CPM -> MMS delivery ended. `delivered`: the recipient MMSC accepted it (MM4_forward.RES
 * Ok); `rejected`: the ISF or the MMSC refused it; `failed`: it could not be handed over (no route,
 * SMTP refusal, no answer).
 */
export interface CpmToMmsOutcome extends OutcomeBase {
  result: 'delivered' | 'rejected' | 'failed';
  peer?: string;
  /** MM4_forward.REQ transmissions. */
  attempts: number;
  /** A negative-delivery IMDN went to the CPM sender. */
  imdnSent: boolean;
  /** X-Mms-MM-Status-Code of a delivery report received while waiting for one. */
  report?: string;
}
