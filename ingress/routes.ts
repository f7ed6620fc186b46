import type { Mm4Peer } from '../model/peer.js';
import type { Mm4Pdu } from '../protocols/mm4/pdu.js';
import { workflowIdFromMintedMm4Id } from '../protocols/interworking/ids.js';
import type { Mm4InboundSignal } from '../workflows/messages.js';

/**
 * Which delivery an inbound MM4 answer or report belongs to, with no lookup table:
 * ids the IWF mints encode the workflow id. A `.RES` echoes our
 * X-Mms-Transaction-ID; a report names the X-Mms-Message-ID we gave the MM.
 */
export function routeMm4Pdu(pdu: Mm4Pdu): { workflowId: string; signal: Mm4InboundSignal } | undefined {
  if (pdu.type === 'MM4_forward.REQ') return undefined;
  const isRes = pdu.type.endsWith('.RES');
  const workflowId = workflowIdFromMintedMm4Id(isRes ? pdu.transactionId : pdu.messageId);
  if (!workflowId) return undefined;
  const notes = pduNotes(pdu);
  const status =
    'requestStatus' in pdu
      ? pdu.requestStatus
      : 'mmStatus' in pdu
        ? pdu.mmStatus
        : 'readStatus' in pdu
          ? pdu.readStatus
          : undefined;
  return {
    workflowId,
    signal: {
      type: pdu.type,
      transactionId: pdu.transactionId,
      messageId: pdu.messageId,
      status,
      statusText: 'statusText' in pdu ? pdu.statusText : undefined,
      statusExtension: 'mmStatusExtension' in pdu ? pdu.mmStatusExtension : undefined,
      receivedAt: new Date().toISOString(),
      ...(notes.length ? { notes } : {}),
    },
  };
}

/** At most this many notes travel with one PDU (a signal is history: bounded, whatever a peer writes). */
const MAX_NOTES = 8;

/**
 * What the reader tolerated in a PDU (another MMSC's dialect, 23.140 §8.4 read leniently) and the
 * headers it could not read, one sentence each, for the delivery's audit trail.
 */
export function pduNotes(pdu: Pick<Mm4Pdu, 'tolerated' | 'unreadable'>): string[] {
  return [
    ...(pdu.tolerated ?? []).map((t) => `tolerated: ${t}`),
    ...(pdu.unreadable ?? []).map((u) => `unreadable ${u.header} '${u.value}' (${u.reason}): left out`),
  ].slice(0, MAX_NOTES);
}

/** The domain of an addr-spec (`local@domain`, `<local@domain>`), lower case; none without `@`. */
function domainOf(address: string | undefined): string | undefined {
  const at = address?.lastIndexOf('@') ?? -1;
  if (!address || at < 0) return undefined;
  const d = address
    .slice(at + 1)
    .replace(/[>\s].*$/, '')
    .replace(/\.$/, '')
    .toLowerCase();
  return d || undefined;
}

/**
 * The host an X-Mms-Originator-System names: the domain of a mailbox, or `<host>` of the
 * `system=<host>;party=<addr>` form some MMSCs write. Never the `party=` (a subscriber's address,
 * possibly with a domain of its own).
 */
export function originatorSystemHost(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (/^\s*system\s*=/i.test(value)) {
    const system = value
      .split(';')
      .map((p) => /^\s*system\s*=\s*"?([^";\s]*)"?\s*$/i.exec(p)?.[1])
      .find((h) => h !== undefined);
    const host = system?.replace(/^.*@/, '').replace(/\.$/, '').toLowerCase();
    return host && /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(host) ? host : undefined;
  }
  if (/[;=]/.test(value)) return undefined; // some other parameter form: nothing to match by
  return domainOf(value);
}

/**
 * Which of the peers that admit a connection's source address (`candidates`, config order) sent
 * this PDU, by domain: the host of its X-Mms-Originator-System ({@link originatorSystemHost}),
 * else the domain of its Sender, its From, the SMTP MAIL FROM, each against the peers'
 * `domains` (equal, or a host within one). Several peers can share a source (one relay, one
 * test host); with no domain matching, the first candidate, as for a single peer.
 */
export function peerForPdu(
  candidates: Mm4Peer[],
  pdu: { originatorSystem?: string; sender?: string; from?: string },
  mailFrom?: string,
): Mm4Peer | undefined {
  if (candidates.length <= 1) return candidates[0];
  const hosts = [
    originatorSystemHost(pdu.originatorSystem),
    domainOf(pdu.sender),
    domainOf(pdu.from),
    domainOf(mailFrom),
  ];
  for (const host of hosts) {
    if (!host) continue;
    const domains = (p: Mm4Peer) => p.domains.map((d) => d.toLowerCase().replace(/\.$/, ''));
    const peer =
      candidates.find((p) => domains(p).includes(host)) ??
      candidates.find((p) => domains(p).some((d) => host.endsWith(`.${d}`)));
    if (peer) return peer;
  }
  return candidates[0];
}
