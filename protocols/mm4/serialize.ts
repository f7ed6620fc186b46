import type { Mm4BinaryEncoding, Mm4Rules } from '../../model/peer.js';
import { serializeMimeEntity, type MimeEntity } from '../mime/entity.js';
import { encodeHeaderValue, formatRfc5322Date, headerLine } from '../mime/headers.js';
import type { Mm4Pdu } from './pdu.js';
import { H } from './types.js';

const yesNo = (b: boolean) => (b ? 'Yes' : 'No');

/** The MM1 name of a report's status, which some MMSCs read instead of the MM4 one (rule `statusHeaders: both`). */
const X_MMS_STATUS = 'X-Mms-Status';

/** A Content-Transfer-Encoding we write (RFC 2045 6.1; `binary` would need BINARYMIME and BDAT, RFC 3030). */
export type PartEncoding = '7bit' | '8bit' | 'base64' | 'quoted-printable';

// ------------------------------------------------------------------------------------------------
// Addresses

const ATEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]";
const DOT_STRING = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`);
/** A Quoted-string local part without `;`, `,`, `<`, `>` (which envelope and header parsers split on). */
const QUOTED = /^"[\x20\x21\x23-\x2b\x2d-\x3a\x3d\x3f-\x5b\x5d-\x7e]*"$/;
const SUB_DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const ADDRESS_LITERAL = /^\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]$/;

/** An RFC 5321 4.1.2 Domain (sub-domains of letters, digits, hyphens) or address-literal. */
export function isDomain(d: string): boolean {
  if (!d || d.length > 255) return false;
  return ADDRESS_LITERAL.test(d) || d.split('.').every((s) => SUB_DOMAIN.test(s));
}

/**
 * A mailbox we may write in an SMTP envelope or an address header: RFC 5321 4.1.2 `Local-part "@"
 * Domain` (which is also an RFC 5322 3.4.1 addr-spec), lengths per RFC 5321 4.5.3.1, and never a
 * `;` or `,` (nodemailer and header parsers split lists on them). `system=x;party=+1...`, a bare
 * `+E164` or `+E164/TYPE=PLMN` (no domain) are not mailboxes.
 */
export function isMailbox(a: string): boolean {
  const at = a.lastIndexOf('@');
  if (at <= 0) return false;
  const local = a.slice(0, at);
  const domain = a.slice(at + 1);
  if (local.length > 64 || /[;,]/.test(a)) return false;
  return (DOT_STRING.test(local) || QUOTED.test(local)) && isDomain(domain);
}

/** An address we were asked to write that has no mailbox form (field: `To`, `RCPT TO`, ...). */
export class Mm4AddressError extends Error {
  constructor(
    readonly field: string,
    readonly address: string,
  ) {
    super(`${field}: '${address.slice(0, 80)}' is not a mailbox with a domain (RFC 5321 4.1.2) and cannot be repaired`);
    this.name = 'Mm4AddressError';
  }
}

/**
 * An MMS address as a mailbox (RFC 5321 4.1.2 needs a domain): a mailbox as it is; a bare `+E164`
 * or `+E164/TYPE=PLMN` (3GPP TS 23.140 8.4.1's PLMN address without the MMSE part) becomes
 * `+E164/TYPE=PLMN@<domain>`; anything else (a `;` list, no domain to add) is undefined.
 */
export function qualifyMm4Address(address: string, domain?: string): string | undefined {
  const a = address.trim();
  if (isMailbox(a)) return a;
  const m = /^(\+\d{1,15})(?:\/TYPE=PLMN)?$/i.exec(a);
  return m && domain && isDomain(domain) ? `${m[1]}/TYPE=PLMN@${domain}` : undefined;
}

/** {@link qualifyMm4Address} or a {@link Mm4AddressError} naming the field. */
export function mailboxOrThrow(field: string, address: string, domain?: string): string {
  const q = qualifyMm4Address(address, domain);
  if (!q) throw new Mm4AddressError(field, address);
  return q;
}

// ------------------------------------------------------------------------------------------------
// Sizes: what a body costs on the wire

/**
 * Bytes a body of `n` octets takes once transfer-encoded as we write it: base64 4/3 in lines of 76
 * characters plus CRLF (RFC 2045 6.8); quoted-printable at its worst (every octet `=XX`, soft line
 * breaks every 75 characters, RFC 2045 6.7); 7bit/8bit as is.
 */
export function encodedBodyBytes(n: number, encoding: PartEncoding | Mm4BinaryEncoding): number {
  if (n <= 0) return 0;
  switch (encoding) {
    case 'base64': {
      const chars = 4 * Math.ceil(n / 3);
      return chars + 2 * Math.ceil(chars / 76);
    }
    case 'quoted-printable':
      return 3 * n + 3 * Math.ceil((3 * n) / 75);
    default:
      return n;
  }
}

/**
 * The largest body, in octets, whose transfer-encoded form plus `overheadBytes` (PDU headers, MIME
 * headers and boundaries, other parts) stays within `limitBytes`: the media budget of an MM that
 * must fit the peer's limit as sent (min(content class, EHLO SIZE)).
 */
export function bodyBudgetBytes(
  limitBytes: number,
  overheadBytes: number,
  encoding: PartEncoding | Mm4BinaryEncoding,
): number {
  const room = limitBytes - overheadBytes;
  if (room <= 0) return 0;
  let lo = 0;
  let hi = room;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (encodedBodyBytes(mid, encoding) <= room) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// ------------------------------------------------------------------------------------------------
// MIME bodies with the peer's transfer encodings

/** RFC 2045 6.7 quoted-printable; `text`: CRLF stays a line break (rule 4), else CR and LF are encoded. */
export function encodeQuotedPrintable(body: Buffer, text: boolean): Buffer {
  const out: string[] = [];
  let line = '';
  const push = (tok: string) => {
    if (line.length + tok.length > 75) {
      out.push(`${line}=\r\n`);
      line = '';
    }
    line += tok;
  };
  const hex = (b: number) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (text && b === 13 && body[i + 1] === 10) {
      // Rule 3: white space before a line break is encoded.
      if (/[ \t]$/.test(line)) line = line.slice(0, -1) + hex(line.charCodeAt(line.length - 1));
      out.push(`${line}\r\n`);
      line = '';
      i++;
    } else if ((b >= 33 && b <= 126 && b !== 61) || b === 32 || b === 9) push(String.fromCharCode(b));
    else push(hex(b));
  }
  if (/[ \t]$/.test(line)) line = line.slice(0, -1) + hex(line.charCodeAt(line.length - 1));
  out.push(line);
  return Buffer.from(out.join(''), 'latin1');
}

const wrap76 = (s: string) => s.replace(/.{1,76}/g, '$&\r\n');

interface BodyContext {
  binary: Mm4BinaryEncoding;
  /** The peer's EHLO advertised 8BITMIME (RFC 6152). */
  eightBitMime: boolean;
  /** Whether anything went as 8bit (the SMTP transaction then declares BODY=8BITMIME). */
  used8bit: boolean;
  notes: string[];
}

/** RFC 2045 2.8: 8bit data is lines of at most 998 octets, CRLF only, no NUL. */
function is8bitData(body: Buffer): boolean {
  if (body.includes(0)) return false;
  const s = body.toString('latin1');
  return !/\r(?!\n)|(?<!\r)\n/.test(s) && s.split('\r\n').every((l) => l.length <= 998);
}

function encodeLeaf(e: MimeEntity, ctx: BodyContext): { cte: PartEncoding; body: Buffer } {
  const base64 = () => ({ cte: 'base64' as const, body: Buffer.from(wrap76(e.body.toString('base64'))) });
  const text = e.mediaType.startsWith('text/') || e.mediaType === 'application/smil';
  if (text) {
    // Line breaks of text are CRLF on the wire (RFC 2046 4.1.1).
    const bytes = e.body.toString('latin1');
    const lines = bytes.split(/\r?\n/);
    const short = lines.every((l) => l.length <= 998) && !e.body.includes(0);
    const crlf = Buffer.from(bytes.replace(/\r?\n/g, '\r\n'), 'latin1');
    if (short && /^[\x00-\x7f]*$/.test(bytes)) return { cte: '7bit', body: crlf };
    if (short && ctx.eightBitMime) {
      ctx.used8bit = true;
      return { cte: '8bit', body: crlf };
    }
    // Not 7bit, and 8bit is not possible: the peer's encoding (quoted-printable keeps text readable).
    if (ctx.binary === 'quoted-printable') return { cte: 'quoted-printable', body: encodeQuotedPrintable(crlf, true) };
    if (ctx.binary === '8bit')
      ctx.notes.push(
        ctx.eightBitMime
          ? `${e.mediaType} as base64: lines over 998 octets or NUL are not 8bit data (RFC 2045 2.8)`
          : `${e.mediaType} as base64: binaryEncoding 8bit, but the peer's EHLO has no 8BITMIME (RFC 6152)`,
      );
    return base64();
  }
  switch (ctx.binary) {
    case 'quoted-printable':
      return { cte: 'quoted-printable', body: encodeQuotedPrintable(e.body, false) };
    case '8bit':
      if (!ctx.eightBitMime) {
        ctx.notes.push(`${e.mediaType} as base64: binaryEncoding 8bit, but the peer's EHLO has no 8BITMIME (RFC 6152)`);
        return base64();
      }
      if (!is8bitData(e.body)) {
        ctx.notes.push(
          `${e.mediaType} as base64: its bytes are not 8bit data (RFC 2045 2.8); binary needs BINARYMIME with BDAT (RFC 3030), which we do not send`,
        );
        return base64();
      }
      ctx.used8bit = true;
      return { cte: '8bit', body: e.body };
    default:
      return base64();
  }
}

/** protocols/mime serializeMimeEntity (CRLF, content-derived boundaries), with the peer's encodings. */
function writeEntity(e: MimeEntity, ctx: BodyContext): Buffer {
  return serializeMimeEntity(e, (leaf) => encodeLeaf(leaf, ctx));
}

// ------------------------------------------------------------------------------------------------
// PDUs

/** How to write a PDU for one peer; without options a PDU is written as it always was. */
export interface Mm4WriteOptions {
  /** The peer's rules (model/peer.ts Mm4Rules); absent: the standard profile. */
  rules?: Partial<Pick<Mm4Rules, 'statusHeaders' | 'multipart' | 'binaryEncoding'>>;
  /**
   * Strict addresses: every address header must be a mailbox with a domain. A bare `+E164` or
   * `+E164/TYPE=PLMN` in To/Cc gets `peer` (the peer's first domain), in From/Sender `own` (our MMSE
   * domain; default `peer`); what cannot be repaired throws {@link Mm4AddressError}.
   */
  domains?: { peer?: string; own?: string };
  /** The peer's EHLO (clients/smtp.ts): 8bit parts only with 8BITMIME. Absent: assumed (as before). */
  smtp?: { eightBitMime: boolean };
}

/** A PDU as written for one peer. */
export interface Mm4Written {
  raw: Buffer;
  /** `8bitmime` when a part went as 8bit: the SMTP transaction must say BODY=8BITMIME (RFC 6152 3). */
  body: '7bit' | '8bitmime';
  /** What the peer's rules could not have as asked (e.g. 8bit without 8BITMIME), for the audit trail. */
  notes: string[];
}

/**
 * Writes an MM4 PDU strictly (23.140 8.4): CRLF, RFC 5322 headers first, then the X-Mms-* block
 * in a fixed order; ids quoted as `pdu.idsQuoted` says (the peer's style in answers, the peer's
 * `quoteIds` rule in what we originate); non-ASCII Subject RFC 2047-encoded; the peer's rules for
 * status headers, multipart wrapping and transfer encodings.
 */
export function writeMm4(pdu: Mm4Pdu, opts: Mm4WriteOptions = {}): Mm4Written {
  if (!pdu.date) throw new TypeError('serializeMm4: date is required (RFC 5322 3.6)');
  const rules = opts.rules ?? {};
  const id = (v: string) => (pdu.idsQuoted ? `"${v}"` : v);
  const d = opts.domains;
  const peerSide = (field: string, list: string[]) => (d ? list.map((a) => mailboxOrThrow(field, a, d.peer)) : list);
  const ownSide = (field: string, a: string | undefined) =>
    d && a !== undefined ? mailboxOrThrow(field, a, d.own ?? d.peer) : a;
  const system = (a: string | undefined) => (d && a !== undefined ? mailboxOrThrow(H.originatorSystem, a) : a);
  const h: [string, string | undefined][] = [
    ['From', ownSide('From', pdu.from)],
    ['To', peerSide('To', pdu.to).join(', ')],
  ];
  if (pdu.type === 'MM4_forward.REQ' && pdu.cc.length) h.push(['Cc', peerSide('Cc', pdu.cc).join(', ')]);
  h.push(['Sender', ownSide('Sender', pdu.sender)], ['Date', formatRfc5322Date(pdu.date)]);
  if (pdu.type === 'MM4_forward.REQ' && pdu.subject !== undefined) h.push(['Subject', encodeHeaderValue(pdu.subject)]);
  h.push(['Message-ID', pdu.rfc822MessageId], ['MIME-Version', '1.0']);
  h.push(
    [H.version, pdu.version || '6.16.0'],
    [H.type, pdu.type],
    [H.transactionId, id(pdu.transactionId)],
    [H.messageId, id(pdu.messageId)],
  );
  const both = rules.statusHeaders === 'both';

  switch (pdu.type) {
    case 'MM4_forward.REQ':
      h.push(
        [H.ackRequest, yesNo(pdu.ackRequest)],
        [H.originatorSystem, system(pdu.originatorSystem)],
        [H.deliveryReport, yesNo(pdu.deliveryReport)],
        [
          H.originatorDeliveryReport,
          pdu.originatorDeliveryReport === undefined ? undefined : yesNo(pdu.originatorDeliveryReport),
        ],
        [H.readReply, yesNo(pdu.readReply)],
        [H.messageClass, pdu.messageClass],
        [H.priority, pdu.priority],
        [H.senderVisibility, pdu.senderVisibility],
        [
          H.expiry,
          pdu.expiry
            ? 'at' in pdu.expiry
              ? formatRfc5322Date(pdu.expiry.at)
              : String(pdu.expiry.relativeSeconds)
            : undefined,
        ],
        [H.forwardCounter, pdu.forwardCounter === undefined ? undefined : String(pdu.forwardCounter)],
        [H.contentClass, pdu.contentClass],
        [H.adaptationAllowed, pdu.adaptationAllowed === undefined ? undefined : yesNo(pdu.adaptationAllowed)],
      );
      break;
    case 'MM4_delivery_report.REQ':
      h.push(
        [H.ackRequest, yesNo(pdu.ackRequest)],
        [H.originatorSystem, system(pdu.originatorSystem)],
        [
          H.forwardToOriginatorUa,
          pdu.forwardToOriginatorUa === undefined ? undefined : yesNo(pdu.forwardToOriginatorUa),
        ],
        [H.mmStatus, pdu.mmStatus],
        [X_MMS_STATUS, both ? pdu.mmStatus : undefined],
        [H.mmStatusExtension, pdu.mmStatusExtension],
        [H.statusText, pdu.statusText === undefined ? undefined : encodeHeaderValue(pdu.statusText)],
      );
      break;
    case 'MM4_read_reply_report.REQ':
      h.push(
        [H.ackRequest, yesNo(pdu.ackRequest)],
        [H.originatorSystem, system(pdu.originatorSystem)],
        [H.readStatus, pdu.readStatus],
        [X_MMS_STATUS, both ? pdu.readStatus : undefined],
        [H.statusText, pdu.statusText === undefined ? undefined : encodeHeaderValue(pdu.statusText)],
      );
      break;
    default:
      h.push(
        [H.requestStatus, pdu.requestStatus],
        [H.statusText, pdu.statusText === undefined ? undefined : encodeHeaderValue(pdu.statusText)],
      );
  }
  for (const x of pdu.extraHeaders) h.push([x.name, x.value]);
  const head = h
    .filter((x): x is [string, string] => x[1] !== undefined && x[1] !== '')
    .map(([k, v]) => headerLine(k, v))
    .join('\r\n');

  if (pdu.type === 'MM4_forward.REQ') {
    const ctx: BodyContext = {
      binary: rules.binaryEncoding ?? 'base64',
      eightBitMime: opts.smtp?.eightBitMime ?? true,
      used8bit: false,
      notes: [],
    };
    const content =
      rules.multipart === 'always' && !pdu.content.parts
        ? { headers: [], mediaType: 'multipart/mixed', params: {}, body: Buffer.alloc(0), parts: [pdu.content] }
        : pdu.content;
    const body = writeEntity(content, ctx);
    return {
      raw: Buffer.concat([Buffer.from(head + '\r\n'), body]),
      body: ctx.used8bit ? '8bitmime' : '7bit',
      notes: ctx.notes,
    };
  }
  // .RES and reports carry no MM content (23.140 8.4.1-8.4.3).
  return {
    raw: Buffer.from(
      `${head}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n`,
    ),
    body: '7bit',
    notes: [],
  };
}

/** {@link writeMm4}'s bytes. */
export function serializeMm4(pdu: Mm4Pdu, opts?: Mm4WriteOptions): Buffer {
  return writeMm4(pdu, opts).raw;
}
