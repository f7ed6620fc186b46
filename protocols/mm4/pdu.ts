import {
  decodeEncodedWords,
  getHeader,
  getHeaders,
  parseAddressList,
  parseHeaderBlock,
  printable,
  readDate,
  type HeaderField,
} from '../mime/headers.js';
import { parseMimeEntity, splitHeaderBody, type MimeEntity } from '../mime/entity.js';
import {
  H,
  H_READ_VARIANTS,
  MM4_MESSAGE_TYPES,
  MM4_MM_STATUSES,
  MM4_READ_STATUSES,
  MM4_REQUEST_STATUSES,
  type Mm4MessageType,
  type Mm4MmStatus,
  type Mm4ReadStatus,
  type Mm4RequestStatus,
  type Mm4Unreadable,
} from './types.js';

export type { Mm4MessageType, Mm4MmStatus, Mm4ReadStatus, Mm4RequestStatus, Mm4Unreadable } from './types.js';

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
  /**
   * What the reader accepted beyond 23.140 8.4 (another MMSC's dialect), one short sentence each,
   * e.g. "X-Mms-Status used for the missing X-Mms-MM-Status-Code": for a log line per peer and the
   * audit trail. Absent when the PDU needed no tolerance. Never written by serializeMm4.
   */
  tolerated?: string[];
  /** Headers present with a value that could not be read, so their field is absent or defaulted. Absent when none. */
  unreadable?: Mm4Unreadable[];
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
/**
 * Largest header block read. RFC 5322 bounds lines (998 octets), not blocks; real MMSCs send a few
 * KiB. Beyond this the PDU is Error-message-format-corrupt, so no oversized value reaches a delivery.
 */
export const MAX_MM4_HEADER_BYTES = 64 * 1024;
/** Longest X-Mms-Transaction-ID / X-Mms-Message-ID taken (23.140 sets no bound; real ids are < 100, and longer ones are hashed into workflow ids). */
export const MAX_MM4_ID_CHARS = 4096;

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
/** Header names compared without case, `-` and `_`: `X-Mms-MMStatus-Code` is `X-Mms-MM-Status-Code`. */
const looseName = (name: string) => name.toLowerCase().replace(/[-_]/g, '');
/** Enumerated values compared without case and with `-`, `_` and spaces alike: `Deleted-without-being-read`. */
const looseValue = (v: string) =>
  v
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, ' ');
/** Spellings of enumerated values that other MMSCs write, by their loose form. */
const VALUE_ALIASES: Record<string, string> = {
  unrecognized: 'Unrecognised',
  deleted: 'Deleted without being read',
};

/**
 * Parses an MM4 PDU as a tolerant reader (docs/mm4-interop.md): header names and the message type
 * case-insensitive, quoted or bare ids, Yes/No in any case, absolute or relative expiry. Dialects
 * beyond that are read and named in `pdu.tolerated`: a report's status under `X-Mms-Status` or a
 * misspelt header name, `Unrecognized` for `Unrecognised`, RFC 3339 / ISO 8601 dates. A value that
 * cannot be read is named in `pdu.unreadable`, never silently defaulted. Missing mandatory fields
 * give `ok: false` with the MM4 status to answer and what could still be read. Never throws.
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
    const headerBytes = Buffer.byteLength(headerText);
    if (headerBytes > MAX_MM4_HEADER_BYTES)
      throw new Corrupt(`header block of ${headerBytes} bytes exceeds ${MAX_MM4_HEADER_BYTES}`);
    const headers = parseHeaderBlock(headerText);
    const get = (name: string) => getHeader(headers, name);
    const warnings: string[] = [];
    const tolerated: string[] = [];
    const unreadable: Mm4Unreadable[] = [];
    const cannotRead = (header: string, value: string, reason: string) => {
      if (!unreadable.some((u) => u.header === header)) unreadable.push({ header, value: printable(value), reason });
    };
    const yesNo = (name: string): boolean | undefined => {
      const value = get(name);
      const v = value?.toLowerCase();
      if (value && v !== 'yes' && v !== 'no') cannotRead(name, value, 'neither Yes nor No');
      return v === 'yes' ? true : v === 'no' ? false : undefined;
    };
    /** An optional enumerated header: an unknown value is unreadable, not a default. */
    const optionalEnum = <T extends string>(name: string, values: readonly T[]): T | undefined => {
      const value = get(name);
      const found = enumOf(values, value);
      if (value && !found) cannotRead(name, value, `not one of ${values.join(', ')}`);
      return found;
    };
    /** A date header (RFC 5322 3.3 or, tolerated, RFC 3339); unreadable ones are named. */
    const dateOf = (name: string, value: string | undefined): Date | undefined => {
      if (!value) return undefined;
      const r = readDate(value);
      if (!r.ok) {
        cannotRead(name, value, r.error);
        warnings.push(`unparseable ${name} '${printable(value)}'`);
        return undefined;
      }
      if (r.tolerated) tolerated.push(`${name} '${printable(value)}': ${r.tolerated}`);
      return r.date;
    };
    /** X-Mms-Expiry: a date, or relative seconds (some senders, docs/mm4-interop.md). */
    const expiryOf = (value: string | undefined): Mm4ForwardReq['expiry'] => {
      if (!value) return undefined;
      if (/^\d{1,10}$/.test(value)) return { relativeSeconds: Number(value) };
      const at = dateOf(H.expiry, value);
      return at ? { at } : undefined;
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
    for (const [key, name] of [
      ['transactionId', H.transactionId],
      ['messageId', H.messageId],
      ['originatorSystem', H.originatorSystem],
    ] as const) {
      const length = partial[key]?.length ?? 0;
      if (length > MAX_MM4_ID_CHARS) {
        // Not echoed: an answer carrying it could not be correlated sanely either (SMTP 554 instead).
        delete partial[key];
        throw new Corrupt(`${name} of ${length} characters exceeds ${MAX_MM4_ID_CHARS}`);
      }
    }

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
    const addrs = (name: string) => getHeaders(headers, name).flatMap((v) => parseAddressList(v).map((a) => a.address));
    const date = dateOf('Date', get('Date'));
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
    /**
     * A mandatory enumerated header. With `variants`, a missing 23.140 name may be found spelt
     * otherwise (`X-Mms-MMStatus-Code`) or under another header name (`X-Mms-Status`); values
     * match without case, and loosely (`-`, `_`, spaces; VALUE_ALIASES) with a note.
     */
    const required = <T extends string>(name: string, values: readonly T[], variants: readonly string[] = []): T => {
      let field = headers.find((h) => h.name.toLowerCase() === name.toLowerCase());
      if (!field && variants.length) {
        field = headers.find((h) => looseName(h.name) === looseName(name));
        if (field) tolerated.push(`${printable(field.name)} read as ${name}`);
        for (const variant of variants) {
          if (field) break;
          field = headers.find((h) => looseName(h.name) === looseName(variant));
          if (field) tolerated.push(`${printable(field.name)} used for the missing ${name}`);
        }
      }
      const v = field?.value.trim();
      if (!field || !v) throw new Corrupt(`missing ${name}`);
      const exact = enumOf(values, v);
      if (exact) return exact;
      const loose = VALUE_ALIASES[looseValue(v)] ?? v;
      const found = values.find((x) => looseValue(x) === looseValue(loose));
      if (!found) {
        const as = field.name.toLowerCase() === name.toLowerCase() ? '' : ` (read as ${name})`;
        throw new Corrupt(`unknown ${printable(field.name)} '${printable(v)}'${as}`);
      }
      tolerated.push(`${printable(field.name)} '${printable(v)}' read as '${found}'`);
      return found;
    };
    const requestStatus = () => required(H.requestStatus, MM4_REQUEST_STATUSES);
    /** The fields every successful result carries beside `common`. */
    const notes = () => ({
      tolerated: tolerated.length ? tolerated : undefined,
      unreadable: unreadable.length ? unreadable : undefined,
    });

    switch (type) {
      case 'MM4_forward.REQ': {
        const cc = addrs('Cc');
        const content = contentOf(raw);
        const broken = brokenPart(content);
        if (broken) throw new Corrupt(`content part ${broken.mediaType}: ${broken.decodeError}`);
        if (!common.from) throw new Corrupt('missing From');
        if (common.to.length + cc.length === 0) warnings.push('no To/Cc: recipients only in the SMTP envelope');
        const subject = get('Subject');
        const counterRaw = get(H.forwardCounter);
        if (counterRaw && !/^\d+$/.test(counterRaw)) cannotRead(H.forwardCounter, counterRaw, 'not a number');
        const pdu: Mm4ForwardReq = {
          ...common,
          type,
          cc,
          subject: subject !== undefined ? decodeEncodedWords(subject) : undefined,
          messageClass: get(H.messageClass),
          expiry: expiryOf(get(H.expiry)),
          deliveryReport: yesNo(H.deliveryReport) ?? false,
          readReply: yesNo(H.readReply) ?? false,
          originatorDeliveryReport: yesNo(H.originatorDeliveryReport),
          priority: optionalEnum(H.priority, ['Low', 'Normal', 'High'] as const),
          senderVisibility: optionalEnum(H.senderVisibility, ['Hide', 'Show'] as const),
          ackRequest: partial.ackRequest ?? false,
          originatorSystem: partial.originatorSystem,
          forwardCounter: counterRaw && /^\d+$/.test(counterRaw) ? Number(counterRaw) : undefined,
          contentClass: get(H.contentClass),
          adaptationAllowed: yesNo(H.adaptationAllowed),
          content,
        };
        return { ok: true, warnings, pdu: { ...pdu, ...notes() } };
      }
      case 'MM4_delivery_report.REQ': {
        const mmStatus = required(H.mmStatus, MM4_MM_STATUSES, H_READ_VARIANTS.mmStatus);
        const forwardToOriginatorUa = yesNo(H.forwardToOriginatorUa);
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
            forwardToOriginatorUa,
            ...notes(),
          },
        };
      }
      case 'MM4_read_reply_report.REQ': {
        const readStatus = required(H.readStatus, MM4_READ_STATUSES, H_READ_VARIANTS.readStatus);
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
            ...notes(),
          },
        };
      }
      default: {
        const status = requestStatus();
        return { ok: true, warnings, pdu: { ...common, type, requestStatus: status, statusText, ...notes() } };
      }
    }
  } catch (e) {
    const error = e instanceof Corrupt ? e.message : `unreadable PDU (${(e as Error).message})`;
    return { ok: false, status: 'Error-message-format-corrupt', error, partial };
  }
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
