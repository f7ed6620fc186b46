/** Parsers for the SIP header values the transaction layer needs (RFC 3261 20.42, 20.16, 20.20). */

export interface Via {
  transport: string;
  host: string;
  port?: number;
  params: Record<string, string>;
}

/** Splits a comma list, respecting quoted strings and <...> (RFC 3261 7.3.1). */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"' && value[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && ch === '<') angle = true;
    else if (!quoted && ch === '>') angle = false;
    if (ch === ',' && !quoted && !angle) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export function parseParams(s: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const p of s.split(';')) {
    const t = p.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq < 0) params[t.toLowerCase()] = '';
    else params[t.slice(0, eq).trim().toLowerCase()] = t.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return params;
}

/** Parses one via-parm: `SIP/2.0/UDP host:port;branch=...`. */
export function parseVia(value: string): Via | undefined {
  const first = splitList(value)[0] ?? '';
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+(\[[0-9a-fA-F:.]+\]|[^\s;:]+)(?::(\d{1,5}))?\s*(;.*)?$/.exec(first);
  if (!m) return undefined;
  return {
    transport: m[1].toUpperCase(),
    host: m[2].replace(/^\[|\]$/g, ''),
    port: m[3] ? Number(m[3]) : undefined,
    params: parseParams(m[4] ?? ''),
  };
}

export function formatVia(v: Via): string {
  const host = v.host.includes(':') ? `[${v.host}]` : v.host;
  const params = Object.entries(v.params).map(([k, val]) => (val === '' ? `;${k}` : `;${k}=${val}`)).join('');
  return `SIP/2.0/${v.transport} ${host}${v.port ? `:${v.port}` : ''}${params}`;
}

export function parseCSeq(value: string): { seq: number; method: string } | undefined {
  const m = /^(\d{1,10})\s+([A-Za-z]+)$/.exec(value.trim());
  return m ? { seq: Number(m[1]), method: m[2].toUpperCase() } : undefined;
}

/** name-addr or addr-spec with header params (From, To, Contact; RFC 3261 20.20). */
export function parseNameAddrParams(value: string): { uri: string; display?: string; params: Record<string, string> } | undefined {
  const v = value.trim();
  const lt = v.indexOf('<');
  if (lt >= 0) {
    const gt = v.indexOf('>', lt);
    if (gt < 0) return undefined;
    const display = v.slice(0, lt).trim().replace(/^"(.*)"$/, '$1');
    return { uri: v.slice(lt + 1, gt).trim(), display: display || undefined, params: parseParams(v.slice(gt + 1)) };
  }
  // addr-spec form: parameters after ';' belong to the header, not the URI (RFC 3261 20.10).
  const semi = v.indexOf(';');
  return semi < 0 ? { uri: v, params: {} } : { uri: v.slice(0, semi).trim(), params: parseParams(v.slice(semi)) };
}
