import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import type { MmsAddress } from './mms-address.js';

/**
 * E.164 normalisation with libphonenumber-js. The `max` metadata is used because number validity
 * and national formats need the full tables; "possible" numbers are accepted even when not
 * assigned ranges (test and new ranges such as +1 202 555 01xx must work). Returns `+digits`.
 */
export function normaliseE164(number: string, defaultCountry: string): string | undefined {
  const digits = number.replace(/[\s().-]/g, '');
  if (!/^\+?\d{3,17}$/.test(digits)) return undefined;
  const p = parsePhoneNumberFromString(digits, digits.startsWith('+') ? undefined : (defaultCountry as CountryCode));
  if (!p || !p.isPossible()) return undefined;
  return p.number;
}

export interface CpmUri {
  scheme: 'tel' | 'sip' | 'sips';
  user?: string;
  host?: string;
  params: Record<string, string>;
  /** `+digits` when the URI denotes a phone number. */
  number?: string;
}

/** RFC 3986 2.1 percent-decoding; a malformed escape (`%ZZ`, a cut UTF-8 sequence) makes the URI unreadable. */
function unescaped(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** Parses a tel: (RFC 3966) or sip:/sips: (RFC 3261 19.1) URI; tolerates `Name <uri>`. */
export function parseCpmUri(input: string): CpmUri | undefined {
  const angle = /<([^<>]*)>/.exec(input);
  const uri = (angle ? angle[1] : input).trim();
  const m = /^(tel|sips?):([^?]*)/i.exec(uri);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase() as CpmUri['scheme'];
  const [main, ...paramParts] = m[2].split(';');
  const params: Record<string, string> = {};
  for (const p of paramParts) {
    const [k, v = ''] = p.split('=');
    const value = unescaped(v);
    if (value === undefined) return undefined;
    if (k) params[k.toLowerCase()] = value;
  }
  if (scheme === 'tel') {
    const user = main.replace(/[.()-]/g, '');
    return { scheme, user, params, number: /^\+\d{3,17}$/.test(user) ? user : undefined };
  }
  const at = main.lastIndexOf('@');
  const user = at >= 0 ? unescaped(main.slice(0, at)) : undefined;
  if (at >= 0 && user === undefined) return undefined;
  const host = (at >= 0 ? main.slice(at + 1) : main).toLowerCase();
  if (!host) return undefined;
  const digits = user?.replace(/[.()-]/g, '');
  const phoneUser = digits !== undefined && /^\+\d{3,17}$/.test(digits);
  return { scheme, user, host, params, number: phoneUser || (params.user === 'phone' && digits) ? digits : undefined };
}

/**
 * A conversion result. A failure for an address that is well formed but has no CPM form carries
 * its `kind` (`shortcode`, `alphanumeric`, `ipv4`, `ipv6`, `other`), so a caller can map it
 * through a table or answer Error-sending-address-unresolved without reading the message.
 */
type Result<T> = ({ ok: true } & T) | { ok: false; error: string; kind?: MmsAddress['kind'] };

/** MMS address -> CPM URI (docs/mms-addressing.md): PLMN -> tel:+E164 or sip:+E164@domain;user=phone. */
export function mmsToCpmUri(
  a: MmsAddress,
  opts: { defaultCountry: string; sipDomain: string; form: 'tel' | 'sip' },
): Result<{ uri: string; e164?: string }> {
  switch (a.kind) {
    case 'plmn': {
      const e164 = normaliseE164(a.number, opts.defaultCountry);
      if (!e164) return { ok: false, error: `'${a.number}' is not a possible phone number` };
      return { ok: true, e164, uri: opts.form === 'tel' ? `tel:${e164}` : `sip:${e164}@${opts.sipDomain};user=phone` };
    }
    case 'uri': {
      const u = parseCpmUri(a.uri);
      if (!u) return { ok: false, error: `'${a.uri}' is not a usable sip:/tel: URI` };
      if (u.scheme === 'tel') {
        const e164 = u.number ?? normaliseE164(u.user ?? '', opts.defaultCountry);
        return e164 ? { ok: true, e164, uri: `tel:${e164}` } : { ok: false, error: `'${a.uri}' has no global number` };
      }
      return { ok: true, uri: a.uri, e164: u.number };
    }
    case 'email':
      return { ok: true, uri: `sip:${a.local}@${a.domain}` };
    case 'shortcode':
      return { ok: false, kind: a.kind, error: `short code '${a.code}' has no CPM equivalent` };
    case 'alphanumeric':
      return { ok: false, kind: a.kind, error: `alphanumeric sender '${a.name.slice(0, 60)}' has no CPM equivalent` };
    case 'ipv4':
    case 'ipv6':
      return { ok: false, kind: a.kind, error: `IP address '${a.ip}' has no CPM equivalent` };
    case 'other':
      return { ok: false, kind: a.kind, error: `address type '${a.typeToken}' has no CPM equivalent` };
  }
}

/** CPM URI -> MMS address (docs/mms-addressing.md): numbers become PLMN under our MMSE domain. */
export function cpmUriToMms(
  uri: string,
  opts: { defaultCountry: string; mmsDomain: string },
): Result<{ address: MmsAddress; e164?: string }> {
  const u = parseCpmUri(uri);
  if (!u) return { ok: false, error: `'${uri.slice(0, 80)}' is not a sip:/tel: URI` };
  const e164 = u.number ?? (u.scheme === 'tel' ? normaliseE164(u.user ?? '', opts.defaultCountry) : undefined);
  if (e164) return { ok: true, e164, address: { kind: 'plmn', number: e164, domain: opts.mmsDomain } };
  if (u.scheme === 'tel') return { ok: false, error: `'${uri}' has no usable number` };
  if (!u.user) return { ok: false, error: `'${uri}' has no user part` };
  // A non-numeric SIP user has only the e-mail rendering in MMS (docs/mms-addressing.md).
  return { ok: true, address: { kind: 'email', local: u.user, domain: u.host! } };
}

/** `<uri>` or `"Display" <uri>` (RFC 3261 20.20 name-addr). */
export function formatNameAddr(uri: string, display?: string): string {
  return display ? `"${display.replace(/(["\\])/g, '\\$1')}" <${uri}>` : `<${uri}>`;
}

export function parseNameAddr(
  value: string,
): { display?: string; uri: string; params: Record<string, string> } | undefined {
  const v = value.trim();
  const m = /^(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^<>]+)>(.*)$/.exec(v);
  const params: Record<string, string> = {};
  const readParams = (s: string) => {
    for (const p of s.split(';')) {
      const [k, val = ''] = p.trim().split('=');
      if (k) params[k.toLowerCase()] = val;
    }
  };
  if (m) {
    readParams(m[4]);
    const display = (m[1]?.replace(/\\(.)/g, '$1') ?? m[2]?.trim()) || undefined;
    return { display, uri: m[3].trim(), params };
  }
  if (/^(tel|sips?):\S+$/i.test(v.split(';')[0])) {
    const [uri, ...rest] = v.split(';');
    readParams(rest.join(';'));
    return { uri, params };
  }
  return undefined;
}
