/**
 * MMS addresses: the OMA-TS-MMS_ENC addressing model plus the non-standard forms by which
 * MMSCs hand CPM/SIP recipients to an IWF (docs/mms-addressing.md). Pure.
 */

export type MmsAddress =
  | { kind: 'plmn'; number: string; domain?: string }
  | { kind: 'ipv4' | 'ipv6'; ip: string; domain?: string }
  | { kind: 'email'; local: string; domain: string }
  | { kind: 'uri'; uri: string }
  | { kind: 'other'; typeToken: string; value: string; domain?: string }
  /** A short code: `12345`, `12345@domain`, or 3-6 digits without `+` under TYPE=PLMN. */
  | { kind: 'shortcode'; code: string; domain?: string }
  /** An alphanumeric sender: `name/TYPE=ALPHANUM[@domain]` (or ALPHANUMERIC), or a bare name such as `InfoSMS`. */
  | { kind: 'alphanumeric'; name: string; domain?: string };

const MAX_LEN = 512;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `%HH` unescaping of an escaped-value (MMS_ENC addressing model): each run of escapes is UTF-8
 * (as {@link formatMmsAddress} writes it), else read byte for byte as latin1.
 */
function unescapeValue(v: string): string {
  return v.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex');
    try {
      return UTF8.decode(bytes);
    } catch {
      return bytes.toString('latin1');
    }
  });
}

/** Strips a display name, quotes and angle brackets (docs/mms-addressing.md, step 1). */
export function bareAddress(input: string): string {
  let s = input.trim();
  const angle = /<([^<>]*)>\s*$/.exec(s);
  if (angle) s = angle[1].trim();
  if (s.startsWith('"') && s.endsWith('"') && s.length >= 2) s = s.slice(1, -1).trim();
  return s;
}

const URI_SCHEME = /^(sips?|tel):/i;
const PHONE = /^\+?[0-9][0-9.-]*$/;
/** Short codes are 3-8 digits bare, as before; under TYPE=PLMN only 3-6, shorter than any national mobile number. */
const SHORT_CODE = /^\d{3,8}$/;
const PLMN_SHORT_CODE = /^\d{3,6}$/;
/**
 * A bare alphanumeric sender: at most 11 characters with a letter, as an SMS alphanumeric
 * originator (3GPP TS 23.040 9.1.2.5), no spaces (a bare address has none).
 */
const BARE_NAME = /^(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9._&'+-]{1,11}$/;

/** Parses an address as found in MM4 headers or the SMTP envelope. Never throws. */
export function parseMmsAddress(input: string): { ok: true; address: MmsAddress } | { ok: false; error: string } {
  if (input.length > MAX_LEN) return { ok: false, error: `address longer than ${MAX_LEN} characters` };
  if (/[\x00-\x1f\x7f]/.test(input)) return { ok: false, error: 'address contains control characters' };
  const s = bareAddress(input);
  if (!s) return { ok: false, error: 'empty address' };
  if (URI_SCHEME.test(s)) return { ok: true, address: { kind: 'uri', uri: normaliseUriScheme(s) } };

  // device-address: <value>/TYPE=<token>[@domain] (the @domain is MM4's routing suffix)
  const typed = /^(.+)\/TYPE=([A-Za-z0-9_]+)(?:@([^@\s]+))?$/i.exec(s);
  if (typed) {
    const [, value, tokenRaw, domain] = typed;
    const token = tokenRaw.toUpperCase();
    if (token === 'PLMN') {
      if (PLMN_SHORT_CODE.test(value)) return { ok: true, address: { kind: 'shortcode', code: value, domain } };
      if (!PHONE.test(value)) return { ok: false, error: `'${value}' is not a phone number` };
      return { ok: true, address: { kind: 'plmn', number: value.replace(/[.-]/g, ''), domain } };
    }
    if (token === 'IPV4') {
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) return { ok: false, error: `'${value}' is not an IPv4 address` };
      return { ok: true, address: { kind: 'ipv4', ip: value, domain } };
    }
    if (token === 'IPV6') {
      if (!/^[0-9A-Fa-f:]+$/.test(value)) return { ok: false, error: `'${value}' is not an IPv6 address` };
      return { ok: true, address: { kind: 'ipv6', ip: value, domain } };
    }
    const unescaped = unescapeValue(value);
    if (token === 'ALPHANUM' || token === 'ALPHANUMERIC') {
      if (!unescaped.trim() || /[\x00-\x1f\x7f]/.test(unescaped))
        return { ok: false, error: `'${value.slice(0, 60)}' is not an alphanumeric sender` };
      return { ok: true, address: { kind: 'alphanumeric', name: unescaped, domain } };
    }
    // Escaped SIP/tel targets, e.g. sip%3Abob%40ims.example.net/TYPE=SIP (docs/mms-addressing.md, shape 3).
    if (URI_SCHEME.test(unescaped)) return { ok: true, address: { kind: 'uri', uri: normaliseUriScheme(unescaped) } };
    return { ok: true, address: { kind: 'other', typeToken: tokenRaw, value: unescaped, domain } };
  }

  const at = s.lastIndexOf('@');
  if (at > 0 && at < s.length - 1) {
    const local = s.slice(0, at);
    const domain = s.slice(at + 1);
    if (!/^[^\s@]+$/.test(domain)) return { ok: false, error: `bad domain '${domain}'` };
    // number@domain without /TYPE (NowSMS style; docs/mms-addressing.md): a PLMN address.
    if (PHONE.test(local) && (local.startsWith('+') || local.replace(/\D/g, '').length > 8)) {
      return { ok: true, address: { kind: 'plmn', number: local.replace(/[.-]/g, ''), domain } };
    }
    if (SHORT_CODE.test(local)) return { ok: true, address: { kind: 'shortcode', code: local, domain } };
    if (!/^[^\s<>()[\]\\,;:"]+$/.test(local)) return { ok: false, error: `bad local part '${local}'` };
    return { ok: true, address: { kind: 'email', local, domain } };
  }
  if (SHORT_CODE.test(s)) return { ok: true, address: { kind: 'shortcode', code: s } };
  if (PHONE.test(s)) return { ok: true, address: { kind: 'plmn', number: s.replace(/[.-]/g, '') } };
  if (BARE_NAME.test(s)) return { ok: true, address: { kind: 'alphanumeric', name: s } };
  return { ok: false, error: `'${s.slice(0, 60)}' is not an MMS address` };
}

function normaliseUriScheme(uri: string): string {
  const i = uri.indexOf(':');
  return uri.slice(0, i).toLowerCase() + uri.slice(i);
}

/** safe-char of the escaped-value grammar; everything else becomes %HH. */
function escapeValue(v: string): string {
  return [...Buffer.from(v, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9+\-._]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

const at = (domain?: string) => (domain ? `@${domain}` : '');

/**
 * Writes the strict MMS form. A `uri` address is written as an escaped device address with
 * TYPE=SIP or TYPE=TEL (the only MMS-legal carrier for a URI; docs/mms-addressing.md).
 */
export function formatMmsAddress(a: MmsAddress): string {
  switch (a.kind) {
    case 'plmn':
      return `${a.number}/TYPE=PLMN${at(a.domain)}`;
    case 'ipv4':
      return `${a.ip}/TYPE=IPv4${at(a.domain)}`;
    case 'ipv6':
      return `${a.ip}/TYPE=IPv6${at(a.domain)}`;
    case 'email':
      return `${a.local}@${a.domain}`;
    case 'shortcode':
      return `${a.code}${at(a.domain)}`;
    case 'alphanumeric':
      return `${escapeValue(a.name)}/TYPE=ALPHANUM${at(a.domain)}`;
    case 'uri':
      return `${escapeValue(a.uri)}/TYPE=${a.uri.toLowerCase().startsWith('tel:') ? 'TEL' : 'SIP'}`;
    case 'other':
      return `${escapeValue(a.value)}/TYPE=${a.typeToken}${at(a.domain)}`;
  }
}
