import type { Mm4Status } from './mm4-status.js';

/** Which way a delivery crosses the IWF. Also the value of the `IwfDirection` search attribute. */
export type Direction = 'mms-to-cpm' | 'cpm-to-mms';

/**
 * Retry policy for transient refusals of the far side (SIP 408/480/503, no answer), applied by the
 * machine with durable timers so every attempt shows in the audit trail.
 */
export interface RetryPolicy {
  maxAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maxIntervalMs: number;
}

/**
 * What the MM4 front-end hands to the `mmsToCpm` workflow: the fields of the MM4_forward.REQ that
 * the delivery needs, never media bytes (those go to the media store). Dates are ISO
 * strings so the input reads well in the Temporal UI.
 */
export interface MmsToCpmInput {
  /** Name of the `mm4.peers[]` entry the request came from. */
  peer: string;
  receivedAt: string;
  mm4: {
    version: string;
    transactionId: string;
    messageId: string;
    /** Whether the peer quoted its ids; echoed in our answers (docs/mm4-interop.md). */
    idsQuoted: boolean;
    from: string;
    /** Recipients this MMSE asked us to serve: the SMTP RCPT TO list (includes Bcc, 23.140 8.4.1). */
    recipients: string[];
    subject?: string;
    date?: string;
    /** Absolute expiry, relative values already resolved against receivedAt. */
    expiry?: string;
    deliveryReport: boolean;
    readReply: boolean;
    ackRequest: boolean;
    originatorSystem?: string;
    senderVisibility?: 'Hide' | 'Show';
  };
  /** The raw MM4_forward.REQ as stored by the front-end (claim check: bytes never enter history). */
  raw?: StoredRef;
  /**
   * The text of a text-only MM (no media parts), when small: the delivery then needs no extraction
   * step. Absent for an MM with media, a long text, or a delivery recorded before this field.
   */
  text?: string;
  /** Set when the front-end accepted the PDU only to answer it with an error `.RES`. */
  intakeError?: { status: Mm4Status; reason: string };
  /**
   * What the intake tolerated or could not read, and what it did instead (e.g. an unreadable
   * X-Mms-Expiry replaced by the default), one sentence each, for the audit trail. Absent when none.
   */
  intakeNotes?: string[];
  retry: RetryPolicy;
  /** How long to wait for the `.RES` to each report we send, and how often to send it (config). */
  mm4Ack: { timeoutMs: number; maxAttempts: number };
}

/** A stored object (claim check); mirrors clients/media-store ContentRef. */
export interface StoredRef {
  id: string;
  contentType: string;
  size: number;
  sha256: string;
  name?: string;
  expiresAt: string;
}

/** The content of an MM after extraction: its text and references to its stored media. */
export interface MmsContent {
  text: string;
  files: { file: StoredRef; thumbnail?: StoredRef; playingLengthMs?: number }[];
}

/** A recipient after address conversion. */
export interface RecipientPlan {
  /** The MMS address as received (for the audit trail; never put in search attributes). */
  mms: string;
  /** The CPM URI used as Request-URI and CPIM To; absent when conversion failed. */
  uri?: string;
  /** Present when the recipient cannot be served; the delivery answers it with this status. */
  refused?: { status: Mm4Status; reason: string };
}

/** Result of the conversion step: everything the SIP step needs, small and serialisable. */
export interface ConvertedMessage {
  senderUri: string;
  recipients: RecipientPlan[];
  /** Notifications to request in `imdn.Disposition-Notification` (RFC 5438 6.3). */
  disposition: ('positive-delivery' | 'negative-delivery' | 'display')[];
}

/** What one SIP attempt toward one recipient produced, classified for the machine. */
export interface SipAttemptResult {
  uri: string;
  outcome: 'accepted' | 'permanent' | 'transient';
  sipStatus: number;
  reason: string;
  /** MM4 status this result maps to when it is final. */
  mm4Status: Mm4Status;
  imdnMessageId: string;
  callId: string;
  /** How the content went when not as CPIM (e.g. text/plain to a client that refused message/cpim). */
  note?: string;
}

/** One line of the audit trail: a machine transition with its cause. */
export interface AuditEntry {
  at: string;
  from: string;
  to: string;
  event: string;
  detail?: string;
}

/**
 * What the SIP front-end hands to the `cpmToMms` workflow: the pager-mode MESSAGE's fields the
 * delivery needs (RFC 3428, CPIM RFC 3862), never media bytes.
 */
export interface CpmToMmsInput {
  receivedAt: string;
  cpm: {
    /** Sender from P-Asserted-Identity (never the CPIM From, which may be anonymous). */
    senderUri: string;
    /** Recipient from the Request-URI. */
    recipientUri: string;
    imdnMessageId: string;
    /** Notifications the sender asked for (imdn.Disposition-Notification). */
    disposition: ('positive-delivery' | 'negative-delivery' | 'display' | 'processing')[];
    /** CPIM DateTime as written (the IMDN echoes it, RFC 5438 7.2.1.2). */
    dateTime?: string;
    subject?: string;
    contentType: string;
    sizeBytes: number;
    /** The file of an FT-over-HTTP message (RCC.07), to be fetched and sent as MMS media. */
    file?: { url: string; until: string; size: number; contentType: string; name?: string };
    conversationId?: string;
    contributionId?: string;
  };
  text: string;
  /** Per-delivery limits from config, carried in the input so the workflow needs no config. */
  mm4Ack: { timeoutMs: number; maxAttempts: number };
  reportWaitMs: number;
}

/** The Interworking Selection Function's verdict, recorded in the audit trail. */
export interface IsfDecision {
  interwork: boolean;
  reason: string;
  /** The SIP status that refuses a request the ISF turns away at the front-end. */
  sipStatus?: number;
}

/** The MM4 side of a CPM -> MMS delivery after conversion. */
export interface Mm4Route {
  peer: string;
  /** `+E164/TYPE=PLMN@<our MMSE domain>` */
  from: string;
  /** `+E164/TYPE=PLMN@<peer domain>` */
  to: string;
  /** Minted; encodes the workflow id so answers and reports route back (ingress/routes.ts). */
  messageId: string;
}

/** A media part of an MM being built, after fetching and adaptation. */
export interface MmsPart {
  ref: StoredRef;
  contentType: string;
  name: string;
}

/** The content of a CPM -> MMS message after adaptation to the peer: text, media, and notes. */
export interface AdaptedContent {
  text: string;
  parts: MmsPart[];
  /** What adaptation did (resized, re-encoded, replaced by a link), for the audit trail. */
  notes: string[];
}

/** Operator commands, sent to a delivery's machine through Temporal updates. */
export type OperatorEvent =
  | { type: 'operator.retry' }
  | { type: 'operator.abandon'; reason: string }
  | { type: 'operator.reroute'; peer: string };
