import { createHash } from 'node:crypto';
import { BlockList, isIPv6 } from 'node:net';
import type { CpmDirectory } from '../clients/cpm-directory.js';
import type { SipEndpoint } from '../clients/sip/endpoint.js';
import { parseCpim, uriOf } from '../protocols/cpim/cpim.js';
import { parseImdn } from '../protocols/cpim/imdn.js';
import { readCpmMessage } from '../protocols/interworking/cpm-intake.js';
import { idPart, workflowIdFromImdnId } from '../protocols/interworking/ids.js';
import { parseContentType } from '../protocols/mime/headers.js';
import { selectInterworking, type IsfPolicy } from '../protocols/interworking/isf.js';
import { ACCEPT_ENCODING, decodeSipBody } from '../protocols/sip/content-encoding.js';
import { getHeader, type SipRequest } from '../protocols/sip/message.js';
import type { ResponseSpec } from '../protocols/sip/response.js';
import { cpmToMmsWorkflowId } from '../workflows/messages.js';
import { unboundedAdmission, type AdmissionGauge } from './admission.js';
import { DispatchRefused, DispatchUnavailable, type Dispatcher } from './dispatch.js';

const ALLOW = 'MESSAGE, OPTIONS';

/** Largest body we inflate a compressed request to (pager mode stays far below it, RFC 3428 6). */
const MAX_INFLATED_BYTES = 1024 * 1024;

/** Matches sources against `sip.trusted` (exact IPs or CIDR); an empty list trusts loopback only. */
export function trustedSources(entries: string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const e of entries.length ? entries : ['127.0.0.0/8', '::1']) {
    const [addr, bits] = e.split('/');
    const fam = isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits !== undefined) list.addSubnet(addr, Number(bits), fam);
    else list.addAddress(addr, fam);
  }
  return (ip) => {
    const plain = ip.replace(/^::ffff:/, '');
    return list.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4');
  };
}

export interface SipIngressOptions {
  trusted: string[];
  directory: CpmDirectory;
  isf: IsfPolicy;
  dispatcher: Dispatcher;
  /** Bound on deliveries accepted but not yet routed (ingress.maxInFlight); default unbounded. */
  admission?: AdmissionGauge;
  /** Retry-After (seconds) of a 503 over that bound (ingress.retryAfter); default 30. */
  retryAfterSeconds?: number;
  /** Per-delivery limits copied into each workflow input. */
  mm4Ack: { timeoutMs: number; maxAttempts: number };
  reportWaitMs: number;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Refusals by reason and 503 try-later answers (worker/metrics.ts). */
  metrics?: {
    ingressRefused(protocol: 'sip', reason: string): void;
    pushBack(protocol: 'sip', code: number, reason: string): void;
  };
}

/** Workflow id for a MESSAGE; the sender is hashed: ids and search must not carry phone numbers. */
export function cpmDeliveryId(senderUri: string, imdnMessageId: string): string {
  return cpmToMmsWorkflowId(
    createHash('sha256').update(senderUri).digest('base64url').slice(0, 16),
    idPart(imdnMessageId),
  );
}

/**
 * The SIP front-end toward the IMS core (the ISC side of the IWF). Only trusted nodes may talk
 * to it (others 403, RFC 3261 21.4.4). A pager-mode MESSAGE (RFC 3428) is validated, put to the
 * Interworking Selection Function, and answered 202 Accepted only once its cpmToMms delivery is
 * durably started (or found, for a re-sent MESSAGE); 503 with Retry-After when Temporal cannot be
 * reached. OPTIONS keep-alives get 200 with our Allow list (RFC 3261 11.2).
 */
export function attachSipIngress(endpoint: SipEndpoint, o: SipIngressOptions) {
  const isTrusted = trustedSources(o.trusted);
  const admission = o.admission ?? unboundedAdmission();
  const retryAfter = o.retryAfterSeconds ?? 30;
  const refused = (reason: string) => o.metrics?.ingressRefused('sip', reason);
  const pushBack = (reason: string) => o.metrics?.pushBack('sip', 503, reason);

  /**
   * An IMDN from a CPM recipient (CPIM with message/imdn+xml, RFC 5438 7) about a message the IWF
   * sent for an MMS: routed by its <message-id>, which encodes the delivery (protocols/interworking/ids.ts).
   */
  async function onImdn(body: Buffer, req: SipRequest) {
    const xml = parseCpim(body);
    const n = xml.ok
      ? parseImdn(xml.message.content.body.toString('utf8'))
      : { ok: false as const, error: xml.ok ? '' : xml.error };
    if (!n.ok) {
      refused('bad_imdn');
      return { status: 400, reason: `Bad Request (IMDN: ${n.error})` };
    }
    const workflowId = workflowIdFromImdnId(n.notification.messageId);
    const from = getHeader(req.headers, 'P-Asserted-Identity') ?? getHeader(req.headers, 'From') ?? '';
    const recipientUri = n.notification.recipientUri ?? (from.includes('<') ? uriOf(from) : '');
    const signalled = workflowId
      ? await o.dispatcher.signalImdn(workflowId, {
          recipientUri,
          kind: n.notification.kind,
          status: n.notification.status,
          imdnMessageId: n.notification.messageId,
          receivedAt: new Date().toISOString(),
        })
      : 'unknown';
    o.log.info(
      { workflowId, imdnMessageId: n.notification.messageId, status: n.notification.status, signalled },
      'IMDN received',
    );
    // An IMDN for a delivery that ended (e.g. displayed after the expiry) is taken and dropped:
    // refusing it would only make the client retry.
    if (signalled === 'ended') return { status: 202, reason: 'Accepted (delivery already ended)' };
    if (signalled === 'delivered') return { status: 202 };
    refused('no_delivery');
    return { status: 404, reason: 'Not Found (no delivery for this IMDN)' };
  }

  async function onMessage(req: SipRequest) {
    // Disposition notifications about messages we sent are routed, not interworked.
    if (parseContentType(getHeader(req.headers, 'Content-Type')).mediaType === 'message/cpim') {
      const cpim = parseCpim(req.body);
      const inner = cpim.ok
        ? cpim.message.content.headers.find((h) => h.name.toLowerCase() === 'content-type')?.value
        : undefined;
      if (inner && parseContentType(inner).mediaType === 'message/imdn+xml') {
        try {
          return await onImdn(req.body, req);
        } catch (e) {
          if (!(e instanceof DispatchUnavailable)) throw e;
          pushBack('unavailable');
          return {
            status: 503,
            reason: 'Service Unavailable (delivery store unreachable)',
            headers: [{ name: 'Retry-After', value: '30' }],
          };
        }
      }
    }
    const intake = readCpmMessage(req, new Date());
    if (!intake.ok) {
      refused('invalid_message');
      return { status: intake.status, reason: intake.reason, headers: intake.headers };
    }
    const { input, recipientNumber } = intake;
    const isCpm = recipientNumber ? await o.directory.isCpmUser(recipientNumber) : false;
    const decision = selectInterworking(
      {
        recipientNumber,
        recipientIsCpmUser: isCpm,
        contentType: input.cpm.contentType,
        sizeBytes: input.cpm.sizeBytes,
        fileBytes: input.cpm.file?.size,
      },
      o.isf,
    );
    if (!decision.interwork) {
      o.log.info(
        { status: decision.sipStatus, reason: decision.reason, imdnMessageId: input.cpm.imdnMessageId },
        'ISF: not interworked',
      );
      refused('not_interworked');
      const accept = decision.sipStatus === 415 ? [{ name: 'Accept', value: 'message/cpim' }] : undefined;
      return { status: decision.sipStatus ?? 403, reason: `Not Interworked (${decision.reason})`, headers: accept };
    }
    const workflowId = cpmDeliveryId(input.cpm.senderUri, input.cpm.imdnMessageId);
    // A new delivery only under ingress.maxInFlight; over it 503 with Retry-After (RFC 3261 21.5.4,
    // 20.33), which the core may retry elsewhere or later. IMDNs above are never held back: they
    // report on existing deliveries and let them finish.
    const ticket = admission.tryAdmit();
    if (!ticket) {
      pushBack('overloaded');
      return {
        status: 503,
        reason: 'Service Unavailable (overloaded)',
        headers: [{ name: 'Retry-After', value: String(retryAfter) }],
      };
    }
    try {
      const how = await o.dispatcher.startCpmToMms(
        workflowId,
        { ...input, mm4Ack: o.mm4Ack, reportWaitMs: o.reportWaitMs },
        `CPM→MMS ${input.cpm.imdnMessageId}: ${decision.reason}`,
      );
      ticket.settle(how, workflowId);
      o.log.info({ workflowId, imdnMessageId: input.cpm.imdnMessageId, how }, 'CPM MESSAGE accepted for MMS');
      return { status: 202 };
    } catch (e) {
      ticket.settle('failed');
      if (e instanceof DispatchRefused) {
        refused('store_refused');
        return { status: 400, reason: 'Bad Request (delivery refused by the store)' };
      }
      if (!(e instanceof DispatchUnavailable)) throw e;
      pushBack('unavailable');
      o.log.warn({ error: e.message }, 'CPM MESSAGE deferred: Temporal unavailable');
      return {
        status: 503,
        reason: 'Service Unavailable (delivery store unreachable)',
        headers: [{ name: 'Retry-After', value: '30' }],
      };
    }
  }

  async function answer(req: SipRequest, info: { remote: { host: string } }): Promise<ResponseSpec> {
    if (!isTrusted(info.remote.host)) {
      refused('untrusted');
      return { status: 403, reason: 'Forbidden (untrusted source)' };
    }
    if (req.method === 'OPTIONS') {
      return {
        status: 200,
        headers: [
          { name: 'Allow', value: ALLOW },
          { name: 'Accept', value: 'message/cpim' },
          { name: 'Accept-Encoding', value: ACCEPT_ENCODING },
        ],
      };
    }
    if (req.method !== 'MESSAGE') {
      refused('method_not_allowed');
      return { status: 405, headers: [{ name: 'Allow', value: ALLOW }] };
    }
    // RFC 3261 20.12: an encoded body (liblinphone deflates its IMDNs) is read decoded.
    const decoded = decodeSipBody(req.headers, req.body, MAX_INFLATED_BYTES);
    if (!decoded.ok) {
      refused('bad_encoding');
      return { status: decoded.status, reason: decoded.reason, headers: decoded.headers };
    }
    return onMessage(decoded.encodings.length ? { ...req, body: decoded.body } : req);
  }

  // A refusal is logged once, with the request's Call-ID, CSeq, source, transport, content type
  // and encoding, by the server transaction that writes it (clients/sip/server-transactions.ts).
  endpoint.onRequest((req, info) => answer(req, info));
}
