import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { MediaStore } from '../clients/media-store.js';
import type { SmtpClient } from '../clients/smtp.js';
import type { Mm4Status } from '../model/mm4-status.js';
import { idPart, originatorKey, rfc822MessageId } from '../protocols/interworking/ids.js';
import type { RetryPolicy } from '../model/delivery.js';
import { mm4RulesOf, type Mm4Peer } from '../model/peer.js';
import { forwardReqToInput, refusedToInput, type IntakeContext } from '../protocols/interworking/mm4-intake.js';
import { parseMm4, serializeMm4, type Mm4DeliveryReportReq, type Mm4ReadReplyReportReq } from '../protocols/mm4/pdu.js';
import { mm4AnswerAddress, mm4AnswerTo } from '../protocols/mm4/answer.js';
import { mmsToCpmWorkflowId } from '../workflows/messages.js';
import { unboundedAdmission, type AdmissionGauge, type AdmissionTicket } from './admission.js';
import { DispatchRefused, DispatchUnavailable, type Dispatcher } from './dispatch.js';
import { peerForSource } from './peers.js';
import { peerForPdu, routeMm4Pdu } from './routes.js';
import { EnvelopeQualifier, InterposedSocket } from './smtp-envelope.js';

export interface Mm4ServerOptions {
  listen: { host: string; port: number };
  domain: string;
  maxMessageBytes: number;
  peers: Mm4Peer[];
  retry: RetryPolicy;
  mm4Ack: { timeoutMs: number; maxAttempts: number };
  defaultExpiryMs: number;
  maxExpiryMs?: number;
  dispatcher: Dispatcher;
  /** Our certificate and key (PEM, config mm4.tls): with them STARTTLS is offered (RFC 3207). */
  tls?: { cert: string; key: string };
  /** Bound on deliveries accepted but not yet routed (ingress.maxInFlight); default unbounded. */
  admission?: AdmissionGauge;
  /** Inbound SMTP connections from all peers at once (mm4.maxConnections); more get 421. Absent: no limit. */
  maxConnections?: number;
  /** Where the raw PDU is stored before the delivery starts (claim check). */
  media: MediaStore;
  mediaTtlMs: number;
  /** For the `.RES` answers to reports (23.140 8.4.3/8.4.4): our system address and SMTP client. */
  replies: { smtp: SmtpClient; systemAddress: string; domain: string };
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
  /** PDUs in by type, refusals by reason, try-later answers (worker/metrics.ts). */
  metrics?: {
    mm4Pdu(direction: 'in', type: string): void;
    ingressRefused(protocol: 'smtp', reason: string): void;
    pushBack(protocol: 'smtp', code: number, reason: string): void;
  };
}

/** An SMTP reply: smtp-server turns an Error's responseCode into the reply code. */
function reply(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/** Recipients taken per SMTP transaction (RFC 5321 4.5.3.1.8: at least 100). */
const MAX_RECIPIENTS = 100;

function readAll(stream: SMTPServerDataStream, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    stream.on('end', () => resolve(stream.sizeExceeded || size > limit ? undefined : Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/**
 * The MM4 front-end: an SMTP server for the configured MMSC peers (3GPP TS 23.140 clause 8.4).
 * Each PDU is its own SMTP transaction. The SMTP 250 means "durably ours": it is given only after
 * Temporal has recorded the delivery (started, or found running for the same message); 4xx when
 * Temporal cannot be reached so the MMSC retries; 5xx for what can never succeed.
 */
export function createMm4Server(o: Mm4ServerOptions) {
  const ctx = (session: SMTPServerSession, peer: string): IntakeContext => ({
    peer,
    receivedAt: new Date(),
    envelopeRecipients: session.envelope.rcptTo.map((r) => r.address),
    retry: o.retry,
    mm4Ack: o.mm4Ack,
    defaultExpiryMs: o.defaultExpiryMs,
    maxExpiryMs: o.maxExpiryMs,
  });

  /** Each dialect habit of a peer is logged once (not once per PDU); bounded so no peer can grow it. */
  const toleratedSeen = new Set<string>();
  function noteDialect(peer: string, pdu: { tolerated?: string[]; unreadable?: { header: string; reason: string }[] }) {
    const habits = [
      ...(pdu.tolerated ?? []),
      ...(pdu.unreadable ?? []).map((u) => `unreadable ${u.header}: ${u.reason}`),
    ];
    for (const habit of habits) {
      const key = `${peer}|${habit.replace(/'[^']*'/g, "'…'")}`;
      if (toleratedSeen.has(key) || toleratedSeen.size >= 10_000) continue;
      toleratedSeen.add(key);
      o.log.info({ peer, habit }, 'MM4 dialect tolerated (logged once per peer)');
    }
  }

  /** Every peer whose `allow` admits this source address, in config order. */
  const peersAt = (source: string) => o.peers.filter((p) => peerForSource([p], source));

  const admission = o.admission ?? unboundedAdmission();
  /**
   * A new delivery is taken only under ingress.maxInFlight. Over it: 451 4.3.2 (RFC 3463 "system
   * not accepting network messages"), a transient reply, so the MMSC keeps the PDU and retries
   * (RFC 5321 4.2.5, 4.5.4.1). Decided at the end of DATA, where the PDU type is known: reports
   * and answers for existing deliveries are still taken, since they let deliveries finish.
   */
  async function admitted<T extends 'started' | 'existing'>(
    start: () => Promise<T>,
    workflowId: () => string,
  ): Promise<T> {
    const ticket: AdmissionTicket | undefined = admission.tryAdmit();
    if (!ticket) {
      o.metrics?.pushBack('smtp', 451, 'overloaded');
      throw reply(451, '4.3.2 System not accepting network messages');
    }
    try {
      const how = await start();
      ticket.settle(how, workflowId());
      return how;
    } catch (e) {
      ticket.settle('failed');
      throw e;
    }
  }

  /**
   * Open connections, per peer (the first whose `allow` matches the source) and in all, by
   * session id. Over a limit the connection gets 421 4.3.2 and is closed (RFC 5321 3.8: a server
   * that must not take the session answers 421), so one MMSC cannot hold every descriptor.
   */
  const openByPeer = new Map<string, number>();
  const sessionPeer = new Map<string, string>();
  function takeConnection(session: SMTPServerSession, peer: Mm4Peer): boolean {
    const mine = openByPeer.get(peer.name) ?? 0;
    if (peer.maxConnections !== undefined && mine >= peer.maxConnections) return false;
    if (o.maxConnections !== undefined && sessionPeer.size >= o.maxConnections) return false;
    openByPeer.set(peer.name, mine + 1);
    sessionPeer.set(session.id, peer.name);
    return true;
  }
  function dropConnection(session: SMTPServerSession) {
    const name = sessionPeer.get(session.id);
    if (name === undefined) return;
    sessionPeer.delete(session.id);
    openByPeer.set(name, (openByPeer.get(name) ?? 1) - 1);
  }

  async function handle(
    raw0: Buffer,
    session: SMTPServerSession,
    candidates: Mm4Peer[],
    matched: (p: Mm4Peer) => void,
  ): Promise<string> {
    const parsed = parseMm4(raw0);
    // Among the peers at this source, the one whose domains the PDU names (ingress/routes.ts).
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined;
    const peer = peerForPdu(candidates, parsed.ok ? parsed.pdu : parsed.partial, mailFrom)!;
    matched(peer);
    const log = { peer: peer.name, remote: session.remoteAddress };
    o.metrics?.mm4Pdu('in', parsed.ok ? parsed.pdu.type : 'malformed');
    if (!parsed.ok) {
      const p = parsed.partial;
      const answerable = p.type === 'MM4_forward.REQ' && p.transactionId && p.originatorSystem && p.ackRequest;
      o.log.warn({ ...log, error: parsed.error, status: parsed.status }, 'malformed MM4 PDU');
      if (!answerable) {
        o.metrics?.ingressRefused('smtp', 'malformed');
        throw reply(554, `5.6.0 MM4 ${parsed.status}: ${parsed.error}`);
      }
      // Identifiable enough to answer in MM4 terms: a durable delivery that sends the error .RES.
      const id = mmsToCpmWorkflowId(
        originatorKey(p.originatorSystem!),
        idPart(p.messageId ?? `transaction:${p.transactionId}`),
      );
      const input = refusedToInput(p, parsed.status, parsed.error, ctx(session, peer.name));
      await admitted(
        () => o.dispatcher.startMmsToCpm(id, input, `MM4 request refused: ${parsed.status}`),
        () => id,
      );
      return `2.0.0 accepted for an MM4 ${parsed.status} answer`;
    }
    const pdu = parsed.pdu;
    noteDialect(peer.name, pdu);
    if (pdu.type === 'MM4_forward.REQ') {
      let id = '';
      const how = await admitted(
        async () => {
          // Stored first: the workflow carries only the reference; a failed store means "try again".
          const raw = await o.media.put(raw0, {
            contentType: 'message/rfc822',
            name: 'mm4-forward-req.eml',
            ttlMs: o.mediaTtlMs,
          });
          const input = forwardReqToInput(pdu, raw, ctx(session, peer.name));
          id = mmsToCpmWorkflowId(originatorKey(input.mm4.originatorSystem ?? peer.name), idPart(pdu.messageId));
          const summary = `MMS→CPM ${pdu.messageId} from ${peer.name} to ${input.mm4.recipients.length} recipient(s)`;
          return o.dispatcher.startMmsToCpm(id, input, summary);
        },
        () => id,
      );
      o.log.info(
        { ...log, workflowId: id, mm4MessageId: pdu.messageId, mm4TransactionId: pdu.transactionId, how },
        'MM4_forward.REQ accepted',
      );
      return `2.0.0 queued as ${id}`;
    }
    const route = routeMm4Pdu(pdu);
    const delivered = route ? await o.dispatcher.signalMm4(route.workflowId, route.signal) : 'unknown';
    const isReport = pdu.type === 'MM4_delivery_report.REQ' || pdu.type === 'MM4_read_reply_report.REQ';
    if (isReport && pdu.ackRequest) {
      // The report is durably with its delivery (signal), or its delivery ended (a report after the
      // final one changes nothing), or it is unknown: either way the MMSC gets its .RES.
      const status: Mm4Status = delivered === 'unknown' ? 'Error-message-not-found' : 'Ok';
      answerReport(pdu, peer, status).catch((e: Error) =>
        o.log.warn(
          { ...log, error: e.message, type: pdu.type },
          'report .RES not sent; the MMSC will retry the report',
        ),
      );
    }
    if (delivered === 'ended') {
      o.log.info(
        { ...log, workflowId: route!.workflowId, type: pdu.type, mm4MessageId: pdu.messageId },
        'MM4 PDU for a finished delivery: nothing to do',
      );
      return `2.0.0 ${pdu.type} for a finished delivery, nothing to do`;
    }
    if (delivered === 'unknown') {
      // An answer to something this IWF sent whose delivery is gone from Temporal: nothing to do.
      if (route && pdu.type.endsWith('.RES')) return `2.0.0 ${pdu.type} for a finished delivery, nothing to do`;
      o.log.warn({ ...log, type: pdu.type, mm4MessageId: pdu.messageId }, 'MM4 PDU for no known delivery');
      if (isReport && pdu.ackRequest) return `2.0.0 ${pdu.type} answered Error-message-not-found`;
      o.metrics?.ingressRefused('smtp', 'no_delivery');
      throw reply(550, `5.1.1 ${pdu.type} for ${pdu.messageId} matches no delivery of this IWF`);
    }
    o.log.info(
      { ...log, workflowId: route!.workflowId, type: pdu.type, mm4MessageId: pdu.messageId },
      'MM4 PDU routed',
    );
    return `2.0.0 ${pdu.type} routed`;
  }

  /**
   * MM4_delivery_report.RES / MM4_read_reply_report.RES to the reporter's originator system when a
   * mailbox, else to the peer's `systemAddress` (mm4.peers[].mm4), else its Sender or From.
   */
  async function answerReport(pdu: Mm4DeliveryReportReq | Mm4ReadReplyReportReq, peer: Mm4Peer, status: Mm4Status) {
    const rules = mm4RulesOf(peer);
    const to = mm4AnswerAddress(pdu, rules);
    const rfc822Id = rfc822MessageId(o.replies.domain, pdu.type.replace('.REQ', '.RES'), pdu.transactionId);
    const raw = serializeMm4(
      mm4AnswerTo(pdu, {
        status,
        from: o.replies.systemAddress,
        sender: o.replies.systemAddress,
        rfc822MessageId: rfc822Id,
        rules,
      }),
    );
    await o.replies.smtp.send({ ...peer.smtp, from: o.replies.systemAddress, to: [to], raw });
  }

  // STARTTLS only with our own certificate (mm4.tls): smtp-server's bundled one has expired
  // (docs/tooling-notes.md) and would be offered to every peer otherwise.
  const disabledCommands = o.tls ? ['AUTH'] : ['STARTTLS', 'AUTH'];
  /**
   * Bare envelope addresses are qualified on the cleartext command stream only. The stream starts
   * in cleartext (no implicit TLS, no PROXY header); after a STARTTLS the rewriter passes the TLS
   * bytes through untouched (ingress/smtp-envelope.ts), so inside TLS bare addresses get 501.
   */
  const cleartextOnly = true;
  /** RFC 3207 4: a peer configured `tls: required` must be inside TLS before MAIL FROM. */
  const tlsRequiredFrom = (source: string) => peersAt(source).some((p) => p.tls?.mode === 'required');
  const server = new SMTPServer({
    ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : {}),
    name: o.domain,
    banner: 'MM4 interworking function',
    size: o.maxMessageBytes,
    authOptional: true,
    disabledCommands,
    logger: false,
    onConnect(session, cb) {
      const peer = peerForSource(o.peers, session.remoteAddress);
      if (!peer) {
        o.log.warn({ remote: session.remoteAddress }, 'MM4 connection from a source no peer allows');
        o.metrics?.ingressRefused('smtp', 'peer_not_allowed');
        return cb(reply(554, '5.7.1 not an allowed MM4 peer'));
      }
      if (!takeConnection(session, peer)) {
        o.log.warn(
          { peer: peer.name, remote: session.remoteAddress, open: openByPeer.get(peer.name), all: sessionPeer.size },
          'MM4 connection refused: too many connections',
        );
        o.metrics?.pushBack('smtp', 421, 'connections');
        return cb(reply(421, '4.3.2 Too many connections, try later'));
      }
      cb();
    },
    onClose(session) {
      dropConnection(session);
    },
    onMailFrom(_address, session, cb) {
      // RFC 3207 4: "530 5.7.0 Must issue a STARTTLS command first" to a peer whose policy
      // requires TLS; any peer at that source requiring it counts (the source is what identifies it).
      if (!session.secure && tlsRequiredFrom(session.remoteAddress)) {
        o.log.warn({ remote: session.remoteAddress }, 'MM4 MAIL FROM before STARTTLS from a peer that requires TLS');
        o.metrics?.ingressRefused('smtp', 'tls_required');
        return cb(reply(530, '5.7.0 Must issue a STARTTLS command first'));
      }
      cb();
    },
    onRcptTo(_address, session, cb) {
      // RFC 5321 4.5.3.1.8/4.5.3.1.10: a server must take 100 recipients and answers 452 beyond what
      // it takes; the MMSC sends the rest in another transaction, and the workflow input stays bounded.
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
        o.metrics?.ingressRefused('smtp', 'too_many_recipients');
        return cb(reply(452, '4.5.3 Too many recipients'));
      }
      cb();
    },
    onData(stream, session, cb) {
      const candidates = peersAt(session.remoteAddress);
      // The peer the PDU turned out to be from (by domain); until it is read, the source's first.
      let peer = candidates[0];
      readAll(stream, o.maxMessageBytes)
        .then(async (raw) => {
          if (!raw) {
            o.metrics?.ingressRefused('smtp', 'too_large');
            return cb(reply(552, `5.3.4 message exceeds ${o.maxMessageBytes} bytes`));
          }
          cb(null, await handle(raw, session, candidates, (p) => (peer = p)));
        })
        .catch((e: unknown) => {
          if ((e as { responseCode?: number }).responseCode) return cb(e as Error);
          if (e instanceof DispatchRefused) {
            // Permanent: the same PDU would be refused again (RFC 5321 4.2.1: 5yz, do not retry).
            o.log.warn({ peer: peer.name, error: e.message }, 'MM4 PDU refused by the delivery store');
            o.metrics?.ingressRefused('smtp', 'store_refused');
            return cb(reply(554, '5.6.0 MM4 Error-message-format-corrupt: delivery refused by the store'));
          }
          if (e instanceof DispatchUnavailable) {
            o.log.warn({ peer: peer.name, error: e.message }, 'MM4 PDU deferred: Temporal unavailable');
            o.metrics?.pushBack('smtp', 451, 'unavailable');
            return cb(reply(451, '4.3.0 delivery store unavailable, try again later'));
          }
          o.log.error({ peer: peer.name, error: (e as Error).message }, 'MM4 PDU failed');
          o.metrics?.pushBack('smtp', 451, 'error');
          cb(reply(451, '4.3.0 temporary failure, try again later'));
        });
    },
  });
  server.on('error', (e) => o.log.error({ error: e.message }, 'MM4 server error'));

  /**
   * smtp-server's listener gets each socket from an allowed peer through a rewriter that qualifies
   * bare envelope addresses (`MAIL FROM:<+12025550100>`, which smtp-server refuses with 501) with
   * that peer's first domain (ingress/smtp-envelope.ts), handed over with SMTPServer.connect(); any
   * other socket takes smtp-server's own path (its onConnect refuses it). The net.Server stays
   * smtp-server's, so listen, close and its connection accounting are unchanged.
   */
  const qualifiedSeen = new Set<string>();
  const [ownAccept] = server.server.listeners('connection') as ((socket: Socket) => void)[];
  function accept(socket: Socket) {
    const remoteAddress = socket.remoteAddress ?? '';
    const peer = peersAt(remoteAddress)[0];
    const domain = peer?.domains[0];
    if (!peer || !domain || !cleartextOnly) return ownAccept.call(server.server, socket);
    const qualifier = new EnvelopeQualifier(domain, (command) => {
      // The command only (MAIL FROM / RCPT TO), not the subscriber's number.
      const name = command.split(':')[0].trim().toUpperCase();
      const key = `${peer.name}|${name}`;
      if (qualifiedSeen.has(key) || qualifiedSeen.size >= 10_000) return;
      qualifiedSeen.add(key);
      o.log.info(
        { peer: peer.name, remote: remoteAddress, command: name, domain },
        'MM4 envelope address without a domain qualified (logged once per peer)',
      );
    });
    server.connect(new InterposedSocket(socket, qualifier) as unknown as Socket, {
      remoteAddress,
      remotePort: socket.remotePort,
      localAddress: socket.localAddress,
      localPort: socket.localPort,
    });
  }
  if (ownAccept) {
    server.server.removeListener('connection', ownAccept);
    server.server.on('connection', accept);
  }

  return {
    listen(): Promise<{ host: string; port: number }> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(o.listen.port, o.listen.host, () => {
          const addr = server.server.address();
          resolve({ host: o.listen.host, port: typeof addr === 'object' && addr ? addr.port : o.listen.port });
        });
      });
    },
    close(): Promise<void> {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
