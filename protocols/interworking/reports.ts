/**
 * MMS reports -> IMDN (protocols.md 7.4, issue 5): X-Mms-MM-Status-Code of an
 * MM4_delivery_report.REQ becomes an RFC 5438 delivery notification status, or nothing for the
 * interim statuses; X-Mms-Read-Status `Read` becomes a display notification.
 */
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

/** Which disposition request an IMDN status answers (RFC 5438 6.3): success or failure. */
export function requestedFor(status: ImdnDeliveryStatus): 'positive-delivery' | 'negative-delivery' {
  return status === 'delivered' ? 'positive-delivery' : 'negative-delivery';
}
