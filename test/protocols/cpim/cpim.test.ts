import test from 'ava';
import fc from 'fast-check';
import {
  buildCpimMessage,
  cpimHeader,
  IMDN_NS,
  parseCpim,
  readImdnFields,
  serializeCpim,
} from '../../../protocols/cpim/cpim.js';
import { parseImdn, serializeImdn, type ImdnNotification } from '../../../protocols/cpim/imdn.js';
import { parseSipMessage } from '../../../protocols/sip/message.js';
import { crlf, vector } from '../vectors.js';

function sipBody(name: string): Buffer {
  const r = parseSipMessage(crlf(vector(name)));
  if (!r.ok) throw new Error(r.error);
  return r.message.body;
}

test('the CPIM of the pager-mode vector parses with its IMDN fields', (t) => {
  const r = parseCpim(sipBody('sip-message-cpim-text.txt'));
  if (!r.ok) return t.fail(r.error);
  const m = r.message;
  t.is(cpimHeader(m, 'From'), '<tel:+12025550101>');
  t.is(cpimHeader(m, 'Subject'), 'Lunch?');
  t.is(cpimHeader(m, 'Message-ID', IMDN_NS), 'Xk3p9QmT2aLwY7Rb');
  t.deepEqual(readImdnFields(m), {
    messageId: 'Xk3p9QmT2aLwY7Rb',
    disposition: ['positive-delivery', 'negative-delivery'],
    dateTime: new Date('2025-03-04T10:15:02.000Z'),
    from: 'tel:+12025550101',
    to: ['tel:+12025550199'],
  });
  t.is(m.content.body.toString(), 'Lunch at 12:30? -- Alice');
});

test('the FT-over-HTTP vector carries its descriptor as CPIM content', (t) => {
  const r = parseCpim(sipBody('sip-message-cpim-fthttp.txt'));
  if (!r.ok) return t.fail(r.error);
  t.regex(
    r.message.content.headers.find((h) => h.name === 'Content-Type')!.value,
    /application\/vnd.gsma.rcs-ft-http\+xml/,
  );
  t.regex(r.message.content.body.toString(), /<file-info type="file"/);
});

test('IMDN headers are found by namespace URN whatever the prefix', (t) => {
  const raw =
    'From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\nNS: foo <urn:ietf:params:imdn>\r\nfoo.Message-ID: abc\r\nimdn.Message-ID: wrong\r\n\r\nContent-Type: text/plain\r\n\r\nhi';
  const r = parseCpim(Buffer.from(raw));
  if (!r.ok) return t.fail(r.error);
  t.is(cpimHeader(r.message, 'Message-ID', IMDN_NS), 'abc');
  t.is(readImdnFields(r.message).from, 'sip:anonymous@anonymous.invalid');
});

test('a built message serializes to what the vector shows and parses back', (t) => {
  const m = buildCpimMessage({
    from: 'tel:+12025550101',
    to: 'tel:+12025550199',
    dateTime: new Date('2025-03-04T10:15:02.000Z'),
    subject: 'Lunch?',
    imdnMessageId: 'Xk3p9QmT2aLwY7Rb',
    disposition: ['positive-delivery', 'negative-delivery'],
    contentType: 'text/plain; charset=utf-8',
    body: Buffer.from('Grüße ✓'),
  });
  const bytes = serializeCpim(m);
  t.true(
    bytes
      .toString()
      .startsWith(
        'From: <tel:+12025550101>\r\nTo: <tel:+12025550199>\r\nDateTime: 2025-03-04T10:15:02.000Z\r\nSubject: Lunch?\r\nNS: imdn <urn:ietf:params:imdn>\r\n',
      ),
  );
  t.regex(bytes.toString(), /Content-Length: 11\r\n\r\nGrüße ✓$/);
  const back = parseCpim(bytes);
  t.deepEqual(back.ok && back.message, m);
});

test('no Disposition-Notification header when none is requested', (t) => {
  const m = buildCpimMessage({
    from: 'tel:+1',
    to: 'tel:+2',
    dateTime: new Date(0),
    imdnMessageId: 'x',
    contentType: 'text/plain',
    body: Buffer.from(''),
  });
  t.is(cpimHeader(m, 'Disposition-Notification', IMDN_NS), undefined);
});

test('malformed CPIM is refused with the reason, never thrown', (t) => {
  t.like(parseCpim(Buffer.from('no blank line')), { ok: false });
  t.like(parseCpim(Buffer.from('From: <a>\r\n\r\nX-No-Type: 1\r\n\r\nbody')), {
    ok: false,
    error: 'encapsulated Content-Type missing',
  });
  t.like(parseCpim(Buffer.from('From: <a>\r\n\r\nContent-Type: text/plain\r\nContent-Length: 99\r\n\r\nshort')), {
    ok: false,
  });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1000 }), (b) => typeof parseCpim(Buffer.from(b)).ok === 'boolean'));
});

test('the IMDN vector parses and round-trips', (t) => {
  const r = parseImdn(vector('imdn-delivered.xml').toString());
  if (!r.ok) return t.fail(r.error);
  const n: ImdnNotification = {
    messageId: 'Xk3p9QmT2aLwY7Rb',
    datetime: '2025-03-04T10:15:02.000Z',
    recipientUri: 'tel:+12025550199',
    originalRecipientUri: 'tel:+12025550199',
    kind: 'delivery',
    status: 'delivered',
  };
  t.deepEqual(r.notification, n);
  t.deepEqual(parseImdn(serializeImdn(n)), { ok: true, notification: n });
  const display: ImdnNotification = { messageId: 'a<&>b', datetime: 'x', kind: 'display', status: 'displayed' };
  t.deepEqual(parseImdn(serializeImdn(display)), { ok: true, notification: display });
});

test('IMDN with namespace prefixes parses; DOCTYPE and bad statuses are refused', (t) => {
  const prefixed =
    '<i:imdn xmlns:i="urn:ietf:params:xml:ns:imdn"><i:message-id>m</i:message-id><i:datetime>d</i:datetime><i:display-notification><i:status><i:displayed/></i:status></i:display-notification></i:imdn>';
  t.like(parseImdn(prefixed), { ok: true, notification: { kind: 'display', status: 'displayed' } });
  t.like(parseImdn('<!DOCTYPE x [<!ENTITY a "b">]><imdn/>'), { ok: false });
  t.like(
    parseImdn(
      '<imdn><message-id>m</message-id><datetime>d</datetime><delivery-notification><status><displayed/></status></delivery-notification></imdn>',
    ),
    { ok: false },
  );
});
