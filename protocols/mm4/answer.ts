import type { Mm4Rules } from '../../model/peer.js';
import type { Mm4DeliveryReportReq, Mm4ForwardReq, Mm4Pdu, Mm4ReadReplyReportReq, Mm4RequestStatus } from './pdu.js';
import { isMailbox, Mm4AddressError } from './serialize.js';

/** A request PDU that asks for an answer (23.140 8.4.1, 8.4.3, 8.4.4). */
export type Mm4Req = Mm4ForwardReq | Mm4DeliveryReportReq | Mm4ReadReplyReportReq;

const RES_TYPE = {
  'MM4_forward.REQ': 'MM4_forward.RES',
  'MM4_delivery_report.REQ': 'MM4_delivery_report.RES',
  'MM4_read_reply_report.REQ': 'MM4_read_reply_report.RES',
} as const;

/**
 * The `.RES` that answers `req` (23.140 8.4.2-8.4.4): the same transaction and message ids in the
 * requester's quoting style, addressed as {@link answerAddress} says, sent as a new SMTP transaction
 * by the caller. Pure: the result goes to serializeMm4. Throws {@link Mm4AddressError} when the
 * request names no mailbox to answer and the peer has no `systemAddress`.
 */
export function mm4AnswerTo(
  req: Mm4Req,
  o: {
    status: Mm4RequestStatus;
    statusText?: string;
    from: string;
    sender?: string;
    rfc822MessageId?: string;
    date?: Date;
    /** The requesting peer's rules (its `systemAddress`). */
    rules?: Pick<Mm4Rules, 'systemAddress'>;
  },
): Mm4Pdu {
  return {
    type: RES_TYPE[req.type],
    version: req.version || '6.16.0',
    transactionId: req.transactionId,
    messageId: req.messageId,
    idsQuoted: req.idsQuoted,
    from: o.from,
    to: [mm4AnswerAddress(req, o.rules)],
    sender: o.sender,
    date: o.date ?? new Date(),
    rfc822MessageId: o.rfc822MessageId,
    requestStatus: o.status,
    statusText: o.statusText,
    extraHeaders: [],
  };
}

/**
 * The mailbox our answer to `req` (its .RES, or our reports about its MM) goes to: its
 * X-Mms-Originator-System when that is an addr-spec with a domain (RFC 5322 3.4.1; 23.140 8.4.1
 * sends the .RES there), else the peer's configured `systemAddress`, else its Sender, else its
 * From, each only when a mailbox. Some MMSCs write `system=<host>;party=<number>` as the
 * originator system: never answered there (a `;` would split the SMTP envelope). Undefined when
 * nothing is a mailbox.
 */
export function answerAddress(
  req: { originatorSystem?: string; sender?: string; from?: string },
  rules?: Pick<Mm4Rules, 'systemAddress'>,
): string | undefined {
  const candidates = [req.originatorSystem, rules?.systemAddress, req.sender, req.from];
  return candidates.map((a) => a?.trim()).find((a): a is string => !!a && isMailbox(a));
}

/** {@link answerAddress}, or a {@link Mm4AddressError} when the request names no mailbox to answer. */
export function mm4AnswerAddress(req: Mm4Req, rules?: Pick<Mm4Rules, 'systemAddress'>): string {
  const to = answerAddress(req, rules);
  if (!to) throw new Mm4AddressError(`${req.type} answer`, req.originatorSystem ?? req.sender ?? req.from);
  return to;
}
