import type { MmsToCpmInput, RetryPolicy, StoredRef } from '../../model/delivery.js';
import type { Mm4Status } from '../../model/mm4-status.js';
import { entityText, type MimeEntity } from '../mime/entity.js';
import type { Mm4ForwardReq } from '../mm4/pdu.js';

export interface IntakeContext {
  peer: string;
  receivedAt: Date;
  /** SMTP RCPT TO addresses: the recipients this MMSE is asked to serve (includes Bcc). */
  envelopeRecipients: string[];
  retry: RetryPolicy;
  mm4Ack: { timeoutMs: number; maxAttempts: number };
  defaultExpiryMs: number;
  maxExpiryMs?: number;
}

/**
 * Collects the text of an MM (text/plain alone, or the text/plain parts of a multipart, in order)
 * and the media types beside it (the SMIL presentation carries no content of its own).
 */
export function extractText(content: MimeEntity): { text: string; unsupported: string[] } {
  const texts: string[] = [];
  const unsupported: string[] = [];
  const walk = (e: MimeEntity) => {
    if (e.parts) return e.parts.forEach(walk);
    // Trailing line breaks are SMTP framing (RFC 5321 4.1.1.4 ends DATA with CRLF), not the user's text.
    if (e.mediaType === 'text/plain') texts.push(entityText(e).replace(/(\r?\n)+$/, ''));
    else if (e.mediaType !== 'application/smil') unsupported.push(e.mediaType);
  };
  walk(content);
  return { text: texts.join('\n'), unsupported };
}

/** X-Mms-Expiry, absolute or relative (docs/mm4-interop.md); the default when absent, capped by the maximum. */
function expiryOf(pdu: Mm4ForwardReq, ctx: IntakeContext): string {
  const now = ctx.receivedAt.getTime();
  let at = now + ctx.defaultExpiryMs;
  if (pdu.expiry && 'at' in pdu.expiry) at = pdu.expiry.at.getTime();
  else if (pdu.expiry) at = now + pdu.expiry.relativeSeconds * 1000;
  if (ctx.maxExpiryMs !== undefined) at = Math.min(at, now + ctx.maxExpiryMs);
  return new Date(at).toISOString();
}

/**
 * Maps an accepted MM4_forward.REQ to the delivery workflow's input (pure). The content travels
 * as the reference `raw` to the stored PDU (claim check).
 */
export function forwardReqToInput(pdu: Mm4ForwardReq, raw: StoredRef, ctx: IntakeContext): MmsToCpmInput {
  const envelope = [...new Set(ctx.envelopeRecipients.map((r) => r.trim()).filter(Boolean))];
  return {
    peer: ctx.peer,
    receivedAt: ctx.receivedAt.toISOString(),
    mm4: {
      version: pdu.version,
      transactionId: pdu.transactionId,
      messageId: pdu.messageId,
      idsQuoted: pdu.idsQuoted,
      from: pdu.from,
      recipients: envelope.length ? envelope : [...pdu.to, ...pdu.cc],
      subject: pdu.subject,
      date: pdu.date?.toISOString(),
      expiry: expiryOf(pdu, ctx),
      deliveryReport: pdu.deliveryReport,
      readReply: pdu.readReply,
      ackRequest: pdu.ackRequest,
      originatorSystem: pdu.originatorSystem ?? pdu.sender,
      senderVisibility: pdu.senderVisibility,
    },
    raw,
    retry: ctx.retry,
    mm4Ack: ctx.mm4Ack,
  };
}

/**
 * Input for a request that is malformed but identifiable enough to be answered with an error
 * `.RES` (it asked for one and names its transaction and originator system).
 */
export function refusedToInput(
  partial: { transactionId?: string; messageId?: string; originatorSystem?: string; idsQuoted?: boolean },
  status: Mm4Status,
  reason: string,
  ctx: IntakeContext,
): MmsToCpmInput {
  return {
    peer: ctx.peer,
    receivedAt: ctx.receivedAt.toISOString(),
    mm4: {
      version: '6.16.0',
      transactionId: partial.transactionId ?? '',
      messageId: partial.messageId ?? partial.transactionId ?? '',
      idsQuoted: partial.idsQuoted ?? true,
      from: '',
      recipients: ctx.envelopeRecipients,
      deliveryReport: false,
      readReply: false,
      ackRequest: true,
      originatorSystem: partial.originatorSystem,
    },
    intakeError: { status, reason },
    retry: ctx.retry,
    mm4Ack: ctx.mm4Ack,
  };
}
