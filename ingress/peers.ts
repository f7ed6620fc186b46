import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Mm4Peer } from '../model/peer.js';

/** The strip of `::ffff:` that dual-stack sockets put before IPv4 sources. */
const plain = (ip: string) => (ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip);

/**
 * The peer whose `allow` list admits this source address (exact IPs or CIDR blocks), or none:
 * MM4 is accepted only from configured MMSCs.
 */
export function peerForSource(peers: Mm4Peer[], source: string): Mm4Peer | undefined {
  const ip = plain(source);
  const family = isIPv6(ip) ? 'ipv6' : 'ipv4';
  return peers.find((p) => {
    const list = new BlockList();
    for (const entry of p.allow) {
      const [addr, bits] = entry.split('/');
      const fam = isIPv6(addr) ? 'ipv6' : 'ipv4';
      if (bits !== undefined) list.addSubnet(addr, Number(bits), fam);
      else list.addAddress(addr, fam);
    }
    return list.check(ip, family);
  });
}
