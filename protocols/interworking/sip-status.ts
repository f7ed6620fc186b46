import type { Mm4Status } from '../../model/mm4-status.js';

/** How the IWF treats a final SIP answer to a pager-mode MESSAGE toward a CPM user. */
export interface SipVerdict {
  outcome: 'accepted' | 'permanent' | 'transient';
  /** The MM4 X-Mms-Request-Status-Code this answer becomes (MM4_forward.RES, 23.140 8.4.1). */
  mm4Status: Mm4Status;
}

/**
 * SIP status -> retry decision and MM4 status. 2xx is acceptance (RFC 3428 7: 200 and 202 alike).
 * Transient: the user may be offline or the core overloaded (408 Request Timeout, 480 Temporarily
 * Unavailable, 503 Service Unavailable, 500 Server Internal Error, 504 Server Time-out, 486/600
 * Busy); everything else is a permanent refusal, mapped to the closest MM4 token.
 * The IWF synthesises 408 (Timer F expired) and 503 (transport failure) itself, so "no response"
 * lands in the transient class too.
 */
export function classifySipStatus(status: number): SipVerdict {
  if (status >= 200 && status < 300) return { outcome: 'accepted', mm4Status: 'Ok' };
  if ([408, 480, 486, 500, 503, 504, 600].includes(status)) {
    return { outcome: 'transient', mm4Status: 'Error-network-problem' };
  }
  return { outcome: 'permanent', mm4Status: permanentStatus(status) };
}

function permanentStatus(status: number): Mm4Status {
  switch (status) {
    case 400:
      return 'Error-message-format-corrupt';
    case 401:
    case 402:
    case 403:
    case 407:
    case 603:
      return 'Error-service-denied';
    case 404:
    case 410:
    case 416:
    case 484:
    case 485:
    case 604:
      return 'Error-sending-address-unresolved';
    case 413:
    case 415:
    case 488:
    case 606:
      return 'Error-content-not-accepted';
    case 405:
    case 420:
    case 501:
      return 'Error-unsupported-message';
    default:
      return 'Error-unspecified';
  }
}
