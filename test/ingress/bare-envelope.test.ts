import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filesystemMediaStore } from '../../clients/media-store.js';
import { createSmtpClient } from '../../clients/smtp.js';
import { createMm4Server } from '../../ingress/mm4-server.js';
import {
  EnvelopeQualifier,
  MAX_COMMAND_LINE,
  qualifyBareAddress,
  qualifyEnvelopeCommand,
} from '../../ingress/smtp-envelope.js';
import type { MmsToCpmInput } from '../../model/delivery.js';
import { forwardReq, sendMm4, sendMm4Bare } from '../helpers/mmsc.js';

const D = 'mms.mnc001.mcc001.gprs';

/** Feeds the chunks through a qualifier; the output as text. */
async function through(chunks: (string | Buffer)[], domain = D): Promise<string> {
  const q = new EnvelopeQualifier(domain);
  const out: Buffer[] = [];
  q.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((r) => q.on('end', r));
  for (const c of chunks) q.write(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  q.end();
  await done;
  return Buffer.concat(out).toString('latin1');
}

test('bare numbers are qualified as +E164/TYPE=PLMN@domain; anything else is not', (t) => {
  t.is(qualifyBareAddress('+12025550100', D), `+12025550100/TYPE=PLMN@${D}`);
  t.is(qualifyBareAddress('12025550100', D), `+12025550100/TYPE=PLMN@${D}`);
  t.is(qualifyBareAddress('+12025550199/type=plmn', D), `+12025550199/TYPE=PLMN@${D}`);
  for (const a of ['', 'alice', '+12', '+1234567890123456', '+1202555/TYPE=IPv4', 'a@b', '+1202 5550100'])
    t.is(qualifyBareAddress(a, D), undefined, a);
  t.is(qualifyEnvelopeCommand('MAIL FROM:<+12025550100>', D), `MAIL FROM:<+12025550100/TYPE=PLMN@${D}>`);
  t.is(
    qualifyEnvelopeCommand('mail from: <+12025550100> SIZE=1234 BODY=8BITMIME', D),
    `mail from: <+12025550100/TYPE=PLMN@${D}> SIZE=1234 BODY=8BITMIME`,
  );
  t.is(qualifyEnvelopeCommand('RCPT TO:<+12025550199/TYPE=PLMN>', D), `RCPT TO:<+12025550199/TYPE=PLMN@${D}>`);
  for (const c of [
    'MAIL FROM:<>',
    'MAIL FROM:<+12025550100@x>',
    'MAIL FROM:<+12025550100>SIZE=1',
    'MAIL FROM:+12025550100',
    ' MAIL FROM:<+12025550100>',
    'RCPT TO:<postmaster>',
    'VRFY <+12025550100>',
    'X-MAIL FROM:<+12025550100>',
  ])
    t.is(qualifyEnvelopeCommand(c, D), undefined, c);
});

test('only the command phase is rewritten: DATA content passes untouched up to CRLF.CRLF', async (t) => {
  const body = [
    'Subject: hi',
    '',
    'MAIL FROM:<+12025550100>',
    '. ', // not a lone dot
    'x.',
    '..',
    'RCPT TO:<+12025550199>',
    '\n.\nMAIL FROM:<+12025550100>', // bare LF dots do not end the data (smtp-server: CRLF.CRLF only)
    '',
  ].join('\r\n');
  const session =
    'EHLO x\r\nMAIL FROM:<+12025550100>\r\nRCPT TO:<+12025550199>\r\nDATA\r\n' +
    body +
    '.\r\nMAIL FROM:<+12025550101>\r\nQUIT\r\n';
  const out = await through([session]);
  const want =
    `EHLO x\r\nMAIL FROM:<+12025550100/TYPE=PLMN@${D}>\r\nRCPT TO:<+12025550199/TYPE=PLMN@${D}>\r\nDATA\r\n` +
    body +
    `.\r\nMAIL FROM:<+12025550101/TYPE=PLMN@${D}>\r\nQUIT\r\n`;
  t.is(out, want);
  // Byte by byte: the same.
  t.is(await through([...session].map((c) => c)), want);
  // Split at every position in two chunks: the same.
  for (let i = 1; i < session.length; i += 7)
    t.is(await through([session.slice(0, i), session.slice(i)]), want, `${i}`);
});

test('the data starts right after DATA: a lone dot at once ends it; bare LF command lines work', async (t) => {
  t.is(
    await through(['DATA\r\n.\r\nMAIL FROM:<+12025550100>\nRCPT TO:<+1202555>\r\n']),
    `DATA\r\n.\r\nMAIL FROM:<+12025550100/TYPE=PLMN@${D}>\nRCPT TO:<+1202555/TYPE=PLMN@${D}>\r\n`,
  );
  t.is(await through(['data\r\nMAIL FROM:<+12025550100>\r\n']), 'data\r\nMAIL FROM:<+12025550100>\r\n', 'in the data');
  // Non-ASCII and binary content survive unchanged.
  const bin = Buffer.concat([
    Buffer.from('DATA\r\n'),
    Buffer.from([0, 0xff, 0xc3, 0xa9, 0x0d, 0x0a]),
    Buffer.from('.\r\n'),
  ]);
  const q = new EnvelopeQualifier(D);
  const out: Buffer[] = [];
  q.on('data', (c: Buffer) => out.push(c));
  q.end(bin);
  await new Promise((r) => q.on('end', r));
  t.deepEqual(Buffer.concat(out), bin);
});

test('long lines pass through unchanged, nothing is buffered beyond the cap', async (t) => {
  const long = `MAIL FROM:<+12025550100> X=${'a'.repeat(MAX_COMMAND_LINE)}`;
  t.is(
    await through([`${long}\r\nRCPT TO:<+12025550199>\r\n`]),
    `${long}\r\nRCPT TO:<+12025550199/TYPE=PLMN@${D}>\r\n`,
  );
  const q = new EnvelopeQualifier(D);
  let got = 0;
  q.on('data', (c: Buffer) => (got += c.length));
  const chunk = Buffer.alloc(1024, 'a');
  for (let i = 0; i < 10; i++) q.write(chunk);
  await new Promise((r) => setImmediate(r));
  t.true(got >= 10 * 1024 - MAX_COMMAND_LINE, `passed ${got}`);
  // A long DATA line still starts the data phase.
  t.is(
    await through([`DATA ${'x'.repeat(MAX_COMMAND_LINE)}\r\nMAIL FROM:<+12025550100>\r\n`]),
    `DATA ${'x'.repeat(MAX_COMMAND_LINE)}\r\nMAIL FROM:<+12025550100>\r\n`,
  );
});

test('pipelined commands in one chunk and a command split across chunks', async (t) => {
  t.is(
    await through(['MAIL FROM:<+12025550100>\r\nRCPT TO:<+12025550199>\r\nRCPT TO:<+12025550198/TYPE=PLMN>\r\n']),
    `MAIL FROM:<+12025550100/TYPE=PLMN@${D}>\r\nRCPT TO:<+12025550199/TYPE=PLMN@${D}>\r\nRCPT TO:<+12025550198/TYPE=PLMN@${D}>\r\n`,
  );
  t.is(
    await through(['MAIL FR', 'OM:<+1202555', '0100>\r', '\nRCPT TO:<+12025550199>']),
    `MAIL FROM:<+12025550100/TYPE=PLMN@${D}>\r\nRCPT TO:<+12025550199>`,
    'an unterminated last line is passed on as it is',
  );
});

const quiet = { info() {}, warn() {}, error() {} };
function server(allow: string[], started: MmsToCpmInput[], logs: string[] = []) {
  return createMm4Server({
    listen: { host: '127.0.0.1', port: 0 },
    domain: 'mms.iwf.example.net',
    maxMessageBytes: 1 << 20,
    peers: [
      {
        name: 'a',
        domains: [D],
        smtp: { host: '127.0.0.1', port: 1 },
        allow,
        numbers: [],
        accepts: { maxMessageBytes: 1e6, maxImage: { width: 640, height: 480 }, mediaTypes: [] },
      },
    ],
    retry: { maxAttempts: 1, initialIntervalMs: 1, backoffCoefficient: 1, maxIntervalMs: 1 },
    mm4Ack: { timeoutMs: 1000, maxAttempts: 1 },
    defaultExpiryMs: 60_000,
    media: filesystemMediaStore(mkdtempSync(join(tmpdir(), 'media-'))),
    mediaTtlMs: 60_000,
    replies: { smtp: createSmtpClient({ heloName: 'x' }), systemAddress: 'mm4-system@x', domain: 'x' },
    dispatcher: {
      startMmsToCpm: async (_id: string, input: MmsToCpmInput) => (started.push(input), 'started'),
      startCpmToMms: async () => 'started',
      signalMm4: async () => 'unknown',
      signalImdn: async () => 'unknown',
    } as never,
    log: { ...quiet, info: (_o: object, m: string) => logs.push(m) },
  });
}

test('from an allowed peer a bare envelope is qualified with its domain and the MM accepted', async (t) => {
  const started: MmsToCpmInput[] = [];
  const logs: string[] = [];
  const s = server(['127.0.0.1'], started, logs);
  const { port } = await s.listen();
  try {
    const raw = forwardReq({ messageId: 'BARE-1', text: 'MAIL FROM:<+12025550100>\r\n.\r\n..\r\nend' });
    const r = await sendMm4Bare(port, raw, { from: '+12025550100', to: ['+12025550199', '+12025550198/TYPE=PLMN'] });
    t.regex(r.final, /^250 /, r.replies.join(' | '));
    t.is(started.length, 1);
    t.deepEqual(started[0].mm4.recipients, [`+12025550199/TYPE=PLMN@${D}`, `+12025550198/TYPE=PLMN@${D}`]);
    t.true(logs.some((m) => /without a domain qualified/.test(m)));
    // Standard envelopes are as before (nodemailer).
    const std = await sendMm4(port, forwardReq({ messageId: 'STD-1' }), {
      from: 'a@b',
      to: ['+12025550199/TYPE=PLMN@x'],
    });
    t.true(std.ok, JSON.stringify(std));
    // Not a number: the standard 501 stays.
    const bad = await sendMm4Bare(port, raw, { from: 'alice', to: ['+12025550199'] });
    t.regex(bad.final, /^501 /);
  } finally {
    await s.close();
  }
});

test('from a source no peer allows nothing is qualified: the connection is refused as before', async (t) => {
  const started: MmsToCpmInput[] = [];
  const s = server(['127.0.0.2'], started);
  const { port } = await s.listen();
  try {
    const r = await sendMm4Bare(port, forwardReq({ messageId: 'BARE-2' }), {
      from: '+12025550100',
      to: ['+12025550199'],
    }).catch((e: Error) => ({ replies: [], final: e.message }));
    t.regex(r.final, /554|closed/);
    t.is(started.length, 0);
  } finally {
    await s.close();
  }
});

test('RCPT TO beyond 100 recipients gets 452 4.5.3 and the MM goes to the first 100 (RFC 5321 4.5.3.1.10)', async (t) => {
  const started: MmsToCpmInput[] = [];
  const s = server(['127.0.0.1'], started, []);
  const { port } = await s.listen();
  try {
    const to = Array.from({ length: 102 }, (_, i) => `+1202555${String(i).padStart(4, '0')}/TYPE=PLMN@${D}`);
    const r = await sendMm4Bare(port, forwardReq({ messageId: 'MANY-1', text: 'hi' }), {
      from: `+12025550100/TYPE=PLMN@${D}`,
      to,
    });
    const rcptReplies = r.replies.slice(3, 3 + to.length);
    t.is(rcptReplies.filter((x) => x.startsWith('250')).length, 100);
    t.deepEqual(rcptReplies.slice(100), ['452 4.5.3 Too many recipients', '452 4.5.3 Too many recipients']);
    t.regex(r.final, /^250 /, r.replies.join(' | '));
    t.is(started.length, 1);
    t.deepEqual(started[0].mm4.recipients, to.slice(0, 100));
  } finally {
    await s.close();
  }
});
