import type { Mm4Peer } from '../../model/peer.js';

/**
 * Which MMSC serves a number (static prefix tables, as Mbuni's allowed-prefix; docs/mm4-interop.md):
 * the peer with the longest matching `numbers` prefix, else the configured default peer.
 */
export function choosePeer(
  peers: Mm4Peer[],
  e164: string,
  defaultPeer?: string,
): { peer: Mm4Peer; why: string } | undefined {
  let best: { peer: Mm4Peer; prefix: string } | undefined;
  for (const peer of peers) {
    for (const prefix of peer.numbers) {
      if (e164.startsWith(prefix) && (!best || prefix.length > best.prefix.length)) best = { peer, prefix };
    }
  }
  if (best) return { peer: best.peer, why: `prefix ${best.prefix}` };
  const fallback = defaultPeer ? peers.find((p) => p.name === defaultPeer) : undefined;
  return fallback ? { peer: fallback, why: 'default peer' } : undefined;
}
