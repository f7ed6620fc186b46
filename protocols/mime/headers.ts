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

/** Charsets read as UTF-16 whose byte order the BOM decides, big-endian without one (RFC 2781 4.3). */
const UTF16_BOM_DECIDES = new Set(['utf-16', 'ucs-2', 'iso-10646-ucs-2', 'csunicode']);

/**
 * Decodes bytes in a MIME charset (RFC 2045 5.1, RFC 2046 4.1.2): every label TextDecoder knows
 * (utf-8, iso-8859-x, windows-125x, koi8-r, shift_jis, gbk, big5, euc-kr, ...). No charset means
 * us-ascii (RFC 2045 5.2), read as UTF-8 because 8-bit bytes under that label are UTF-8 in
 * practice. A UTF-8 BOM is stripped. `utf-16` (and UCS-2): the BOM decides the byte order and is
 * stripped, big-endian without one (RFC 2781 4.3); `utf-16le` / `utf-16be` are read as labelled
 * (RFC 2781 3.3). Malformed byte sequences become U+FFFD; an unknown charset is an error naming it.
 */
export function decodeText(
  bytes: Uint8Array,
  charset: string | undefined,
): { ok: true; text: string } | { ok: false; error: string } {
  const cs = (charset ?? '').trim().toLowerCase() || 'us-ascii';
  let label = cs === 'us-ascii' || cs === 'ascii' ? 'utf-8' : cs; // ASCII is a subset of UTF-8
  let body = bytes;
  if (UTF16_BOM_DECIDES.has(cs)) {
    const le = bytes[0] === 0xff && bytes[1] === 0xfe;
    const be = bytes[0] === 0xfe && bytes[1] === 0xff;
    label = le ? 'utf-16le' : 'utf-16be';
    if (le || be) body = bytes.subarray(2);
  }
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder(label); // strips a BOM of its own encoding (utf-8, utf-16le/be)
  } catch {
    return { ok: false, error: `unknown charset '${printable(cs)}'` };
  }
  if (decoder.encoding === 'windows-1252') return { ok: true, text: decodeWindows1252(body) };
  return { ok: true, text: decoder.decode(body) };
}

/** WHATWG Encoding index-windows-1252, bytes 0x80-0x9F (the rest is ISO-8859-1). */
const CP1252_HIGH =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

/**
 * windows-1252, the decoding of the iso-8859-1, latin1 and windows-1252 labels: done here because
 * Node 20.18.3 and later decode it as latin1, 0x80-0x9F as C1 controls (nodejs/node#60888).
 */
function decodeWindows1252(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('latin1')
    .replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]);
}

/** {@link decodeText}, tolerantly: an unknown charset falls back to UTF-8 with replacement characters. */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const r = decodeText(bytes, charset);
  return r.ok ? r.text : new TextDecoder('utf-8').decode(bytes);
}

/** A header value as it may be quoted in an error or a note: control characters shown as `?`, at most 60 characters. */
export function printable(v: string, max = 60): string {
  const s = v.replace(/[\x00-\x1f\x7f]/g, '?');
  return s.length > max ? `${s.slice(0, max)}...` : s;
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
 * RFC 2047 encoded-words in a plain `name` or `filename` are decoded too.
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
  // RFC 2047 5 forbids encoded-words in a quoted-string, yet many MUAs write `name="=?UTF-8?B?...?="`:
  // decoded in the human-readable names only (a boundary may legally look like an encoded-word).
  for (const key of ['name', 'filename']) {
    if (params[key] !== undefined && !extended.has(key)) params[key] = decodeEncodedWords(params[key]);
  }
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

/** A date header as read: the instant, and what was tolerated on the way (not RFC 5322 3.3 itself). */
export type DateReading = { ok: true; date: Date; tolerated?: string } | { ok: false; error: string };

/** RFC 5322 4.3 obs-zone: the named zones (military letters are handled apart). */
const NAMED_ZONES: Record<string, number> = {
  UT: 0,
  GMT: 0,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
};

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysIn = (y: number, month0: number) => [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month0];

/**
 * Checks the fields and builds the instant; impossible values (31 Feb, 24:00, 99:99:99, month 13,
 * offset minutes over 59) are errors, never rolled over. Second 60 is a leap second (RFC 5322
 * 3.3, RFC 3339 5.7) and lands on the next minute.
 */
function instant(
  y: number,
  month0: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  ms: number,
  offsetMin: number,
) {
  if (month0 < 0 || month0 > 11) return { error: `month ${month0 + 1} does not exist` };
  if (d < 1 || d > daysIn(y, month0)) return { error: `day ${d} does not exist in ${MONTHS[month0]} ${y}` };
  if (h > 23 || mi > 59 || s > 60) return { error: `time ${pad(h)}:${pad(mi)}:${pad(s)} does not exist` };
  return { date: new Date(Date.UTC(y, month0, d, h, mi, s, ms) - offsetMin * 60_000) };
}

function zoneOffset(sign: string, hh: string, mm: string): number | undefined {
  if (Number(hh) > 23 || Number(mm) > 59) return undefined;
  return (sign === '-' ? -1 : 1) * (Number(hh) * 60 + Number(mm));
}

const RFC5322_DATE =
  /^(?:([A-Za-z]+)\s*,\s*)?(\d{1,2})\s+([A-Za-z]+)\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([+-])(\d{2})(\d{2})|\s*([A-Za-z]+))?\s*(?:\((?:[^()\\]|\\.)*\)\s*)*$/;

/**
 * An RFC 5322 3.3 date-time, with the obsolete forms of 4.3 (two- and three-digit years, the named
 * zones UT, GMT, EST ... PDT, and the military letters, read as -0000 as 4.3 says) and trailing
 * comments. An unknown zone name, a missing zone and an impossible date are errors.
 */
function readRfc5322Date(s: string): DateReading {
  const m = RFC5322_DATE.exec(s);
  if (!m) return { ok: false, error: 'not an RFC 5322 date-time' };
  const [, dow, day, mon, yearRaw, hh, mi, ss, sign, zh, zm, zoneName] = m;
  const month0 = MONTHS.findIndex((x) => x.toLowerCase() === mon.toLowerCase());
  if (month0 < 0) return { ok: false, error: `unknown month '${printable(mon, 12)}'` };
  let year = Number(yearRaw);
  if (yearRaw.length === 2)
    year += year < 50 ? 2000 : 1900; // RFC 5322 4.3
  else if (yearRaw.length === 3)
    year += 1900; // RFC 5322 4.3
  else if (year < 1900) return { ok: false, error: `year ${year} is before 1900 (RFC 5322 3.3)` };
  let offset: number | undefined;
  const tolerated: string[] = [];
  if (sign) offset = zoneOffset(sign, zh, zm);
  else if (!zoneName) return { ok: false, error: 'no zone' };
  else {
    const z = zoneName.toUpperCase();
    if (z in NAMED_ZONES) offset = NAMED_ZONES[z];
    else if (/^[A-IK-Z]$/.test(z))
      offset = 0; // RFC 5322 4.3: military zones are -0000
    else if (z === 'UTC') {
      offset = 0;
      tolerated.push("zone 'UTC' read as +0000");
    } else return { ok: false, error: `unknown zone '${printable(zoneName, 12)}'` };
  }
  if (offset === undefined) return { ok: false, error: `zone ${sign}${zh}${zm} does not exist` };
  const r = instant(year, month0, Number(day), Number(hh), Number(mi), Number(ss ?? 0), 0, offset);
  if (!r.date) return { ok: false, error: r.error };
  if (dow) {
    const i = DAYS.findIndex((x) => x.toLowerCase() === dow.toLowerCase());
    if (i < 0) return { ok: false, error: `unknown day '${printable(dow, 12)}'` };
    // RFC 5322 3.3: the day-of-week must be the one the date implies; the date is what counts.
    const real = new Date(Date.UTC(year, month0, Number(day))).getUTCDay();
    if (i !== real) tolerated.push(`day '${DAYS[i]}' where the date is a ${DAYS[real]}, the date used`);
  }
  return tolerated.length ? { ok: true, date: r.date, tolerated: tolerated.join('; ') } : { ok: true, date: r.date };
}

const ISO_EXTENDED =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;
const ISO_BASIC = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(?:(\d{2})(?:[.,](\d{1,9}))?)?(?:(Z)|([+-])(\d{2})(\d{2})?)$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/**
 * An RFC 3339 5.6 timestamp (`2025-03-06T10:15:02Z`, `...02.5+01:00`, `T` or space), or the ISO
 * 8601 variants around it (no seconds, `+0100`, `+01`, basic `20250306T101502Z`). A zone is
 * required: a local time of unknown offset is not guessed.
 */
function readIsoTimestamp(s: string): DateReading {
  const m = ISO_EXTENDED.exec(s) ?? ISO_BASIC.exec(s);
  if (!m && /^[\d:.,T -]+$/i.test(s)) return { ok: false, error: 'no zone' };
  if (!m) return { ok: false, error: 'not an RFC 3339 / ISO 8601 timestamp' };
  const [, y, mo, d, h, mi, sec, frac, z, sign, zh, zm] = m;
  const offset = z ? 0 : zoneOffset(sign, zh, zm ?? '00');
  if (offset === undefined) return { ok: false, error: `zone ${sign}${zh}${zm ?? ''} does not exist` };
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  const r = instant(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec ?? 0), ms, offset);
  if (!r.date) return { ok: false, error: r.error };
  return {
    ok: true,
    date: r.date,
    tolerated: RFC3339.test(s)
      ? 'an RFC 3339 timestamp, not an RFC 5322 date'
      : 'an ISO 8601 timestamp, not an RFC 5322 date',
  };
}

/**
 * Reads a date header tolerantly: an RFC 5322 date-time (3.3 and the obsolete forms of 4.3), else
 * an RFC 3339 / ISO 8601 timestamp, which is then named in `tolerated`. Never "now", never rolled
 * over: an impossible or zone-less date is an error saying why.
 */
export function readDate(s: string): DateReading {
  const v = s.trim();
  if (/^\d{4}-?\d{2}-?\d{2}[Tt ]/.test(v)) return readIsoTimestamp(v);
  return readRfc5322Date(v);
}

/** Parses an RFC 5322 date-time (obsolete zone names included); undefined when unreadable, never "now". */
export function parseRfc5322Date(s: string): Date | undefined {
  const r = readRfc5322Date(s.trim());
  return r.ok ? r.date : undefined;
}

/**
 * One header line for writing. Refuses what would change the message's structure (header
 * injection): a name that is not an RFC 5322 §3.6.8 field name, or CR, LF or NUL in the value other
 * than folding (CRLF followed by white space, RFC 5322 §2.2.3).
 */
export function headerLine(name: string, value: string): string {
  if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name))
    throw new TypeError(`header name '${name.slice(0, 30)}' cannot be written`);
  if (/[\r\n\0]/.test(value.replace(/\r\n[ \t]/g, '')))
    throw new TypeError(`CR, LF or NUL in ${name} cannot be written`);
  return `${name}: ${value}`;
}
