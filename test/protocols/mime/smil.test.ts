import test from 'ava';
import PostalMime from 'postal-mime';
import { parseMimeEntity, serializeMimeEntity, entityText } from '../../../protocols/mime/entity.js';
import { partsInPresentationOrder } from '../../../protocols/mime/smil.js';
import { getHeader, parseParameterized } from '../../../protocols/mime/headers.js';
import { buildMmContent, contentLocation } from '../../../protocols/mime/smil-build.js';
import { parseMm4 } from '../../../protocols/mm4/pdu.js';
import { vector } from '../vectors.js';

const part = (type: string, headers: string, body: string) => `Content-Type: ${type}\r\n${headers}\r\n${body}`;

test('the image vector presents its image before its text, as its SMIL says', (t) => {
  const r = parseMm4(vector('mm4-forward-req-image.eml'));
  if (!r.ok || r.pdu.type !== 'MM4_forward.REQ') return t.fail();
  t.deepEqual(
    partsInPresentationOrder(r.pdu.content).map((p) => p.mediaType),
    ['image/jpeg', 'text/plain'],
  );
});

test('without SMIL, nested multiparts are flattened in MIME order', (t) => {
  const inner = [
    '--in',
    part('text/plain', '', 'one'),
    '--in',
    part('image/gif', 'Content-Transfer-Encoding: base64\r\n', 'R0lGODlhAQABAAAAACw='),
    '--in--',
  ].join('\r\n');
  const raw = [
    'Content-Type: multipart/mixed; boundary=out',
    '',
    '--out',
    part('multipart/related; boundary=in', '', inner),
    '--out',
    part('text/plain', '', 'two'),
    '--out--',
    '',
  ].join('\r\n');
  const parts = partsInPresentationOrder(parseMimeEntity(Buffer.from(raw)));
  t.deepEqual(
    parts.map((p) => p.mediaType),
    ['text/plain', 'image/gif', 'text/plain'],
  );
  t.deepEqual(parts.filter((p) => p.mediaType === 'text/plain').map(entityText), ['one', 'two']);
});

test('SMIL references by Content-Location work, and unreferenced parts come last', (t) => {
  const smil = '<smil><body><par><audio src="a.amr"/><text src="t.txt"/></par></body></smil>';
  const raw = [
    'Content-Type: multipart/related; boundary=b',
    '',
    '--b',
    part('text/plain', 'Content-Location: t.txt\r\n', 'hi'),
    '--b',
    part('application/smil', '', smil),
    '--b',
    part('image/jpeg', 'Content-Location: extra.jpg\r\n', 'x'),
    '--b',
    part('audio/amr', 'Content-Location: a.amr\r\n', 'y'),
    '--b--',
    '',
  ].join('\r\n');
  t.deepEqual(
    partsInPresentationOrder(parseMimeEntity(Buffer.from(raw))).map((p) => p.mediaType),
    ['audio/amr', 'text/plain', 'image/jpeg'],
  );
});

test('a built MM has SMIL first and presents its media and text in order', (t) => {
  const mm = buildMmContent('Hallo ✓', [
    { contentType: 'image/jpeg', name: 'a b.jpg', body: Buffer.from([0xff, 0xd8, 0xff]) },
  ]);
  const back = parseMimeEntity(serializeMimeEntity(mm));
  t.is(back.mediaType, 'multipart/related');
  t.is(back.params.type, 'application/smil');
  t.is(back.params.start, '<smil@iwf>');
  t.deepEqual(
    back.parts!.map((p) => p.mediaType),
    ['application/smil', 'text/plain', 'image/jpeg'],
  );
  t.deepEqual(
    partsInPresentationOrder(back).map((p) => p.mediaType),
    ['image/jpeg', 'text/plain'],
  );
  t.is(entityText(back.parts![1]), 'Hallo ✓');
  t.deepEqual(buildMmContent('only text', []).mediaType, 'text/plain');
});

test('file names of any characters: a bare URI-safe Content-Location, the name itself in name and filename', async (t) => {
  const names = ['Grüße "vom" Strand.jpg', 'a b\r\nX-Evil: 1.jpg', '日本.jpg', 'pic.jpg'];
  const mm = buildMmContent(
    'hi',
    names.map((name) => ({ contentType: 'image/jpeg', name, body: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) })),
  );
  const raw = serializeMimeEntity(mm);
  const back = parseMimeEntity(raw);
  const media = back.parts!.slice(2);
  const locations = media.map((p) => getHeader(p.headers, 'Content-Location'));
  t.deepEqual(locations, ['Gru_e_vom_Strand.jpg', 'a_b_X-Evil_1.jpg', 'part2.jpg', 'pic.jpg']);
  // RFC 2557 4: a URI, written bare; here only RFC 3986 unreserved characters.
  for (const loc of locations) t.regex(loc!, /^[A-Za-z0-9._-]+$/);
  t.notRegex(raw.toString('latin1'), /^X-Evil/m, 'no header made of a name');
  t.deepEqual(
    media.map((p) => p.params.name),
    names,
  );
  t.deepEqual(
    media.map((p) => parseParameterized(getHeader(p.headers, 'Content-Disposition')!)),
    names.map((filename) => ({ value: 'inline', params: { filename } })),
  );
  // Every SMIL src names exactly one part by its Content-ID (RFC 2392), and the parts' locations are distinct.
  const smil = back.parts![0].body.toString();
  const srcs = [...smil.matchAll(/src="cid:([^"]+)"/g)].map((m) => m[1]);
  t.deepEqual(
    srcs.map((id) => back.parts!.filter((p) => getHeader(p.headers, 'Content-ID') === `<${id}>`).length),
    [1, 1, 1, 1, 1],
  );
  t.is(new Set(back.parts!.map((p) => getHeader(p.headers, 'Content-Location'))).size, back.parts!.length);
  // An independent reader (postal-mime, RFC 2231 and all) gets the names back.
  const mail = await PostalMime.parse(Buffer.concat([Buffer.from('MIME-Version: 1.0\r\n'), raw]));
  t.deepEqual(
    mail.attachments.filter((a) => a.mimeType === 'image/jpeg').map((a) => a.filename),
    names,
  );
});

test('Content-Locations are kept apart from each other and from the SMIL and text parts', (t) => {
  t.is(contentLocation('pic.jpg', 'part0', ['pic.jpg']), 'pic-2.jpg');
  t.is(contentLocation('PIC.JPG', 'part0', ['pic.jpg', 'pic-2.jpg']), 'PIC-3.jpg');
  t.is(contentLocation('text0.txt', 'part0'), 'text0-2.txt');
  t.is(contentLocation('..', 'part7'), 'part7');
  const long = contentLocation('x'.repeat(300) + '.jpeg', 'part0', ['x']);
  t.true(long.length <= 64 && long.endsWith('xx.jpeg'), long);
});
