import test from 'ava';
import fc from 'fast-check';
import { formatMmsAddress, parseMmsAddress, type MmsAddress } from '../../../protocols/address/mms-address.js';
import {
  cpmUriToMms,
  mmsToCpmUri,
  normaliseE164,
  parseCpmUri,
  parseNameAddr,
  formatNameAddr,
} from '../../../protocols/address/uri.js';

const parse = (s: string): MmsAddress => {
  const r = parseMmsAddress(s);
  if (!r.ok) throw new Error(r.error);
  return r.address;
};
const opts = { defaultCountry: 'US', sipDomain: 'ims.example.net', form: 'tel' as const };

test('the MMS address forms of MMS_ENC parse', (t) => {
  t.deepEqual(parse('+12025550199/TYPE=PLMN@mms.iwf.example.net'), {
    kind: 'plmn',
    number: '+12025550199',
    domain: 'mms.iwf.example.net',
  });
  t.deepEqual(parse('+1-202-555.0199/type=plmn@x'), { kind: 'plmn', number: '+12025550199', domain: 'x' });
  t.deepEqual(parse('10.1.2.3/TYPE=IPv4'), { kind: 'ipv4', ip: '10.1.2.3', domain: undefined });
  t.deepEqual(parse('Joe <joe@example.com>'), { kind: 'email', local: 'joe', domain: 'example.com' });
  t.deepEqual(parse('12345'), { kind: 'shortcode', code: '12345' });
  t.deepEqual(parse('abc%2Fdef/TYPE=X_OTHER@mms.x'), {
    kind: 'other',
    typeToken: 'X_OTHER',
    value: 'abc/def',
    domain: 'mms.x',
  });
  t.deepEqual(parse('+4915112345678@mms.nowsms.example'), {
    kind: 'plmn',
    number: '+4915112345678',
    domain: 'mms.nowsms.example',
  });
});

test('escaped, quoted, bracketed and upper-case SIP targets become URIs', (t) => {
  for (const s of [
    'sip%3Abob%40ims.example.net/TYPE=SIP',
    '"sip:bob@ims.example.net"',
    '<sip:bob@ims.example.net>',
    'SIP:bob@ims.example.net',
  ]) {
    t.deepEqual(parse(s), { kind: 'uri', uri: 'sip:bob@ims.example.net' }, s);
  }
  t.deepEqual(parse('tel:+12025550199'), { kind: 'uri', uri: 'tel:+12025550199' });
});

test('malformed and hostile addresses are refused with a reason, never thrown', (t) => {
  for (const s of ['', 'abc/TYPE=PLMN@x', '999.1/TYPE=IPv4', 'x'.repeat(600), 'a\u0000b@c', 'not an address']) {
    const r = parseMmsAddress(s);
    t.false(r.ok, s.slice(0, 20));
  }
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => typeof parseMmsAddress(s).ok === 'boolean'));
});

test('formatting is strict and parses back to the same address', (t) => {
  const samples: MmsAddress[] = [
    { kind: 'plmn', number: '+12025550199', domain: 'mms.example.net' },
    { kind: 'uri', uri: 'sip:bob@ims.example.net' },
    { kind: 'other', typeToken: 'X', value: 'a b/c', domain: undefined },
    { kind: 'email', local: 'alice', domain: 'example.com' },
  ];
  for (const a of samples) t.deepEqual(parse(formatMmsAddress(a)), a);
  t.is(formatMmsAddress({ kind: 'uri', uri: 'sip:bob@ims.example.net' }), 'sip%3Abob%40ims.example.net/TYPE=SIP');
});

test('E.164 normalisation accepts possible numbers and national forms', (t) => {
  t.is(normaliseE164('+12025550199', 'US'), '+12025550199');
  t.is(normaliseE164('(202) 555-0199', 'US'), '+12025550199');
  t.is(normaliseE164('030 1234567', 'DE'), '+49301234567');
  t.is(normaliseE164('12', 'US'), undefined);
  t.is(normaliseE164('call me', 'US'), undefined);
});

test('MMS addresses map to tel:, sip:;user=phone or sip: URIs, and what has no CPM form is refused', (t) => {
  t.deepEqual(mmsToCpmUri(parse('+12025550199/TYPE=PLMN@x'), opts), {
    ok: true,
    e164: '+12025550199',
    uri: 'tel:+12025550199',
  });
  t.deepEqual(mmsToCpmUri(parse('2025550199/TYPE=PLMN@x'), { ...opts, form: 'sip' }), {
    ok: true,
    e164: '+12025550199',
    uri: 'sip:+12025550199@ims.example.net;user=phone',
  });
  t.like(mmsToCpmUri(parse('alice@example.com'), opts), { ok: true, uri: 'sip:alice@example.com' });
  t.like(mmsToCpmUri(parse('sip%3Abob%40ims.example.net/TYPE=SIP'), opts), {
    ok: true,
    uri: 'sip:bob@ims.example.net',
  });
  t.like(mmsToCpmUri(parse('12345'), opts), { ok: false });
  t.like(mmsToCpmUri(parse('10.1.2.3/TYPE=IPv4'), opts), { ok: false });
});

test('CPM URIs map back to MMS addresses under our MMSE domain', (t) => {
  const o = { defaultCountry: 'US', mmsDomain: 'mms.iwf.example.net' };
  t.deepEqual(cpmUriToMms('tel:+12025550199', o), {
    ok: true,
    e164: '+12025550199',
    address: { kind: 'plmn', number: '+12025550199', domain: 'mms.iwf.example.net' },
  });
  t.like(cpmUriToMms('<sip:+12025550199@ims.example.net;user=phone>', o), { ok: true, e164: '+12025550199' });
  t.deepEqual(cpmUriToMms('sip:alice@example.com', o), {
    ok: true,
    address: { kind: 'email', local: 'alice', domain: 'example.com' },
  });
  t.like(cpmUriToMms('mailto:x@y', o), { ok: false });
  t.is(
    formatMmsAddress((cpmUriToMms('tel:+12025550199', o) as { address: MmsAddress }).address),
    '+12025550199/TYPE=PLMN@mms.iwf.example.net',
  );
});

test('URIs and name-addrs parse', (t) => {
  t.like(parseCpmUri('sip:+12025550199@ims.example.net;user=phone'), {
    scheme: 'sip',
    number: '+12025550199',
    host: 'ims.example.net',
  });
  t.like(parseCpmUri('tel:+1-202-555-0199'), { scheme: 'tel', number: '+12025550199' });
  t.is(parseCpmUri('http://x'), undefined);
  t.deepEqual(parseNameAddr('"Alice \\"A\\"" <sip:alice@example.com>;tag=1'), {
    display: 'Alice "A"',
    uri: 'sip:alice@example.com',
    params: { tag: '1' },
  });
  t.deepEqual(parseNameAddr(formatNameAddr('tel:+12025550101')), {
    display: undefined,
    uri: 'tel:+12025550101',
    params: {},
  });
});

test('short codes are their own kind, bare, with a domain, or as a short TYPE=PLMN value', (t) => {
  t.deepEqual(parse('12345'), { kind: 'shortcode', code: '12345' });
  t.deepEqual(parse('12345@mms.mnc001.mcc001.gprs'), {
    kind: 'shortcode',
    code: '12345',
    domain: 'mms.mnc001.mcc001.gprs',
  });
  t.deepEqual(parse('12345/TYPE=PLMN@mms.mnc001.mcc001.gprs'), {
    kind: 'shortcode',
    code: '12345',
    domain: 'mms.mnc001.mcc001.gprs',
  });
  t.deepEqual(parse('"Quiz" <4433/type=plmn@x>'), { kind: 'shortcode', code: '4433', domain: 'x' });
  // With a + or longer than 6 digits, TYPE=PLMN stays a phone number (national numbers have 7 or more).
  t.like(parse('+12345/TYPE=PLMN@x'), { kind: 'plmn', number: '+12345' });
  t.like(parse('5550199/TYPE=PLMN@x'), { kind: 'plmn', number: '5550199' });
  t.like(parse('2025550199/TYPE=PLMN@x'), { kind: 'plmn' });
});

test('alphanumeric senders are their own kind, under TYPE=ALPHANUM or as a bare name', (t) => {
  t.deepEqual(parse('InfoSMS/TYPE=ALPHANUM@mms.mnc001.mcc001.gprs'), {
    kind: 'alphanumeric',
    name: 'InfoSMS',
    domain: 'mms.mnc001.mcc001.gprs',
  });
  t.deepEqual(parse('My%20Bank/TYPE=alphanumeric'), { kind: 'alphanumeric', name: 'My Bank', domain: undefined });
  t.deepEqual(parse('Vodafone'), { kind: 'alphanumeric', name: 'Vodafone' });
  t.deepEqual(parse('"DHL-Express"'), { kind: 'alphanumeric', name: 'DHL-Express' });
  t.deepEqual(parse('Bank <Bank2Go>'), { kind: 'alphanumeric', name: 'Bank2Go' });
  for (const s of ['not an address', 'ThisNameIsTooLong', '%00/TYPE=ALPHANUM', '%20/TYPE=ALPHANUM', '---']) {
    t.false(parseMmsAddress(s).ok, s);
  }
  t.is(formatMmsAddress({ kind: 'alphanumeric', name: 'My Bank' }), 'My%20Bank/TYPE=ALPHANUM');
  t.like(parse('Gr%FC%DFe/TYPE=ALPHANUM'), { name: 'Grüße' }, 'latin1 escapes from older writers');
  for (const a of [
    { kind: 'alphanumeric', name: 'My Bank', domain: 'mms.x' },
    { kind: 'alphanumeric', name: 'Grüße & Co', domain: undefined },
    { kind: 'shortcode', code: '12345', domain: 'mms.x' },
  ] as MmsAddress[]) {
    t.deepEqual(parse(formatMmsAddress(a)), a);
  }
});

test('short codes and alphanumeric senders keep their refusal, with the kind to tell them apart', (t) => {
  t.deepEqual(mmsToCpmUri(parse('12345/TYPE=PLMN@x'), opts), {
    ok: false,
    kind: 'shortcode',
    error: "short code '12345' has no CPM equivalent",
  });
  t.deepEqual(mmsToCpmUri(parse('InfoSMS/TYPE=ALPHANUM@x'), opts), {
    ok: false,
    kind: 'alphanumeric',
    error: "alphanumeric sender 'InfoSMS' has no CPM equivalent",
  });
  t.like(mmsToCpmUri(parse('10.1.2.3/TYPE=IPv4'), opts), { ok: false, kind: 'ipv4' });
  t.false('kind' in mmsToCpmUri({ kind: 'plmn', number: '12' }, opts), 'a bad number is not a kind of address');
});

test('a malformed percent escape makes a URI unreadable instead of throwing (RFC 3986 2.1)', (t) => {
  for (const bad of ['sip:%ZZ@ims.example.net', 'sip:%E2%82@ims.example.net', 'tel:+12025550100;x=%G0'])
    t.is(parseCpmUri(bad), undefined, bad);
  t.is(parseCpmUri('sip:%2B12025550100@ims.example.net')?.user, '+12025550100');
});
