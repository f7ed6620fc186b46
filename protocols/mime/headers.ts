/**
 * RFC 5322 / RFC 2045-2047 header handling. Pure and tolerant: garbage lines are skipped, never
 * thrown on (input is always untrusted).
 */

export interface HeaderField {
  name: string;
  /** Unfolded value, RFC 2047 encoded-words NOT decoded. */
  value: string;
}

const MAX_HEADER_FIELDS = 500;

/** Parses a header block (RFC 5322 2.2): unfolds continuation lines, tolerates LF-only ends. */
export function parseHeaderBlock(text: string): HeaderField[] {
  const out: HeaderField[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line)) {
      if (out.length) out[out.length - 1].value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue; // RFC 5322 2.2 ftext
    out.push({ name, value: line.slice(colon + 1).trim() });
    if (out.length >= MAX_HEADER_FIELDS) break;
  }
  return out;
}

export function getHeader(headers: HeaderField[], name: string): string | undefined {
  const want = name.toLowerCase();
  return headers.find((h) => h.name.toLowerCase() === want)?.value.trim();
}

export function getHeaders(headers: HeaderField[], name: string): string[] {
  const want = name.toLowerCase();
  return headers.filter((h) => h.name.toLowerCase() === want).map((h) => h.value.trim());
}

/** Decodes bytes in a MIME charset; unknown charsets fall back to UTF-8 with replacement. */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const cs = (charset ?? 'us-ascii').trim().toLowerCase();
  const label = cs === 'us-ascii' || cs === 'ascii' ? 'utf-8' : cs; // ASCII is a subset of UTF-8
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

/** RFC 2047 encoded-words (B and Q); whitespace between adjacent encoded-words is dropped (6.2). */
export function decodeEncodedWords(value: string): string {
  const re = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
  let out = '';
  let last = 0;
  let prevWasWord = false;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const between = value.slice(last, m.index);
    if (!(prevWasWord && /^\s*$/.test(between))) out += between;
    const charset = m[1].split('*')[0]; // RFC 2231 language suffix
    const bytes =
      m[2].toLowerCase() === 'b'
        ? Buffer.from(m[3], 'base64')
        : Buffer.from(
            m[3]
              .replace(/_/g, ' ')
              .replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          );
    out += decodeCharset(bytes, charset);
    last = re.lastIndex;
    prevWasWord = true;
  }
  return out + value.slice(last);
}

/** RFC 2047 B-encoding of non-ASCII UTF-8 text, in words of at most 75 characters (2047 2). */
export function encodeHeaderValue(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  const words: string[] = [];
  let chunk = '';
  for (const ch of value) {
    // 12 chars of framing; base64 grows 4/3: keep encoded text under 63 chars -> <= 45 bytes.
    if (Buffer.byteLength(chunk + ch, 'utf8') > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}

/** Content-Type with lowercase media type and parameters (RFC 2045 5.1; default 5.2). */
export function parseContentType(value: string | undefined): { mediaType: string; params: Record<string, string> } {
  if (!value) return { mediaType: 'text/plain', params: { charset: 'us-ascii' } };
  const { value: type, params } = parseParameterized(value);
  const mediaType = /^[^\s/]+\/[^\s/]+$/.test(type) ? type.toLowerCase() : 'text/plain';
  return { mediaType, params };
}

/**
 * A header value with parameters (`value; a=b; c="d"`, RFC 2045 5.1, RFC 2183 2): names lower
 * case, quoted strings unquoted, and RFC 2231 extended parameters (`name*=utf-8''%C3%BC`, sections
 * `name*0*=`, `name*1=`) decoded into `name`; an extended value wins over a plain one of that name.
 */
export function parseParameterized(value: string): { value: string; params: Record<string, string> } {
  const [first, ...rest] = splitParams(value);
  const params: Record<string, string> = {};
  const extended = new Map<string, { n: number; encoded: boolean; text: string }[]>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    const key = p.slice(0, eq).trim().toLowerCase();
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    const ext = /^([^*]+)\*(?:(\d{1,3})(\*)?)?$/.exec(key);
    if (!ext) params[key] = v;
    else {
      const sections = extended.get(ext[1]) ?? [];
      sections.push({
        n: ext[2] === undefined ? 0 : Number(ext[2]),
        encoded: ext[2] === undefined || ext[3] === '*',
        text: v,
      });
      extended.set(ext[1], sections);
    }
  }
  for (const [key, sections] of extended) params[key] = decodeRfc2231(sections.sort((a, b) => a.n - b.n));
  return { value: first.trim(), params };
}

/** RFC 2231 3-4: sections in order; the first encoded one starts with `charset'language'`. */
function decodeRfc2231(sections: { n: number; encoded: boolean; text: string }[]): string {
  let charset = 'us-ascii';
  const bytes: Buffer[] = [];
  for (const [i, s] of sections.entries()) {
    let text = s.text;
    if (i === 0 && s.encoded) {
      const m = /^([^']*)'[^']*'(.*)$/.exec(text);
      if (m) [charset, text] = [m[1] || 'us-ascii', m[2]];
    }
    // Percent-decoded as bytes: a character may be split across two sections.
    bytes.push(
      s.encoded
        ? Buffer.from(
            text.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          )
        : Buffer.from(text, 'utf8'),
    );
  }
  return decodeCharset(Buffer.concat(bytes), charset);
}

/** RFC 2045 token characters we write bare (a conservative subset of 5.1's token). */
const BARE = /^[A-Za-z0-9._+-]+$/;
/** Longest RFC 2231 section we write, so each folded line stays under 78 columns (RFC 5322 2.1.1). */
const SECTION = 60;

/** RFC 2231 7: attribute-chars stay, every other byte of the UTF-8 form is %XX. */
const pctEncode = (ch: string) =>
  /^[A-Za-z0-9!#$&+.^_`|~-]$/.test(ch)
    ? ch
    : [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/**
 * Writes `value; a=b; c="d"` (RFC 2045 5.1). A parameter that is not printable ASCII or holds a
 * quote or backslash is written as an RFC 2231 extended parameter in UTF-8
 * (`name*=utf-8''Gr%C3%BC%C3%9Fe.jpg`) on a folded line of its own, a long one in sections
 * `name*0*=`, `name*1*=` (RFC 2231 3) that never split a character, each line under 78 columns
 * (RFC 5322 2.1.1). CR and LF can therefore never reach the header.
 */
export function formatParameterized(value: string, params: Record<string, string>): string {
  let out = value;
  for (const [k, v] of Object.entries(params)) {
    if (BARE.test(v)) out += `; ${k}=${v}`;
    else if (/^[\x20-\x7e]*$/.test(v) && !/["\\]/.test(v)) out += `; ${k}="${v}"`;
    else {
      const sections: string[] = [];
      let cur = '';
      for (const ch of v) {
        const enc = pctEncode(ch);
        if (cur.length + enc.length > SECTION - (sections.length ? 0 : 7)) {
          sections.push(cur);
          cur = '';
        }
        cur += enc;
      }
      sections.push(cur);
      if (sections.length === 1) out += `;\r\n ${k}*=utf-8''${sections[0]}`;
      else out += sections.map((s, i) => `;\r\n ${k}*${i}*=${i ? '' : "utf-8''"}${s}`).join('');
    }
  }
  return out;
}

/** Splits on ';' outside quoted strings. */
function splitParams(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"' && value[i - 1] !== '\\') quoted = !quoted;
    if (ch === ';' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s, i) => i === 0 || s);
}

/**
 * RFC 5322 3.4 address lists, tolerantly: `addr`, `Name <addr>`, `"Quoted, Name" <addr>`,
 * comments, and groups (`team: a@x, b@y;`). MM4 addresses such as
 * `+12025550101/TYPE=PLMN@mms.example.net` are plain addr-specs (`/`, `=`, `+` are atext).
 */
export function parseAddressList(value: string): { name?: string; address: string }[] {
  const out: { name?: string; address: string }[] = [];
  const cleaned = value.replace(/\([^()]*\)/g, ' '); // comments (one nesting level is enough here)
  let cur = '';
  let quoted = false;
  let angle = false;
  const flush = () => {
    let item = cur.trim();
    cur = '';
    const group = /^[^"<>@]*:\s*(.*)$/.exec(item);
    if (group && !/^(sips?|tel):/i.test(item)) item = group[1].trim();
    item = item.replace(/;\s*$/, '').trim();
    if (!item) return;
    const m = /^(.*?)<([^<>]*)>\s*$/.exec(item);
    if (m) {
      const name = m[1]
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .trim();
      if (m[2].trim()) out.push(name ? { name, address: m[2].trim() } : { address: m[2].trim() });
    } else out.push({ address: item.replace(/^"(.*)"$/, '$1') });
  };
  for (let i = 0; i < cleaned.length; i++) {
    const ch = cleaned[i];
    if (ch === '"' && cleaned[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && ch === '<') angle = true;
    else if (!quoted && ch === '>') angle = false;
    if (ch === ',' && !quoted && !angle) flush();
    else cur += ch;
  }
  flush();
  return out;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 3.3 date-time in UTC, e.g. `Tue, 04 Mar 2025 10:15:02 +0000`. */
export function formatRfc5322Date(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Parses an RFC 5322 date-time (obsolete zone names included); undefined when unparseable, never "now". */
export function parseRfc5322Date(s: string): Date | undefined {
  const m =
    /^\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Za-z]{1,5})?/.exec(
      s,
    );
  if (!m) return undefined;
  const month = MONTHS.findIndex((x) => x.toLowerCase() === m[2].toLowerCase());
  if (month < 0) return undefined;
  let year = Number(m[3]);
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900; // RFC 5322 4.3
  const zones: Record<string, number> = {
    UT: 0,
    GMT: 0,
    Z: 0,
    EST: -300,
    EDT: -240,
    CST: -360,
    CDT: -300,
    MST: -420,
    MDT: -360,
    PST: -480,
    PDT: -420,
  };
  let offset = 0;
  if (m[7] && /^[+-]\d{4}$/.test(m[7])) {
    const sign = m[7][0] === '-' ? -1 : 1;
    offset = sign * (Number(m[7].slice(1, 3)) * 60 + Number(m[7].slice(3)));
  } else if (m[7]) offset = zones[m[7].toUpperCase()] ?? 0;
  const ms = Date.UTC(year, month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)) - offset * 60_000;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
