import type { Mm4DeliveryReportReq, Mm4ForwardReq, Mm4Pdu, Mm4ReadReplyReportReq, Mm4RequestStatus } from './pdu.js';

/** A request PDU that asks for an answer (23.140 8.4.1, 8.4.3, 8.4.4). */
export type Mm4Req = Mm4ForwardReq | Mm4DeliveryReportReq | Mm4ReadReplyReportReq;

const RES_TYPE = {
  'MM4_forward.REQ': 'MM4_forward.RES',
  'MM4_delivery_report.REQ': 'MM4_delivery_report.RES',
  'MM4_read_reply_report.REQ': 'MM4_read_reply_report.RES',
} as const;

/**
 * The `.RES` that answers `req` (23.140 8.4.2-8.4.4): the same transaction and message ids in the
 * requester's quoting style, addressed to its X-Mms-Originator-System (else its Sender or From),
 * sent as a new SMTP transaction by the caller. Pure: the result goes to serializeMm4.
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
  },
): Mm4Pdu {
  return {
    type: RES_TYPE[req.type],
    version: req.version || '6.16.0',
    transactionId: req.transactionId,
    messageId: req.messageId,
    idsQuoted: req.idsQuoted,
    from: o.from,
    to: [mm4AnswerAddress(req)],
    sender: o.sender,
    date: o.date ?? new Date(),
    rfc822MessageId: o.rfc822MessageId,
    requestStatus: o.status,
    statusText: o.statusText,
    extraHeaders: [],
  };
}

/** Where the answer to `req` goes: its originator system, else its Sender, else its From. */
export function mm4AnswerAddress(req: Mm4Req): string {
  return req.originatorSystem ?? req.sender ?? req.from;
}
