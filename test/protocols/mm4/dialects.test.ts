import test from 'ava';
import fc from 'fast-check';
import { entityText } from '../../../protocols/mime/entity.js';
import { parseMm4, type Mm4Pdu } from '../../../protocols/mm4/pdu.js';
import { crlf, vector } from '../vectors.js';

function ok(raw: Buffer | string): Mm4Pdu {
  const r = parseMm4(Buffer.from(raw));
  if (!r.ok) throw new Error(`expected a PDU, got ${r.status}: ${r.error}`);
  return r.pdu;
}

/** A report as some MMSC writes it: the vector's headers, the status line(s) replaced. */
const deliveryReport = (...status: string[]) =>
  crlf(vector('mm4-delivery-report-req.eml'))
    .toString()
    .replace('X-Mms-MM-Status-Code: Retrieved\r\n', status.map((l) => `${l}\r\n`).join(''));
const readReply = (...status: string[]) =>
  crlf(vector('mm4-read-reply-report-req.eml'))
    .toString()
    .replace('X-Mms-Read-Status: Read\r\n', status.map((l) => `${l}\r\n`).join(''));
const forward = (replace: [RegExp | string, string][]) =>
  replace.reduce<string>((s, [a, b]) => s.replace(a, b), crlf(vector('mm4-forward-req-text.eml')).toString());

test('PDUs as 23.140 writes them tolerate nothing and have nothing unreadable', (t) => {
  for (const name of [
    'mm4-forward-req-text.eml',
    'mm4-forward-req-image.eml',
    'mm4-forward-res.eml',
    'mm4-delivery-report-req.eml',
    'mm4-read-reply-report-req.eml',
  ]) {
    const pdu = ok(vector(name));
    t.false('tolerated' in pdu, name);
    t.false('unreadable' in pdu, name);
  }
});

test('a delivery report with X-Mms-Status and no X-Mms-MM-Status-Code reads that status, and says so', (t) => {
  const pdu = ok(deliveryReport('X-Mms-Status: Retrieved'));
  if (pdu.type !== 'MM4_delivery_report.REQ') return t.fail();
  t.is(pdu.mmStatus, 'Retrieved');
  t.deepEqual(pdu.tolerated, ['X-Mms-Status used for the missing X-Mms-MM-Status-Code']);

  const both = ok(deliveryReport('X-Mms-Status: Expired', 'X-Mms-MM-Status-Code: Rejected'));
  t.like(both, { mmStatus: 'Rejected' });
  t.false('tolerated' in both, 'the 23.140 header wins, nothing tolerated');

  for (const [line, note] of [
    ['X-Mms-MMStatus-Code: Deferred', 'X-Mms-MMStatus-Code read as X-Mms-MM-Status-Code'],
    ['X_Mms_MM_Status_Code: Deferred', 'X_Mms_MM_Status_Code read as X-Mms-MM-Status-Code'],
    ['X-Mms-MM-Status: Deferred', 'X-Mms-MM-Status used for the missing X-Mms-MM-Status-Code'],
    ['x-mms-status: deferred', 'x-mms-status used for the missing X-Mms-MM-Status-Code'],
  ]) {
    t.like(ok(deliveryReport(line)), { mmStatus: 'Deferred', tolerated: [note] }, line);
  }
});

test('status value spellings are read with a note; case alone is not worth one', (t) => {
  t.like(ok(deliveryReport('X-Mms-MM-Status-Code: Unrecognized')), {
    mmStatus: 'Unrecognised',
    tolerated: ["X-Mms-MM-Status-Code 'Unrecognized' read as 'Unrecognised'"],
  });
  t.like(ok(deliveryReport('X-Mms-Status: unrecognized')), {
    mmStatus: 'Unrecognised',
    tolerated: [
      'X-Mms-Status used for the missing X-Mms-MM-Status-Code',
      "X-Mms-Status 'unrecognized' read as 'Unrecognised'",
    ],
  });
  const caps = ok(deliveryReport('X-Mms-MM-Status-Code: RETRIEVED'));
  t.like(caps, { mmStatus: 'Retrieved' });
  t.false('tolerated' in caps);
});

test('read-reply reports accept X-Mms-Status and the read status under name and value variants', (t) => {
  for (const [lines, readStatus, tolerated] of [
    [['X-Mms-Status: Read'], 'Read', ['X-Mms-Status used for the missing X-Mms-Read-Status']],
    [['X-MMS-READ-STATUS: read'], 'Read', undefined],
    [['X-Mms-ReadStatus: Read'], 'Read', ['X-Mms-ReadStatus read as X-Mms-Read-Status']],
    [['X-Mms-Read_Status: Read'], 'Read', ['X-Mms-Read_Status read as X-Mms-Read-Status']],
    [
      ['X-Mms-Read-Status-Code: Deleted'],
      'Deleted without being read',
      [
        'X-Mms-Read-Status-Code used for the missing X-Mms-Read-Status',
        "X-Mms-Read-Status-Code 'Deleted' read as 'Deleted without being read'",
      ],
    ],
    [
      ['X-Mms-Read-Status: Deleted-without-being-read'],
      'Deleted without being read',
      ["X-Mms-Read-Status 'Deleted-without-being-read' read as 'Deleted without being read'"],
    ],
    [
      ['X-Mms-Read-Status: deleted_without_being_read'],
      'Deleted without being read',
      ["X-Mms-Read-Status 'deleted_without_being_read' read as 'Deleted without being read'"],
    ],
    [['X-Mms-Read-Status: Read', 'X-Mms-Status: Deleted'], 'Read', undefined],
  ] as const) {
    const pdu = ok(readReply(...lines));
    if (pdu.type !== 'MM4_read_reply_report.REQ') return t.fail();
    t.is(pdu.readStatus, readStatus, lines.join(' | '));
    t.deepEqual(pdu.tolerated, tolerated, lines.join(' | '));
  }
});

test('a report whose status cannot be read is still Error-message-format-corrupt, naming what was found', (t) => {
  t.like(parseMm4(Buffer.from(readReply())), {
    ok: false,
    status: 'Error-message-format-corrupt',
    error: 'missing X-Mms-Read-Status',
  });
  t.like(parseMm4(Buffer.from(readReply('X-Mms-Status: Retrieved'))), {
    ok: false,
    status: 'Error-message-format-corrupt',
    error: "unknown X-Mms-Status 'Retrieved' (read as X-Mms-Read-Status)",
  });
  t.like(parseMm4(Buffer.from(deliveryReport('X-Mms-MM-Status-Code: Gone'))), {
    ok: false,
    error: "unknown X-Mms-MM-Status-Code 'Gone'",
  });
  t.like(parseMm4(Buffer.from(deliveryReport('X-Mms-Status:'))), { ok: false, error: 'missing X-Mms-MM-Status-Code' });
  t.like(parseMm4(Buffer.from(deliveryReport('X-Mms-Status-Text: Retrieved'))), {
    ok: false,
    error: 'missing X-Mms-MM-Status-Code',
  });
});

test('X-Mms-Expiry and Date as RFC 3339 are read and named in tolerated', (t) => {
  const pdu = ok(
    forward([
      [/X-Mms-Expiry: .*/, 'X-Mms-Expiry: 2025-03-06T10:15:02+01:00'],
      [/^Date: .*$/m, 'Date: 2025-03-04T10:15:02Z'],
    ]),
  );
  if (pdu.type !== 'MM4_forward.REQ') return t.fail();
  t.deepEqual(pdu.expiry, { at: new Date('2025-03-06T09:15:02Z') });
  t.deepEqual(pdu.date, new Date('2025-03-04T10:15:02Z'));
  t.deepEqual(pdu.tolerated, [
    "Date '2025-03-04T10:15:02Z': an RFC 3339 timestamp, not an RFC 5322 date",
    "X-Mms-Expiry '2025-03-06T10:15:02+01:00': an RFC 3339 timestamp, not an RFC 5322 date",
  ]);
  t.false('unreadable' in pdu);
  t.like(ok(forward([[/X-Mms-Expiry: .*/, 'X-Mms-Expiry: 86400']])), { expiry: { relativeSeconds: 86400 } });
});

test('impossible or zone-less dates are named in unreadable, the field left out, never rolled over', (t) => {
  for (const [expiry, reason] of [
    ['Mon, 31 Feb 2025 10:15:02 +0000', 'day 31 does not exist in Feb 2025'],
    ['Thu, 06 Mar 2025 99:99:99 +0000', 'time 99:99:99 does not exist'],
    ['2025-13-06T10:15:02Z', 'month 13 does not exist'],
    ['Thu, 06 Mar 2025 10:15:02 CET', "unknown zone 'CET'"],
    ['Thu, 06 Mar 2025 10:15:02', 'no zone'],
    ['in two days', 'not an RFC 5322 date-time'],
    ['-3600', 'not an RFC 5322 date-time'],
  ]) {
    const r = parseMm4(Buffer.from(forward([[/X-Mms-Expiry: .*/, `X-Mms-Expiry: ${expiry}`]])));
    if (!r.ok || r.pdu.type !== 'MM4_forward.REQ') return t.fail(expiry);
    t.false('expiry' in r.pdu, expiry);
    t.deepEqual(r.pdu.unreadable, [{ header: 'X-Mms-Expiry', value: expiry, reason }], expiry);
    t.true(r.warnings.includes(`unparseable X-Mms-Expiry '${expiry}'`));
  }
  const badDate = ok(forward([[/^Date: .*$/m, 'Date: Tue, 04 Mar 2025 10:15:02 MEZ']]));
  t.false('date' in badDate);
  t.deepEqual(badDate.unreadable, [
    { header: 'Date', value: 'Tue, 04 Mar 2025 10:15:02 MEZ', reason: "unknown zone 'MEZ'" },
  ]);
});

test('Yes/No flags, enumerations and counters that cannot be read are named, not silently defaulted', (t) => {
  const pdu = ok(
    forward([
      ['X-Mms-Delivery-Report: Yes', 'X-Mms-Delivery-Report: Ja'],
      ['X-Mms-Priority: Normal', 'X-Mms-Priority: Urgent'],
      ['X-Mms-Forward-Counter: 1', 'X-Mms-Forward-Counter: one'],
    ]),
  );
  if (pdu.type !== 'MM4_forward.REQ') return t.fail();
  t.false(pdu.deliveryReport);
  t.false('priority' in pdu);
  t.false('forwardCounter' in pdu);
  t.deepEqual(pdu.unreadable, [
    { header: 'X-Mms-Forward-Counter', value: 'one', reason: 'not a number' },
    { header: 'X-Mms-Delivery-Report', value: 'Ja', reason: 'neither Yes nor No' },
    { header: 'X-Mms-Priority', value: 'Urgent', reason: 'not one of Low, Normal, High' },
  ]);
  const hostile = ok(forward([['X-Mms-Priority: Normal', `X-Mms-Priority: a\u0001b${'x'.repeat(100)}`]]));
  t.is(hostile.unreadable?.[0].value, `a?b${'x'.repeat(57)}...`, 'control characters masked, value capped');
});

test('a text part in an unknown charset makes the forward.REQ Error-message-format-corrupt, naming the charset', (t) => {
  const r = parseMm4(
    Buffer.from(
      forward([['Content-Type: text/plain; charset=us-ascii', 'Content-Type: text/plain; charset=x-mac-klingon']]),
    ),
  );
  t.like(r, { ok: false, status: 'Error-message-format-corrupt', partial: { transactionId: 'T-20250304-0001' } });
  if (r.ok) return t.fail();
  t.is(r.error, "content part text/plain: unknown charset 'x-mac-klingon'");
});

test('a forward.REQ whose multipart boundary never appears is Error-message-format-corrupt, not text', (t) => {
  const raw = vector('mm4-forward-req-image.eml')
    .toString()
    .replace(/boundary="?([^";\r\n]+)"?/, 'boundary="not-the-one-used"');
  const r = parseMm4(Buffer.from(raw));
  t.like(r, { ok: false, status: 'Error-message-format-corrupt' });
  if (!r.ok)
    t.is(
      r.error,
      "content part multipart/related: boundary 'not-the-one-used' never appears in the multipart/related body",
    );
});

test('a UTF-16 text MM without a BOM reads big-endian (RFC 2781 4.3), a UTF-8 one with a BOM loses it', (t) => {
  const b64 = (b: Buffer) => b.toString('base64');
  const utf16be = Buffer.from('Grüße ✓', 'utf16le').swap16();
  const pdu = ok(
    forward([
      [
        'Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit',
        'Content-Type: text/plain; charset="UTF-16"\r\nContent-Transfer-Encoding: base64',
      ],
      [/\r\n\r\n[^]*$/, `\r\n\r\n${b64(utf16be)}\r\n`],
    ]),
  );
  if (pdu.type !== 'MM4_forward.REQ') return t.fail();
  t.is(entityText(pdu.content), 'Grüße ✓');
  const bom = ok(
    forward([
      ['charset=us-ascii', 'charset=utf-8'],
      [/\r\n\r\n[^]*$/, '\r\n\r\n\ufeffLunch?\r\n'],
    ]),
  );
  if (bom.type !== 'MM4_forward.REQ') return t.fail();
  t.is(entityText(bom.content), 'Lunch?\r\n');
});

test('hostile report status headers never throw', (t) => {
  const names = fc.constantFrom(
    'X-Mms-Status',
    'X-Mms-MM-Status-Code',
    'X-Mms-Read-Status',
    'X-Mms-ReadStatus',
    'X-Mms-Read-Status-Code',
    'X--Mms--Status',
    'X-Mms-MM-Status',
  );
  fc.assert(
    fc.property(
      fc.constantFrom(deliveryReport, readReply),
      fc.array(fc.tuple(names, fc.string({ maxLength: 40 })), { maxLength: 4 }),
      (make, lines) => {
        const r = parseMm4(Buffer.from(make(...lines.map(([n, v]) => `${n}: ${v.replace(/[\r\n]/g, ' ')}`))));
        return r.ok ? (r.pdu.tolerated ?? []).every((x) => typeof x === 'string') : typeof r.error === 'string';
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});
