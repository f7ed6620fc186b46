/**
 * Masking of phone numbers in text meant for people (logs, the Temporal UI's current details and
 * summaries). Pure, no Node built-ins: workflow code imports it.
 *
 * Only what looks like a number *in an address context* is touched, so message ids, timestamps,
 * ports and byte counts stay as they are:
 * - `+` and 5 or more digits: an E.164 number (ITU-T E.164 §6; `+` is its international prefix
 *   symbol, RFC 3966 §5.1.4 global-number), wherever it appears;
 * - the number after `tel:` (RFC 3966 §3), visual separators `-` `.` `(` `)` included;
 * - the user part of a `sip:`/`sips:` URI (RFC 3261 §19.1.1), when it holds digits;
 * - the number before `/TYPE=PLMN` in an MMS address (3GPP TS 23.140 §8.4.3, MM4 address coding).
 *
 * A masked number keeps its first digits (country code and a few more, at most 6 and never more than
 * all but 4) and shows `*` for the rest, so no run of 7 digits of a number survives while operators
 * can still tell countries and ranges apart: `+12025550123` -> `+120255*****`.
 */

/** Digits shown at most; the rest of a number (at least 4 digits) is masked. */
const KEEP = 6;
const HIDE_AT_LEAST = 4;

/** Keeps the first digits of `s` (see KEEP) and replaces every later digit with `*`. */
export function maskDigits(s: string): string {
  let digits = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) digits++;
  const keep = Math.max(0, Math.min(KEEP, digits - HIDE_AT_LEAST));
  let seen = 0;
  let out = '';
  for (const ch of s) {
    if (ch >= '0' && ch <= '9') out += seen++ < keep ? ch : '*';
    else out += ch;
  }
  return out;
}

// Every repetition is bounded, so the work per start position is bounded and the whole pass is
// linear in the text (no catastrophic backtracking on hostile input, e.g. 64 KiB of digits).
// Alternatives, in order: tel: number | sip(s): user part with a digit | MMS /TYPE=PLMN address | +E.164.
const ADDRESS =
  /\b(tel:)(\+?[\d().-]{0,40}\d)|\b(sips?:)([^@\s;<>"'\\,/?]{1,128})(?=@)|(\+?[\d.-]{0,40}\d)(?=\/TYPE=PLMN)|(\+\d{5,})/gi;

/** `text` with every phone number in an address context masked (see above); other text unchanged. */
export function maskNumbers(text: string): string {
  // Fast path: no digit, nothing to mask (most log strings).
  if (!/\d/.test(text)) return text;
  return text.replace(
    ADDRESS,
    (_m, tel?: string, telNum?: string, sip?: string, user?: string, plmn?: string, e164?: string) => {
      if (tel !== undefined) return tel + maskDigits(telNum!);
      if (sip !== undefined) return sip + (/\d/.test(user!) ? maskDigits(user!) : user!);
      if (plmn !== undefined) return maskDigits(plmn);
      return maskDigits(e164!);
    },
  );
}
