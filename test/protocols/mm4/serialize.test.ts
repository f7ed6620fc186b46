/**
 * Writing MM4 for one peer (protocols/mm4/serialize.ts, answer.ts): mailboxes with a domain
 * (RFC 5321 4.1.2), the peer's rules (status headers, multipart wrapping, transfer encodings,
 * 8bit only over 8BITMIME, RFC 6152), sizes as sent, and where answers go.
 */
import test from 'ava';
import { decodeQuotedPrintable, entityText } from '../../../protocols/mime/entity.js';
import { answerAddress, mm4AnswerAddress, mm4AnswerTo } from '../../../protocols/mm4/answer.js';
import { parseMm4, type Mm4ForwardReq, type Mm4Pdu } from '../../../protocols/mm4/pdu.js';
import {
  bodyBudgetBytes,
  encodedBodyBytes,
  encodeQuotedPrintable,
  isMailbox,
  Mm4AddressError,
  qualifyMm4Address,
  serializeMm4,
  writeMm4,
} from '../../../protocols/mm4/serialize.js';
import { buildMmContent } from '../../../protocols/mime/smil-build.js';

const PEER = 'mms.mnc001.mcc001.gprs';
const OWN = 'mms.iwf.example.net';

function ok(raw: Buffer) {
  const r = parseMm4(raw);
  if (!r.ok) throw new Error(`expected a PDU, got ${r.status}: ${r.error}`);
  return r.pdu;
}
const header = (raw: Buffer, name: string) =>
  new RegExp(`^${name}: (.*)$`, 'mi').exec(raw.toString('latin1').split('\r\n\r\n')[0])?.[1];

const forward = (o: Partial<Mm4ForwardReq> = {}): Mm4ForwardReq => ({
  type: 'MM4_forward.REQ',
  version: '6.16.0',
  transactionId: 'T-1',
  messageId: 'M-1',
  idsQuoted: true,
  from: '+12025550101/TYPE=PLMN@' + OWN,
  to: ['+4915112345678/TYPE=PLMN@' + PEER],
  cc: [],
  sender: 'mm4-system@' + OWN,
  date: new Date('2026-01-01T00:00:00Z'),
  ackRequest: true,
  originatorSystem: 'mm4-system@' + OWN,
  deliveryReport: true,
  readReply: false,
  extraHeaders: [],
  content: buildMmContent('hello', []),
  ...o,
});

const report = (o: Partial<Mm4Pdu> = {}): Mm4Pdu =>
  ({
    type: 'MM4_delivery_report.REQ',
    version: '6.16.0',
    transactionId: 'T-r1',
    messageId: 'M-1',
    idsQuoted: false,
    from: '+12025550199/TYPE=PLMN@' + OWN,
    to: ['+12025550101/TYPE=PLMN@' + PEER],
    sender: 'mm4-system@' + OWN,
    date: new Date('2026-01-01T00:00:00Z'),
    ackRequest: false,
    originatorSystem: 'mm4-system@' + OWN,
    mmStatus: 'Retrieved',
    extraHeaders: [],
    ...o,
  }) as Mm4Pdu;

test('mailboxes: a local part and a domain, never `;` or a list', (t) => {
  for (const good of ['+12025550100/TYPE=PLMN@mms.example.net', 'mm4-system@mms.mnc001.mcc001.gprs', 'a@[10.0.0.1]'])
    t.true(isMailbox(good), good);
  for (const bad of [
    'system=mmsc.vc.test;party=+12025550100',
    '+12025550100/TYPE=PLMN',
    '+12025550100',
    'a@b.c, d@e.f',
    '"a;b"@x.example',
    'a@-bad-.example',
    'a b@x.example',
    '@x.example',
    'a@',
    `${'x'.repeat(65)}@x.example`,
  ])
    t.false(isMailbox(bad), bad);
});

test('a bare +E164 or +E164/TYPE=PLMN gets the domain; what cannot be repaired is undefined', (t) => {
  t.is(qualifyMm4Address('+12025550100', PEER), `+12025550100/TYPE=PLMN@${PEER}`);
  t.is(qualifyMm4Address('+12025550100/type=plmn', PEER), `+12025550100/TYPE=PLMN@${PEER}`);
  t.is(qualifyMm4Address(`+1/TYPE=PLMN@${OWN}`, PEER), `+1/TYPE=PLMN@${OWN}`, 'a mailbox stays');
  t.is(qualifyMm4Address('+12025550100'), undefined, 'no domain to add');
  t.is(qualifyMm4Address('system=mmsc.vc.test;party=+12025550100', PEER), undefined);
});

test('strict writing: To/Cc get the peer domain, From/Sender ours, and a `;` address throws', (t) => {
  const raw = serializeMm4(
    forward({ from: '+12025550101', to: ['+4915112345678/TYPE=PLMN'], cc: ['+4915199999999'] }),
    {
      domains: { peer: PEER, own: OWN },
    },
  );
  t.is(header(raw, 'To'), `+4915112345678/TYPE=PLMN@${PEER}`);
  t.is(header(raw, 'Cc'), `+4915199999999/TYPE=PLMN@${PEER}`);
  t.is(header(raw, 'From'), `+12025550101/TYPE=PLMN@${OWN}`);
  const err = t.throws(
    () => serializeMm4(report({ to: ['system=mmsc.vc.test;party=+12025550100'] }), { domains: { peer: PEER } }),
    { instanceOf: Mm4AddressError },
  );
  t.is(err.field, 'To');
  t.throws(() => serializeMm4(forward({ originatorSystem: 'sys' }), { domains: { peer: PEER } }), {
    instanceOf: Mm4AddressError,
  });
  // Without domains (pure callers) the PDU is written as given.
  t.is(header(serializeMm4(forward({ to: ['+1'] })), 'To'), '+1');
});

test('statusHeaders both: X-Mms-Status next to X-Mms-MM-Status-Code and X-Mms-Read-Status', (t) => {
  const dr = serializeMm4(report(), { rules: { statusHeaders: 'both' } });
  t.is(header(dr, 'X-Mms-MM-Status-Code'), 'Retrieved');
  t.is(header(dr, 'X-Mms-Status'), 'Retrieved');
  const rr = serializeMm4(report({ type: 'MM4_read_reply_report.REQ', readStatus: 'Read' }), {
    rules: { statusHeaders: 'both' },
  });
  t.is(header(rr, 'X-Mms-Read-Status'), 'Read');
  t.is(header(rr, 'X-Mms-Status'), 'Read');
  t.is(header(serializeMm4(report(), { rules: { statusHeaders: 'standard' } }), 'X-Mms-Status'), undefined);
  const back = ok(dr);
  t.is(back.type, 'MM4_delivery_report.REQ');
  t.deepEqual(back.extraHeaders, [{ name: 'X-Mms-Status', value: 'Retrieved' }]);
});

test('ack request and id quoting are what the PDU says (reports: reportAck none, quoteIds false)', (t) => {
  const raw = serializeMm4(report({ ackRequest: false, idsQuoted: false }));
  t.is(header(raw, 'X-Mms-Ack-Request'), 'No');
  t.is(header(raw, 'X-Mms-Transaction-ID'), 'T-r1');
  t.is(header(serializeMm4(report({ idsQuoted: true })), 'X-Mms-Message-ID'), '"M-1"');
});

test('multipart always wraps a text-only MM in multipart/mixed; auto leaves it', (t) => {
  const wrapped = ok(serializeMm4(forward(), { rules: { multipart: 'always' } }));
  if (wrapped.type !== 'MM4_forward.REQ') return t.fail();
  t.is(wrapped.content.mediaType, 'multipart/mixed');
  t.is(wrapped.content.parts?.length, 1);
  t.is(wrapped.content.parts![0].mediaType, 'text/plain');
  t.is(entityText(wrapped.content.parts![0]), 'hello');
  const plain = ok(serializeMm4(forward(), { rules: { multipart: 'auto' } }));
  if (plain.type === 'MM4_forward.REQ') t.is(plain.content.mediaType, 'text/plain');
  const media = buildMmContent('hi', [{ contentType: 'image/gif', name: 'a.gif', body: Buffer.from('GIF89a') }]);
  const rich = ok(serializeMm4(forward({ content: media }), { rules: { multipart: 'always' } }));
  if (rich.type === 'MM4_forward.REQ') t.is(rich.content.mediaType, 'multipart/related', 'already multipart');
});

const jpegish = () => {
  const b = Buffer.alloc(3000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 131) & 0xff;
  return b;
};
const withImage = (text = 'hi', body = jpegish()) =>
  forward({ content: buildMmContent(text, [{ contentType: 'image/jpeg', name: 'p.jpg', body }]) });
/** The Content-Transfer-Encoding written for the part of `type`. */
const partCte = (raw: Buffer, type: string) => {
  const text = raw.toString('latin1');
  return /content-transfer-encoding: (\S+)/i.exec(text.slice(text.indexOf(`Content-Type: ${type}`)))?.[1];
};

test('binaryEncoding: base64 by default, quoted-printable when asked; bytes survive', (t) => {
  const img = jpegish();
  const b64 = writeMm4(withImage(), {});
  t.is(partCte(b64.raw, 'image/jpeg'), 'base64');
  const qp = writeMm4(withImage(), { rules: { binaryEncoding: 'quoted-printable' } });
  t.is(partCte(qp.raw, 'image/jpeg'), 'quoted-printable');
  for (const w of [b64, qp]) {
    const back = ok(w.raw);
    if (back.type !== 'MM4_forward.REQ') return t.fail();
    t.deepEqual(back.content.parts!.find((p) => p.mediaType === 'image/jpeg')!.body, img);
    t.is(w.body, '7bit');
  }
  const qpText = qp.raw.toString('latin1');
  const qpBody = qpText.slice(qpText.indexOf('Content-Transfer-Encoding: quoted-printable'));
  t.true(
    qpBody.split('\r\n').every((l) => l.length <= 76),
    'QP lines of at most 76',
  );
});

test('binaryEncoding 8bit: only over 8BITMIME and for 8bit data, else base64 with a note', (t) => {
  const noMime = writeMm4(withImage('hi', Buffer.from('8bit\xe9data\r\nline two', 'latin1')), {
    rules: { binaryEncoding: '8bit' },
    smtp: { eightBitMime: false },
  });
  t.is(partCte(noMime.raw, 'image/jpeg'), 'base64');
  t.regex(noMime.notes.join(), /no 8BITMIME \(RFC 6152\)/);
  t.is(noMime.body, '7bit');

  const binary = writeMm4(withImage(), { rules: { binaryEncoding: '8bit' }, smtp: { eightBitMime: true } });
  t.is(partCte(binary.raw, 'image/jpeg'), 'base64');
  t.regex(binary.notes.join(), /BINARYMIME/);

  const data = Buffer.from('8bit\xe9data\r\nline two', 'latin1');
  const eight = writeMm4(withImage('hi', data), { rules: { binaryEncoding: '8bit' }, smtp: { eightBitMime: true } });
  t.is(partCte(eight.raw, 'image/jpeg'), '8bit');
  t.is(eight.body, '8bitmime');
  const back = ok(eight.raw);
  if (back.type === 'MM4_forward.REQ')
    t.deepEqual(back.content.parts!.find((p) => p.mediaType === 'image/jpeg')!.body, data);
});

test('non-ASCII text goes 8bit only over 8BITMIME; else base64 (or quoted-printable)', (t) => {
  const text = forward({ content: buildMmContent('Grüße ✓', []) });
  const eight = writeMm4(text, { smtp: { eightBitMime: true } });
  t.is(header(eight.raw, 'Content-Transfer-Encoding'), '8bit');
  t.is(eight.body, '8bitmime');
  const seven = writeMm4(text, { smtp: { eightBitMime: false } });
  t.is(header(seven.raw, 'Content-Transfer-Encoding'), 'base64');
  t.is(seven.body, '7bit');
  const qp = writeMm4(text, { smtp: { eightBitMime: false }, rules: { binaryEncoding: 'quoted-printable' } });
  t.is(header(qp.raw, 'Content-Transfer-Encoding'), 'quoted-printable');
  for (const w of [eight, seven, qp]) {
    const back = ok(w.raw);
    if (back.type === 'MM4_forward.REQ') t.is(entityText(back.content), 'Grüße ✓');
  }
  t.true(/^[\x00-\x7f]*$/.test(seven.raw.toString('latin1')), 'nothing 8bit on the wire');
  const ascii = writeMm4(forward(), { smtp: { eightBitMime: false } });
  t.is(header(ascii.raw, 'Content-Transfer-Encoding'), '7bit');
});

test('quoted-printable: RFC 2045 6.7 rules and a round trip', (t) => {
  t.is(encodeQuotedPrintable(Buffer.from('a=b \r\nc\t'), true).toString(), 'a=3Db=20\r\nc=09');
  t.is(encodeQuotedPrintable(Buffer.from('\r\n'), false).toString(), '=0D=0A');
  const bytes = jpegish();
  t.deepEqual(decodeQuotedPrintable(encodeQuotedPrintable(bytes, false)), bytes);
});

test('sizes as sent: base64 and quoted-printable overhead, and the body budget within a limit', (t) => {
  for (const n of [0, 1, 2, 3, 56, 57, 58, 1000, 3000, 100_000]) {
    const body = Buffer.alloc(n, 0xff);
    const b64 = Buffer.from(body.toString('base64').replace(/.{1,76}/g, '$&\r\n'));
    t.is(encodedBodyBytes(n, 'base64'), b64.length, `base64 of ${n}`);
    t.true(encodedBodyBytes(n, 'quoted-printable') >= encodeQuotedPrintable(body, false).length, `qp of ${n}`);
  }
  t.is(encodedBodyBytes(1000, '8bit'), 1000);
  const budget = bodyBudgetBytes(100_000, 2000, 'base64');
  t.true(encodedBodyBytes(budget, 'base64') <= 98_000);
  t.true(encodedBodyBytes(budget + 1, 'base64') > 98_000);
  t.true(Math.abs(budget - 98_000 * (57 / 78)) < 3, `${budget} is about 3/4 less the line breaks`);
  t.is(bodyBudgetBytes(1000, 2000, 'base64'), 0);
  // The whole PDU as sent: the limit counts the headers and the encoded parts.
  const img = Buffer.alloc(20_000, 7);
  const raw = serializeMm4(withImage('hi', img));
  t.true(raw.length > encodedBodyBytes(img.length, 'base64'));
  t.true(raw.length - encodedBodyBytes(img.length, 'base64') < 2048, `${raw.length}: headers under 2 KB`);
});

test('answerAddress: a mailbox Originator-System, else the peer systemAddress, else Sender/From', (t) => {
  const odd = 'system=mmsc.vc.test;party=+12025550100';
  const sys = 'mm4-system@mmsc.vc.test';
  t.is(answerAddress({ originatorSystem: `sys@${PEER}`, sender: 'x@y.z' }, { systemAddress: sys }), `sys@${PEER}`);
  t.is(answerAddress({ originatorSystem: odd, sender: 'x@y.z' }, { systemAddress: sys }), sys);
  t.is(answerAddress({ originatorSystem: odd, sender: 'x@y.z', from: 'f@y.z' }), 'x@y.z');
  t.is(answerAddress({ originatorSystem: odd, sender: '+1202', from: 'f@y.z' }), 'f@y.z');
  t.is(answerAddress({ originatorSystem: odd, from: '+12025550100/TYPE=PLMN' }), undefined);
  t.is(answerAddress({}), undefined);
  for (const req of [{ originatorSystem: odd }, { originatorSystem: 'a;b@c.d', from: 'x@nodot' }]) {
    const a = answerAddress(req);
    t.true(a === undefined || (!a.includes(';') && a.includes('@')));
  }
});

test('the .RES to an odd originator system goes to the peer systemAddress, with the ids echoed', (t) => {
  const req = ok(
    serializeMm4(forward({ originatorSystem: 'system=mmsc.vc.test;party=+12025550100', idsQuoted: false })),
  );
  if (req.type !== 'MM4_forward.REQ') return t.fail();
  t.is(req.originatorSystem, 'system=mmsc.vc.test;party=+12025550100');
  const res = mm4AnswerTo(req, {
    status: 'Ok',
    from: 'mm4-system@' + OWN,
    rules: { systemAddress: 'sys@mmsc.vc.test' },
  });
  t.deepEqual(res.to, ['sys@mmsc.vc.test']);
  t.false(res.idsQuoted, "the requester's style");
  t.is(mm4AnswerAddress(req), 'mm4-system@' + OWN, 'no systemAddress: its Sender');
  const bare = { ...req, sender: undefined, from: '+12025550101/TYPE=PLMN' };
  t.throws(() => mm4AnswerAddress(bare), { instanceOf: Mm4AddressError });
});

test('no header injection: CR, LF or NUL in any header value we write is refused, folding is not', (t) => {
  // Text fields are RFC 2047-encoded, so a CR/LF in them never starts a header of its own.
  const subject = serializeMm4(forward({ subject: 'Hi\r\nBcc: victim@example.net' }));
  t.notRegex(subject.toString('latin1'), /^Bcc:/m);
  t.throws(() => serializeMm4(forward({ extraHeaders: [{ name: 'X-Vendor', value: 'a\nb' }] })), {
    instanceOf: TypeError,
  });
  t.throws(() => serializeMm4(forward({ extraHeaders: [{ name: 'X-Vendor', value: 'a\u0000b' }] })), {
    instanceOf: TypeError,
  });
  t.throws(() => serializeMm4(forward({ extraHeaders: [{ name: 'Bad Name', value: 'x' }] })), {
    instanceOf: TypeError,
  });
  const folded = serializeMm4(forward({ extraHeaders: [{ name: 'X-Vendor', value: 'a\r\n b' }] }));
  t.regex(folded.toString('latin1'), /X-Vendor: a\r\n b\r\n/);
});
