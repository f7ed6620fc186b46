import { heartbeat } from '@temporalio/activity';
import type { SipEndpoint } from '../clients/sip/endpoint.js';
import type { SipAttemptResult } from '../model/delivery.js';
import { buildCpimMessage, serializeCpim, type Disposition } from '../protocols/cpim/cpim.js';
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

export function createSipActivities(deps: SipDeps) {
  return {
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
