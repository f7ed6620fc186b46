/**
 * Our MIME reader (protocols/mime/entity.ts) against a maintained one, postal-mime, on the same
 * bytes: the text, the file names and the decoded bytes of every part must come out the same for
 * what MMSCs send (RFC 2231 parameter continuations and charsets, RFC 2047 words in parameters,
 * nested multiparts, base64 and quoted-printable parts, boundaries that appear mid-line).
 *
 * Where the two legitimately differ, the test says so and asserts our reading: MM4 header semantics
 * (3GPP TS 23.140 §8.4: X-Mms-* headers are read by protocols/mm4, not by a mail reader), a charset
 * nobody knows (we name it as an error, a mail reader shows something), and where a mail reader
 * puts a text part (postal-mime files a text/plain part with a file name under attachments).
 */
import test from 'ava';
import PostalMime from 'postal-mime';
import { entityText, parseMimeEntity, type MimeEntity } from '../../../protocols/mime/entity.js';
import { getHeader, parseParameterized } from '../../../protocols/mime/headers.js';

const crlf = (...lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

function leaves(e: MimeEntity): MimeEntity[] {
  return e.parts ? e.parts.flatMap(leaves) : [e];
}

/** The file name a part carries: Content-Disposition filename (RFC 2183), else Content-Type name. */
function fileName(e: MimeEntity): string | undefined {
  const disposition = getHeader(e.headers, 'Content-Disposition');
  return (disposition ? parseParameterized(disposition).params.filename : undefined) ?? e.params.name;
}

/** A body text part as a mail reader sees one: text/plain without a file name or attachment disposition. */
const isBodyText = (e: MimeEntity) =>
  e.mediaType === 'text/plain' &&
  fileName(e) === undefined &&
  !/^\s*attachment/i.test(getHeader(e.headers, 'Content-Disposition') ?? '');

/**
 * A textual part's bytes compared with LF line ends and without one final line break: postal-mime
 * rebuilds 7bit/8bit bodies line by line with LF and ends them with a line break, where RFC 2046
 * 5.1.1 gives the CRLF before a delimiter to the delimiter (we keep the bytes as sent). Binary
 * (base64) parts are compared byte for byte.
 */
const partBytes = (type: string, bytes: Buffer) =>
  type.startsWith('text/') || type === 'application/smil'
    ? Buffer.from(bytes.toString('latin1').replace(/\r\n/g, '\n').replace(/\n$/, ''), 'latin1').toString('hex')
    : bytes.toString('hex');

interface Reading {
  text: string;
  files: { type: string; name?: string; bytes: string }[];
}

function ours(raw: Buffer): Reading {
  const all = leaves(parseMimeEntity(raw));
  return {
    // postal-mime joins text parts with a line break and ends the text with one.
    text: all
      .filter(isBodyText)
      .map((e) => entityText(e).replace(/\r\n/g, '\n'))
      .join('\n'),
    files: all
      .filter((e) => !isBodyText(e))
      .map((e) => ({ type: e.mediaType, name: fileName(e), bytes: partBytes(e.mediaType, e.body) })),
  };
}

async function theirs(raw: Buffer): Promise<Reading> {
  const mail = await PostalMime.parse(raw, { attachmentEncoding: 'arraybuffer' });
  return {
    text: (mail.text ?? '').replace(/\r\n/g, '\n').replace(/\n$/, ''),
    files: mail.attachments.map((a) => ({
      type: a.mimeType,
      name: a.filename ?? undefined,
      bytes: partBytes(a.mimeType, Buffer.from(a.content as ArrayBuffer)),
    })),
  };
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xff, 0xd9]);
const b64 = (b: Buffer) => b.toString('base64').replace(/.{1,76}/g, '$&\r\n');

const CASES: Record<string, { raw: Buffer; text: string; names: (string | undefined)[] }> = {
  'RFC 2231 continuations and charsets in file names': {
    raw: crlf(
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Photos attached',
      '--b1',
      "Content-Type: image/jpeg; name*=iso-8859-1''K%F6ln.jpg",
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment;',
      " filename*0*=UTF-8''%C3%A9t%C3%A9%20;",
      ' filename*1*=%E2%9C%93;',
      ' filename*2=".jpg"',
      '',
      b64(JPEG),
      '--b1',
      "Content-Type: image/jpeg; name*=iso-8859-1''K%F6ln.jpg",
      'Content-Transfer-Encoding: base64',
      '',
      b64(JPEG),
      '--b1--',
      '',
    ),
    text: 'Photos attached',
    names: ['été ✓.jpg', 'Köln.jpg'],
  },
  'RFC 2047 words inside parameters': {
    raw: crlf(
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary=b2',
      '',
      '--b2',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'see the file',
      '--b2',
      'Content-Type: image/jpeg; name="=?UTF-8?B?w6l0w6kuanBn?="',
      'Content-Disposition: inline; filename="=?ISO-8859-1?Q?K=F6ln_am_Rhein.jpg?="',
      'Content-Transfer-Encoding: base64',
      '',
      b64(JPEG),
      '--b2--',
      '',
    ),
    text: 'see the file',
    names: ['Köln am Rhein.jpg'],
  },
  'nested multiparts (multipart/related in multipart/mixed), SMIL, text, image': {
    raw: crlf(
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      'preamble, not a part',
      '--outer',
      'Content-Type: multipart/related; type="application/smil"; start="<smil>"; boundary="inner"',
      '',
      '--inner',
      'Content-Type: application/smil; name=pres.smil',
      'Content-ID: <smil>',
      '',
      '<smil><body><par><img src="cid:img"/><text src="cid:txt"/></par></body></smil>',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      'Content-ID: <txt>',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Grüße ✓',
      '--inner',
      'Content-Type: image/jpeg; name=a.jpg',
      'Content-ID: <img>',
      'Content-Transfer-Encoding: base64',
      '',
      b64(JPEG),
      '--inner--',
      '--outer--',
      'epilogue',
      '',
    ),
    text: 'Grüße ✓',
    names: ['pres.smil', 'a.jpg'],
  },
  'quoted-printable and base64 parts': {
    raw: crlf(
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="=_qp"',
      '',
      '--=_qp',
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'K=F6ln ist sch=F6n, und diese Zeile ist lang genug, um weich umbrochen zu we=',
      'rden =3D gleich.',
      '--=_qp',
      'Content-Type: application/octet-stream; name=data.bin',
      'Content-Transfer-Encoding: base64',
      '',
      b64(Buffer.from([0, 1, 2, 3, 254, 255, 13, 10, 45, 45])),
      '--=_qp--',
      '',
    ),
    text: 'Köln ist schön, und diese Zeile ist lang genug, um weich umbrochen zu werden = gleich.',
    names: ['data.bin'],
  },
  'a boundary mid-line or followed by other characters is text; a delimiter may end in whitespace': {
    raw: crlf(
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary=zz',
      '',
      '--zz \t',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'see a--zz in text',
      '--zzz is not a delimiter either',
      'x --zz-- nor this',
      '--zz',
      'Content-Type: image/jpeg; name=b.jpg',
      'Content-Transfer-Encoding: base64',
      '',
      b64(JPEG),
      '--zz--  ',
      '',
    ),
    text: 'see a--zz in text\n--zzz is not a delimiter either\nx --zz-- nor this',
    names: ['b.jpg'],
  },
  'a single-part base64 text': {
    raw: crlf(
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      b64(Buffer.from('Bonjour ✓ à tous')),
    ),
    text: 'Bonjour ✓ à tous',
    names: [],
  },
};

for (const [name, c] of Object.entries(CASES)) {
  test(`same reading as postal-mime: ${name}`, async (t) => {
    const a = ours(c.raw);
    const b = await theirs(c.raw);
    t.is(a.text, c.text, 'our text');
    t.deepEqual(
      a.files.map((f) => f.name),
      c.names,
      'our file names',
    );
    t.is(a.text, b.text, 'text as postal-mime reads it');
    t.deepEqual(a.files, b.files, 'file names, types and bytes as postal-mime reads them');
    for (const f of a.files) if (f.type === 'image/jpeg') t.is(f.bytes, JPEG.toString('hex'));
  });
}

test('mid-line boundary: the text is not cut (RFC 2046 5.1.1 delimiters start a line)', (t) => {
  const e = parseMimeEntity(
    CASES['a boundary mid-line or followed by other characters is text; a delimiter may end in whitespace'].raw,
  );
  t.is(e.decodeError, undefined);
  t.is(e.parts?.length, 2);
});

test('a boundary that appears only mid-line never delimits: the multipart is an error, as a body without parts', async (t) => {
  const raw = crlf('MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=zz', '', 'see a--zz in text', '');
  const e = parseMimeEntity(raw);
  t.regex(e.decodeError ?? '', /boundary 'zz' never appears/);
  t.is(e.parts, undefined);
  // postal-mime, a mail reader, finds no part either and shows nothing as the text.
  const mail = await PostalMime.parse(raw);
  t.deepEqual(mail.attachments, []);
  t.falsy(mail.text?.trim());
});

test('where we differ on purpose: an unknown charset is an error we name, a mail reader still shows bytes', async (t) => {
  const raw = crlf('MIME-Version: 1.0', 'Content-Type: text/plain; charset=x-made-up', '', 'hello', '');
  const e = parseMimeEntity(raw);
  // Delivered as text it could be garbled; the MM is refused with a reason instead (23.140 §8.4.2
  // Error-content-not-accepted), so we never show what we could not read.
  t.regex(e.decodeError ?? '', /x-made-up/);
  const mail = await PostalMime.parse(raw);
  t.is(mail.text?.trim(), 'hello');
});

test('where we differ on purpose: X-Mms-* headers are MM4 fields, not mail text', async (t) => {
  // postal-mime keeps them as header strings; protocols/mm4 reads them with 23.140 §8.4 semantics
  // (quoted ids, enumerations). The MIME layer only hands them on, unchanged, in order.
  const raw = crlf(
    'X-Mms-Message-Type: MM4_forward.REQ',
    'X-Mms-Message-ID: "a;b"',
    'Content-Type: text/plain',
    '',
    'x',
  );
  const e = parseMimeEntity(raw);
  t.deepEqual(
    e.headers.filter((h) => h.name.startsWith('X-Mms')).map((h) => [h.name, h.value]),
    [
      ['X-Mms-Message-Type', 'MM4_forward.REQ'],
      ['X-Mms-Message-ID', '"a;b"'],
    ],
  );
  const mail = await PostalMime.parse(raw);
  t.is(mail.headers.find((h) => h.key === 'x-mms-message-id')?.value, '"a;b"');
});
