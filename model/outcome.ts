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
 * How a delivery ended (conventions.md 1.5): outcomes are final machine states, not exceptions.
 * `delivered`: every recipient accepted; `partial`: some; `rejected`: none (permanent);
 * `failed`: none, after transient failures ran out of attempts or time.
 */
export interface DeliveryOutcome {
  result: 'delivered' | 'partial' | 'rejected' | 'failed';
  /** The X-Mms-Request-Status-Code sent (or that would be sent) in MM4_forward.RES. */
  mm4Status: Mm4Status;
  statusText: string;
  recipients: RecipientOutcome[];
  /** Whether an MM4_forward.RES was sent (only when the request asked for one). */
  resSent: boolean;
}
