import test from 'ava';
import fc from 'fast-check';
import { entityText, parseMimeEntity, serializeMimeEntity, type MimeEntity } from '../../../protocols/mime/entity.js';
import {
  decodeEncodedWords,
  encodeHeaderValue,
  formatParameterized,
  formatRfc5322Date,
  parseAddressList,
  parseContentType,
  parseHeaderBlock,
  parseParameterized,
  parseRfc5322Date,
} from '../../../protocols/mime/headers.js';

test('folded headers are unfolded and lines without a colon skipped', (t) => {
  t.deepEqual(parseHeaderBlock('Subject: a\r\n long\n\tsubject\ngarbage\nTo: x@y'), [
    { name: 'Subject', value: 'a long subject' },
    { name: 'To', value: 'x@y' },
  ]);
});

test('RFC 2047 words decode in B and Q, across charsets, joined when adjacent', (t) => {
  t.is(decodeEncodedWords('=?UTF-8?B?R3LDvMOfZQ==?= =?iso-8859-1?Q?_K=F6ln?='), 'Grüße Köln');
  t.is(decodeEncodedWords('plain =?us-ascii?Q?text?= end'), 'plain text end');
  t.is(decodeEncodedWords('=?bogus-charset?Q?ok?='), 'ok');
});

test('non-ASCII header values encode to RFC 2047 words that decode back', (t) => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 200 }),
      (s) => decodeEncodedWords(encodeHeaderValue(s)) === s || /[\r\n]/.test(s),
    ),
  );
  t.is(encodeHeaderValue('plain'), 'plain');
  t.true(
    encodeHeaderValue('ü'.repeat(100))
      .split(' ')
      .every((w) => w.length <= 75),
  );
});

test('address lists: MM4 PLMN addresses, display names, quoted commas, groups', (t) => {
  t.deepEqual(
    parseAddressList('+12025550101/TYPE=PLMN@mms.example.net, "Doe, Jane" <jane@x.example>, team: a@b, c@d;'),
    [
      { address: '+12025550101/TYPE=PLMN@mms.example.net' },
      { name: 'Doe, Jane', address: 'jane@x.example' },
      { address: 'a@b' },
      { address: 'c@d' },
    ],
  );
});

test('content types are lowercased with quoted parameters and a default', (t) => {
  t.deepEqual(parseContentType('Multipart/Related; type="application/smil"; start="<smil.0>"; boundary=abc'), {
    mediaType: 'multipart/related',
    params: { type: 'application/smil', start: '<smil.0>', boundary: 'abc' },
  });
  t.deepEqual(parseContentType(undefined), { mediaType: 'text/plain', params: { charset: 'us-ascii' } });
});

test('dates parse with zones and never default to now', (t) => {
  t.is(parseRfc5322Date('Tue, 04 Mar 2025 10:15:02 +0100')?.toISOString(), '2025-03-04T09:15:02.000Z');
  t.is(parseRfc5322Date('4 Mar 25 10:15 GMT')?.toISOString(), '2025-03-04T10:15:00.000Z');
  t.is(parseRfc5322Date('yesterday'), undefined);
  const d = new Date('2025-12-31T23:59:59Z');
  t.is(parseRfc5322Date(formatRfc5322Date(d))?.getTime(), d.getTime());
});

test('quoted-printable and base64 bodies decode; charsets apply', (t) => {
  const qp = parseMimeEntity(
    Buffer.from(
      'Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=F6ln =\r\nist sch=F6n',
    ),
  );
  t.is(entityText(qp), 'Köln ist schön');
  const b64 = parseMimeEntity(
    Buffer.from('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n4pyTIG9r\r\n'),
  );
  t.is(entityText(b64), '✓ ok');
});

test('a multipart entity round-trips through serialize and parse', (t) => {
  const e: MimeEntity = {
    headers: [],
    mediaType: 'multipart/related',
    params: { type: 'application/smil' },
    body: Buffer.alloc(0),
    parts: [
      {
        headers: [{ name: 'Content-ID', value: '<t1>' }],
        mediaType: 'text/plain',
        params: { charset: 'utf-8' },
        body: Buffer.from('Hällo\r\n--not a boundary'),
      },
      { headers: [], mediaType: 'image/jpeg', params: {}, body: Buffer.from([0xff, 0xd8, 0, 1, 2, 0xff, 0xd9]) },
    ],
  };
  const back = parseMimeEntity(serializeMimeEntity(e));
  t.is(back.mediaType, 'multipart/related');
  t.is(back.parts?.length, 2);
  t.is(entityText(back.parts![0]), 'Hällo\r\n--not a boundary');
  t.deepEqual(
    back.parts![0].headers.find((h) => h.name === 'Content-ID'),
    { name: 'Content-ID', value: '<t1>' },
  );
  t.deepEqual([...back.parts![1].body], [0xff, 0xd8, 0, 1, 2, 0xff, 0xd9]);
  t.deepEqual(serializeMimeEntity(e), serializeMimeEntity(e), 'reproducible boundary');
});

test('a multipart without its closing delimiter still yields its parts', (t) => {
  const raw =
    'Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\none\r\n--zz\r\nContent-Type: text/plain\r\n\r\ntwo';
  t.deepEqual(parseMimeEntity(Buffer.from(raw)).parts?.map(entityText), ['one', 'two']);
});

test('any parameter value survives writing and reading, with RFC 2231 where it is not plain ASCII', (t) => {
  const back = (v: string) => {
    const line = `Content-Type: ${formatParameterized('image/jpeg', { name: v })}`;
    const lines = line.split('\r\n');
    t.true(
      lines.slice(1).every((l) => l.length <= 78 && l.startsWith(' ')),
      'RFC 2231 sections on folded lines (RFC 5322 2.1.1, 2.2.3)',
    );
    return parseContentType(parseHeaderBlock(line)[0].value).params.name;
  };
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (s) => back(s) === s));
  t.is(formatParameterized('image/jpeg', { name: 'photo.jpg' }), 'image/jpeg; name=photo.jpg');
  t.is(formatParameterized('image/jpeg', { name: 'a b.jpg' }), 'image/jpeg; name="a b.jpg"');
  t.is(
    formatParameterized('inline', { filename: 'Grüße "x".jpg' }),
    "inline;\r\n filename*=utf-8''Gr%C3%BC%C3%9Fe%20%22x%22.jpg",
  );
  t.is(
    formatParameterized('inline', { filename: 'a\r\nX-Evil: 1' }),
    "inline;\r\n filename*=utf-8''a%0D%0AX-Evil%3A%201",
    'no header injection',
  );
  const long = formatParameterized('inline', { filename: '日本語のファイル名'.repeat(4) + '.jpg' });
  t.regex(long, /^inline;\r\n filename\*0\*=utf-8''(%[0-9A-F]{2})+;\r\n filename\*1\*=/);
});

test('RFC 2231 parameters from other writers: sections, charsets, and the extended value winning', (t) => {
  t.deepEqual(parseParameterized(`attachment; filename*0*=iso-8859-1'de'K%F6ln; filename*1=" am Rhein.jpg"`), {
    value: 'attachment',
    params: { filename: 'Köln am Rhein.jpg' },
  });
  // A character may be split across sections (RFC 2231 3 does not forbid it).
  t.is(parseParameterized(`inline; filename*1*=%BC.jpg; filename*0*=utf-8''%C3`).params.filename, 'ü.jpg');
  t.is(parseParameterized(`inline; filename="fallback.jpg"; filename*=UTF-8''%E2%9C%93.jpg`).params.filename, '✓.jpg');
  t.is(parseContentType("image/jpeg; NAME*=utf-8''a%20b.jpg").params.name, 'a b.jpg');
});
