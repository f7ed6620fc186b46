import type { CpmDirectory } from '../clients/cpm-directory.js';
import type {
  ConvertedMessage,
  CpmToMmsInput,
  IsfDecision,
  Mm4Route,
  MmsToCpmInput,
  RecipientPlan,
} from '../model/delivery.js';
import { ErrorType } from '../model/errors.js';
import type { Mm4Peer } from '../model/peer.js';
import { formatMmsAddress, parseMmsAddress } from '../protocols/address/mms-address.js';
import { cpmUriToMms, mmsToCpmUri, parseCpmUri } from '../protocols/address/uri.js';
import { mintMm4Id } from '../protocols/interworking/ids.js';
import { selectInterworking, type IsfPolicy } from '../protocols/interworking/isf.js';
import { choosePeer } from '../protocols/interworking/mm4-routing.js';
import { permanent } from './failures.js';

export interface InterworkingDeps {
  directory: CpmDirectory;
  defaultCountry: string;
  sipDomain: string;
  uriForm: 'tel' | 'sip';
  /**
   * Short codes and alphanumeric senders (which have no CPM form) mapped to a CPM URI, keyed by
   * the code or the lower-cased name (`cpm.shortCodes`).
   */
  shortCodes?: Record<string, string>;
  isf: IsfPolicy;
  mm4: { domain: string; peers: Mm4Peer[]; defaultPeer?: string };
}

/** Address conversion and CPM-user selection (docs/mms-addressing.md, docs/interworking.md). */
export function createInterworkingActivities(deps: InterworkingDeps) {
  const toUri = (raw: string) => {
    const parsed = parseMmsAddress(raw);
    if (!parsed.ok) return { ok: false as const, error: parsed.error };
    const a = parsed.address;
    if (a.kind === 'shortcode' || a.kind === 'alphanumeric') {
      const key = a.kind === 'shortcode' ? a.code : a.name.toLowerCase();
      const mapped = deps.shortCodes?.[key];
      if (mapped) return { ok: true as const, uri: mapped, kind: 'uri' as const, mapped: true };
    }
    const conv = mmsToCpmUri(parsed.address, {
      defaultCountry: deps.defaultCountry,
      sipDomain: deps.sipDomain,
      form: deps.uriForm,
    });
    return conv.ok ? { ...conv, kind: parsed.address.kind } : conv;
  };

  async function planRecipient(mms: string): Promise<RecipientPlan> {
    const conv = toUri(mms);
    if (!conv.ok) return { mms, refused: { status: 'Error-sending-address-unresolved', reason: conv.error } };
    // An explicit sip:/tel: form (docs/mms-addressing.md) is the MMSC telling us the recipient is a CPM user.
    if (conv.kind === 'uri') return { mms, uri: conv.uri };
    if (!conv.e164 || !(await deps.directory.isCpmUser(conv.e164))) {
      return { mms, refused: { status: 'Error-sending-address-unresolved', reason: 'recipient is not a CPM user' } };
    }
    return { mms, uri: conv.uri };
  }

  return {
    async convertMmsToCpm(req: MmsToCpmInput): Promise<ConvertedMessage> {
      const sender = toUri(req.mm4.from);
      if (!sender.ok) {
        // A well-formed address with no CPM form (a short code or name not in cpm.shortCodes) is an
        // address problem, not a format one.
        const addressProblem = 'kind' in sender && sender.kind !== undefined;
        throw permanent(
          addressProblem ? ErrorType.AddressNotRoutable : ErrorType.MalformedMessage,
          `From '${req.mm4.from}' is not a usable originator: ${sender.error}`,
        );
      }
      const recipients = await Promise.all(req.mm4.recipients.map(planRecipient));
      // MMS has one delivery-report flag (X-Mms-Delivery-Report, 23.140 8.4.1) for success and failure.
      const disposition: ConvertedMessage['disposition'] = [];
      if (req.mm4.deliveryReport) disposition.push('positive-delivery', 'negative-delivery');
      if (req.mm4.readReply) disposition.push('display');
      return { senderUri: sender.uri, recipients, disposition };
    },

    /** The ISF decision for a CPM -> MMS message, with the directory's current answer. */
    async selectForMms(req: CpmToMmsInput): Promise<IsfDecision> {
      const number = parseCpmUri(req.cpm.recipientUri)?.number;
      const isCpm = number ? await deps.directory.isCpmUser(number) : false;
      return selectInterworking(
        {
          recipientNumber: number,
          recipientIsCpmUser: isCpm,
          contentType: req.cpm.contentType,
          sizeBytes: req.cpm.sizeBytes,
          fileBytes: req.cpm.file?.size,
        },
        deps.isf,
      );
    },

    /**
     * CPM -> MMS addresses (docs/interworking.md): sender from P-Asserted-Identity under our MMSE
     * domain, recipient under the MMSC peer that serves its number; mints the X-Mms-Message-ID.
     */
    async convertCpmToMms({
      workflowId,
      request,
      peer,
    }: {
      workflowId: string;
      request: CpmToMmsInput;
      peer?: string;
    }): Promise<Mm4Route> {
      const opts = { defaultCountry: deps.defaultCountry, mmsDomain: deps.mm4.domain };
      const from = cpmUriToMms(request.cpm.senderUri, opts);
      if (!from.ok) throw permanent(ErrorType.AddressNotRoutable, `sender ${request.cpm.senderUri}: ${from.error}`);
      const to = cpmUriToMms(request.cpm.recipientUri, opts);
      if (!to.ok || !to.e164)
        throw permanent(ErrorType.AddressNotRoutable, `recipient ${request.cpm.recipientUri} has no E.164 number`);
      const forced = peer ? deps.mm4.peers.find((p) => p.name === peer) : undefined;
      if (peer && !forced) throw permanent(ErrorType.Misconfigured, `no mm4.peers entry named '${peer}'`);
      const chosen = forced
        ? { peer: forced, why: 'operator reroute' }
        : choosePeer(deps.mm4.peers, to.e164, deps.mm4.defaultPeer);
      if (!chosen)
        throw permanent(ErrorType.AddressNotRoutable, `no MMSC peer serves ${to.e164} and no mm4.defaultPeer is set`);
      const domain = chosen.peer.domains[0];
      if (!domain) throw permanent(ErrorType.Misconfigured, `mm4 peer '${chosen.peer.name}' has no domains`);
      return {
        peer: chosen.peer.name,
        from: formatMmsAddress(from.address),
        to: formatMmsAddress({ kind: 'plmn', number: to.e164, domain }),
        messageId: mintMm4Id(workflowId, 'm'),
      };
    },
  };
}
