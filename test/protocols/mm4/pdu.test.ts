import test from 'ava';
import fc from 'fast-check';
import { entityText } from '../../../protocols/mime/entity.js';
import {
  MAX_MM4_HEADER_BYTES,
  MAX_MM4_ID_CHARS,
  parseMm4,
  serializeMm4,
  type Mm4Pdu,
} from '../../../protocols/mm4/pdu.js';
import { crlf, vector } from '../vectors.js';

function ok(raw: Buffer | string) {
  const r = parseMm4(Buffer.from(raw));
  if (!r.ok) throw new Error(`expected a PDU, got ${r.status}: ${r.error}`);
  return r.pdu;
}

test('the text forward vector parses with its ids, flags, expiry and text', (t) => {
  const pdu = ok(vector('mm4-forward-req-text.eml'));
  if (pdu.type !== 'MM4_forward.REQ') return t.fail();
  t.is(pdu.transactionId, 'T-20250304-0001');
  t.is(pdu.messageId, 'M-5c1d2e3f@mms.mnc001.mcc001.gprs');
  t.true(pdu.idsQuoted);
  t.is(pdu.from, '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs');
  t.deepEqual(pdu.to, ['+12025550199/TYPE=PLMN@mms.iwf.example.net']);
  t.true(pdu.ackRequest && pdu.deliveryReport);
  t.false(pdu.readReply);
  t.is(pdu.originatorSystem, 'system-user@mms.mnc001.mcc001.gprs');
  t.is(pdu.subject, 'Lunch?');
  t.is(pdu.date?.toISOString(), '2025-03-04T10:15:02.000Z');
  t.deepEqual(pdu.expiry, { at: new Date('2025-03-06T10:15:02.000Z') });
  t.is(pdu.senderVisibility, 'Show');
  t.is(pdu.forwardCounter, 1);
  t.is(pdu.content.mediaType, 'text/plain');
  t.is(entityText(pdu.content).trim(), 'Lunch at 12:30? -- Alice');
});

test('the image forward vector parses as multipart/related with SMIL, text and JPEG parts', (t) => {
  const pdu = ok(vector('mm4-forward-req-image.eml'));
  if (pdu.type !== 'MM4_forward.REQ') return t.fail();
  t.is(pdu.content.mediaType, 'multipart/related');
  const types = pdu.content.parts!.map((p) => p.mediaType);
  t.deepEqual(types, ['application/smil', 'text/plain', 'image/jpeg']);
  t.true(pdu.content.parts![2].body.length > 100, 'JPEG bytes base64-decoded');
  t.is(pdu.content.parts![2].body[0], 0xff);
  t.notRegex(pdu.subject ?? '', /=\?/, 'RFC 2047 subject decoded');
});

test('the forward.RES, delivery report and read reply vectors parse', (t) => {
  const res = ok(vector('mm4-forward-res.eml'));
  t.is(res.type, 'MM4_forward.RES');
  if (res.type === 'MM4_forward.RES') t.is(res.requestStatus, 'Ok');
  const dr = ok(vector('mm4-delivery-report-req.eml'));
  if (dr.type !== 'MM4_delivery_report.REQ') return t.fail();
  t.is(dr.mmStatus, 'Retrieved');
  t.true(dr.forwardToOriginatorUa);
  const rr = ok(vector('mm4-read-reply-report-req.eml'));
  if (rr.type !== 'MM4_read_reply_report.REQ') return t.fail();
  t.is(rr.readStatus, 'Read');
});

test('header names, the type token and Yes/No are read case-insensitively, ids unquoted', (t) => {
  const raw = [
    'From: a@x',
    'To: b@y',
    'Date: Tue, 04 Mar 2025 10:15:02 +0000',
    'x-mms-message-type: MM4_Delivery_report.REQ',
    'X-Mms-Transaction-Id: t1',
    'X-Mms-Message-Id: m1',
    'X-MMS-MM-STATUS-CODE: Unrecognized',
    'X-Mms-Ack-Request: yes',
    'X-Vendor-Thing: 42',
    '',
    '',
  ].join('\r\n');
  const pdu = ok(raw);
  if (pdu.type !== 'MM4_delivery_report.REQ') return t.fail();
  t.is(pdu.mmStatus, 'Unrecognised');
  t.is(pdu.transactionId, 't1');
  t.false(pdu.idsQuoted);
  t.true(pdu.ackRequest);
  t.deepEqual(pdu.extraHeaders, [{ name: 'X-Vendor-Thing', value: '42' }]);
});

test('a relative X-Mms-Expiry is kept as seconds', (t) => {
  const raw = vector('mm4-forward-req-text.eml')
    .toString()
    .replace(/X-Mms-Expiry: .*/, 'X-Mms-Expiry: 3600');
  const pdu = ok(raw);
  t.deepEqual(pdu.type === 'MM4_forward.REQ' && pdu.expiry, { relativeSeconds: 3600 });
});

test('missing mandatory headers give the MM4 status and name the header, with what was readable', (t) => {
  const base = vector('mm4-forward-req-text.eml').toString();
  const noMid = parseMm4(Buffer.from(base.replace(/X-Mms-Message-ID: [^\n]*\n/, '')));
  t.false(noMid.ok);
  if (noMid.ok) return;
  t.is(noMid.status, 'Error-message-format-corrupt');
  t.regex(noMid.error, /X-Mms-Message-ID/);
  t.is(noMid.partial.transactionId, 'T-20250304-0001');
  t.is(noMid.partial.originatorSystem, 'system-user@mms.mnc001.mcc001.gprs');
  t.true(noMid.partial.ackRequest);

  const noType = parseMm4(Buffer.from(base.replace(/X-Mms-Message-Type: [^\n]*\n/, '')));
  t.like(noType, { ok: false, status: 'Error-message-format-corrupt' });
  const unknown = parseMm4(Buffer.from(base.replace('MM4_forward.REQ', 'MM4_capability_negotiation.REQ')));
  t.like(unknown, { ok: false, status: 'Error-unsupported-message' });
  const res = parseMm4(
    Buffer.from(
      vector('mm4-forward-res.eml')
        .toString()
        .replace(/X-Mms-Request-Status-Code: [^\n]*\n/, ''),
    ),
  );
  t.like(res, { ok: false, error: 'missing X-Mms-Request-Status-Code' });
});

const common = {
  version: '6.16.0',
  transactionId: 'T-1',
  messageId: 'M-1@x',
  from: 'sys@a.example',
  to: ['sys@b.example'],
  sender: 'sys@a.example',
  date: new Date('2025-03-04T10:15:03.000Z'),
  rfc822MessageId: '<r1@a.example>',
  idsQuoted: true,
  extraHeaders: [],
};

test('every PDU type survives serialize -> parse', (t) => {
  const pdus: Mm4Pdu[] = [
    {
      ...common,
      type: 'MM4_forward.RES',
      requestStatus: 'Error-network-problem',
      statusText: 'Nicht zugestellt: Ünbekannt',
    },
    { ...common, idsQuoted: false, type: 'MM4_delivery_report.RES', requestStatus: 'Ok', statusText: 'fine' },
    { ...common, type: 'MM4_read_reply_report.RES', requestStatus: 'Ok' },
    {
      ...common,
      type: 'MM4_delivery_report.REQ',
      mmStatus: 'Rejected',
      mmStatusExtension: 'Rejection-by-MMS-recipient',
      statusText: 'x',
      ackRequest: true,
      originatorSystem: 'sys@a.example',
      forwardToOriginatorUa: true,
    },
    { ...common, type: 'MM4_read_reply_report.REQ', readStatus: 'Deleted without being read', ackRequest: false },
  ];
  for (const pdu of pdus) {
    const back = ok(serializeMm4(pdu));
    t.deepEqual(back, pdu, pdu.type);
  }
});

test('a forward.REQ with a non-ASCII subject and text round-trips', (t) => {
  const pdu = ok(crlf(vector('mm4-forward-req-text.eml')));
  if (pdu.type !== 'MM4_forward.REQ') return t.fail();
  const changed = {
    ...pdu,
    subject: 'Grüße aus Köln ✓',
    content: { ...pdu.content, params: { charset: 'utf-8' }, body: Buffer.from('Hällo ✓\r\nzweite Zeile') },
  };
  const back = ok(serializeMm4(changed));
  if (back.type !== 'MM4_forward.REQ') return t.fail();
  t.is(back.subject, 'Grüße aus Köln ✓');
  t.is(entityText(back.content), 'Hällo ✓\r\nzweite Zeile');
  t.is(back.messageId, pdu.messageId);
  t.deepEqual(back.expiry, pdu.expiry);
});

test('hostile input never throws', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      const r = parseMm4(Buffer.from(bytes));
      return typeof r.ok === 'boolean';
    }),
    { numRuns: 500 },
  );
  const headerish = fc.array(
    fc.tuple(
      fc.constantFrom(
        'X-Mms-Message-Type',
        'X-Mms-Transaction-ID',
        'X-Mms-Message-ID',
        'From',
        'To',
        'Content-Type',
        'X-Mms-Expiry',
        'Date',
      ),
      fc.string({ maxLength: 80 }),
    ),
    { maxLength: 12 },
  );
  fc.assert(
    fc.property(headerish, fc.string({ maxLength: 200 }), (hs, body) => {
      const raw = hs.map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n' + body;
      return typeof parseMm4(Buffer.from(raw)).ok === 'boolean';
    }),
    { numRuns: 500 },
  );
  const head =
    'X-Mms-Message-Type: MM4_forward.REQ\r\nX-Mms-Transaction-ID: t\r\nX-Mms-Message-ID: m\r\nFrom: a@b\r\nTo: c@d\r\n';
  // 200 levels of properly nested multiparts: past 8 levels they are kept as opaque bytes.
  const nested = Array.from(
    { length: 200 },
    (_, i) => `Content-Type: multipart/mixed; boundary=b${i}x\r\n\r\n--b${i}x\r\n`,
  );
  t.true(parseMm4(Buffer.from(head + nested.join('') + 'Content-Type: text/plain\r\n\r\nhi')).ok);
  // The same boundary 200 times: every inner multipart is empty, which is corrupt, not a crash.
  const empty =
    head +
    'Content-Type: multipart/mixed; boundary=b\r\n\r\n' +
    '--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n'.repeat(200);
  t.like(parseMm4(Buffer.from(empty)), { ok: false, status: 'Error-message-format-corrupt' });
  t.false(parseMm4(Buffer.alloc(17 * 1024 * 1024, 65)).ok);
  t.false(parseMm4(Buffer.from('X-Mms-Message-Type: ' + 'A'.repeat(100_000))).ok);
});

test('a part with broken base64 makes the forward.REQ a clear Error-message-format-corrupt', (t) => {
  const raw = vector('mm4-forward-req-image.eml')
    .toString()
    .replace(/(Content-Type: image\/jpeg[\s\S]*?\r?\n\r?\n)([A-Za-z0-9+/]{8})/, '$1$2!!##');
  const r = parseMm4(Buffer.from(raw));
  t.like(r, { ok: false, status: 'Error-message-format-corrupt', partial: { transactionId: 'T-20250304-0002' } });
  if (!r.ok) t.regex(r.error, /image\/jpeg: invalid characters in base64/);
});

test('a header block over MAX_MM4_HEADER_BYTES is Error-message-format-corrupt and nothing of it is kept', (t) => {
  const text = crlf(vector('mm4-forward-req-text.eml')).toString();
  const pad = `X-Pad: ${'a'.repeat(900)}\r\n`.repeat(Math.ceil(MAX_MM4_HEADER_BYTES / 900));
  const padded = text.replace('\r\n', `\r\n${pad}`);
  const r = parseMm4(Buffer.from(padded));
  t.false(r.ok);
  if (r.ok) return;
  t.is(r.status, 'Error-message-format-corrupt');
  t.regex(r.error, /header block of \d+ bytes exceeds 65536/);
  t.deepEqual(r.partial, {});
  // Just under the cap still reads.
  const under = text.replace('\r\n', `\r\nX-Pad: ${'a'.repeat(MAX_MM4_HEADER_BYTES - text.length - 200)}\r\n`);
  t.true(parseMm4(Buffer.from(under)).ok);
});

test('an X-Mms-Transaction-ID or X-Mms-Message-ID over MAX_MM4_ID_CHARS is corrupt and not echoed', (t) => {
  const text = crlf(vector('mm4-forward-req-text.eml')).toString();
  for (const header of ['X-Mms-Transaction-ID', 'X-Mms-Message-ID']) {
    const long = 'x'.repeat(MAX_MM4_ID_CHARS + 1);
    const r = parseMm4(Buffer.from(text.replace(new RegExp(`^${header}: .*$`, 'm'), `${header}: "${long}"`)));
    t.false(r.ok, header);
    if (r.ok) continue;
    t.is(r.status, 'Error-message-format-corrupt');
    t.regex(r.error, new RegExp(`${header} of ${MAX_MM4_ID_CHARS + 1} characters`));
    t.false(Object.values(r.partial).some((v) => typeof v === 'string' && v.length > MAX_MM4_ID_CHARS));
    const atBound = parseMm4(
      Buffer.from(text.replace(new RegExp(`^${header}: .*$`, 'm'), `${header}: "${'x'.repeat(MAX_MM4_ID_CHARS)}"`)),
    );
    t.true(atBound.ok, `${header} at the bound`);
  }
});
