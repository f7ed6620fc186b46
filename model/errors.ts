/**
 * The one failure vocabulary of the IWF. Activities throw
 * `ApplicationFailure`s whose `type` is one of these; machines and workflows match on the string,
 * never on `instanceof` (classes do not survive the workflow sandbox boundary).
 */
export const ErrorType = {
  /** The recipient cannot be mapped to a routable CPM address or is not a CPM user. */
  AddressNotRoutable: 'AddressNotRoutable',
  /** The input PDU is malformed beyond tolerant reading. */
  MalformedMessage: 'MalformedMessage',
  /** The content cannot be carried (media type or size). */
  ContentNotAccepted: 'ContentNotAccepted',
  /** The content is larger than policy or the peer allows. */
  MessageTooLarge: 'MessageTooLarge',
  /** The SIP side answered with a final refusal. */
  SipRejected: 'SipRejected',
  /** The MMSC refused our SMTP transaction or answered with an MM4 error status. */
  MmscRejected: 'MmscRejected',
  /** Configuration names something that does not exist (e.g. an unknown peer). */
  Misconfigured: 'Misconfigured',
} as const;

export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** Failures that retrying cannot fix; listed as non-retryable in every activity retry policy. */
export const NON_RETRYABLE_ERRORS: readonly ErrorType[] = [
  ErrorType.AddressNotRoutable,
  ErrorType.MalformedMessage,
  ErrorType.ContentNotAccepted,
  ErrorType.MessageTooLarge,
  ErrorType.Misconfigured,
  ErrorType.MmscRejected,
];
