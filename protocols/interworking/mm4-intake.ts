import type { MmsToCpmInput, RetryPolicy, StoredRef } from '../../model/delivery.js';
import type { Mm4Status } from '../../model/mm4-status.js';
import { entityText, type MimeEntity } from '../mime/entity.js';
import { partsInPresentationOrder } from '../mime/smil.js';
import type { Mm4ForwardReq } from '../mm4/pdu.js';
import { H } from '../mm4/types.js';

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

/**
 * Largest text carried in a delivery's input (UTF-8 bytes). A text MM is a few hundred bytes in
 * practice; a larger one, or one with media, is read from the stored PDU by the extraction step.
 */
export const MAX_INLINE_TEXT_BYTES = 4096;

/**
 * The text of a text-only MM as the extraction step would read it (its text/plain parts in
 * presentation order, SMIL left out), or undefined when the MM has any other part or the text is
 * longer than {@link MAX_INLINE_TEXT_BYTES}.
 */
export function inlineTextOf(content: MimeEntity): string | undefined {
  const parts = partsInPresentationOrder(content);
  if (!parts.every((p) => p.mediaType === 'text/plain')) return undefined;
  // Trailing line breaks are SMTP framing (RFC 5321 4.1.1.4 ends DATA with CRLF), not the user's text.
  const text = parts
    .map((p) => entityText(p).replace(/(\r?\n)+$/, ''))
    .filter(Boolean)
    .join('\n');
  return Buffer.byteLength(text, 'utf8') <= MAX_INLINE_TEXT_BYTES ? text : undefined;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * X-Mms-Expiry, absolute or relative (docs/mm4-interop.md); the default when absent or unreadable,
 * capped by the maximum. `note` says when the peer's value was not what applies.
 */
function expiryOf(pdu: Mm4ForwardReq, ctx: IntakeContext): { at: string; note?: string } {
  const now = ctx.receivedAt.getTime();
  let at = now + ctx.defaultExpiryMs;
  if (pdu.expiry && 'at' in pdu.expiry) at = pdu.expiry.at.getTime();
  else if (pdu.expiry) at = now + pdu.expiry.relativeSeconds * 1000;
  if (ctx.maxExpiryMs !== undefined && at > now + ctx.maxExpiryMs) {
    const capped = new Date(now + ctx.maxExpiryMs).toISOString();
    // Only the peer's own expiry is worth a note; the default is configuration.
    if (!pdu.expiry) return { at: capped };
    const asked = new Date(at).toISOString();
    return { at: capped, note: `${H.expiry} ${asked} capped by the maximum expiry of ${seconds(ctx.maxExpiryMs)}` };
  }
  return { at: new Date(at).toISOString() };
}

/** What the intake does with a field whose header could not be read (`pdu.unreadable`). */
function instead(header: string, ctx: IntakeContext): string {
  if (header === H.expiry) return `the default expiry of ${seconds(ctx.defaultExpiryMs)} applies`;
  if (header === H.deliveryReport || header === H.readReply || header === H.ackRequest) return 'read as No';
  return 'left out';
}

/**
 * The audit notes of an intake: what the MM4 reader tolerated (the peer's dialect), each header it
 * could not read with what was done instead, and an expiry capped by the maximum.
 */
function intakeNotesOf(pdu: Mm4ForwardReq, ctx: IntakeContext, expiryNote?: string): string[] {
  return [
    ...(pdu.tolerated ?? []).map((t) => `tolerated: ${t}`),
    ...(pdu.unreadable ?? []).map(
      (u) => `unreadable ${u.header} '${u.value}' (${u.reason}): ${instead(u.header, ctx)}`,
    ),
    ...(expiryNote ? [expiryNote] : []),
  ];
}

/**
 * Longest subject carried into a delivery. An MMS subject is a short line (OMA MMS ENC 7.3.56: an
 * Encoded-string, in practice 40 characters on handsets); a longer one is cut, with a note.
 */
export const MAX_SUBJECT_CHARS = 1000;

function boundedSubject(subject: string | undefined): { text?: string; note?: string } {
  if (subject === undefined || subject.length <= MAX_SUBJECT_CHARS) return { text: subject };
  return {
    text: subject.slice(0, MAX_SUBJECT_CHARS),
    note: `Subject of ${subject.length} characters cut to ${MAX_SUBJECT_CHARS}`,
  };
}

/**
 * Maps an accepted MM4_forward.REQ to the delivery workflow's input (pure). The content travels
 * as the reference `raw` to the stored PDU (claim check); `intakeNotes` carries what was tolerated
 * or unreadable, so that nothing the peer sent is replaced without a trace.
 */
export function forwardReqToInput(pdu: Mm4ForwardReq, raw: StoredRef, ctx: IntakeContext): MmsToCpmInput {
  const envelope = [...new Set(ctx.envelopeRecipients.map((r) => r.trim()).filter(Boolean))];
  const expiry = expiryOf(pdu, ctx);
  const subject = boundedSubject(pdu.subject);
  const intakeNotes = [...intakeNotesOf(pdu, ctx, expiry.note), ...(subject.note ? [subject.note] : [])];
  const text = inlineTextOf(pdu.content);
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
      subject: subject.text,
      date: pdu.date?.toISOString(),
      expiry: expiry.at,
      deliveryReport: pdu.deliveryReport,
      readReply: pdu.readReply,
      ackRequest: pdu.ackRequest,
      originatorSystem: pdu.originatorSystem ?? pdu.sender,
      senderVisibility: pdu.senderVisibility,
    },
    raw,
    ...(text !== undefined ? { text } : {}),
    ...(intakeNotes.length ? { intakeNotes } : {}),
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
