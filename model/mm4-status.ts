/**
 * MM4 request status tokens (3GPP TS 23.140 clause 8.4; the text form of the MM1 X-Mms-Response-Status
 * values of OMA-TS-MMS_ENC). Kept in model/ because machines and workflows carry them as plain strings.
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
