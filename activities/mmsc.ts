import { ApplicationFailure, Context } from '@temporalio/activity';
import { RateLimiter } from '../clients/rate-limit.js';
import { SmtpEnvelopeError, SmtpSendError, type SmtpClient } from '../clients/smtp.js';
import type { MediaStore } from '../clients/media-store.js';
import type { AdaptedContent, CpmToMmsInput, Mm4Route } from '../model/delivery.js';
import { buildMmContent } from '../protocols/mime/smil-build.js';
import type { Mm4Status } from '../model/mm4-status.js';
import { ErrorType } from '../model/errors.js';
import { mintMm4Id, rfc822MessageId } from '../protocols/interworking/ids.js';
import type { Mm4Pdu } from '../protocols/mm4/pdu.js';
import { answerAddress } from '../protocols/mm4/answer.js';
import {
  mailboxOrThrow,
  Mm4AddressError,
  qualifyMm4Address,
  writeMm4,
  type Mm4Written,
} from '../protocols/mm4/serialize.js';
import {
  mm4RulesOf,
  type MessageTooLargeDetails,
  type Mm4Peer,
  type Mm4PeerLimits,
  type Mm4Rules,
} from '../model/peer.js';
import { permanent, smtpFailure } from './failures.js';

export type { MessageTooLargeDetails, Mm4PeerLimits };

export interface MmscDeps {
  smtp: SmtpClient;
  media: MediaStore;
  mm4: { domain: string; systemAddress: string; peers: Mm4Peer[] };
  /** Paces PDUs per peer (mm4.peers[].maxPerSecond); default one for this worker process. */
  rateLimiter?: RateLimiter;
}

/**
 * How long a send may wait for its peer's turn: half of what is left of this attempt's
 * startToClose, the rest being for SMTP. A later turn fails the attempt (retryable, the retry
 * policy's backoff spaces it) instead of running into the timeout.
 */
function paceBudgetMs(): number {
  try {
    const { info } = Context.current();
    return Math.max(0, info.startToCloseTimeoutMs / 2 - (Date.now() - info.currentAttemptScheduledTimestampMs));
  } catch {
    return 30_000; // called outside an activity (tests)
  }
}

export interface ForwardResInput {
  peer: string;
  originatorSystem?: string;
  /** The request's Sender and From: where the .RES goes when neither Originator-System nor the peer's systemAddress is a mailbox. */
  sender?: string;
  from?: string;
  version: string;
  transactionId: string;
  messageId: string;
  /** The request's quoting style, echoed in the answer. */
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
  /** Not used any more: a report is a PDU we originate, its ids are quoted as the peer's `quoteIds` rule says. */
  idsQuoted?: boolean;
  originalSender: string;
  /** The original MM's X-Mms-Originator-System: where the report goes when the original sender is no mailbox. */
  originatorSystem?: string;
  /** The recipient whose status is reported (report From). */
  recipient: string;
  kind: 'delivery' | 'read';
  /** X-Mms-MM-Status-Code (delivery) or X-Mms-Read-Status (read). */
  status: string;
  statusText?: string;
}

export interface ReportResult {
  transactionId: string;
  /**
   * Whether the report asked for a .RES (X-Mms-Ack-Request: Yes; the peer's rule `reportAck`). When
   * false nobody answers it: do not wait for a .RES, do not resend it.
   */
  ackRequested: boolean;
}

export interface ForwardReqInput {
  workflowId: string;
  attempt: number;
  route: Mm4Route;
  request: CpmToMmsInput;
  content: AdaptedContent;
}

export interface ForwardReqResult {
  transactionId: string;
  /** Bytes of the MM4_forward.REQ as written to SMTP DATA. */
  sentBytes: number;
  /** What the peer's rules could not have as asked (e.g. 8bit without 8BITMIME), for the audit trail. */
  notes: string[];
}

/**
 * What an MM4_forward.REQ to `peer` must fit as sent: min(content class, EHLO SIZE), and how its
 * media parts will be encoded. For adaptation: a part's body budget is
 * `bodyBudgetBytes(limitBytes, overhead, partEncoding)` (protocols/mm4/serialize.ts).
 */
export async function peerLimits(peer: Mm4Peer, smtp: SmtpClient): Promise<Mm4PeerLimits> {
  const rules = mm4RulesOf(peer);
  const caps = await smtp.capabilities(peer.smtp);
  const notes: string[] = [];
  if (!caps.known) notes.push(`EHLO of ${peer.smtp.host}:${peer.smtp.port} could not be read: its SIZE is unknown`);
  let partEncoding = rules.binaryEncoding;
  if (partEncoding === '8bit') {
    partEncoding = 'base64';
    notes.push(
      caps.eightBitMime
        ? 'binaryEncoding 8bit: media bytes (NUL, bare CR/LF) are rarely 8bit data (RFC 2045 2.8), budgeted as base64'
        : "binaryEncoding 8bit, but the peer's EHLO has no 8BITMIME (RFC 6152): base64",
    );
  }
  const contentClassBytes = peer.accepts.maxMessageBytes;
  return {
    peer: peer.name,
    limitBytes: Math.min(contentClassBytes, caps.sizeLimit ?? Infinity),
    contentClassBytes,
    ...(caps.sizeLimit ? { smtpSizeBytes: caps.sizeLimit } : {}),
    partEncoding,
    eightBitMime: caps.eightBitMime,
    capabilitiesKnown: caps.known,
    notes,
  };
}

/** The failure the workflow adapts on: type MessageTooLarge, details[0] a {@link MessageTooLargeDetails}. */
function tooLarge(what: string, d: MessageTooLargeDetails): ApplicationFailure {
  const why = d.smtpCode
    ? `refused for its size with SMTP ${d.smtpCode}`
    : `over the SIZE ${d.limitBytes} the peer advertises (RFC 1870), not sent`;
  return ApplicationFailure.create({
    type: ErrorType.MessageTooLarge,
    nonRetryable: true,
    message: `${what}: ${d.sentBytes} B ${why}; fit it within ${d.limitBytes} B (${d.limitSource})`,
    details: [d],
  });
}

/** A PDU's addresses cannot be written (23.140 8.4 needs mailboxes): retrying cannot fix it. */
function addressFailure(e: unknown): unknown {
  return e instanceof Mm4AddressError || e instanceof SmtpEnvelopeError
    ? permanent(ErrorType.MalformedMessage, e.message)
    : e;
}

/** {@link smtpFailure}, and an envelope that was never a mailbox is permanent. */
function sendFailure(e: unknown, what: string): unknown {
  return e instanceof SmtpEnvelopeError ? addressFailure(e) : smtpFailure(e, what);
}

export function createMmscActivities(deps: MmscDeps) {
  const rate = deps.rateLimiter ?? new RateLimiter();
  const paced = (peer: Mm4Peer) => rate.acquire(peer.name, peer.maxPerSecond, paceBudgetMs());
  const peerNamed = (name: string, address?: string) => {
    const peer = findPeer(deps.mm4.peers, name, address);
    if (!peer) throw permanent(ErrorType.Misconfigured, `no mm4.peers entry named '${name}'`);
    return peer;
  };
  const write = (pdu: Mm4Pdu, peer: Mm4Peer, rules: Mm4Rules, eightBitMime?: boolean): Mm4Written => {
    try {
      return writeMm4(pdu, {
        rules,
        domains: { peer: peer.domains[0], own: deps.mm4.domain },
        ...(eightBitMime === undefined ? {} : { smtp: { eightBitMime } }),
      });
    } catch (e) {
      throw addressFailure(e);
    }
  };

  return {
    /** The limits an MM4_forward.REQ to this peer must fit as sent (see {@link peerLimits}). */
    async mm4PeerLimits({ peer }: { peer: string }): Promise<Mm4PeerLimits> {
      return peerLimits(peerNamed(peer), deps.smtp);
    },

    /**
     * MM4_delivery_report.REQ / MM4_read_reply_report.REQ to the originator MMSE (23.140 8.4.2,
     * 8.4.3): From the reported recipient, To the original sender (a bare number gets the peer's
     * first domain; no mailbox at all: the answer address of the original MM), our system as
     * originator. An ack is requested unless the peer's `reportAck` is `none`; the transaction id
     * routes the .RES back.
     */
    async sendMm4Report(a: ReportInput): Promise<ReportResult> {
      const peer = peerNamed(a.peer, a.originalSender);
      const rules = mm4RulesOf(peer);
      const to =
        qualifyMm4Address(a.originalSender, peer.domains[0]) ??
        answerAddress({ originatorSystem: a.originatorSystem }, rules);
      if (!to) {
        throw permanent(
          ErrorType.MalformedMessage,
          `${a.kind} report to ${peer.name}: original sender '${a.originalSender.slice(0, 80)}' is no mailbox and no originator system or mm4.peers[].mm4.systemAddress is one`,
        );
      }
      const transactionId = mintMm4Id(a.workflowId, `r${a.n}`);
      const ackRequested = rules.reportAck === 'request';
      const common = {
        version: a.version || '6.16.0',
        transactionId,
        messageId: a.messageId,
        idsQuoted: rules.quoteIds,
        from: a.recipient,
        to: [to],
        sender: deps.mm4.systemAddress,
        date: new Date(),
        rfc822MessageId: rfc822MessageId(deps.mm4.domain, 'report', a.workflowId, String(a.n)),
        ackRequest: ackRequested,
        originatorSystem: deps.mm4.systemAddress,
        statusText: a.statusText,
        extraHeaders: [],
      };
      const { raw } = write(
        a.kind === 'delivery'
          ? {
              ...common,
              type: 'MM4_delivery_report.REQ',
              mmStatus: a.status as 'Retrieved',
              forwardToOriginatorUa: true,
            }
          : { ...common, type: 'MM4_read_reply_report.REQ', readStatus: a.status as 'Read' },
        peer,
        rules,
      );
      await paced(peer);
      try {
        await deps.smtp.send({ ...peer.smtp, from: deps.mm4.systemAddress, to: [to], raw });
      } catch (e) {
        throw sendFailure(e, `${a.kind} report to ${peer.name}`);
      }
      return { transactionId, ackRequested };
    },

    /**
     * MM4_forward.REQ toward the recipient's MMSC (23.140 8.4.1, docs/interworking.md): our system as
     * X-Mms-Originator-System with an ack requested; report flags from the CPIM disposition
     * request; a fresh X-Mms-Transaction-ID per attempt, the same X-Mms-Message-ID on every resend;
     * written with the peer's rules. A PDU over the peer's EHLO SIZE is not sent, and a 552 from
     * the peer is not retried: both throw MessageTooLarge with {@link MessageTooLargeDetails}.
     */
    async sendMm4Forward({ workflowId, attempt, route, request, content }: ForwardReqInput): Promise<ForwardReqResult> {
      const peer = deps.mm4.peers.find((p) => p.name === route.peer);
      if (!peer) throw permanent(ErrorType.Misconfigured, `no mm4.peers entry named '${route.peer}'`);
      const rules = mm4RulesOf(peer);
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
      let to: string, from: string;
      try {
        to = mailboxOrThrow('RCPT TO', route.to, peer.domains[0]);
        from = mailboxOrThrow('MAIL FROM', route.from, deps.mm4.domain);
      } catch (e) {
        throw addressFailure(e);
      }
      const caps = await deps.smtp.capabilities(peer.smtp);
      const written = write(
        {
          type: 'MM4_forward.REQ',
          version: '6.16.0',
          transactionId,
          messageId: route.messageId,
          idsQuoted: rules.quoteIds,
          from,
          to: [to],
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
        },
        peer,
        rules,
        caps.eightBitMime,
      );
      const sentBytes = written.raw.length;
      const what = `MM4_forward.REQ to ${peer.name}`;
      const cap = (n: number) => Math.min(n, peer.accepts.maxMessageBytes);
      if (caps.sizeLimit && sentBytes > caps.sizeLimit) {
        throw tooLarge(what, { limitBytes: cap(caps.sizeLimit), sentBytes, limitSource: 'smtp-size' });
      }
      await paced(peer);
      try {
        await deps.smtp.send({ ...peer.smtp, from, to: [to], raw: written.raw, body: written.body });
      } catch (e) {
        if (e instanceof SmtpSendError && e.sizeRefused) {
          // The limit may have changed since the cached EHLO: read it again.
          const fresh = await deps.smtp.capabilities(peer.smtp, { fresh: true });
          const advertised = fresh.sizeLimit && fresh.sizeLimit < sentBytes ? fresh.sizeLimit : undefined;
          throw tooLarge(what, {
            limitBytes: cap(advertised ?? Math.floor((sentBytes * 3) / 4)),
            sentBytes,
            limitSource: advertised ? 'smtp-size' : 'estimate',
            ...(e.responseCode ? { smtpCode: e.responseCode } : {}),
          });
        }
        throw sendFailure(e, what);
      }
      return { transactionId, sentBytes, notes: written.notes };
    },

    /**
     * MM4_forward.RES: a new SMTP transaction to the request's answer address (23.140 8.4.1: its
     * X-Mms-Originator-System when a mailbox, else the peer's systemAddress, else its Sender/From),
     * echoing the request's transaction and message ids in its quoting style.
     */
    async sendMm4ForwardRes(a: ForwardResInput): Promise<void> {
      const peer = peerNamed(a.peer, a.originatorSystem);
      const rules = mm4RulesOf(peer);
      const to = answerAddress(a, rules);
      if (!to) {
        throw permanent(
          ErrorType.MalformedMessage,
          a.originatorSystem
            ? `X-Mms-Originator-System '${a.originatorSystem.slice(0, 80)}' is no mailbox, and neither mm4.peers[].mm4.systemAddress nor Sender/From is one: no MM4_forward.RES`
            : 'no X-Mms-Originator-System (nor mm4.peers[].mm4.systemAddress, Sender or From) to send MM4_forward.RES to',
        );
      }
      const { raw } = write(
        {
          type: 'MM4_forward.RES',
          version: a.version || '6.16.0',
          transactionId: a.transactionId,
          messageId: a.messageId,
          idsQuoted: a.idsQuoted,
          from: deps.mm4.systemAddress,
          to: [to],
          sender: deps.mm4.systemAddress,
          date: new Date(),
          rfc822MessageId: rfc822MessageId(deps.mm4.domain, 'forward.RES', a.peer, a.transactionId, a.messageId),
          requestStatus: a.status,
          statusText: a.statusText,
          extraHeaders: [],
        },
        peer,
        rules,
      );
      await paced(peer);
      try {
        await deps.smtp.send({ ...peer.smtp, from: deps.mm4.systemAddress, to: [to], raw });
      } catch (e) {
        throw sendFailure(e, `MM4_forward.RES to ${peer.name}`);
      }
    },
  };
}
