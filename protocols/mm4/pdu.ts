import {
  decodeEncodedWords,
  getHeader,
  getHeaders,
  parseAddressList,
  parseHeaderBlock,
  parseRfc5322Date,
  type HeaderField,
} from '../mime/headers.js';
import { parseMimeEntity, splitHeaderBody, type MimeEntity } from '../mime/entity.js';
import {
  H,
  MM4_MESSAGE_TYPES,
  MM4_MM_STATUSES,
  MM4_READ_STATUSES,
  MM4_REQUEST_STATUSES,
  type Mm4MessageType,
  type Mm4MmStatus,
  type Mm4ReadStatus,
  type Mm4RequestStatus,
} from './types.js';

export type { Mm4MessageType, Mm4MmStatus, Mm4ReadStatus, Mm4RequestStatus } from './types.js';

/** Fields every MM4 PDU has (23.140 8.4; RFC 5322 From/To/Date). */
export interface Mm4Common {
  version: string;
  transactionId: string;
  messageId: string;
  from: string;
  to: string[];
  date?: Date;
  sender?: string;
  rfc822MessageId?: string;
  /** The peer double-quoted its ids; we echo its style back (docs/mm4-interop.md). */
  idsQuoted: boolean;
  /** X-* headers this codec does not interpret, kept for logs and pass-through. */
  extraHeaders: HeaderField[];
}

export interface Mm4ForwardReq extends Mm4Common {
  type: 'MM4_forward.REQ';
  cc: string[];
  subject?: string;
  messageClass?: string;
  expiry?: { at: Date } | { relativeSeconds: number };
  deliveryReport: boolean;
  readReply: boolean;
  originatorDeliveryReport?: boolean;
  priority?: 'Low' | 'Normal' | 'High';
  senderVisibility?: 'Hide' | 'Show';
  ackRequest: boolean;
  originatorSystem?: string;
  forwardCounter?: number;
  contentClass?: string;
  adaptationAllowed?: boolean;
  content: MimeEntity;
}

export interface Mm4ForwardRes extends Mm4Common {
  type: 'MM4_forward.RES';
  requestStatus: Mm4RequestStatus;
  statusText?: string;
}

export interface Mm4DeliveryReportReq extends Mm4Common {
  type: 'MM4_delivery_report.REQ';
  mmStatus: Mm4MmStatus;
  mmStatusExtension?: string;
  statusText?: string;
  ackRequest: boolean;
  originatorSystem?: string;
  forwardToOriginatorUa?: boolean;
}

export interface Mm4DeliveryReportRes extends Mm4Common {
  type: 'MM4_delivery_report.RES';
  requestStatus: Mm4RequestStatus;
  statusText?: string;
}

export interface Mm4ReadReplyReportReq extends Mm4Common {
  type: 'MM4_read_reply_report.REQ';
  readStatus: Mm4ReadStatus;
  statusText?: string;
  ackRequest: boolean;
  originatorSystem?: string;
}

export interface Mm4ReadReplyReportRes extends Mm4Common {
  type: 'MM4_read_reply_report.RES';
  requestStatus: Mm4RequestStatus;
  statusText?: string;
}

export type Mm4Pdu =
  | Mm4ForwardReq
  | Mm4ForwardRes
  | Mm4DeliveryReportReq
  | Mm4DeliveryReportRes
  | Mm4ReadReplyReportReq
  | Mm4ReadReplyReportRes;

export interface Mm4Partial {
  type?: Mm4MessageType;
  transactionId?: string;
  messageId?: string;
  originatorSystem?: string;
  ackRequest?: boolean;
  idsQuoted?: boolean;
}

export type Mm4ParseResult =
  | { ok: true; pdu: Mm4Pdu; warnings: string[] }
  | { ok: false; status: Mm4RequestStatus; error: string; partial: Mm4Partial };

export const MAX_MM4_BYTES = 16 * 1024 * 1024;

class Corrupt extends Error {}

/** Headers this codec maps to fields; everything else starting with X- goes to extraHeaders. */
const KNOWN = new Set(Object.values(H).map((h) => h.toLowerCase()));

const unquote = (v: string) =>
  v
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .trim();
const enumOf = <T extends string>(values: readonly T[], v: string | undefined): T | undefined =>
  v === undefined ? undefined : values.find((x) => x.toLowerCase() === v.trim().toLowerCase());

/**
 * Parses an MM4 PDU as a tolerant reader (docs/mm4-interop.md): header names and the message type
 * case-insensitive, quoted or bare ids, Yes/No in any case, absolute or relative expiry,
 * `Unrecognized` for `Unrecognised`. Missing mandatory fields give `ok: false` with the MM4 status
 * to answer and what could still be read. Never throws.
 */
export function parseMm4(raw: Buffer): Mm4ParseResult {
  const r = parseUnchecked(raw);
  return r.ok ? { ...r, pdu: withoutUndefined(r.pdu) } : r;
}

/** Absent optional fields are left out rather than present as `undefined` (clean round trips, logs). */
function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function parseUnchecked(raw: Buffer): Mm4ParseResult {
  const partial: Mm4Partial = {};
  try {
    if (raw.length > MAX_MM4_BYTES) throw new Corrupt(`PDU larger than ${MAX_MM4_BYTES} bytes`);
    const { headerText } = splitHeaderBody(raw);
    const headers = parseHeaderBlock(headerText);
    const get = (name: string) => getHeader(headers, name);
    const yesNo = (name: string): boolean | undefined => {
      const v = get(name)?.toLowerCase();
      return v === 'yes' ? true : v === 'no' ? false : undefined;
    };
    const typeRaw = get(H.type);
    const transactionRaw = get(H.transactionId);
    const messageRaw = get(H.messageId);
    partial.type = enumOf(MM4_MESSAGE_TYPES, typeRaw);
    partial.transactionId = transactionRaw !== undefined ? unquote(transactionRaw) || undefined : undefined;
    partial.messageId = messageRaw !== undefined ? unquote(messageRaw) || undefined : undefined;
    partial.originatorSystem = get(H.originatorSystem)
      ? parseAddressList(get(H.originatorSystem)!)[0]?.address
      : undefined;
    partial.ackRequest = yesNo(H.ackRequest);
    partial.idsQuoted = /^\s*"/.test(transactionRaw ?? messageRaw ?? '"');

    if (!typeRaw) throw new Corrupt(`missing ${H.type}`);
    if (!partial.type) {
      return {
        ok: false,
        status: 'Error-unsupported-message',
        error: `unknown ${H.type} '${typeRaw.slice(0, 60)}'`,
        partial,
      };
    }
    const type = partial.type;
    if (!partial.transactionId) throw new Corrupt(`missing ${H.transactionId}`);
    // X-Mms-Message-ID is mandatory in the forward REQ/RES and in both reports (23.140 8.4).
    if (!partial.messageId) throw new Corrupt(`missing ${H.messageId}`);
    const warnings: string[] = [];
    const addrs = (name: string) => getHeaders(headers, name).flatMap((v) => parseAddressList(v).map((a) => a.address));
    const dateRaw = get('Date');
    const date = dateRaw ? parseRfc5322Date(dateRaw) : undefined;
    if (dateRaw && !date) warnings.push(`unparseable Date '${dateRaw.slice(0, 60)}'`);
    const version = get(H.version) ?? '';
    if (!version) warnings.push(`missing ${H.version}`);
    const common: Mm4Common = {
      version,
      transactionId: partial.transactionId,
      messageId: partial.messageId,
      from: addrs('From')[0] ?? '',
      to: addrs('To'),
      date,
      sender: addrs('Sender')[0],
      rfc822MessageId: get('Message-ID'),
      idsQuoted: partial.idsQuoted,
      extraHeaders: headers.filter((h) => /^x-/i.test(h.name) && !KNOWN.has(h.name.toLowerCase())),
    };
    const statusText = get(H.statusText) !== undefined ? decodeEncodedWords(get(H.statusText)!) : undefined;
    /** A mandatory enumerated header; `alias` maps tolerated spellings first. */
    const required = <T extends string>(
      name: string,
      values: readonly T[],
      alias: (v: string) => string = (v) => v,
    ): T => {
      const v = get(name);
      if (!v) throw new Corrupt(`missing ${name}`);
      const found = enumOf(values, alias(v));
      if (!found) throw new Corrupt(`unknown ${name} '${v.slice(0, 60)}'`);
      return found;
    };
    const requestStatus = () => required(H.requestStatus, MM4_REQUEST_STATUSES);

    switch (type) {
      case 'MM4_forward.REQ': {
        const cc = addrs('Cc');
        const content = contentOf(raw);
        const broken = brokenPart(content);
        if (broken) throw new Corrupt(`content part ${broken.mediaType}: ${broken.decodeError}`);
        if (!common.from) throw new Corrupt('missing From');
        if (common.to.length + cc.length === 0) warnings.push('no To/Cc: recipients only in the SMTP envelope');
        const subject = get('Subject');
        return {
          ok: true,
          warnings,
          pdu: {
            ...common,
            type,
            cc,
            subject: subject !== undefined ? decodeEncodedWords(subject) : undefined,
            messageClass: get(H.messageClass),
            expiry: parseExpiry(get(H.expiry), warnings),
            deliveryReport: yesNo(H.deliveryReport) ?? false,
            readReply: yesNo(H.readReply) ?? false,
            originatorDeliveryReport: yesNo(H.originatorDeliveryReport),
            priority: enumOf(['Low', 'Normal', 'High'] as const, get(H.priority)),
            senderVisibility: enumOf(['Hide', 'Show'] as const, get(H.senderVisibility)),
            ackRequest: partial.ackRequest ?? false,
            originatorSystem: partial.originatorSystem,
            forwardCounter: /^\d+$/.test(get(H.forwardCounter) ?? '') ? Number(get(H.forwardCounter)) : undefined,
            contentClass: get(H.contentClass),
            adaptationAllowed: yesNo(H.adaptationAllowed),
            content,
          },
        };
      }
      case 'MM4_delivery_report.REQ': {
        const mmStatus = required(H.mmStatus, MM4_MM_STATUSES, (v) =>
          v.toLowerCase() === 'unrecognized' ? 'Unrecognised' : v,
        );
        return {
          ok: true,
          warnings,
          pdu: {
            ...common,
            type,
            mmStatus,
            mmStatusExtension: get(H.mmStatusExtension),
            statusText,
            ackRequest: partial.ackRequest ?? false,
            originatorSystem: partial.originatorSystem,
            forwardToOriginatorUa: yesNo(H.forwardToOriginatorUa),
          },
        };
      }
      case 'MM4_read_reply_report.REQ': {
        const readStatus = required(H.readStatus, MM4_READ_STATUSES);
        return {
          ok: true,
          warnings,
          pdu: {
            ...common,
            type,
            readStatus,
            statusText,
            ackRequest: partial.ackRequest ?? false,
            originatorSystem: partial.originatorSystem,
          },
        };
      }
      default:
        return { ok: true, warnings, pdu: { ...common, type, requestStatus: requestStatus(), statusText } };
    }
  } catch (e) {
    const error = e instanceof Corrupt ? e.message : `unreadable PDU (${(e as Error).message})`;
    return { ok: false, status: 'Error-message-format-corrupt', error, partial };
  }
}

/** X-Mms-Expiry: an RFC 5322 date, or (some senders) relative seconds (docs/mm4-interop.md). */
function parseExpiry(v: string | undefined, warnings: string[]): Mm4ForwardReq['expiry'] {
  if (!v) return undefined;
  if (/^\d{1,10}$/.test(v.trim())) return { relativeSeconds: Number(v.trim()) };
  const at = parseRfc5322Date(v);
  if (!at) warnings.push(`unparseable ${H.expiry} '${v.slice(0, 60)}'`);
  return at ? { at } : undefined;
}

/** The MM content: the PDU's own MIME entity, with only its Content-* headers kept. */
/** The first part whose transfer encoding is broken: such an MM cannot be relayed faithfully. */
function brokenPart(e: MimeEntity): MimeEntity | undefined {
  if (e.decodeError) return e;
  for (const p of e.parts ?? []) {
    const b = brokenPart(p);
    if (b) return b;
  }
  return undefined;
}

function contentOf(raw: Buffer): MimeEntity {
  const e = parseMimeEntity(raw);
  return { ...e, headers: e.headers.filter((h) => /^content-/i.test(h.name)) };
}

export { serializeMm4 } from './serialize.js';
