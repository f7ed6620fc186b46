/**
 * A stand-in MMSC for the end-to-end tests, written apart from the IWF's own MM4 and MIME code
 * (nothing here comes from protocols/), so that a mistake in that code cannot be made the same way
 * on both ends of the wire and pass: what the IWF sends is read with postal-mime plus plain header
 * reading, and the MMSC's answers and reports are RFC 5322 text written out by hand as
 * 3GPP TS 23.140 §8.4.2-8.4.4 describe them.
 */
import { randomUUID } from 'node:crypto';
import PostalMime, { addressParser, decodeWords } from 'postal-mime';
import { SMTPServer } from 'smtp-server';
import nodemailer from 'nodemailer';

/** The MMSC's system address (its X-Mms-Originator-System, RFC 5322 Sender of its answers). */
export const MMSC_SYSTEM = 'system-user@mms.mnc001.mcc001.gprs';
const MMSC_DOMAIN = 'mms.mnc001.mcc001.gprs';

/** One body part that is not text (postal-mime's attachments: SMIL, images, audio, video). */
export interface ReceivedPart {
  /** Lower-case media type, e.g. `image/jpeg`. */
  contentType: string;
  filename?: string;
  /** Content-ID with its angle brackets. */
  contentId?: string;
  /** The decoded bytes. */
  content: Buffer;
}

/** An MM4 PDU the IWF sent to the MMSC, as an MMSC reads it. */
export interface ReceivedMm4 {
  /** SMTP MAIL FROM and RCPT TO (RFC 5321 §3.3). */
  envelope: { from: string; to: string[] };
  raw: Buffer;
  /** Every top-level header by lower-case name (the first when repeated), unfolded, otherwise as sent. */
  headers: Record<string, string>;
  /** X-Mms-Message-Type, e.g. `MM4_forward.REQ`. */
  type: string;
  /** X-Mms-Transaction-ID without its quotes. */
  transactionId?: string;
  /** X-Mms-Message-ID without its quotes. */
  messageId?: string;
  /** The address of RFC 5322 From. */
  from: string;
  /** The addresses of RFC 5322 To. */
  to: string[];
  /** Subject, RFC 2047 decoded. */
  subject?: string;
  /** Date as an ISO 8601 string. */
  date?: string;
  /** The top-level Content-Type: media type (lower case) and parameters (names lower case). */
  contentType: { mediaType: string; params: Record<string, string> };
  /** The text of the text/plain part(s), without the trailing line breaks of the SMTP framing. */
  text?: string;
  attachments: ReceivedPart[];
  /** X-Mms-Request-Status-Code (.RES). */
  requestStatus?: string;
  /** X-Mms-Status-Text, RFC 2047 decoded. */
  statusText?: string;
  /** X-Mms-MM-Status-Code (MM4_delivery_report.REQ). */
  mmStatus?: string;
  /** X-Mms-Read-Status (MM4_read_reply_report.REQ). */
  readStatus?: string;
}

const unquote = (v: string | undefined) => (v === undefined ? undefined : v.trim().replace(/^"(.*)"$/, '$1'));
const firstAddress = (v: string | undefined) => (v ? addressParser(v, { flatten: true })[0]?.address : undefined);

/** `type/subtype; name=value; name="quoted value"` (RFC 2045 §5.1). */
function contentTypeOf(value: string | undefined): ReceivedMm4['contentType'] {
  const v = value ?? 'text/plain; charset=us-ascii'; // RFC 2045 §5.2
  const params: Record<string, string> = {};
  for (const m of v.matchAll(/;\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g)) {
    params[m[1].toLowerCase()] = m[2]
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .replace(/\\(.)/g, '$1');
  }
  return { mediaType: v.split(';')[0].trim().toLowerCase(), params };
}

/** Reads a PDU the IWF sent; a string when it is not MM4 at all. */
async function readMm4(raw: Buffer, envelope: ReceivedMm4['envelope']): Promise<ReceivedMm4 | string> {
  const mail = await PostalMime.parse(raw, { attachmentEncoding: 'arraybuffer' });
  const headers: Record<string, string> = {};
  for (const h of mail.headers) headers[h.key] ??= h.value.trim();
  const type = headers['x-mms-message-type'];
  if (!type) return 'no X-Mms-Message-Type (3GPP TS 23.140 §8.4)';
  return {
    envelope,
    raw,
    headers,
    type,
    transactionId: unquote(headers['x-mms-transaction-id']),
    messageId: unquote(headers['x-mms-message-id']),
    from: mail.from?.address ?? '',
    to: (mail.to ?? []).flatMap((a) => (a.group ? a.group.map((g) => g.address) : [a.address ?? ''])),
    subject: mail.subject,
    date: mail.date,
    contentType: contentTypeOf(headers['content-type']),
    // postal-mime ends text with a line break; trailing line breaks are the framing of SMTP DATA
    // (RFC 5321 §4.1.1.4), not the sender's text.
    text: mail.text?.replace(/(\r?\n)+$/, ''),
    attachments: mail.attachments.map((a) => ({
      contentType: a.mimeType,
      ...(a.filename ? { filename: a.filename } : {}),
      ...(a.contentId ? { contentId: a.contentId } : {}),
      content:
        typeof a.content === 'string'
          ? Buffer.from(a.content)
          : Buffer.from(a.content instanceof ArrayBuffer ? new Uint8Array(a.content) : a.content),
    })),
    requestStatus: headers['x-mms-request-status-code'],
    statusText: headers['x-mms-status-text'] === undefined ? undefined : decodeWords(headers['x-mms-status-text']),
    mmStatus: headers['x-mms-mm-status-code'],
    readStatus: headers['x-mms-read-status'],
  };
}

/**
 * Where an answer to `req` goes (3GPP TS 23.140 §8.4.2-8.4.4): its X-Mms-Originator-System, else
 * its Sender, else its From.
 */
export function answerAddress(req: ReceivedMm4): string {
  return firstAddress(req.headers['x-mms-originator-system']) ?? firstAddress(req.headers.sender) ?? req.from;
}

/** RFC 5322 §3.3 date-time, numeric zone. */
const rfc5322Date = (d = new Date()) => d.toUTCString().replace(/GMT$/, '+0000');
/** An unstructured header value, RFC 2047 B-encoded when it is not ASCII. */
const headerText = (v: string) => (/^[\x20-\x7e]*$/.test(v) ? v : `=?UTF-8?B?${Buffer.from(v).toString('base64')}?=`);

/** Header lines, a body-less text/plain entity (answers and reports carry no MM content). */
function pduText(lines: (string | undefined)[]): Buffer {
  const head = lines.filter((l): l is string => l !== undefined);
  return Buffer.from(
    [...head, 'Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit', '', ''].join('\r\n'),
  );
}

/**
 * The `.RES` an MMSC answers one of the IWF's requests with (3GPP TS 23.140 §8.4.2 MM4_forward.RES,
 * §8.4.3 MM4_delivery_report.RES, §8.4.4 MM4_read_reply_report.RES), as bytes: from the MMSC's
 * system address to the request's answer address, the transaction and message ids echoed exactly
 * as the request wrote them (quoted or not).
 */
export function mmscRes(req: ReceivedMm4, status = 'Ok', statusText?: string): Buffer {
  if (!/^MM4_(forward|delivery_report|read_reply_report)\.REQ$/.test(req.type))
    throw new TypeError(`mmscRes: ${req.type} is not answered`);
  return pduText([
    `From: ${MMSC_SYSTEM}`,
    `To: ${answerAddress(req)}`,
    `Sender: ${MMSC_SYSTEM}`,
    `Date: ${rfc5322Date()}`,
    `Message-ID: <res-${randomUUID()}@${MMSC_DOMAIN}>`,
    'MIME-Version: 1.0',
    `X-Mms-3GPP-MMS-Version: ${req.headers['x-mms-3gpp-mms-version'] || '6.16.0'}`,
    `X-Mms-Message-Type: ${req.type.replace(/\.REQ$/, '.RES')}`,
    `X-Mms-Transaction-ID: ${req.headers['x-mms-transaction-id']}`,
    req.headers['x-mms-message-id'] === undefined ? undefined : `X-Mms-Message-ID: ${req.headers['x-mms-message-id']}`,
    `X-Mms-Request-Status-Code: ${status}`,
    statusText === undefined ? undefined : `X-Mms-Status-Text: ${headerText(statusText)}`,
  ]);
}

/**
 * The report an MMSC sends about an MM the IWF forwarded to it (3GPP TS 23.140 §8.4.3
 * MM4_delivery_report.REQ, §8.4.4 MM4_read_reply_report.REQ), as bytes: from the MM's recipient
 * back to its sender, the MM's X-Mms-Message-ID, the ids quoted, an ack requested.
 */
export function mmscReport(
  mm: { messageId?: string; from: string; to: string[] },
  report:
    | { type: 'MM4_delivery_report.REQ'; mmStatus: string; extension?: string }
    | { type: 'MM4_read_reply_report.REQ'; readStatus: 'Read' | 'Deleted without being read' },
  transactionId: string,
): Buffer {
  return pduText([
    `From: ${mm.to[0]}`,
    `To: ${mm.from}`,
    `Sender: ${MMSC_SYSTEM}`,
    `Date: ${rfc5322Date()}`,
    `Message-ID: <report-${randomUUID()}@${MMSC_DOMAIN}>`,
    'MIME-Version: 1.0',
    'X-Mms-3GPP-MMS-Version: 6.16.0',
    `X-Mms-Message-Type: ${report.type}`,
    `X-Mms-Transaction-ID: "${transactionId}"`,
    `X-Mms-Message-ID: "${mm.messageId}"`,
    'X-Mms-Ack-Request: Yes',
    `X-Mms-Originator-System: ${MMSC_SYSTEM}`,
    ...(report.type === 'MM4_delivery_report.REQ'
      ? [
          `X-Mms-MM-Status-Code: ${report.mmStatus}`,
          report.extension === undefined ? undefined : `X-Mms-MM-Status-Extension: ${report.extension}`,
        ]
      : [`X-Mms-Read-Status: ${report.readStatus}`]),
  ]);
}

export interface FakeMmsc {
  port: number;
  received: ReceivedMm4[];
  /**
   * From now on answer every report that asks for an ack with `.RES` Ok to the IWF's MM4 port, as
   * an MMSC does, except those `skip` picks (to test resends).
   */
  answerReports(iwfMm4Port: number, skip?: (m: ReceivedMm4) => boolean): void;
  close(): Promise<void>;
}

/**
 * A real SMTP listener standing in for an MMSC: it records every MM4 PDU the IWF sends it
 * (MM4_forward.REQ and .RES, reports) and answers SMTP 250; what is not MM4 gets 554.
 */
export async function startFakeMmsc(port = 0, onReceive?: (m: ReceivedMm4) => void): Promise<FakeMmsc> {
  const received: ReceivedMm4[] = [];
  let answer: ((m: ReceivedMm4) => void) | undefined;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        readMm4(Buffer.concat(chunks), envelope).then(
          (m) => {
            if (typeof m === 'string') return cb(Object.assign(new Error(`not MM4: ${m}`), { responseCode: 554 }));
            received.push(m);
            onReceive?.(m);
            answer?.(m);
            cb();
          },
          (e: Error) => cb(Object.assign(new Error(`unreadable MIME: ${e.message}`), { responseCode: 554 })),
        );
      });
    },
  });
  const bound = await new Promise<number>((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port)),
  );
  return {
    port: bound,
    received,
    answerReports(iwfMm4Port, skip = () => false) {
      answer = (m) => {
        const isReport = m.type === 'MM4_delivery_report.REQ' || m.type === 'MM4_read_reply_report.REQ';
        if (!isReport || m.headers['x-mms-ack-request']?.toLowerCase() !== 'yes' || skip(m)) return;
        setTimeout(() => void sendMm4(iwfMm4Port, mmscRes(m), { from: MMSC_SYSTEM, to: [answerAddress(m)] }), 10);
      };
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Sends a raw MM4 PDU over SMTP as an MMSC would; resolves with the server's final reply. */
export async function sendMm4(
  port: number,
  raw: string | Buffer,
  envelope: { from: string; to: string[] },
  localAddress = '127.0.0.1',
): Promise<{ ok: true; response: string } | { ok: false; code?: number; response: string }> {
  const t = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    localAddress,
    name: 'mmsc.test',
  });
  try {
    const info = await t.sendMail({ envelope, raw });
    return { ok: true, response: info.response };
  } catch (e) {
    const err = e as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: err.responseCode, response: err.response ?? err.message };
  } finally {
    t.close();
  }
}

/** An MM4_forward.REQ like the vector mm4-forward-req-text.eml, with the fields tests vary. */
export function forwardReq(o: {
  messageId: string;
  transactionId?: string;
  from?: string;
  to?: string[];
  text?: string;
  subject?: string;
  ack?: boolean;
  deliveryReport?: boolean;
  readReply?: boolean;
  originatorSystem?: string;
  extra?: string[];
}): string {
  const to = o.to ?? ['+12025550199/TYPE=PLMN@mms.iwf.example.net'];
  return [
    `From: ${o.from ?? '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs'}`,
    `To: ${to.join(', ')}`,
    `Sender: ${o.originatorSystem ?? 'system-user@mms.mnc001.mcc001.gprs'}`,
    'Date: Tue, 04 Mar 2025 10:15:02 +0000',
    `Subject: ${o.subject ?? 'Lunch?'}`,
    `Message-ID: <${o.messageId}.rfc822@mms.mnc001.mcc001.gprs>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    'X-Mms-3GPP-MMS-Version: 6.16.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    `X-Mms-Transaction-ID: "${o.transactionId ?? `T-${o.messageId}`}"`,
    `X-Mms-Message-ID: "${o.messageId}"`,
    `X-Mms-Ack-Request: ${o.ack === false ? 'No' : 'Yes'}`,
    `X-Mms-Originator-System: ${o.originatorSystem ?? 'system-user@mms.mnc001.mcc001.gprs'}`,
    `X-Mms-Delivery-Report: ${o.deliveryReport === false ? 'No' : 'Yes'}`,
    `X-Mms-Read-Reply: ${o.readReply ? 'Yes' : 'No'}`,
    'X-Mms-Message-Class: Personal',
    ...(o.extra ?? []),
    '',
    o.text ?? 'Lunch at 12:30? -- Alice',
    '',
  ].join('\r\n');
}
