import type { IsfDecision } from '../../model/delivery.js';

/** ISF policy (config `isf`). */
export interface IsfPolicy {
  maxMessageBytes: number;
  maxFileBytes: number;
  contentTypes: string[];
  interworkCpmUsers: boolean;
}

export interface IsfRequest {
  /** The recipient's E.164 number, when the Request-URI names one. */
  recipientNumber?: string;
  /** Whether the CPM user directory lists the recipient. */
  recipientIsCpmUser: boolean;
  /** Media type of the CPIM content, e.g. `text/plain`. */
  contentType: string;
  sizeBytes: number;
  /** Size of the file an FT-over-HTTP message points to. */
  fileBytes?: number;
}

/**
 * The Interworking Selection Function (OMA-AD-CPM; docs/interworking.md) for CPM -> MMS: decides from the
 * recipient, the message type and its size, under operator policy, whether a CPM standalone
 * message is interworked to MMS. Pure: the caller supplies the directory answer. The SIP status
 * is how the front-end refuses (RFC 3261 21.4: 404 not for us, 413 too large, 415 type).
 */
export function selectInterworking(req: IsfRequest, policy: IsfPolicy): IsfDecision {
  if (!req.recipientNumber) {
    return { interwork: false, sipStatus: 404, reason: 'recipient is not a phone number; MMS cannot reach it' };
  }
  if (req.recipientIsCpmUser && !policy.interworkCpmUsers) {
    return { interwork: false, sipStatus: 404, reason: 'recipient is a CPM user; not for interworking' };
  }
  const type = req.contentType.split(';')[0].trim().toLowerCase();
  if (type === 'message/imdn+xml') {
    return { interwork: false, sipStatus: 415, reason: 'disposition notifications are not interworked to MMS yet' };
  }
  if (!policy.contentTypes.includes(type)) {
    return {
      interwork: false,
      sipStatus: 415,
      reason: `content type ${type} is not interworked (policy allows ${policy.contentTypes.join(', ')})`,
    };
  }
  if (req.sizeBytes > policy.maxMessageBytes) {
    return {
      interwork: false,
      sipStatus: 413,
      reason: `content of ${req.sizeBytes} bytes exceeds the ${policy.maxMessageBytes}-byte policy limit`,
    };
  }
  if (req.fileBytes !== undefined && req.fileBytes > policy.maxFileBytes) {
    return {
      interwork: false,
      sipStatus: 413,
      reason: `file of ${req.fileBytes} bytes exceeds the ${policy.maxFileBytes}-byte policy limit`,
    };
  }
  const why = req.recipientIsCpmUser ? 'CPM user, interworked by policy' : 'recipient is not a CPM user';
  return { interwork: true, reason: `${why}; ${type}, ${req.sizeBytes} bytes` };
}
