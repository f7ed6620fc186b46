import { SMTPServer } from 'smtp-server';
import nodemailer from 'nodemailer';
import { mm4AnswerAddress, mm4AnswerTo, type Mm4Req } from '../../protocols/mm4/answer.js';
import { parseMm4, serializeMm4, type Mm4ForwardReq, type Mm4MmStatus, type Mm4Pdu, type Mm4RequestStatus } from '../../protocols/mm4/pdu.js';

const MMSC_SYSTEM = 'system-user@mms.mnc001.mcc001.gprs';

export interface ReceivedMm4 {
  from: string;
  to: string[];
  raw: Buffer;
  pdu: Mm4Pdu;
}

/** The `.RES` an MMSC answers one of the IWF's requests with (protocols/mm4/answer.ts), as bytes. */
export function mmscRes(req: Mm4Req, status = 'Ok', statusText?: string): Buffer {
  return serializeMm4(mm4AnswerTo(req, { status: status as Mm4RequestStatus, statusText, from: MMSC_SYSTEM }));
}

/**
 * The report an MMSC sends about an MM the IWF forwarded to it (23.140 8.4.3, 8.4.4): from the
 * recipient back to the original sender, same X-Mms-Message-ID, an ack requested.
 */
export function mmscReport(
  req: Mm4ForwardReq,
  report: { type: 'MM4_delivery_report.REQ'; mmStatus: string; extension?: string } | { type: 'MM4_read_reply_report.REQ'; readStatus: 'Read' },
  transactionId: string,
): Buffer {
  const common = {
    version: '6.16.0',
    transactionId,
    messageId: req.messageId,
    idsQuoted: true,
    from: req.to[0],
    to: [req.from],
    sender: MMSC_SYSTEM,
    date: new Date(),
    ackRequest: true,
    originatorSystem: MMSC_SYSTEM,
    extraHeaders: [],
  };
  return serializeMm4(
    report.type === 'MM4_delivery_report.REQ'
      ? { ...common, type: report.type, mmStatus: report.mmStatus as Mm4MmStatus, mmStatusExtension: report.extension }
      : { ...common, type: report.type, readStatus: report.readStatus },
  );
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
 * (MM4_forward.RES, reports) and answers SMTP 250.
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
        const raw = Buffer.concat(chunks);
        const parsed = parseMm4(raw);
        if (!parsed.ok) return cb(Object.assign(new Error(`bad MM4: ${parsed.error}`), { responseCode: 554 }));
        const m: ReceivedMm4 = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          pdu: parsed.pdu,
        };
        received.push(m);
        onReceive?.(m);
        answer?.(m);
        cb();
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
        const pdu = m.pdu;
        if ((pdu.type !== 'MM4_delivery_report.REQ' && pdu.type !== 'MM4_read_reply_report.REQ') || !pdu.ackRequest || skip(m)) return;
        setTimeout(() => void sendMm4(iwfMm4Port, mmscRes(pdu), { from: MMSC_SYSTEM, to: [mm4AnswerAddress(pdu)] }), 10);
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
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, localAddress, name: 'mmsc.test' });
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
