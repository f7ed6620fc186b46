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
  /** Whether it came inside TLS (STARTTLS, RFC 3207), as smtp-server's session says. */
  secure?: boolean;
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
  /**
   * X-Mms-Status, the MM1 name of a report's status (OMA MMS ENC), which MMSCs with the
   * `statusOnly` habit read instead of X-Mms-MM-Status-Code / X-Mms-Read-Status.
   */
  status?: string;
}

/**
 * Habits of a real MMSC's MM4 dialect, each off unless set; the test MMSC speaks them on both the
 * PDUs it writes (builders below take them) and what it does with the IWF's PDUs (startFakeMmsc).
 */
export interface MmscHabits {
  /** Its system mailbox: From/Sender of its answers, MAIL FROM of what it sends (default {@link MMSC_SYSTEM}). */
  system?: string;
  /**
   * X-Mms-Originator-System of the requests it sends, when that is no mailbox, e.g.
   * `system=mmsc.vc.test;party=+12025550100`; its requests then carry no Sender (as such MMSCs do).
   */
  originatorSystem?: string;
  /**
   * Its reports carry X-Mms-Status only, the MM1 name of their status (OMA MMS ENC): a delivery
   * report no X-Mms-MM-Status-Code, a read report no X-Mms-Read-Status (`X-Mms-Status: Read`).
   */
  statusOnly?: boolean;
  /** Never answers the IWF's reports with a .RES, whatever they ask. */
  neverAnswersReports?: boolean;
  /** Date and X-Mms-Expiry in RFC 3339 (`2025-03-04T10:15:02Z`) instead of RFC 5322 3.3. */
  rfc3339Dates?: boolean;
  /** Refuses an MM4_forward.REQ whose content is not multipart with SMTP `550 Message rejected`. */
  multipartOnly?: boolean;
  /** The SIZE it advertises in EHLO and enforces (RFC 1870; smtp-server `size`). */
  sizeLimit?: number;
  /**
   * Enforces `sizeLimit` (SMTP 552 after DATA) without advertising it: its EHLO says `SIZE` with no
   * number, which RFC 1870 §4 reads as no fixed maximum (smtp-server `hideSize`).
   */
  hideSize?: boolean;
  /**
   * Sends its MM4_forward.RES (see {@link FakeMmsc.answerForwards}) from within the SMTP DATA of
   * the REQ, before the IWF's DATA gets its 250: the answer overtakes the send.
   */
  resBeforeOk?: boolean;
  /**
   * Its envelope addresses carry no domain (`MAIL FROM:<+12025550100>`, `RCPT TO:<+12025550199>`);
   * nodemailer does not write such an envelope, {@link sendMm4Bare} does. It applies to what the
   * MMSC sends ({@link sendAsMmsc}: its reports, its `.RES`): a number loses its domain, its system
   * mailbox becomes the `party=` number of its X-Mms-Originator-System, another mailbox stays.
   */
  bareEnvelope?: boolean;
  /**
   * Offers STARTTLS (RFC 3207) with this certificate (smtp-server `key`/`cert`); its own answers to
   * the IWF then go with STARTTLS required, the IWF's certificate verified against `ca`.
   */
  tls?: { cert: string; key: string; ca: string };
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
    status: headers['x-mms-status'],
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
/** RFC 3339 §5.6 date-time, UTC, whole seconds (the `rfc3339Dates` habit). */
const rfc3339Date = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
/** A date as the MMSC with these habits writes it. */
const dateOf = (h: MmscHabits | undefined, d = new Date()) => (h?.rfc3339Dates ? rfc3339Date(d) : rfc5322Date(d));
const systemOf = (h: MmscHabits | undefined) => h?.system ?? MMSC_SYSTEM;
const domainOfSystem = (h: MmscHabits | undefined) => systemOf(h).split('@')[1] ?? MMSC_DOMAIN;
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
export function mmscRes(req: ReceivedMm4, status = 'Ok', statusText?: string, habits?: MmscHabits): Buffer {
  if (!/^MM4_(forward|delivery_report|read_reply_report)\.REQ$/.test(req.type))
    throw new TypeError(`mmscRes: ${req.type} is not answered`);
  return pduText([
    `From: ${systemOf(habits)}`,
    `To: ${answerAddress(req)}`,
    `Sender: ${systemOf(habits)}`,
    `Date: ${dateOf(habits)}`,
    `Message-ID: <res-${randomUUID()}@${domainOfSystem(habits)}>`,
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
  habits?: MmscHabits,
): Buffer {
  return pduText([
    `From: ${mm.to[0]}`,
    `To: ${mm.from}`,
    habits?.originatorSystem ? undefined : `Sender: ${systemOf(habits)}`,
    `Date: ${dateOf(habits)}`,
    `Message-ID: <report-${randomUUID()}@${domainOfSystem(habits)}>`,
    'MIME-Version: 1.0',
    'X-Mms-3GPP-MMS-Version: 6.16.0',
    `X-Mms-Message-Type: ${report.type}`,
    `X-Mms-Transaction-ID: "${transactionId}"`,
    `X-Mms-Message-ID: "${mm.messageId}"`,
    'X-Mms-Ack-Request: Yes',
    `X-Mms-Originator-System: ${habits?.originatorSystem ?? systemOf(habits)}`,
    ...(report.type === 'MM4_delivery_report.REQ'
      ? [
          habits?.statusOnly ? `X-Mms-Status: ${report.mmStatus}` : `X-Mms-MM-Status-Code: ${report.mmStatus}`,
          report.extension === undefined ? undefined : `X-Mms-MM-Status-Extension: ${report.extension}`,
        ]
      : [habits?.statusOnly ? `X-Mms-Status: ${report.readStatus}` : `X-Mms-Read-Status: ${report.readStatus}`]),
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
  /**
   * From now on answer every MM4_forward.REQ that asks for an ack with the `.RES` `status` picks
   * (undefined: no answer) to the IWF's MM4 port: shortly after the 250, or, with the
   * `resBeforeOk` habit, before it. The SMTP results of these answers are in `answers`.
   */
  answerForwards(iwfMm4Port: number, status?: (m: ReceivedMm4) => string | undefined): void;
  /** What the IWF replied to the .RES this MMSC sent (answerReports, answerForwards), in order. */
  answers: { transactionId?: string; type: string; result: Awaited<ReturnType<typeof sendAsMmsc>> }[];
  /** PDUs it refused (habits such as multipartOnly), with the SMTP reply it gave. */
  refused: { pdu: ReceivedMm4; code: number; response: string }[];
  /**
   * Changes its habits from now on (for SIZE: its open SMTP sessions end, the next one reads the new
   * EHLO); returns what restores them. Lets one running MMSC speak a habit for one test; the
   * habits object it was started with is the one changed.
   */
  setHabits(patch: Partial<MmscHabits>): () => void;
  close(): Promise<void>;
}

/**
 * A real SMTP listener standing in for an MMSC: it records every MM4 PDU the IWF sends it
 * (MM4_forward.REQ and .RES, reports) and answers SMTP 250; what is not MM4 gets 554.
 */
export async function startFakeMmsc(
  port = 0,
  onReceive?: (m: ReceivedMm4) => void,
  habits: MmscHabits = {},
): Promise<FakeMmsc> {
  const received: ReceivedMm4[] = [];
  const answers: FakeMmsc['answers'] = [];
  const refused: FakeMmsc['refused'] = [];
  let answer: ((m: ReceivedMm4) => void) | undefined;
  let answerForward: ((m: ReceivedMm4) => Promise<void> | undefined) | undefined;
  /** Sends one of its .RES to the IWF and records the IWF's SMTP reply. */
  const sendRes = async (iwfMm4Port: number, m: ReceivedMm4, raw: Buffer) => {
    const result = await sendAsMmsc(iwfMm4Port, raw, { from: systemOf(habits), to: [answerAddress(m)] }, habits);
    answers.push({ transactionId: m.transactionId, type: m.type.replace(/\.REQ$/, '.RES'), result });
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: habits.tls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    logger: false,
    ...(habits.sizeLimit ? { size: habits.sizeLimit, hideSize: habits.hideSize === true } : {}),
    ...(habits.tls ? { key: habits.tls.key, cert: habits.tls.cert } : {}),
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
            m.secure = session.secure;
            if (stream.sizeExceeded) {
              refused.push({ pdu: m, code: 552, response: 'Message exceeds fixed maximum message size' });
              return cb(Object.assign(new Error('Message exceeds fixed maximum message size'), { responseCode: 552 }));
            }
            if (
              habits.multipartOnly &&
              m.type === 'MM4_forward.REQ' &&
              !m.contentType.mediaType.startsWith('multipart/')
            ) {
              refused.push({ pdu: m, code: 550, response: 'Message rejected' });
              return cb(Object.assign(new Error('Message rejected'), { responseCode: 550 }));
            }
            received.push(m);
            onReceive?.(m);
            answer?.(m);
            const res = answerForward?.(m);
            // The resBeforeOk habit: the IWF's DATA waits for the MMSC's .RES to be through.
            if (res && habits.resBeforeOk)
              return void res.then(
                () => cb(),
                () => cb(),
              );
            cb();
          },
          (e: Error) => cb(Object.assign(new Error(`unreadable MIME: ${e.message}`), { responseCode: 554 })),
        );
      });
    },
  });
  // A client that vanishes mid-session (an IWF killed by a test: ECONNRESET) ends that session only;
  // without a listener smtp-server's 'error' event would end the test process.
  server.on('error', () => undefined);
  const bound = await new Promise<number>((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port)),
  );
  return {
    port: bound,
    received,
    answers,
    refused,
    setHabits(patch) {
      const before = { ...habits };
      const apply = (h: MmscHabits) => {
        for (const k of Object.keys(patch) as (keyof MmscHabits)[]) delete habits[k];
        Object.assign(habits, h);
        // smtp-server reads these per session (EHLO, DATA).
        const options = (server as unknown as { options: { size?: number; hideSize?: boolean } }).options;
        options.size = habits.sizeLimit;
        options.hideSize = habits.hideSize === true;
        // Sessions open now (the IWF pools its SMTP connections) keep the EHLO they were given: an
        // MMSC whose limits change restarts, so they end (421, RFC 5321 §3.8) and the next one reads anew.
        if ('sizeLimit' in patch || 'hideSize' in patch)
          for (const c of (
            server as unknown as { connections: Set<{ send(code: number, text: string): void; close(): void }> }
          ).connections) {
            c.send(421, 'Service closing transmission channel');
            c.close();
          }
      };
      apply({ ...habits, ...patch });
      return () => apply(before);
    },
    answerReports(iwfMm4Port, skip = () => false) {
      answer = (m) => {
        const isReport = m.type === 'MM4_delivery_report.REQ' || m.type === 'MM4_read_reply_report.REQ';
        if (!isReport || m.headers['x-mms-ack-request']?.toLowerCase() !== 'yes' || skip(m)) return;
        if (habits.neverAnswersReports) return;
        setTimeout(() => void sendRes(iwfMm4Port, m, mmscRes(m, 'Ok', undefined, habits)), 10);
      };
    },
    answerForwards(iwfMm4Port, status = () => 'Ok') {
      answerForward = (m) => {
        if (m.type !== 'MM4_forward.REQ' || m.headers['x-mms-ack-request']?.toLowerCase() !== 'yes') return;
        const s = status(m);
        if (s === undefined) return;
        const raw = mmscRes(m, s, `MMSC says ${s}`, habits);
        if (habits.resBeforeOk) return sendRes(iwfMm4Port, m, raw);
        setTimeout(() => void sendRes(iwfMm4Port, m, raw), 20);
        return undefined;
      };
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * Sends a raw MM4 PDU over SMTP as an MMSC would; resolves with the server's final reply. With
 * `tls`: STARTTLS required (RFC 3207), the server's certificate verified against `tls.ca`, the
 * client certificate `tls.cert`/`tls.key` presented when given; else no STARTTLS at all.
 */
export async function sendMm4(
  port: number,
  raw: string | Buffer,
  envelope: { from: string; to: string[] },
  localAddress = '127.0.0.1',
  tls?: { ca: string; cert?: string; key?: string },
): Promise<{ ok: true; response: string } | { ok: false; code?: number; response: string }> {
  const t = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ...(tls ? { requireTLS: true, tls: { ca: tls.ca, cert: tls.cert, key: tls.key } } : { ignoreTLS: true }),
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

/** `+E164` or `+E164/TYPE=PLMN` of a numeric address `...@domain`; undefined for any other mailbox. */
const numberOf = (address: string) => /^(\+?\d{3,15}(?:\/TYPE=PLMN)?)@/i.exec(address)?.[1];

/**
 * Sends a PDU as the MMSC with these habits does. With `bareEnvelope` (and no TLS: the bare
 * dialogue is cleartext) the envelope goes without domains ({@link MmscHabits.bareEnvelope}) through
 * {@link sendMm4Bare}; otherwise through nodemailer ({@link sendMm4}), STARTTLS with `habits.tls`.
 */
export async function sendAsMmsc(
  port: number,
  raw: string | Buffer,
  envelope: { from: string; to: string[] },
  habits: MmscHabits = {},
): Promise<Awaited<ReturnType<typeof sendMm4>> & { envelope: { from: string; to: string[] } }> {
  if (!habits.bareEnvelope || habits.tls) {
    const result = await sendMm4(port, raw, envelope, undefined, habits.tls ? { ca: habits.tls.ca } : undefined);
    return { ...result, envelope };
  }
  const party = /(?:^|;)\s*party\s*=\s*"?(\+?\d{3,15})/i.exec(habits.originatorSystem ?? '')?.[1];
  const bare = (a: string) => numberOf(a) ?? (a === systemOf(habits) && party ? party : a);
  const sent = { from: bare(envelope.from), to: envelope.to.map(bare) };
  const r = await sendMm4Bare(port, raw, sent);
  return /^250 /.test(r.final)
    ? { ok: true, response: r.final, envelope: sent }
    : { ok: false, code: Number(r.final.slice(0, 3)) || undefined, response: r.replies.join(' | '), envelope: sent };
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
  /** The sending MMSC's habits: originator system, no Sender, RFC 3339 Date and X-Mms-Expiry. */
  habits?: MmscHabits;
  /** X-Mms-Expiry as an absolute date (written as the habits say). */
  expiry?: Date;
}): string {
  const to = o.to ?? ['+12025550199/TYPE=PLMN@mms.iwf.example.net'];
  const h = o.habits;
  const originatorSystem = o.originatorSystem ?? h?.originatorSystem ?? h?.system ?? MMSC_SYSTEM;
  const sent = new Date('2025-03-04T10:15:02Z');
  return [
    `From: ${o.from ?? `+12025550101/TYPE=PLMN@${h ? domainOfSystem(h) : MMSC_DOMAIN}`}`,
    `To: ${to.join(', ')}`,
    ...(h?.originatorSystem ? [] : [`Sender: ${originatorSystem}`]),
    `Date: ${dateOf(h, sent)}`,
    ...(o.expiry ? [`X-Mms-Expiry: ${dateOf(h, o.expiry)}`] : []),
    `Subject: ${o.subject ?? 'Lunch?'}`,
    `Message-ID: <${o.messageId}.rfc822@${h ? domainOfSystem(h) : MMSC_DOMAIN}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    'X-Mms-3GPP-MMS-Version: 6.16.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    `X-Mms-Transaction-ID: "${o.transactionId ?? `T-${o.messageId}`}"`,
    `X-Mms-Message-ID: "${o.messageId}"`,
    `X-Mms-Ack-Request: ${o.ack === false ? 'No' : 'Yes'}`,
    `X-Mms-Originator-System: ${originatorSystem}`,
    `X-Mms-Delivery-Report: ${o.deliveryReport === false ? 'No' : 'Yes'}`,
    `X-Mms-Read-Reply: ${o.readReply ? 'Yes' : 'No'}`,
    'X-Mms-Message-Class: Personal',
    ...(o.extra ?? []),
    '',
    o.text ?? 'Lunch at 12:30? -- Alice',
    '',
  ].join('\r\n');
}

/**
 * Sends a raw MM4 PDU as an MMSC with the `bareEnvelope` habit does: the SMTP dialogue written on a
 * plain socket, so the envelope addresses go out as given (no domain). Resolves with every reply.
 */
export async function sendMm4Bare(
  port: number,
  raw: string | Buffer,
  envelope: { from: string; to: string[] },
  localAddress = '127.0.0.1',
): Promise<{ replies: string[]; final: string }> {
  const { connect } = await import('node:net');
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.setEncoding('latin1');
  let buffered = '';
  const replies: string[] = [];
  let waiting: ((r: string) => void) | undefined;
  let seen = 0;
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const r = replies.length > seen ? replies[seen] : undefined;
      if (r !== undefined) return (seen++, resolve(r));
      const onClose = () => reject(new Error(`closed, replies so far: ${replies.join(' | ')}`));
      socket.once('close', onClose);
      waiting = (x) => (socket.off('close', onClose), seen++, resolve(x));
    });
  socket.on('data', (d: string) => {
    buffered += d;
    let m;
    while ((m = /^(\d{3})( [^\n]*|-[^\n]*)?\r?\n/.exec(buffered))) {
      buffered = buffered.slice(m[0].length);
      if (m[2]?.startsWith('-')) continue; // a multi-line reply's continuation
      replies.push(m[0].trimEnd());
      const w = waiting;
      waiting = undefined;
      w?.(replies[replies.length - 1]);
    }
  });
  const say = (line: string) => {
    socket.write(`${line}\r\n`);
    return next();
  };
  try {
    await next(); // 220
    await say('EHLO mmsc.test');
    const from = await say(`MAIL FROM:<${envelope.from}>`);
    if (!from.startsWith('250')) return { replies, final: from };
    for (const to of envelope.to) await say(`RCPT TO:<${to}>`);
    const data = await say('DATA');
    if (!data.startsWith('354')) return { replies, final: data };
    const body = Buffer.isBuffer(raw) ? raw.toString('latin1') : raw;
    const stuffed = body.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    const text = stuffed.endsWith('\r\n') ? stuffed : `${stuffed}\r\n`;
    socket.write(Buffer.from(text, Buffer.isBuffer(raw) ? 'latin1' : 'utf8'));
    const final = await say('.');
    await say('QUIT').catch(() => '');
    return { replies, final };
  } finally {
    socket.destroy();
  }
}
