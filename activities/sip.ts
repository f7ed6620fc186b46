import { activityInfo, heartbeat, log } from '@temporalio/activity';
import type { SipEndpoint } from '../clients/sip/endpoint.js';
import type { MmsContent, SipAttemptResult } from '../model/delivery.js';
import { FTHTTP_CONTENT_TYPE, serializeFtHttp } from '../protocols/cpim/fthttp.js';
import { mediaUrl } from '../clients/media-store.js';
import { ErrorType } from '../model/errors.js';
import { permanent } from './failures.js';
import { buildCpimMessage, buildImdnCpim, serializeCpim, type Disposition } from '../protocols/cpim/cpim.js';
import { cpmMessageIds, sipBranch } from '../protocols/interworking/ids.js';
import { classifySipStatus } from '../protocols/interworking/sip-status.js';
import { getHeaders, type SipHeader } from '../protocols/sip/message.js';

/** ICSI of OMA CPM standalone (pager mode) messaging (OMA-TS-CPM_Conv_Fnct). */
export const ICSI_CPM_MSG = 'urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg';
const ANONYMOUS = 'sip:anonymous@anonymous.invalid';

export interface SipDeps {
  endpoint: SipEndpoint;
  /** Base URL of the Media Storage Server, for FT-over-HTTP descriptors (known once it listens). */
  mediaPublicUrl: () => string;
  domain: string;
  outboundProxy: { host: string; port: number };
  transport: 'udp' | 'tcp' | 'tls';
}

export interface CpmMessageInput {
  workflowId: string;
  attempt: number;
  recipientUri: string;
  senderUri: string;
  disposition: Disposition[];
  subject?: string;
  dateTime: string;
  content: MmsContent;
  hideSender: boolean;
}

/** One CPM message of a delivery: the text, or one stored media file as an FT-over-HTTP descriptor. */
export type CpmPart = { kind: 'text'; text: string } | { kind: 'file'; file: MmsContent['files'][number] };

/** The CPM messages an MM becomes: its text first (if any), then one file transfer per media part. */
export function cpmParts(content: MmsContent): CpmPart[] {
  const parts: CpmPart[] = content.text ? [{ kind: 'text', text: content.text }] : [];
  for (const file of content.files) parts.push({ kind: 'file', file });
  return parts.length ? parts : [{ kind: 'text', text: '' }];
}

/** RCS FT-over-HTTP IARI (GSMA RCC.07): asks the core for a client that can take it. */
const IARI_FTHTTP = 'urn:urn-7:3gpp-application.ims.iari.rcs.fthttp';

function partBody(part: CpmPart, publicUrl: string): { contentType: string; body: Buffer } {
  if (part.kind === 'text') return { contentType: 'text/plain; charset=utf-8', body: Buffer.from(part.text, 'utf8') };
  const { file, thumbnail, playingLengthMs } = part.file;
  const voice = playingLengthMs !== undefined;
  const xml = serializeFtHttp({
    file: {
      url: mediaUrl(publicUrl, file),
      until: file.expiresAt,
      size: file.size,
      name: file.name,
      // Audio messages (RCC.07): the voice-recording marker and the playing length.
      contentType: voice ? `${file.contentType};voice-recording=yes` : file.contentType,
      ...(voice ? { playingLengthMs } : {}),
    },
    ...(thumbnail
      ? {
          thumbnail: {
            url: mediaUrl(publicUrl, thumbnail),
            until: thumbnail.expiresAt,
            size: thumbnail.size,
            contentType: thumbnail.contentType,
          },
        }
      : {}),
  });
  return { contentType: FTHTTP_CONTENT_TYPE, body: Buffer.from(xml, 'utf8') };
}

/**
 * Builds a pager-mode SIP MESSAGE (RFC 3428 + CPIM, like test/fixtures/sip-message-cpim-text.txt) for
 * part `index` of the delivery to one recipient. Ids derive from workflow, recipient and part.
 */
export function buildCpmMessage(
  a: CpmMessageInput,
  deps: Pick<SipDeps, 'domain' | 'outboundProxy' | 'transport' | 'mediaPublicUrl'>,
  part: CpmPart = cpmParts(a.content)[0],
  index = 0,
) {
  const key = index === 0 ? a.recipientUri : `${a.recipientUri}#${index}`;
  const ids = cpmMessageIds(a.workflowId, key, deps.domain);
  const { contentType, body } = partBody(part, deps.mediaPublicUrl());
  const cpim = serializeCpim(
    buildCpimMessage({
      // X-Mms-Sender-Visibility: Hide -> anonymous CPIM From; the network still asserts the identity.
      from: a.hideSender ? ANONYMOUS : a.senderUri,
      to: a.recipientUri,
      dateTime: new Date(a.dateTime),
      subject: a.subject,
      imdnMessageId: ids.imdnMessageId,
      disposition: a.disposition,
      contentType,
      body,
    }),
  );
  const proxy = deps.outboundProxy;
  const headers: SipHeader[] = [
    // RFC 3261 8.1.2: the outbound proxy is the first (loose) route of every request we originate.
    { name: 'Route', value: `<sip:${proxy.host}:${proxy.port};transport=${deps.transport};lr>` },
    { name: 'From', value: `<${a.hideSender ? ANONYMOUS : a.senderUri}>;tag=${ids.fromTag}` },
    { name: 'To', value: `<${a.recipientUri}>` },
    { name: 'Call-ID', value: ids.callId },
    // One Call-ID per recipient; each attempt is the next CSeq (RFC 3261 8.1.1.5).
    { name: 'CSeq', value: `${a.attempt} MESSAGE` },
    { name: 'P-Asserted-Identity', value: assertedIdentity(a.senderUri) },
    ...(a.hideSender ? [{ name: 'Privacy', value: 'id' }] : []),
    { name: 'P-Asserted-Service', value: ICSI_CPM_MSG },
    { name: 'Accept-Contact', value: `*;+g.3gpp.icsi-ref="${encodeURIComponent(ICSI_CPM_MSG)}"` },
    ...(part.kind === 'file'
      ? [{ name: 'Accept-Contact', value: `*;+g.3gpp.iari-ref="${encodeURIComponent(IARI_FTHTTP)}";require;explicit` }]
      : []),
    { name: 'Conversation-ID', value: ids.conversationId },
    { name: 'Contribution-ID', value: ids.contributionId },
    { name: 'Content-Type', value: 'message/cpim' },
  ];
  return { ids, headers, body: cpim, branch: sipBranch(a.workflowId, key, a.attempt) };
}

/**
 * P-Asserted-Identity for our sender: a `sip:+E164@...;user=phone` URI also in its tel form, the
 * one sip and one tel value RFC 3325 9.1 allows, so nodes that key on either find the number.
 */
export function assertedIdentity(senderUri: string): string {
  const number = /^sip:(\+\d{3,15})@[^;>]+;(?:[^;>]*;)*user=phone(?:;|$)/i.exec(senderUri)?.[1];
  return number ? `<${senderUri}>, <tel:${number}>` : `<${senderUri}>`;
}

/** A 415 whose Accept lists text/plain but not message/cpim (e.g. baresip). */
function refusesCpimForText(res: { status: number; headers: SipHeader[] }): boolean {
  if (res.status !== 415) return false;
  const accept = getHeaders(res.headers, 'Accept')
    .flatMap((v) => v.split(','))
    .map((v) => v.split(';')[0].trim().toLowerCase());
  return accept.includes('text/plain') && !accept.includes('message/cpim');
}

/**
 * The same part as a plain RFC 3428 MESSAGE with a text/plain body, for clients without CPIM: a
 * file becomes a line with its name and download link. A request of its own (Call-ID, tag and
 * branch derived from the part's key plus `#plain`), so a retry is again a retransmission.
 */
export function buildPlainTextMessage(
  a: CpmMessageInput,
  deps: Pick<SipDeps, 'domain' | 'outboundProxy' | 'transport' | 'mediaPublicUrl'>,
  part: CpmPart,
  index: number,
) {
  const key = `${index === 0 ? a.recipientUri : `${a.recipientUri}#${index}`}#plain`;
  const ids = cpmMessageIds(a.workflowId, key, deps.domain);
  const cpm = buildCpmMessage(a, deps, part, index);
  const text =
    part.kind === 'text'
      ? part.text
      : `${part.file.file.name ?? 'file'}: ${mediaUrl(deps.mediaPublicUrl(), part.file.file)}`;
  const headers = cpm.headers
    .filter((h) => !/^(content-type|accept-contact|call-id|from|conversation-id|contribution-id)$/i.test(h.name))
    .concat([
      { name: 'From', value: `<${a.hideSender ? ANONYMOUS : a.senderUri}>;tag=${ids.fromTag}` },
      { name: 'Call-ID', value: ids.callId },
      { name: 'Content-Type', value: 'text/plain;charset=UTF-8' },
    ]);
  return { ids, headers, body: Buffer.from(text, 'utf8'), branch: sipBranch(a.workflowId, key, a.attempt) };
}

export interface ImdnActivityInput {
  workflowId: string;
  /** The CPM sender of the original message: the notification goes to it. */
  to: string;
  /** The recipient the notification speaks for. */
  from: string;
  originalMessageId: string;
  originalDateTime?: string;
  kind?: 'delivery' | 'display' | 'processing';
  status: 'delivered' | 'failed' | 'forbidden' | 'error' | 'displayed' | 'processed';
}

/**
 * A delivery IMDN as a pager-mode MESSAGE (RFC 5438 7.2.1.1): From/To reversed, its
 * own imdn.Message-ID, no notification requested, content message/imdn+xml with
 * Content-Disposition: notification.
 */
export function buildImdnMessage(a: ImdnActivityInput, deps: Pick<SipDeps, 'domain' | 'outboundProxy' | 'transport'>) {
  const kind = a.kind ?? 'delivery';
  const key = `imdn:${kind}:${a.status}`;
  const ids = cpmMessageIds(a.workflowId, `${a.to}|${key}`, deps.domain);
  const cpim = serializeCpim(
    buildImdnCpim({
      from: a.from,
      to: a.to,
      dateTime: new Date(),
      imdnMessageId: ids.imdnMessageId,
      notification: {
        messageId: a.originalMessageId,
        datetime: a.originalDateTime ?? new Date().toISOString(),
        recipientUri: a.from,
        originalRecipientUri: a.from,
        ...(kind === 'display'
          ? { kind: 'display' as const, status: a.status === 'displayed' ? ('displayed' as const) : ('error' as const) }
          : kind === 'processing'
            ? // RFC 5438 §5.1 processing notification: <processed/> or <error/> (e.g. the MMSC's .RES).
              {
                kind: 'processing' as const,
                status: a.status === 'processed' ? ('processed' as const) : ('error' as const),
              }
            : {
                kind: 'delivery' as const,
                status: a.status === 'displayed' || a.status === 'processed' ? ('error' as const) : a.status,
              }),
      },
    }),
  );
  const headers: SipHeader[] = [
    {
      name: 'Route',
      value: `<sip:${deps.outboundProxy.host}:${deps.outboundProxy.port};transport=${deps.transport};lr>`,
    },
    { name: 'From', value: `<${a.from}>;tag=${ids.fromTag}` },
    { name: 'To', value: `<${a.to}>` },
    { name: 'Call-ID', value: ids.callId },
    { name: 'CSeq', value: '1 MESSAGE' },
    { name: 'P-Asserted-Identity', value: `<${a.from}>` },
    { name: 'P-Asserted-Service', value: ICSI_CPM_MSG },
    { name: 'Content-Type', value: 'message/cpim' },
  ];
  return { headers, body: cpim, branch: sipBranch(a.workflowId, `${a.to}|${key}`, 1), ids };
}

export function createSipActivities(deps: SipDeps) {
  const dest = { ...deps.outboundProxy, transport: deps.transport };
  /**
   * One MESSAGE in its own client transaction. A failure (refusal, Timer F 408, transport 503) is
   * logged with what identifies the request on the wire, so an operator can find it in a trace.
   */
  async function send(uri: string, msg: { headers: SipHeader[]; body: Buffer; branch: string }) {
    const res = await deps.endpoint.sendRequest({ method: 'MESSAGE', uri, ...msg }, dest);
    if (res.status >= 300) {
      const h = (n: string) => msg.headers.find((x) => x.name.toLowerCase() === n)?.value;
      log.warn('SIP MESSAGE failed', {
        method: 'MESSAGE',
        callId: h('call-id'),
        cseq: h('cseq'),
        destination: `${dest.host}:${dest.port}`,
        // As sent: a UDP request over 1300 bytes went over TCP (RFC 3261 18.1.1).
        transport: res.transport,
        status: res.status,
        reason: res.reason,
      });
    }
    return res;
  }
  const isLocalActivity = () => {
    try {
      return activityInfo().isLocal;
    } catch {
      return false; // called outside an activity (tests)
    }
  };
  return {
    /** Sends an IMDN to a CPM user; a refusal or no answer is retried by Temporal. */
    async sendImdn(a: ImdnActivityInput): Promise<{ sipStatus: number }> {
      const msg = buildImdnMessage(a, deps);
      const res = await send(a.to, msg);
      const verdict = classifySipStatus(res.status);
      if (verdict.outcome === 'transient') throw new Error(`IMDN to ${a.to}: SIP ${res.status} ${res.reason}`);
      if (verdict.outcome === 'permanent')
        throw permanent(ErrorType.SipRejected, `IMDN to ${a.to} refused: SIP ${res.status} ${res.reason}`);
      return { sipStatus: res.status };
    },

    /**
     * Sends the delivery's CPM messages to one recipient (text, then one file transfer per media
     * part), each awaited to the final answer of its SIP transaction; stops at the first refusal,
     * whose answer is the result. A retry resends them with the same imdn.Message-IDs.
     */
    async sendCpmMessage(a: CpmMessageInput): Promise<SipAttemptResult> {
      // A local activity cannot heartbeat: the workflow task that runs it is its liveness.
      const beat = isLocalActivity() ? undefined : setInterval(() => heartbeat(), 2000);
      try {
        let result: SipAttemptResult | undefined;
        let plain = false;
        for (const [i, part] of cpmParts(a.content).entries()) {
          let msg = plain ? buildPlainTextMessage(a, deps, part, i) : buildCpmMessage(a, deps, part, i);
          let res = await send(a.recipientUri, msg);
          if (!plain && refusesCpimForText(res)) {
            // RFC 3261 21.4.16: the client listed what it takes; a text/plain-only client gets
            // the text itself, and the rest of the delivery's parts as text with their links.
            plain = true;
            msg = buildPlainTextMessage(a, deps, part, i);
            res = await send(a.recipientUri, msg);
          }
          const verdict = classifySipStatus(res.status);
          result = {
            uri: a.recipientUri,
            outcome: verdict.outcome,
            mm4Status: verdict.mm4Status,
            sipStatus: res.status,
            reason: res.reason,
            imdnMessageId: msg.ids.imdnMessageId,
            callId: msg.ids.callId,
            ...(plain
              ? { note: 'sent as text/plain: the recipient refused message/cpim (415) and accepts text/plain' }
              : {}),
          };
          if (verdict.outcome !== 'accepted') break;
        }
        return result!;
      } finally {
        clearInterval(beat);
      }
    },
  };
}
