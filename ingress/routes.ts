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
    },
  };
}
