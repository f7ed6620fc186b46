import { BlockList, isIPv6 } from 'node:net';
import type { SipEndpoint } from '../clients/sip/endpoint.js';
import type { SipRequest } from '../protocols/sip/message.js';

const ALLOW = 'MESSAGE, OPTIONS';

/** Matches sources against `sip.trusted` (exact IPs or CIDR); an empty list trusts loopback only. */
export function trustedSources(entries: string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const e of entries.length ? entries : ['127.0.0.0/8', '::1']) {
    const [addr, bits] = e.split('/');
    const fam = isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits !== undefined) list.addSubnet(addr, Number(bits), fam);
    else list.addAddress(addr, fam);
  }
  return (ip) => list.check(ip.replace(/^::ffff:/, ''), isIPv6(ip.replace(/^::ffff:/, '')) ? 'ipv6' : 'ipv4');
}

/**
 * The SIP front-end toward the IMS core. Only trusted nodes (the S-CSCF/AS side of the ISC
 * interface) may talk to the IWF: others get 403 (RFC 3261 21.4.4). OPTIONS keep-alives are
 * answered 200 with our Allow list (RFC 3261 11.2). CPM -> MMS MESSAGE handling arrives with the
 * reverse direction; until then a MESSAGE gets 501 rather than a misleading success.
 */
export function attachSipIngress(endpoint: SipEndpoint, o: { trusted: string[]; log: { warn(o: object, m: string): void } }) {
  const isTrusted = trustedSources(o.trusted);
  endpoint.onRequest((req: SipRequest, info: { remote: { host: string } }) => {
    if (!isTrusted(info.remote.host)) {
      o.log.warn({ remote: info.remote.host, method: req.method }, 'SIP request from an untrusted source');
      return { status: 403, reason: 'Forbidden' };
    }
    if (req.method === 'OPTIONS') return { status: 200, headers: [{ name: 'Allow', value: ALLOW }, { name: 'Accept', value: 'message/cpim' }] };
    if (req.method === 'MESSAGE') return { status: 501, reason: 'CPM to MMS Not Implemented Yet' };
    return { status: 405, headers: [{ name: 'Allow', value: ALLOW }] };
  });
}
