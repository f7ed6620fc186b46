/**
 * Parsers for the header values the transaction layer needs: Via (RFC 3261 20.42), CSeq (20.16),
 * From/To/Contact name-addr with parameters (20.20, 20.39). Hand-written scanners, no backtracking
 * regexes over untrusted input; each returns undefined for what it cannot read.
 */

export interface Via {
  /** Upper-cased transport token: UDP, TCP, TLS, SCTP, WS... */
  transport: string;
  /** Host without IPv6 brackets. */
  host: string;
  port?: number;
  /** Parameter names lower-cased, values as written (`rport` without a value is ''). */
  params: Record<string, string>;
}

/**
 * Splits `value` at `sep` outside quoted strings (with backslash escapes) and, when `angles` is
 * set, outside `<...>` (RFC 3261 7.3.1: a comma inside a URI or a display name is not a separator).
 */
export function splitOutside(value: string, sep: string, angles = true): string[] {
  const out: string[] = [];
  let from = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (angles && ch === '<') angle = true;
    else if (angles && ch === '>') angle = false;
    else if (ch === sep && !angle) {
      out.push(value.slice(from, i).trim());
      from = i + 1;
    }
  }
  out.push(value.slice(from).trim());
  return out.filter((s) => s !== '');
}

/** Splits a comma-separated header value into its elements. */
export function splitList(value: string): string[] {
  return splitOutside(value, ',');
}

const unquote = (s: string) =>
  s.length >= 2 && s[0] === '"' && s[s.length - 1] === '"' ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;

/** `;a=1;b;c="x;y"` -> `{ a: '1', b: '', c: 'x;y' }`; names lower-cased, the first occurrence wins. */
export function parseParams(s: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const p of splitOutside(s, ';', false)) {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    if (name && !Object.hasOwn(params, name)) params[name] = eq < 0 ? '' : unquote(p.slice(eq + 1).trim());
  }
  return params;
}

function parsePort(s: string): number | undefined | null {
  if (s === '') return undefined;
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) return null;
  return Number(s);
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`; null when malformed. */
function parseHostPort(s: string): { host: string; port?: number } | null {
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || !/^[0-9A-Fa-f:.]+$/.test(s.slice(1, close))) return null;
    const rest = s.slice(close + 1);
    if (rest !== '' && rest[0] !== ':') return null;
    const port = parsePort(rest.slice(1));
    return port === null ? null : { host: s.slice(1, close), port };
  }
  const colon = s.indexOf(':');
  const host = colon < 0 ? s : s.slice(0, colon);
  if (!/^[A-Za-z0-9.-]+$/.test(host)) return null;
  const port = parsePort(colon < 0 ? '' : s.slice(colon + 1));
  return port === null ? null : { host, port };
}

/** Parses one via-parm, `SIP/2.0/UDP host:port;branch=...` (spaces around `/` and `;` tolerated). */
function parseViaParm(value: string): Via | undefined {
  const [sentBy, ...params] = splitOutside(value, ';', false);
  if (sentBy === undefined) return undefined;
  const slash2 = sentBy.lastIndexOf('/');
  const protocol = sentBy.slice(0, slash2).replace(/[ \t]/g, '').toUpperCase();
  const rest = sentBy.slice(slash2 + 1).trim();
  const space = rest.search(/[ \t]/);
  if (protocol !== 'SIP/2.0' || space < 1) return undefined;
  const transport = rest.slice(0, space).toUpperCase();
  const hp = parseHostPort(rest.slice(space).trim());
  if (!/^[A-Z0-9.!%*_+`'~-]+$/.test(transport) || !hp) return undefined;
  return { transport, host: hp.host, port: hp.port, params: parseParams(params.join(';')) };
}

/** The first Via of a (possibly comma-separated) Via header value. */
export function parseVia(value: string): Via | undefined {
  const first = splitList(value)[0];
  return first === undefined ? undefined : parseViaParm(first);
}

/** Every Via of a comma-separated Via header value, in order; undefined if any is malformed. */
export function parseViaList(value: string): Via[] | undefined {
  const out: Via[] = [];
  for (const v of splitList(value)) {
    const via = parseViaParm(v);
    if (!via) return undefined;
    out.push(via);
  }
  return out.length ? out : undefined;
}

/** Writes a Via value; parameters without a value (`rport`) are written bare. */
export function formatVia(v: Via): string {
  const host = v.host.includes(':') ? `[${v.host}]` : v.host;
  const params = Object.entries(v.params)
    .map(([k, val]) => (val === '' ? `;${k}` : `;${k}=${val}`))
    .join('');
  return `SIP/2.0/${v.transport} ${host}${v.port ? `:${v.port}` : ''}${params}`;
}

/** `1 MESSAGE` -> `{ seq: 1, method: 'MESSAGE' }`; the method is case-sensitive (RFC 3261 7.1) and kept as written. */
export function parseCSeq(value: string): { seq: number; method: string } | undefined {
  const m = /^(\d{1,10})[ \t]+([A-Za-z0-9.!%*_+`'~-]+)$/.exec(value.trim());
  // RFC 3261 8.1.1.5: the sequence number is below 2**31.
  return m && Number(m[1]) < 2 ** 31 ? { seq: Number(m[1]), method: m[2] } : undefined;
}

/** Index of the first `<` outside a quoted display name, or -1. */
function openingAngle(v: string): number {
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    if (quoted && v[i] === '\\') i++;
    else if (v[i] === '"') quoted = !quoted;
    else if (!quoted && v[i] === '<') return i;
  }
  return -1;
}

/**
 * name-addr or addr-spec with header parameters (From, To, Contact; RFC 3261 20.10, 20.20):
 * `"Alice" <sip:a@x;lr>;tag=9` -> `{ uri: 'sip:a@x;lr', display: 'Alice', params: { tag: '9' } }`.
 */
export function parseNameAddrParams(
  value: string,
): { uri: string; display?: string; params: Record<string, string> } | undefined {
  const v = value.trim();
  const lt = openingAngle(v);
  if (lt >= 0) {
    const gt = v.indexOf('>', lt);
    if (gt < 0) return undefined;
    const display = unquote(v.slice(0, lt).trim());
    const uri = v.slice(lt + 1, gt).trim();
    return uri ? { uri, display: display || undefined, params: parseParams(v.slice(gt + 1)) } : undefined;
  }
  // addr-spec form: parameters after ';' belong to the header, not to the URI (RFC 3261 20.10).
  const semi = v.indexOf(';');
  const uri = (semi < 0 ? v : v.slice(0, semi)).trim();
  if (!uri || /[\s"]/.test(uri)) return undefined;
  return { uri, params: semi < 0 ? {} : parseParams(v.slice(semi)) };
}
