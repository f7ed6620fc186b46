/**
 * CPM -> MMS reporting rules, pure: which IMDN (RFC 5438 delivery notification) an MM4 delivery
 * report stands for. The X-Mms-MM-Status-Code of an MM4_delivery_report.REQ (3GPP TS 23.140
 * §8.4.3) becomes a delivery notification status, or nothing for the interim statuses; a read
 * report's X-Mms-Read-Status `Read` (§8.4.4) becomes a display notification.
 */

/** The delivery notification statuses an MMS delivery report can stand for. */
export type ImdnDeliveryStatus = 'delivered' | 'failed' | 'forbidden' | 'error';

export function deliveryReportToImdn(mmStatus: string, extension?: string): ImdnDeliveryStatus | undefined {
  switch (mmStatus) {
    case 'Retrieved':
      return 'delivered';
    case 'Rejected':
      // Rel-6 X-Mms-MM-Status-Extension tells a refusal by the recipient from one by an MMSC.
      return /recipient/i.test(extension ?? '') ? 'forbidden' : 'failed';
    case 'Expired':
    case 'Unrecognised':
      return 'failed';
    case 'Indeterminate':
      return 'error';
    default:
      return undefined; // Deferred, Forwarded: not final
  }
}

/** Which imdn.Disposition-Notification request (RFC 5438) an IMDN status answers: success or failure. */
export function requestedFor(status: ImdnDeliveryStatus): 'positive-delivery' | 'negative-delivery' {
  return status === 'delivered' ? 'positive-delivery' : 'negative-delivery';
}
