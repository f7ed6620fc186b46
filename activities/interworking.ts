import type { CpmDirectory } from '../clients/cpm-directory.js';
import type { ConvertedMessage, MmsToCpmInput, RecipientPlan } from '../model/delivery.js';
import { ErrorType } from '../model/errors.js';
import { parseMmsAddress } from '../protocols/address/mms-address.js';
import { mmsToCpmUri } from '../protocols/address/uri.js';
import { permanent } from './failures.js';

export interface InterworkingDeps {
  directory: CpmDirectory;
  defaultCountry: string;
  sipDomain: string;
  uriForm: 'tel' | 'sip';
}

/** Address conversion and CPM-user selection for MMS -> CPM (protocols.md 2.2, 7.4, 8). */
export function createInterworkingActivities(deps: InterworkingDeps) {
  const toUri = (raw: string) => {
    const parsed = parseMmsAddress(raw);
    if (!parsed.ok) return { ok: false as const, error: parsed.error };
    const conv = mmsToCpmUri(parsed.address, { defaultCountry: deps.defaultCountry, sipDomain: deps.sipDomain, form: deps.uriForm });
    return conv.ok ? { ...conv, kind: parsed.address.kind } : conv;
  };

  async function planRecipient(mms: string): Promise<RecipientPlan> {
    const conv = toUri(mms);
    if (!conv.ok) return { mms, refused: { status: 'Error-sending-address-unresolved', reason: conv.error } };
    // An explicit sip:/tel: form (protocols.md 8) is the MMSC telling us the recipient is a CPM user.
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
        throw permanent(ErrorType.MalformedMessage, `From '${req.mm4.from}' is not a usable originator: ${sender.error}`);
      }
      const recipients = await Promise.all(req.mm4.recipients.map(planRecipient));
      // MMS has one delivery-report flag for success and failure (protocols.md 7.4).
      const disposition: ConvertedMessage['disposition'] = [];
      if (req.mm4.deliveryReport) disposition.push('positive-delivery', 'negative-delivery');
      if (req.mm4.readReply) disposition.push('display');
      return { senderUri: sender.uri, recipients, disposition };
    },
  };
}
