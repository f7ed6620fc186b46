/** MM4 vocabulary: PDU types and value sets (3GPP TS 23.140 clause 8.4). */
import type { Mm4Status } from '../../model/mm4-status.js';

export const MM4_MESSAGE_TYPES = [
  'MM4_forward.REQ',
  'MM4_forward.RES',
  'MM4_delivery_report.REQ',
  'MM4_delivery_report.RES',
  'MM4_read_reply_report.REQ',
  'MM4_read_reply_report.RES',
] as const;
export type Mm4MessageType = (typeof MM4_MESSAGE_TYPES)[number];

export type Mm4RequestStatus = Mm4Status;
export const MM4_REQUEST_STATUSES: readonly Mm4RequestStatus[] = [
  'Ok',
  'Error-unspecified',
  'Error-service-denied',
  'Error-message-format-corrupt',
  'Error-sending-address-unresolved',
  'Error-message-not-found',
  'Error-network-problem',
  'Error-content-not-accepted',
  'Error-unsupported-message',
];

export const MM4_MM_STATUSES = [
  'Expired',
  'Retrieved',
  'Rejected',
  'Deferred',
  'Unrecognised',
  'Indeterminate',
  'Forwarded',
] as const;
export type Mm4MmStatus = (typeof MM4_MM_STATUSES)[number];

export const MM4_READ_STATUSES = ['Read', 'Deleted without being read'] as const;
export type Mm4ReadStatus = (typeof MM4_READ_STATUSES)[number];

/** Header names as 23.140 writes them; matching on input is case-insensitive. */
export const H = {
  version: 'X-Mms-3GPP-MMS-Version',
  type: 'X-Mms-Message-Type',
  transactionId: 'X-Mms-Transaction-ID',
  messageId: 'X-Mms-Message-ID',
  requestStatus: 'X-Mms-Request-Status-Code',
  statusText: 'X-Mms-Status-Text',
  mmStatus: 'X-Mms-MM-Status-Code',
  mmStatusExtension: 'X-Mms-MM-Status-Extension',
  readStatus: 'X-Mms-Read-Status',
  ackRequest: 'X-Mms-Ack-Request',
  originatorSystem: 'X-Mms-Originator-System',
  messageClass: 'X-Mms-Message-Class',
  expiry: 'X-Mms-Expiry',
  deliveryReport: 'X-Mms-Delivery-Report',
  originatorDeliveryReport: 'X-Mms-Originator-R/S-Delivery-Report',
  readReply: 'X-Mms-Read-Reply',
  priority: 'X-Mms-Priority',
  senderVisibility: 'X-Mms-Sender-Visibility',
  forwardCounter: 'X-Mms-Forward-Counter',
  contentClass: 'X-Mms-Content-Class',
  adaptationAllowed: 'X-Mms-Adaptation-Allowed',
  forwardToOriginatorUa: 'X-Mms-Forward-To-Originator-UA',
} as const;

/**
 * Header names some MMSCs write where 23.140 8.4 has another: read (after the 23.140 name and its
 * spelling variants) and reported in `tolerated`. We write `X-Mms-Status` only for peers whose
 * `statusHeaders` rule is `both`. `X-Mms-Status` is the name of the status in the MM1 delivery
 * report (OMA MMS ENC `X-Mms-Status`).
 */
export const H_READ_VARIANTS = {
  mmStatus: ['X-Mms-MM-Status', 'X-Mms-Status'],
  readStatus: ['X-Mms-Read-Status-Code', 'X-Mms-Status'],
} as const;

/** A header present but unreadable: its field is absent (or defaulted) and this says which and why. */
export interface Mm4Unreadable {
  header: string;
  /** The value as received, control characters shown as `?`, at most 60 characters. */
  value: string;
  reason: string;
}
