/**
 * MM4 request status tokens (3GPP TS 23.140 clause 8.4, text form of MM1 X-Mms-Response-Status,
 * protocols.md 1.9). Kept in model/ because machines and workflows carry them as plain strings.
 */
export type Mm4Status =
  | 'Ok'
  | 'Error-unspecified'
  | 'Error-service-denied'
  | 'Error-message-format-corrupt'
  | 'Error-sending-address-unresolved'
  | 'Error-message-not-found'
  | 'Error-network-problem'
  | 'Error-content-not-accepted'
  | 'Error-unsupported-message';
