import { createHash } from 'node:crypto';

/**
 * Deterministic protocol identifiers derived from the workflow id. A retried activity therefore
 * rebuilds byte-identical requests: the same SIP transaction (branch), the same Call-ID and the
 * same imdn.Message-ID, so the far side sees a retransmission, never a second message.
 */
export function digest(...parts: (string | number)[]): Buffer {
  return createHash('sha256').update(parts.join('\u0000')).digest();
}

const token = (buf: Buffer, len: number) => buf.toString('base64url').slice(0, len);

/** Formats 16 bytes of a digest as an RFC 4122-shaped UUID (Conversation-ID, Contribution-ID). */
function uuidFrom(buf: Buffer): string {
  const h = Buffer.from(buf.subarray(0, 16));
  h[6] = (h[6] & 0x0f) | 0x50; // version 5 (name-based, SHA)
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export interface CpmMessageIds {
  /**
   * imdn.Message-ID: `<base64url(workflow id)>.<12 chars of a digest>` so that IMDNs route back to
   * their delivery without a lookup table; the digest part keeps 72 unpredictable bits
   * (RFC 5438 6.3 asks for at least 32).
   */
  imdnMessageId: string;
  callId: string;
  fromTag: string;
  conversationId: string;
  contributionId: string;
}

export function cpmMessageIds(workflowId: string, recipientUri: string, host: string): CpmMessageIds {
  const seed = (what: string) => digest('cpm', workflowId, recipientUri, what);
  return {
    imdnMessageId: `${Buffer.from(workflowId, 'utf8').toString('base64url')}.${token(seed('imdn'), 12)}`,
    callId: `${token(seed('call'), 24)}@${host}`,
    fromTag: token(seed('tag'), 12),
    conversationId: uuidFrom(seed('conversation')),
    contributionId: uuidFrom(seed('contribution')),
  };
}

/** RFC 3261 8.1.1.7 branch: magic cookie + a value unique per attempt (a new attempt is a new transaction). */
export function sipBranch(workflowId: string, recipientUri: string, attempt: number): string {
  return `z9hG4bK${token(digest('branch', workflowId, recipientUri, attempt), 22)}`;
}

/** RFC 5322 Message-ID for a PDU we originate, stable across activity retries. */
export function rfc822MessageId(domain: string, ...parts: string[]): string {
  return `<${token(digest('rfc822', ...parts), 22)}@${domain}>`;
}

/**
 * MM4 ids the IWF mints (X-Mms-Message-ID of an MM it originates, X-Mms-Transaction-ID of a PDU it
 * sends) carry the workflow id, so answers and reports route back by id alone:
 * `iwf1.<base64url(workflowId)>.<suffix>`. Allowed characters keep them safe in quoted MM4 headers.
 */
export function mintMm4Id(workflowId: string, suffix: string): string {
  return `iwf1.${Buffer.from(workflowId, 'utf8').toString('base64url')}.${suffix}`;
}

export function workflowIdFromMintedMm4Id(id: string): string | undefined {
  const m = /^iwf1\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_.-]*$/.exec(id.trim());
  if (!m) return undefined;
  const wf = Buffer.from(m[1], 'base64url').toString('utf8');
  return /^(mms-to-cpm|cpm-to-mms)\//.test(wf) ? wf : undefined;
}

/** The delivery an IMDN's <message-id> belongs to, when the IWF minted that id (cpmMessageIds). */
export function workflowIdFromImdnId(id: string): string | undefined {
  const m = /^([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]{12}$/.exec(id.trim());
  if (!m) return undefined;
  const wf = Buffer.from(m[1], 'base64url').toString('utf8');
  return /^mms-to-cpm\//.test(wf) ? wf : undefined;
}

/** A plain system mailbox (RFC 5322 dot-atom local part and domain), short, with no phone-number-like run of digits. */
const PLAIN_SYSTEM = /^[a-z0-9][a-z0-9._-]{0,63}@[a-z0-9][a-z0-9.-]{0,99}$/;

/**
 * The originator system as it goes into a workflow id. A plain system mailbox
 * (`system-user@mms.mnc001.mcc001.gprs`) is kept, lower-cased, so operators can read it; anything
 * else a peer sends there (`system=host;party=+12025550100`, a bare number, an over-long or odd
 * value) becomes a digest, so no phone number and no unbounded string enters the id.
 */
export function originatorKey(originatorSystem: string): string {
  const v = originatorSystem.trim().toLowerCase();
  if (PLAIN_SYSTEM.test(v) && !/\d{5}/.test(v.split('@')[0])) return v;
  return `h.${token(digest('originator', v), 22)}`;
}

/**
 * A peer-chosen id (X-Mms-Message-ID, imdn.Message-ID) as part of a workflow id: kept when it is
 * short printable ASCII, else a digest, so no id Temporal would refuse (too long, odd bytes) turns
 * a permanent problem into an endless "try again later". The original stays in the input.
 */
export function idPart(value: string): string {
  return /^[\x21-\x7e]{1,128}$/.test(value) ? value : `h.${token(digest('id', value), 22)}`;
}
