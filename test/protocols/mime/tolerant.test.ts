import test from 'ava';
import fc from 'fast-check';
import { entityText, parseMimeEntity } from '../../../protocols/mime/entity.js';
import {
  decodeCharset,
  decodeText,
  parseContentType,
  parseParameterized,
  parseRfc5322Date,
  readDate,
} from '../../../protocols/mime/headers.js';
import { partsInPresentationOrder } from '../../../protocols/mime/smil.js';

const bytes = (...b: number[]) => Buffer.from(b);
const text = (b: Uint8Array, cs: string | undefined) => {
  const r = decodeText(b, cs);
  if (!r.ok) throw new Error(r.error);
  return r.text;
};

test('the charsets MMSCs send decode, labels in any case and spacing', (t) => {
  const cases: [string | undefined, Buffer, string][] = [
    ['utf-8', Buffer.from('Grüße ✓'), 'Grüße ✓'],
    ['UTF-8', Buffer.from('ü'), 'ü'],
    ['utf8', Buffer.from('ü'), 'ü'],
    [' us-ascii ', Buffer.from('plain'), 'plain'],
    [undefined, Buffer.from('plain'), 'plain'],
    ['', Buffer.from('plain'), 'plain'],
    ['iso-8859-1', bytes(0x4b, 0xf6, 0x6c, 0x6e), 'Köln'],
    ['ISO-8859-2', bytes(0xa3, 0xf3, 0x64, 0xbc), 'Łódź'],
    ['iso-8859-5', bytes(0xbf, 0xe0, 0xd8, 0xd2, 0xd5, 0xe2), 'Привет'],
    ['iso-8859-7', bytes(0xc1, 0xe8, 0xde, 0xed, 0xe1), 'Αθήνα'],
    ['iso-8859-15', bytes(0xa4, 0x20, 0x35), '€ 5'],
    ['windows-1250', bytes(0x8a, 0x9a), 'Šš'],
    ['windows-1251', bytes(0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2), 'Привет'],
    ['windows-1252', bytes(0x80, 0x20, 0x93, 0x78, 0x94, 0x20, 0x9f, 0xe4), '€ “x” Ÿä'],
    // WHATWG maps iso-8859-1 to windows-1252: what senders labelling latin1 actually mean.
    ['iso-8859-1', bytes(0x93, 0x4b, 0xf6, 0x6c, 0x6e, 0x94, 0x20, 0x80), '“Köln” €'],
    ['latin1', bytes(0x81, 0x8d, 0xff), '\x81\x8dÿ'],
    ['windows-1256', bytes(0xe3, 0xd1, 0xcd, 0xc8, 0xc7), 'مرحبا'],
    ['koi8-r', bytes(0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4), 'Привет'],
    ['shift_jis', bytes(0x82, 0xb1, 0x82, 0xf1), 'こん'],
    ['gb2312', bytes(0xc4, 0xe3, 0xba, 0xc3), '你好'],
    ['big5', bytes(0xa7, 0x41, 0xa6, 0x6e), '你好'],
    ['euc-kr', bytes(0xbe, 0xc8, 0xb3, 0xe7), '안녕'],
  ];
  for (const [cs, b, want] of cases) t.is(text(b, cs), want, String(cs));
});

test('UTF-16: the BOM decides and is stripped, big-endian without one (RFC 2781 4.3), LE/BE labels honoured', (t) => {
  const be = bytes(0x00, 0x48, 0x00, 0xe4, 0xd8, 0x3d, 0xde, 0x00); // "Hä😀"
  const le = bytes(0x48, 0x00, 0xe4, 0x00, 0x3d, 0xd8, 0x00, 0xde);
  t.is(text(Buffer.concat([bytes(0xfe, 0xff), be]), 'utf-16'), 'Hä😀');
  t.is(text(Buffer.concat([bytes(0xff, 0xfe), le]), 'UTF-16'), 'Hä😀');
  t.is(text(be, 'utf-16'), 'Hä😀', 'no BOM: big-endian');
  t.is(text(le, 'utf-16le'), 'Hä😀');
  t.is(text(be, 'utf-16be'), 'Hä😀');
  t.is(text(Buffer.concat([bytes(0xff, 0xfe), le]), 'utf-16le'), 'Hä😀', 'its own BOM stripped');
  // UCS-2 as MMS WSP charset 1000 (iso-10646-ucs-2) arrives big-endian without a BOM.
  t.is(text(bytes(0x00, 0x4f, 0x00, 0x4b), 'iso-10646-ucs-2'), 'OK');
  t.is(text(bytes(0xff, 0xfe, 0x4f, 0x00, 0x4b, 0x00), 'ucs-2'), 'OK');
  t.is(text(bytes(0x00, 0x41, 0x00), 'utf-16'), 'A\ufffd', 'an odd byte is a replacement, not a throw');
});

test('a UTF-8 BOM is stripped, also under us-ascii', (t) => {
  t.is(text(bytes(0xef, 0xbb, 0xbf, 0x48, 0x69), 'utf-8'), 'Hi');
  t.is(text(bytes(0xef, 0xbb, 0xbf, 0x48, 0x69), 'us-ascii'), 'Hi');
  t.is(text(bytes(0xef, 0xbb, 0xbf), 'utf-8'), '');
});

test('an unknown charset is an error naming it; the tolerant decoder falls back to UTF-8', (t) => {
  t.deepEqual(decodeText(Buffer.from('x'), 'x-klingon'), { ok: false, error: "unknown charset 'x-klingon'" });
  t.deepEqual(decodeText(Buffer.from('x'), 'utf-7'), { ok: false, error: "unknown charset 'utf-7'" });
  t.deepEqual(decodeText(Buffer.from('x'), 'iso-2022-kr'), { ok: false, error: "unknown charset 'iso-2022-kr'" });
  t.like(decodeText(Buffer.from('x'), 'bad\u0000\r\nname'), { ok: false, error: "unknown charset 'bad???name'" });
  t.is(decodeCharset(Buffer.from('Grüße'), 'x-klingon'), 'Grüße');
});

test('a text/plain part in an unknown charset carries the error; other media types do not care', (t) => {
  const e = parseMimeEntity(Buffer.from('Content-Type: text/plain; charset="x-klingon"\r\n\r\nnuqneH'));
  t.is(e.decodeError, "unknown charset 'x-klingon'");
  t.is(entityText(e), 'nuqneH', 'still readable best effort');
  t.is(parseMimeEntity(Buffer.from('Content-Type: image/jpeg; charset=x-klingon\r\n\r\n\xff')).decodeError, undefined);
  t.is(parseMimeEntity(Buffer.from('Content-Type: text/plain; charset=windows-1257\r\n\r\nx')).decodeError, undefined);
});

test('a text/plain part in UTF-16 with a BOM, base64 as MMSCs send it, reads as text', (t) => {
  const body = Buffer.concat([bytes(0xff, 0xfe), Buffer.from('Grüße ✓', 'utf16le')]).toString('base64');
  const e = parseMimeEntity(
    Buffer.from(`Content-Type: text/plain; charset=UTF-16\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n`),
  );
  t.is(e.decodeError, undefined);
  t.is(entityText(e), 'Grüße ✓');
});

test('a multipart whose boundary never appears is an error, never a text', (t) => {
  // Field example: the header says one boundary, the body was written with another.
  const raw =
    'Content-Type: multipart/related; boundary="----=_Part_1_1741083302"; type="application/smil"\r\n\r\n' +
    '------=_Part_2_1741083302\r\nContent-Type: text/plain\r\n\r\nHello\r\n------=_Part_2_1741083302--\r\n';
  const e = parseMimeEntity(Buffer.from(raw));
  t.is(e.parts, undefined);
  t.is(e.decodeError, "boundary '----=_Part_1_1741083302' never appears in the multipart/related body");

  const noBoundary = parseMimeEntity(Buffer.from('Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nHello'));
  t.is(noBoundary.decodeError, 'multipart/mixed without a boundary parameter');
  const closeOnly = parseMimeEntity(Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n'));
  t.is(closeOnly.decodeError, 'multipart/mixed without a body part');

  const good = parseMimeEntity(Buffer.from(raw.replace('_Part_1_', '_Part_2_')));
  t.is(good.decodeError, undefined);
  t.deepEqual(good.parts?.map(entityText), ['Hello']);
});

test('RFC 5322 dates: obsolete zones and years of 4.3, comments, leap years and the leap second', (t) => {
  const iso = (s: string) => {
    const r = readDate(s);
    return r.ok ? r.date.toISOString() : r.error;
  };
  t.is(iso('Tue, 04 Mar 2025 10:15:02 +0100'), '2025-03-04T09:15:02.000Z');
  t.is(iso('4 Mar 25 10:15 GMT'), '2025-03-04T10:15:00.000Z');
  t.is(iso('04 Mar 099 10:15:02 +0000'), '1999-03-04T10:15:02.000Z');
  t.is(iso('04 Mar 75 10:15:02 +0000'), '1975-03-04T10:15:02.000Z');
  t.is(iso('Tue, 4 Mar 2025 10:15:02 +0000 (Coordinated Universal Time)'), '2025-03-04T10:15:02.000Z');
  t.is(iso('tue,04 mar 2025 10:15:02+0000'), '2025-03-04T10:15:02.000Z');
  const zones: [string, number][] = [
    ['UT', 0],
    ['GMT', 0],
    ['EST', -5],
    ['EDT', -4],
    ['CST', -6],
    ['CDT', -5],
    ['MST', -7],
    ['MDT', -6],
    ['PST', -8],
    ['PDT', -7],
    ['Z', 0],
    ['A', 0], // RFC 5322 4.3: military zones are -0000 (their sign was specified wrongly in RFC 822)
    ['m', 0],
    ['Y', 0],
  ];
  for (const [z, h] of zones) {
    t.is(iso(`Tue, 04 Mar 2025 10:00:00 ${z}`), new Date(Date.UTC(2025, 2, 4, 10 - h)).toISOString(), z);
  }
  t.is(iso('Thu, 29 Feb 2024 00:00:00 +0000'), '2024-02-29T00:00:00.000Z');
  t.is(iso('Wed, 31 Dec 2016 23:59:60 +0000'), '2017-01-01T00:00:00.000Z');
  t.deepEqual(readDate('Tue, 04 Mar 2025 10:15:02 +0000'), { ok: true, date: new Date('2025-03-04T10:15:02Z') });
});

test('impossible dates are rejected, never rolled over', (t) => {
  for (const [s, why] of [
    ['Mon, 31 Feb 2025 10:00:00 +0000', 'day 31 does not exist in Feb 2025'],
    ['29 Feb 2025 10:00:00 +0000', 'day 29 does not exist in Feb 2025'],
    ['31 Apr 2025 10:00:00 +0000', 'day 31 does not exist in Apr 2025'],
    ['00 Mar 2025 10:00:00 +0000', 'day 0 does not exist in Mar 2025'],
    ['04 Mar 2025 99:99:99 +0000', 'time 99:99:99 does not exist'],
    ['04 Mar 2025 24:00:00 +0000', 'time 24:00:00 does not exist'],
    ['04 Mar 2025 10:60:00 +0000', 'time 10:60:00 does not exist'],
    ['04 Mar 2025 10:00:61 +0000', 'time 10:00:61 does not exist'],
    ['04 Mar 2025 10:00:00 +0960', 'zone +0960 does not exist'],
    ['04 Mrz 2025 10:00:00 +0000', "unknown month 'Mrz'"],
    ['Foo, 04 Mar 2025 10:00:00 +0000', "unknown day 'Foo'"],
    ['04 Mar 1850 10:00:00 +0000', 'year 1850 is before 1900 (RFC 5322 3.3)'],
    ['2025-13-01T00:00:00Z', 'month 13 does not exist'],
    ['2025-02-30T00:00:00Z', 'day 30 does not exist in Feb 2025'],
    ['2025-03-04T25:00:00Z', 'time 25:00:00 does not exist'],
    ['2025-03-04T10:00:00+24:00', 'zone +2400 does not exist'],
  ]) {
    t.deepEqual(readDate(s), { ok: false, error: why }, s);
  }
  t.is(parseRfc5322Date('Mon, 31 Feb 2025 10:00:00 +0000'), undefined);
});

test('unknown zone names and missing zones are errors, not silently UTC; UTC itself is read and noted', (t) => {
  for (const z of ['CET', 'MEZ', 'BST', 'IST', 'J', 'XYZZY']) {
    t.deepEqual(readDate(`Tue, 04 Mar 2025 10:15:02 ${z}`), { ok: false, error: `unknown zone '${z}'` }, z);
  }
  t.deepEqual(readDate('Tue, 04 Mar 2025 10:15:02'), { ok: false, error: 'no zone' });
  t.deepEqual(readDate('2025-03-04T10:15:02'), { ok: false, error: 'no zone' });
  t.deepEqual(readDate('Tue, 04 Mar 2025 10:15:02 UTC'), {
    ok: true,
    date: new Date('2025-03-04T10:15:02Z'),
    tolerated: "zone 'UTC' read as +0000",
  });
  t.deepEqual(readDate('Mon, 04 Mar 2025 10:15:02 +0000'), {
    ok: true,
    date: new Date('2025-03-04T10:15:02Z'),
    tolerated: "day 'Mon' where the date is a Tue, the date used",
  });
  for (const s of ['yesterday', '', 'Tue, 04 Mar 2025 10:15:02 +0000 trailing junk', '1741083302']) {
    t.false(readDate(s).ok, s);
  }
});

test('RFC 3339 and ISO 8601 timestamps are read and named as such', (t) => {
  const rfc3339 = 'an RFC 3339 timestamp, not an RFC 5322 date';
  const iso8601 = 'an ISO 8601 timestamp, not an RFC 5322 date';
  for (const [s, at, how] of [
    ['2025-03-06T10:15:02Z', '2025-03-06T10:15:02.000Z', rfc3339],
    ['2025-03-06t10:15:02z', '2025-03-06T10:15:02.000Z', rfc3339],
    ['2025-03-06 10:15:02+01:00', '2025-03-06T09:15:02.000Z', rfc3339],
    ['2025-03-06T10:15:02.123456-05:30', '2025-03-06T15:45:02.123Z', rfc3339],
    ['2025-03-06T10:15:02-00:00', '2025-03-06T10:15:02.000Z', rfc3339],
    ['2016-12-31T23:59:60Z', '2017-01-01T00:00:00.000Z', rfc3339],
    ['2025-03-06T10:15:02+0100', '2025-03-06T09:15:02.000Z', iso8601],
    ['2025-03-06T10:15+01', '2025-03-06T09:15:00.000Z', iso8601],
    ['20250306T101502Z', '2025-03-06T10:15:02.000Z', iso8601],
    ['20250306T101502+0100', '2025-03-06T09:15:02.000Z', iso8601],
  ]) {
    t.deepEqual(readDate(s), { ok: true, date: new Date(at), tolerated: how }, s);
  }
  t.is(parseRfc5322Date('2025-03-06T10:15:02Z'), undefined, 'parseRfc5322Date stays RFC 5322 only');
});

test('dates from hostile input never throw and are never invalid Dates', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (s) => {
      const r = readDate(s);
      return r.ok ? !Number.isNaN(r.date.getTime()) : typeof r.error === 'string';
    }),
    { numRuns: 2000 },
  );
  const shaped = fc
    .tuple(
      fc.integer({ min: 0, max: 40 }),
      fc.constantFrom('Jan', 'Feb', 'Apr', 'Dec', 'Foo'),
      fc.integer({ min: 0, max: 3000 }),
      fc.integer({ min: 0, max: 99 }),
      fc.integer({ min: 0, max: 99 }),
      fc.integer({ min: 0, max: 99 }),
      fc.constantFrom('+0000', '-0930', '+9999', 'GMT', 'Q', 'CET', ''),
    )
    .map(([d, m, y, h, mi, s, z]) => `${d} ${m} ${y} ${h}:${String(mi).padStart(2, '0')}:${s} ${z}`);
  fc.assert(
    fc.property(shaped, (s) => {
      const r = readDate(s);
      if (!r.ok) return true;
      // Whatever is accepted names a real calendar day: no rollover into the next month.
      const day = Number(s.split(' ')[0]);
      const probe = new Date(r.date.getTime());
      return day >= 1 && day <= 31 && !Number.isNaN(probe.getTime());
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('part names: RFC 2231 charsets and continuations, and RFC 2047 words inside quotes', (t) => {
  const name = (header: string) => parseContentType(header).params.name;
  const filename = (header: string) => parseParameterized(header).params.filename;
  t.is(name("image/jpeg; name*=UTF-8''Gr%C3%BC%C3%9Fe%20aus%20K%C3%B6ln.jpg"), 'Grüße aus Köln.jpg');
  t.is(name("image/jpeg; name*=iso-8859-1'de'K%F6ln.jpg"), 'Köln.jpg');
  t.is(filename(`attachment; filename*0*=UTF-8''%E6%97%A5%E6%9C%AC; filename*1*=%E8%AA%9E.jpg`), '日本語.jpg');
  t.is(filename(`attachment; filename*0="very long "; filename*1="name.jpg"`), 'very long name.jpg');
  // RFC 2047 encoded-words inside quoted parameters, as many MUAs and MMSCs write them.
  t.is(name('image/jpeg; name="=?UTF-8?B?R3LDvMOfZS5qcGc=?="'), 'Grüße.jpg');
  t.is(name('image/jpeg; name="=?iso-8859-1?Q?K=F6ln_am_Rhein.jpg?="'), 'Köln am Rhein.jpg');
  t.is(name('image/jpeg; name==?UTF-8?B?4pyTLmpwZw==?='), '✓.jpg', 'unquoted too');
  t.is(
    filename('inline; filename="=?UTF-8?B?5pel5pys6Kqe?= =?UTF-8?B?LmpwZw==?="'),
    '日本語.jpg',
    'adjacent words joined (RFC 2047 6.2)',
  );
  t.is(name('image/jpeg; name="=?UTF-8?B?ZmFsbGJhY2s=?="; name*=UTF-8\'\'%E2%9C%93.jpg'), '✓.jpg', 'RFC 2231 wins');
  t.is(name('image/jpeg; name="photo =?x?.jpg"'), 'photo =?x?.jpg', 'no encoded-word, left as written');
  // A boundary may legally look like an encoded-word (RFC 2046 5.1.1 bchars): never decoded.
  t.is(parseContentType('multipart/mixed; boundary="=?utf-8?q?x?="').params.boundary, '=?utf-8?q?x?=');
});

test('a SMIL with a malformed cid: escape is ordered as written, not thrown on', (t) => {
  const raw = [
    'Content-Type: multipart/related; boundary=b; type="application/smil"',
    '',
    '--b',
    'Content-Type: application/smil',
    '',
    '<smil><body><par><img src="cid:%E0%A4"/><text src="cid:t1"/></par></body></smil>',
    '--b',
    'Content-Type: text/plain',
    'Content-ID: <t1>',
    '',
    'hi',
    '--b',
    'Content-Type: image/gif',
    'Content-ID: <%E0%A4>',
    '',
    'GIF',
    '--b--',
    '',
  ].join('\r\n');
  const order = partsInPresentationOrder(parseMimeEntity(Buffer.from(raw))).map((p) => p.mediaType);
  t.deepEqual(order, ['image/gif', 'text/plain']);
});
