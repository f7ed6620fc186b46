import test from 'ava';
import { parseCpim } from '../../../protocols/cpim/cpim.js';
import { parseFtHttp, serializeFtHttp, type FtHttpDescriptor } from '../../../protocols/cpim/fthttp.js';
import { parseSipMessage } from '../../../protocols/sip/message.js';
import { crlf, vector } from '../vectors.js';

test('the FT-over-HTTP vector parses with file and thumbnail info', (t) => {
  const sip = parseSipMessage(crlf(vector('sip-message-cpim-fthttp.txt')));
  if (!sip.ok) return t.fail(sip.error);
  const cpim = parseCpim(sip.message.body);
  if (!cpim.ok) return t.fail(cpim.error);
  const d = parseFtHttp(cpim.message.content.body.toString());
  if (!d.ok) return t.fail(d.error);
  t.is(d.descriptor.file.contentType, 'image/jpeg');
  t.true(d.descriptor.file.size > 0);
  t.regex(d.descriptor.file.url, /^https:\/\//);
  t.truthy(d.descriptor.file.until);
  t.deepEqual(parseFtHttp(serializeFtHttp(d.descriptor)), d, 'and round-trips');
});

test('descriptors round-trip, including audio-message markers and escaping', (t) => {
  const samples: FtHttpDescriptor[] = [
    {
      file: {
        url: 'https://x/m/a?b=1&c=2',
        until: '2026-01-01T00:00:00Z',
        size: 1234,
        contentType: 'image/jpeg',
        name: 'Photo "1" <x>.jpg',
        disposition: 'render',
      },
      thumbnail: { url: 'https://x/m/t', until: '2026-01-01T00:00:00Z', size: 99, contentType: 'image/jpeg' },
    },
    {
      file: {
        url: 'https://x/m/v',
        until: '2026-01-01T00:00:00Z',
        size: 5000,
        contentType: 'audio/amr;voice-recording=yes',
        playingLengthMs: 4200,
      },
    },
  ];
  for (const d of samples) t.deepEqual(parseFtHttp(serializeFtHttp(d)), { ok: true, descriptor: d });
  t.regex(
    serializeFtHttp(samples[0]),
    /<file-info type="thumbnail">[\s\S]*<file-info type="file"/,
    'thumbnail first (RCC.07)',
  );
  t.regex(serializeFtHttp(samples[1]), /xmlns:am="urn:gsma:params:xml:ns:rcs:rcs:rram"[\s\S]*<am:playing-length>4200</);
});

test('hostile or useless descriptors are refused', (t) => {
  t.like(parseFtHttp('<!DOCTYPE file [<!ENTITY x "y">]><file/>'), { ok: false });
  t.like(
    parseFtHttp(
      '<file><file-info type="thumbnail"><file-size>1</file-size><content-type>image/jpeg</content-type><data url="u" until="x"/></file-info></file>',
    ),
    { ok: false },
  );
  t.like(parseFtHttp('x'.repeat(70_000)), { ok: false });
});
