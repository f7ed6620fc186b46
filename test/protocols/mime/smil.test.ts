import test from 'ava';
import { parseMimeEntity, serializeMimeEntity, entityText } from '../../../protocols/mime/entity.js';
import { partsInPresentationOrder } from '../../../protocols/mime/smil.js';
import { buildMmContent } from '../../../protocols/mime/smil-build.js';
import { parseMm4 } from '../../../protocols/mm4/pdu.js';
import { vector } from '../vectors.js';

const part = (type: string, headers: string, body: string) => `Content-Type: ${type}\r\n${headers}\r\n${body}`;

test('the image vector presents its image before its text, as its SMIL says', (t) => {
  const r = parseMm4(vector('mm4-forward-req-image.eml'));
  if (!r.ok || r.pdu.type !== 'MM4_forward.REQ') return t.fail();
  t.deepEqual(partsInPresentationOrder(r.pdu.content).map((p) => p.mediaType), ['image/jpeg', 'text/plain']);
});

test('without SMIL, nested multiparts are flattened in MIME order', (t) => {
  const inner = ['--in', part('text/plain', '', 'one'), '--in', part('image/gif', 'Content-Transfer-Encoding: base64\r\n', 'R0lGODlhAQABAAAAACw='), '--in--'].join('\r\n');
  const raw = ['Content-Type: multipart/mixed; boundary=out', '', '--out', part('multipart/related; boundary=in', '', inner), '--out', part('text/plain', '', 'two'), '--out--', ''].join('\r\n');
  const parts = partsInPresentationOrder(parseMimeEntity(Buffer.from(raw)));
  t.deepEqual(parts.map((p) => p.mediaType), ['text/plain', 'image/gif', 'text/plain']);
  t.deepEqual(parts.filter((p) => p.mediaType === 'text/plain').map(entityText), ['one', 'two']);
});

test('SMIL references by Content-Location work, and unreferenced parts come last', (t) => {
  const smil = '<smil><body><par><audio src="a.amr"/><text src="t.txt"/></par></body></smil>';
  const raw = [
    'Content-Type: multipart/related; boundary=b',
    '',
    '--b', part('text/plain', 'Content-Location: t.txt\r\n', 'hi'),
    '--b', part('application/smil', '', smil),
    '--b', part('image/jpeg', 'Content-Location: extra.jpg\r\n', 'x'),
    '--b', part('audio/amr', 'Content-Location: a.amr\r\n', 'y'),
    '--b--', '',
  ].join('\r\n');
  t.deepEqual(partsInPresentationOrder(parseMimeEntity(Buffer.from(raw))).map((p) => p.mediaType), ['audio/amr', 'text/plain', 'image/jpeg']);
});

test('a built MM has SMIL first and presents its media and text in order', (t) => {
  const mm = buildMmContent('Hallo ✓', [{ contentType: 'image/jpeg', name: 'a b.jpg', body: Buffer.from([0xff, 0xd8, 0xff]) }]);
  const back = parseMimeEntity(serializeMimeEntity(mm));
  t.is(back.mediaType, 'multipart/related');
  t.is(back.params.type, 'application/smil');
  t.is(back.params.start, '<smil@iwf>');
  t.deepEqual(back.parts!.map((p) => p.mediaType), ['application/smil', 'text/plain', 'image/jpeg']);
  t.deepEqual(partsInPresentationOrder(back).map((p) => p.mediaType), ['image/jpeg', 'text/plain']);
  t.is(entityText(back.parts![1]), 'Hallo ✓');
  t.deepEqual(buildMmContent('only text', []).mediaType, 'text/plain');
});
