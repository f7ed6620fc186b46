import { heartbeat } from '@temporalio/activity';
import type { SipEndpoint } from '../clients/sip/endpoint.js';
import type { SipAttemptResult } from '../model/delivery.js';
import { ErrorType } from '../model/errors.js';
import { permanent } from './failures.js';
import { buildCpimMessage, serializeCpim, type Disposition } from '../protocols/cpim/cpim.js';
import { serializeImdn } from '../protocols/cpim/imdn.js';
import { cpmMessageIds, sipBranch } from '../protocols/interworking/ids.js';
import { classifySipStatus } from '../protocols/interworking/sip-status.js';
import type { SipHeader } from '../protocols/sip/message.js';

/** OMA CPM standalone (pager mode) service identifier, protocols.md 5.1. */
export const ICSI_CPM_MSG = 'urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg';
const ANONYMOUS = 'sip:anonymous@anonymous.invalid';

export interface SipDeps {
  endpoint: SipEndpoint;
  domain: string;
  outboundProxy: { host: string; port: number };
  transport: 'udp' | 'tcp';
}

export interface CpmMessageInput {
  workflowId: string;
  attempt: number;
  recipientUri: string;
  senderUri: string;
  disposition: Disposition[];
  subject?: string;
  dateTime: string;
  text: string;
  hideSender: boolean;
}

/** Builds the pager-mode SIP MESSAGE of protocols.md 5.2 (vector sip-message-cpim-text.txt). */
export function buildCpmMessage(a: CpmMessageInput, deps: Pick<SipDeps, 'domain' | 'outboundProxy' | 'transport'>) {
  const ids = cpmMessageIds(a.workflowId, a.recipientUri, deps.domain);
  const cpim = serializeCpim(
    buildCpimMessage({
      // X-Mms-Sender-Visibility: Hide -> anonymous CPIM From; the network still asserts the identity.
      from: a.hideSender ? ANONYMOUS : a.senderUri,
      to: a.recipientUri,
      dateTime: new Date(a.dateTime),
      subject: a.subject,
      imdnMessageId: ids.imdnMessageId,
      disposition: a.disposition,
      contentType: 'text/plain; charset=utf-8',
      body: Buffer.from(a.text, 'utf8'),
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
    { name: 'P-Asserted-Identity', value: `<${a.senderUri}>` },
    ...(a.hideSender ? [{ name: 'Privacy', value: 'id' }] : []),
    { name: 'P-Asserted-Service', value: ICSI_CPM_MSG },
    { name: 'Accept-Contact', value: `*;+g.3gpp.icsi-ref="${encodeURIComponent(ICSI_CPM_MSG)}"` },
    { name: 'Conversation-ID', value: ids.conversationId },
    { name: 'Contribution-ID', value: ids.contributionId },
    { name: 'Content-Type', value: 'message/cpim' },
  ];
  return { ids, headers, body: cpim, branch: sipBranch(a.workflowId, a.recipientUri, a.attempt) };
}

export interface ImdnActivityInput {
  workflowId: string;
  /** The CPM sender of the original message: the notification goes to it. */
  to: string;
  /** The recipient the notification speaks for. */
  from: string;
  originalMessageId: string;
  originalDateTime?: string;
  status: 'delivered' | 'failed' | 'forbidden' | 'error';
}

/**
 * A delivery IMDN as a pager-mode MESSAGE (RFC 5438 7, protocols.md 4.3): From/To reversed, its
 * own imdn.Message-ID, no notification requested, content message/imdn+xml with
 * Content-Disposition: notification.
 */
export function buildImdnMessage(a: ImdnActivityInput, deps: Pick<SipDeps, 'domain' | 'outboundProxy' | 'transport'>) {
  const key = `imdn:${a.status}`;
  const ids = cpmMessageIds(a.workflowId, `${a.to}|${key}`, deps.domain);
  const xml = serializeImdn({
    messageId: a.originalMessageId,
    datetime: a.originalDateTime ?? new Date().toISOString(),
    recipientUri: a.from,
    originalRecipientUri: a.from,
    kind: 'delivery',
    status: a.status,
  });
  const cpim = serializeCpim(
    buildCpimMessage({
      from: a.from,
      to: a.to,
      dateTime: new Date(),
      imdnMessageId: ids.imdnMessageId,
      contentType: 'message/imdn+xml',
      body: Buffer.from(xml, 'utf8'),
      extraContentHeaders: [{ name: 'Content-Disposition', value: 'notification' }],
    }),
  );
  const headers: SipHeader[] = [
    { name: 'Route', value: `<sip:${deps.outboundProxy.host}:${deps.outboundProxy.port};transport=${deps.transport};lr>` },
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
  return {
    /** Sends an IMDN to a CPM user; a refusal or no answer is retried by Temporal. */
    async sendImdn(a: ImdnActivityInput): Promise<{ sipStatus: number }> {
      const msg = buildImdnMessage(a, deps);
      const res = await deps.endpoint.sendRequest(
        { method: 'MESSAGE', uri: a.to, headers: msg.headers, body: msg.body, branch: msg.branch },
        { ...deps.outboundProxy, transport: deps.transport },
      );
      const verdict = classifySipStatus(res.status);
      if (verdict.outcome === 'transient') throw new Error(`IMDN to ${a.to}: SIP ${res.status} ${res.reason}`);
      if (verdict.outcome === 'permanent') throw permanent(ErrorType.SipRejected, `IMDN to ${a.to} refused: SIP ${res.status} ${res.reason}`);
      return { sipStatus: res.status };
    },

    /** Sends one CPIM MESSAGE and waits for the final answer of its SIP transaction. */
    async sendCpmMessage(a: CpmMessageInput): Promise<SipAttemptResult> {
      const msg = buildCpmMessage(a, deps);
      const beat = setInterval(() => heartbeat(), 2000);
      try {
        const res = await deps.endpoint.sendRequest(
          { method: 'MESSAGE', uri: a.recipientUri, headers: msg.headers, body: msg.body, branch: msg.branch },
          { ...deps.outboundProxy, transport: deps.transport },
        );
        const verdict = classifySipStatus(res.status);
        return {
          uri: a.recipientUri,
          outcome: verdict.outcome,
          mm4Status: verdict.mm4Status,
          sipStatus: res.status,
          reason: res.reason,
          imdnMessageId: msg.ids.imdnMessageId,
          callId: msg.ids.callId,
        };
      } finally {
        clearInterval(beat);
      }
    },
  };
}
