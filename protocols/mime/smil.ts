import { getHeader } from './headers.js';
import type { MimeEntity } from './entity.js';

const stripId = (v: string) => v.trim().replace(/^<|>$/g, '');
/** RFC 2392 2: `cid:` URLs are %-escaped; a malformed escape (hostile SMIL) is compared as written. */
const unescapeCid = (v: string) => {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
};

/**
 * The leaf parts of an MM in presentation order (docs/mms-content.md): the order of the SMIL `src`
 * references (`cid:` per RFC 2392, or a Content-Location name), then any part the SMIL does not
 * name, in MIME order. Without SMIL: MIME order. The SMIL part itself is left out.
 */
export function partsInPresentationOrder(content: MimeEntity): MimeEntity[] {
  const leaves: MimeEntity[] = [];
  const walk = (e: MimeEntity) => (e.parts ? e.parts.forEach(walk) : leaves.push(e));
  walk(content);
  const smil = leaves.find((p) => p.mediaType === 'application/smil');
  const others = leaves.filter((p) => p !== smil);
  if (!smil) return others;
  const refs = [...smil.body.toString('utf8').matchAll(/\bsrc\s*=\s*"([^"]+)"/gi)].map((m) => m[1].trim());
  const byRef = (ref: string) =>
    others.find((p) => {
      const cid = getHeader(p.headers, 'Content-ID');
      const loc = getHeader(p.headers, 'Content-Location');
      if (/^cid:/i.test(ref)) return cid !== undefined && stripId(cid) === unescapeCid(ref.slice(4));
      return loc === ref || (cid !== undefined && stripId(cid) === ref);
    });
  const ordered: MimeEntity[] = [];
  for (const ref of refs) {
    const p = byRef(ref);
    if (p && !ordered.includes(p)) ordered.push(p);
  }
  return [...ordered, ...others.filter((p) => !ordered.includes(p))];
}
