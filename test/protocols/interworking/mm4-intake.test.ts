import test from 'ava';
import type { StoredRef } from '../../../model/delivery.js';
import {
  forwardReqToInput,
  MAX_INLINE_TEXT_BYTES,
  MAX_SUBJECT_CHARS,
  type IntakeContext,
} from '../../../protocols/interworking/mm4-intake.js';
import { parseMm4, type Mm4ForwardReq } from '../../../protocols/mm4/pdu.js';
import { crlf, vector } from '../vectors.js';

const receivedAt = new Date('2025-03-04T10:15:05Z');
const ctx: IntakeContext = {
  peer: 'operator-a',
  receivedAt,
  envelopeRecipients: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
  retry: { maxAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2, maxIntervalMs: 10_000 },
  mm4Ack: { timeoutMs: 30_000, maxAttempts: 3 },
  defaultExpiryMs: 3 * 86_400_000,
  maxExpiryMs: 7 * 86_400_000,
};
const raw: StoredRef = {
  id: 'r1',
  contentType: 'message/rfc822',
  size: 1,
  sha256: 'x',
  expiresAt: '2025-03-11T00:00:00Z',
};

function forwardWith(expiry: string, date?: string): Mm4ForwardReq {
  let s = crlf(vector('mm4-forward-req-text.eml'))
    .toString()
    .replace(/X-Mms-Expiry: .*/, `X-Mms-Expiry: ${expiry}`);
  if (date) s = s.replace(/^Date: .*$/m, `Date: ${date}`);
  const r = parseMm4(Buffer.from(s));
  if (!r.ok || r.pdu.type !== 'MM4_forward.REQ') throw new Error('bad fixture');
  return r.pdu;
}

test('a PDU read without tolerance gives an input without intakeNotes', (t) => {
  const input = forwardReqToInput(forwardWith('Thu, 06 Mar 2025 10:15:02 +0000'), raw, ctx);
  t.is(input.mm4.expiry, '2025-03-06T10:15:02.000Z');
  t.false('intakeNotes' in input);
});

test('an unreadable X-Mms-Expiry gets the default, and the input says so', (t) => {
  const input = forwardReqToInput(forwardWith('Mon, 31 Feb 2025 10:15:02 +0000'), raw, ctx);
  t.is(input.mm4.expiry, new Date(receivedAt.getTime() + ctx.defaultExpiryMs).toISOString());
  t.deepEqual(input.intakeNotes, [
    "unreadable X-Mms-Expiry 'Mon, 31 Feb 2025 10:15:02 +0000' (day 31 does not exist in Feb 2025): the default expiry of 259200 s applies",
  ]);
});

test('an RFC 3339 X-Mms-Expiry is honoured and noted as tolerated, as is an unreadable Date', (t) => {
  const input = forwardReqToInput(forwardWith('2025-03-06T10:15:02Z', 'Tue, 04 Mar 2025 10:15:02 CEST'), raw, ctx);
  t.is(input.mm4.expiry, '2025-03-06T10:15:02.000Z');
  t.is(input.mm4.date, undefined);
  t.deepEqual(input.intakeNotes, [
    "tolerated: X-Mms-Expiry '2025-03-06T10:15:02Z': an RFC 3339 timestamp, not an RFC 5322 date",
    "unreadable Date 'Tue, 04 Mar 2025 10:15:02 CEST' (unknown zone 'CEST'): left out",
  ]);
});

test('an expiry beyond the maximum is capped, with a note; a default beyond it is capped quietly', (t) => {
  const far = forwardReqToInput(forwardWith('2025-04-04T10:15:02Z'), raw, ctx);
  const cap = new Date(receivedAt.getTime() + 7 * 86_400_000).toISOString();
  t.is(far.mm4.expiry, cap);
  t.deepEqual(far.intakeNotes?.slice(-1), [
    'X-Mms-Expiry 2025-04-04T10:15:02.000Z capped by the maximum expiry of 604800 s',
  ]);
  const relative = forwardReqToInput(forwardWith('99999999'), raw, ctx);
  t.is(relative.mm4.expiry, cap);
  t.is(relative.intakeNotes?.length, 1);
  const quiet = forwardReqToInput(forwardWith('garbage'), raw, { ...ctx, defaultExpiryMs: 30 * 86_400_000 });
  t.is(quiet.mm4.expiry, cap);
  t.deepEqual(quiet.intakeNotes, [
    "unreadable X-Mms-Expiry 'garbage' (not an RFC 5322 date-time): the default expiry of 2592000 s applies",
  ]);
});

test('unreadable flags are noted with what they were read as', (t) => {
  const pdu = forwardWith('3600');
  const input = forwardReqToInput(
    { ...pdu, unreadable: [{ header: 'X-Mms-Read-Reply', value: 'Oui', reason: 'neither Yes nor No' }] },
    raw,
    ctx,
  );
  t.deepEqual(input.intakeNotes, ["unreadable X-Mms-Read-Reply 'Oui' (neither Yes nor No): read as No"]);
});

test('a subject over MAX_SUBJECT_CHARS is cut, with a note in the audit trail', (t) => {
  const s = crlf(vector('mm4-forward-req-text.eml'))
    .toString()
    .replace(/^Subject: .*$/m, `Subject: ${'s'.repeat(MAX_SUBJECT_CHARS + 500)}`);
  const r = parseMm4(Buffer.from(s));
  if (!r.ok || r.pdu.type !== 'MM4_forward.REQ') return t.fail('fixture');
  const input = forwardReqToInput(r.pdu, raw, ctx);
  t.is(input.mm4.subject?.length, MAX_SUBJECT_CHARS);
  t.deepEqual(input.intakeNotes, [`Subject of ${MAX_SUBJECT_CHARS + 500} characters cut to ${MAX_SUBJECT_CHARS}`]);
});

const pduOf = (name: string, edit: (s: string) => string = (s) => s): Mm4ForwardReq => {
  const r = parseMm4(Buffer.from(edit(crlf(vector(name)).toString())));
  if (!r.ok || r.pdu.type !== 'MM4_forward.REQ') throw new Error('bad fixture');
  return r.pdu;
};

test('a small text-only MM carries its text in the input; media or a long text leave it to extraction', (t) => {
  // As the extraction step reads it: the text part without its SMTP framing line break.
  t.is(forwardReqToInput(pduOf('mm4-forward-req-text.eml'), raw, ctx).text, 'Lunch at 12:30? -- Alice');
  t.is(forwardReqToInput(pduOf('mm4-forward-req-image.eml'), raw, ctx).text, undefined, 'an MM with an image');
  const long = pduOf('mm4-forward-req-text.eml', (s) =>
    s.replace('Lunch at 12:30? -- Alice', 'ü'.repeat(MAX_INLINE_TEXT_BYTES / 2 + 1)),
  );
  t.is(forwardReqToInput(long, raw, ctx).text, undefined, 'over MAX_INLINE_TEXT_BYTES as UTF-8');
  const fits = pduOf('mm4-forward-req-text.eml', (s) =>
    s.replace('Lunch at 12:30? -- Alice', 'ü'.repeat(MAX_INLINE_TEXT_BYTES / 2)),
  );
  t.is(forwardReqToInput(fits, raw, ctx).text, 'ü'.repeat(MAX_INLINE_TEXT_BYTES / 2));
});
