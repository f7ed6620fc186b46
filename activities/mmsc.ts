import type { SmtpClient } from '../clients/smtp.js';
import type { MediaStore } from '../clients/media-store.js';
import type { AdaptedContent, CpmToMmsInput, Mm4Route } from '../model/delivery.js';
import { buildMmContent } from '../protocols/mime/smil-build.js';
import type { Mm4Status } from '../model/mm4-status.js';
import { ErrorType } from '../model/errors.js';
import { mintMm4Id, rfc822MessageId } from '../protocols/interworking/ids.js';
import { serializeMm4 } from '../protocols/mm4/pdu.js';
import type { Mm4Peer } from '../model/peer.js';
import { permanent, smtpFailure } from './failures.js';

export interface MmscDeps {
  smtp: SmtpClient;
  media: MediaStore;
  mm4: { domain: string; systemAddress: string; peers: Mm4Peer[] };
}

export interface ForwardResInput {
  peer: string;
  originatorSystem?: string;
  version: string;
  transactionId: string;
  messageId: string;
  idsQuoted: boolean;
  status: Mm4Status;
  statusText: string;
}

/** The peer that gets our answer: the one the request came from, else by the system's domain. */
export function findPeer(peers: Mm4Peer[], name: string, address?: string): Mm4Peer | undefined {
  const domain = address?.split('@')[1]?.toLowerCase();
  return peers.find((p) => p.name === name) ?? peers.find((p) => domain && p.domains.includes(domain));
}

export interface ReportInput {
  workflowId: string;
  peer: string;
  /** Which report of this delivery (part of the minted transaction id). */
  n: number;
  version: string;
  /** The original MM's X-Mms-Message-ID and sender (the report goes back to the sender, 23.140 8.4.3). */
  messageId: string;
  idsQuoted: boolean;
  originalSender: string;
  /** The recipient whose status is reported (report From). */
  recipient: string;
  kind: 'delivery' | 'read';
  /** X-Mms-MM-Status-Code (delivery) or X-Mms-Read-Status (read). */
  status: string;
  statusText?: string;
}

export interface ForwardReqInput {
  workflowId: string;
  attempt: number;
  route: Mm4Route;
  request: CpmToMmsInput;
  content: AdaptedContent;
}

export function createMmscActivities(deps: MmscDeps) {
  return {
    /**
     * MM4_delivery_report.REQ / MM4_read_reply_report.REQ to the originator MMSE (23.140 8.4.2,
     * 8.4.3): From the reported recipient, To the original sender, our
     * system as originator with an ack requested; the transaction id routes the .RES back.
     */
    async sendMm4Report(a: ReportInput): Promise<{ transactionId: string }> {
      const peer = findPeer(deps.mm4.peers, a.peer, a.originalSender);
      if (!peer) throw permanent(ErrorType.Misconfigured, `no mm4.peers entry named '${a.peer}'`);
      const transactionId = mintMm4Id(a.workflowId, `r${a.n}`);
      const common = {
        version: a.version || '6.16.0',
        transactionId,
        messageId: a.messageId,
        idsQuoted: a.idsQuoted,
        from: a.recipient,
        to: [a.originalSender],
        sender: deps.mm4.systemAddress,
        date: new Date(),
        rfc822MessageId: rfc822MessageId(deps.mm4.domain, 'report', a.workflowId, String(a.n)),
        ackRequest: true,
        originatorSystem: deps.mm4.systemAddress,
        statusText: a.statusText,
        extraHeaders: [],
      };
      const raw = serializeMm4(
        a.kind === 'delivery'
          ? {
              ...common,
              type: 'MM4_delivery_report.REQ',
              mmStatus: a.status as 'Retrieved',
              forwardToOriginatorUa: true,
            }
          : { ...common, type: 'MM4_read_reply_report.REQ', readStatus: a.status as 'Read' },
      );
      try {
        await deps.smtp.send({ ...peer.smtp, from: deps.mm4.systemAddress, to: [a.originalSender], raw });
      } catch (e) {
        throw smtpFailure(e, `${a.kind} report to ${peer.name}`);
      }
      return { transactionId };
    },

    /**
     * MM4_forward.REQ toward the recipient's MMSC (23.140 8.4.1, docs/interworking.md): our system as
     * X-Mms-Originator-System with an ack requested; report flags from the CPIM disposition
     * request; a fresh X-Mms-Transaction-ID per attempt, the same X-Mms-Message-ID on every resend.
     */
    async sendMm4Forward({
      workflowId,
      attempt,
      route,
      request,
      content,
    }: ForwardReqInput): Promise<{ transactionId: string }> {
      const peer = deps.mm4.peers.find((p) => p.name === route.peer);
      if (!peer) throw permanent(ErrorType.Misconfigured, `no mm4.peers entry named '${route.peer}'`);
      const transactionId = mintMm4Id(workflowId, `t${attempt}`);
      const media = await Promise.all(
        content.parts.map(async (p) => {
          const body = await deps.media.get(p.ref.id);
          if (!body) throw permanent(ErrorType.ContentNotAccepted, `stored part ${p.ref.id} is gone (expired?)`);
          return { contentType: p.contentType, name: p.name, body };
        }),
      );
      const dispo = request.cpm.disposition;
      const date =
        request.cpm.dateTime && !Number.isNaN(Date.parse(request.cpm.dateTime))
          ? new Date(request.cpm.dateTime)
          : new Date(request.receivedAt);
      const raw = serializeMm4({
        type: 'MM4_forward.REQ',
        version: '6.16.0',
        transactionId,
        messageId: route.messageId,
        idsQuoted: true,
        from: route.from,
        to: [route.to],
        cc: [],
        sender: deps.mm4.systemAddress,
        date,
        rfc822MessageId: rfc822MessageId(deps.mm4.domain, 'forward.REQ', workflowId, String(attempt)),
        subject: request.cpm.subject,
        ackRequest: true,
        originatorSystem: deps.mm4.systemAddress,
        // MMS has one delivery-report flag (X-Mms-Delivery-Report, 23.140 8.4.1) for success and failure.
        deliveryReport: dispo.includes('positive-delivery') || dispo.includes('negative-delivery'),
        readReply: dispo.includes('display'),
        messageClass: 'Personal',
        extraHeaders: [],
        content: buildMmContent(content.text, media),
      });
      try {
        await deps.smtp.send({ ...peer.smtp, from: route.from, to: [route.to], raw });
      } catch (e) {
        throw smtpFailure(e, `MM4_forward.REQ to ${peer.name}`);
      }
      return { transactionId };
    },

    /**
     * MM4_forward.RES: a new SMTP transaction to X-Mms-Originator-System (23.140 8.4.1),
     * echoing the request's transaction and message ids.
     */
    async sendMm4ForwardRes(a: ForwardResInput): Promise<void> {
      if (!a.originatorSystem) {
        throw permanent(ErrorType.MalformedMessage, 'no X-Mms-Originator-System to send MM4_forward.RES to');
      }
      const peer = findPeer(deps.mm4.peers, a.peer, a.originatorSystem);
      if (!peer) throw permanent(ErrorType.Misconfigured, `no mm4.peers entry named '${a.peer}'`);
      const raw = serializeMm4({
        type: 'MM4_forward.RES',
        version: a.version || '6.16.0',
        transactionId: a.transactionId,
        messageId: a.messageId,
        idsQuoted: a.idsQuoted,
        from: deps.mm4.systemAddress,
        to: [a.originatorSystem],
        sender: deps.mm4.systemAddress,
        date: new Date(),
        rfc822MessageId: rfc822MessageId(deps.mm4.domain, 'forward.RES', a.peer, a.transactionId, a.messageId),
        requestStatus: a.status,
        statusText: a.statusText,
        extraHeaders: [],
      });
      try {
        await deps.smtp.send({ ...peer.smtp, from: deps.mm4.systemAddress, to: [a.originatorSystem], raw });
      } catch (e) {
        throw smtpFailure(e, `MM4_forward.RES to ${peer.name}`);
      }
    },
  };
}
