/**
 * The MM4 activities toward one peer, against a real SMTP listener (smtp-server): each per-peer
 * rule as the peer sees it on the wire, mailboxes with a domain in the envelope and headers
 * (RFC 5321 4.1.2), and the size the peer enforces (EHLO SIZE, RFC 1870; SMTP 552) as a typed
 * MessageTooLarge failure with its limit.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createMmscActivities, type ForwardReqInput, type ReportInput } from '../../activities/mmsc.js';
import { filesystemMediaStore } from '../../clients/media-store.js';
import { createSmtpClient } from '../../clients/smtp.js';
import type { CpmToMmsInput } from '../../model/delivery.js';
import {
  CONTENT_CLASSES,
  DEFAULT_MMS_MEDIA_TYPES,
  MM4_PROFILE_RULES,
  type MessageTooLargeDetails,
  type Mm4Peer,
  type Mm4Rules,
} from '../../model/peer.js';
import { parseMm4 } from '../../protocols/mm4/pdu.js';

const OWN = 'mms.iwf.example.net';
const PEER_DOMAIN = 'mms.mnc001.mcc001.gprs';
const SYSTEM = `mm4-system@${OWN}`;

interface Got {
  from: string;
  args: Record<string, unknown>;
  to: string[];
  raw: Buffer;
}

async function mmsc(o: Partial<SMTPServerOptions> = {}) {
  const got: Got[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    ...o,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const f = session.envelope.mailFrom;
        got.push({
          from: f ? f.address : '',
          args: (f && f.args) || {},
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        cb();
      });
    },
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port)),
  );
  return { port, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const media = filesystemMediaStore(mkdtempSync(join(tmpdir(), 'mmsc-')));

async function rig(
  o: { server?: Partial<SMTPServerOptions>; rules?: Partial<Mm4Rules>; maxMessageBytes?: number } = {},
) {
  const server = await mmsc(o.server);
  const smtp = createSmtpClient({ heloName: OWN });
  const peer: Mm4Peer = {
    name: 'operator-a',
    domains: [PEER_DOMAIN],
    smtp: { host: '127.0.0.1', port: server.port },
    allow: [],
    numbers: ['+49'],
    accepts: {
      ...CONTENT_CLASSES.megapixel,
      ...(o.maxMessageBytes ? { maxMessageBytes: o.maxMessageBytes } : {}),
      mediaTypes: DEFAULT_MMS_MEDIA_TYPES,
    },
    mm4: { profile: 'standard', ...MM4_PROFILE_RULES.standard, ...o.rules },
  };
  const activities = createMmscActivities({ smtp, media, mm4: { domain: OWN, systemAddress: SYSTEM, peers: [peer] } });
  return {
    ...activities,
    got: server.got,
    close: async () => {
      smtp.close();
      await server.close();
    },
  };
}

const pdu = (raw: Buffer) => {
  const r = parseMm4(raw);
  if (!r.ok) throw new Error(r.error);
  return r.pdu;
};
const header = (raw: Buffer, name: string) =>
  new RegExp(`^${name}: (.*)$`, 'mi').exec(raw.toString('latin1').split('\r\n\r\n')[0])?.[1];

const report = (o: Partial<ReportInput> = {}): ReportInput => ({
  workflowId: 'mms-to-cpm/operator-a/M-1',
  peer: 'operator-a',
  n: 1,
  version: '6.16.0',
  messageId: 'M-1@mms.mnc001.mcc001.gprs',
  originalSender: `+12025550101/TYPE=PLMN@${PEER_DOMAIN}`,
  recipient: `+4915112345678/TYPE=PLMN@${OWN}`,
  kind: 'delivery',
  status: 'Retrieved',
  ...o,
});

const request: CpmToMmsInput = {
  receivedAt: '2026-01-01T00:00:00.000Z',
  cpm: {
    senderUri: 'sip:+12025550101@ims.example;user=phone',
    recipientUri: 'tel:+4915112345678',
    imdnMessageId: 'imdn-1',
    disposition: ['positive-delivery'],
    contentType: 'text/plain',
    sizeBytes: 5,
  },
  text: 'hello',
  mm4Ack: { timeoutMs: 60_000, maxAttempts: 3 },
  reportWaitMs: 60_000,
};
const forward = (o: { text?: string; to?: string } = {}): ForwardReqInput => ({
  workflowId: 'cpm-to-mms/imdn-1',
  attempt: 1,
  route: {
    peer: 'operator-a',
    from: `+12025550101/TYPE=PLMN@${OWN}`,
    to: o.to ?? `+4915112345678/TYPE=PLMN@${PEER_DOMAIN}`,
    messageId: 'iwf1.x.m',
  },
  request,
  content: { text: o.text ?? 'hello', parts: [], notes: [] },
});

test('standard: reports ask for an ack, quote the ids, carry only the MM4 status header', async (t) => {
  const r = await rig();
  try {
    const out = await r.sendMm4Report(report());
    t.deepEqual(Object.keys(out).sort(), ['ackRequested', 'transactionId']);
    t.true(out.ackRequested);
    const raw = r.got[0].raw;
    t.is(header(raw, 'X-Mms-Ack-Request'), 'Yes');
    t.is(header(raw, 'X-Mms-Message-ID'), '"M-1@mms.mnc001.mcc001.gprs"');
    t.is(header(raw, 'X-Mms-Status'), undefined);
    t.deepEqual(r.got[0].to, [`+12025550101/TYPE=PLMN@${PEER_DOMAIN}`]);
    t.is(r.got[0].from, SYSTEM);
  } finally {
    await r.close();
  }
});

test('lenient: reports with X-Mms-Ack-Request: No (ackRequested false), X-Mms-Status, bare ids', async (t) => {
  const r = await rig({ rules: { profile: 'lenient', ...MM4_PROFILE_RULES.lenient } });
  try {
    const dr = await r.sendMm4Report(report());
    t.false(dr.ackRequested);
    const rr = await r.sendMm4Report(report({ n: 2, kind: 'read', status: 'Read' }));
    t.false(rr.ackRequested);
    const [d, rd] = r.got.map((g) => g.raw);
    t.is(header(d, 'X-Mms-Ack-Request'), 'No');
    t.is(header(d, 'X-Mms-MM-Status-Code'), 'Retrieved');
    t.is(header(d, 'X-Mms-Status'), 'Retrieved');
    t.is(header(rd, 'X-Mms-Read-Status'), 'Read');
    t.is(header(rd, 'X-Mms-Status'), 'Read');
    t.is(header(d, 'X-Mms-Message-ID'), 'M-1@mms.mnc001.mcc001.gprs');
    t.is(header(d, 'X-Mms-Transaction-ID'), dr.transactionId);
  } finally {
    await r.close();
  }
});

test('a report to a bare +E164 sender gets the peer domain in RCPT TO and To', async (t) => {
  const r = await rig();
  try {
    await r.sendMm4Report(report({ originalSender: '+12025550101' }));
    t.deepEqual(r.got[0].to, [`+12025550101/TYPE=PLMN@${PEER_DOMAIN}`]);
    t.is(header(r.got[0].raw, 'To'), `+12025550101/TYPE=PLMN@${PEER_DOMAIN}`);
    // A sender with no mailbox form: the original MM's originator system, else the peer's systemAddress.
    await r.sendMm4Report(report({ n: 2, originalSender: 'anonymous', originatorSystem: `sys@${PEER_DOMAIN}` }));
    t.deepEqual(r.got[1].to, [`sys@${PEER_DOMAIN}`]);
    const err = await t.throwsAsync(r.sendMm4Report(report({ n: 3, originalSender: 'anonymous' })));
    t.like(err, { type: 'MalformedMessage', nonRetryable: true });
    t.is(r.got.length, 2);
  } finally {
    await r.close();
  }
});

test('the .RES to `system=...;party=...` goes to the peer systemAddress, never split on `;`', async (t) => {
  const odd = 'system=mmsc.vc.test;party=+12025550100';
  const res = {
    peer: 'operator-a',
    originatorSystem: odd,
    version: '6.16.0',
    transactionId: 'T-9',
    messageId: 'M-9',
    idsQuoted: false,
    status: 'Ok' as const,
    statusText: 'ok',
  };
  const withSystem = await rig({ rules: { systemAddress: 'mm4@mmsc.vc.test' } });
  const without = await rig();
  try {
    await withSystem.sendMm4ForwardRes(res);
    t.deepEqual(withSystem.got[0].to, ['mm4@mmsc.vc.test']);
    t.is(header(withSystem.got[0].raw, 'To'), 'mm4@mmsc.vc.test');
    t.is(header(withSystem.got[0].raw, 'X-Mms-Transaction-ID'), 'T-9', "answers echo the peer's style");
    await without.sendMm4ForwardRes({ ...res, sender: 'sys@mmsc.vc.test' });
    t.deepEqual(without.got[0].to, ['sys@mmsc.vc.test'], 'else its Sender');
    const err = await t.throwsAsync(without.sendMm4ForwardRes({ ...res, from: '+12025550100/TYPE=PLMN' }));
    t.like(err, { type: 'MalformedMessage', nonRetryable: true });
    t.regex(err.message, /system=mmsc\.vc\.test;party/);
    t.is(without.got.length, 1);
  } finally {
    await withSystem.close();
    await without.close();
  }
});

test('forward.REQ: a bare recipient gets the peer domain; multipart always wraps text; quoteIds', async (t) => {
  const r = await rig({ rules: { multipart: 'always', quoteIds: false } });
  try {
    const out = await r.sendMm4Forward(forward({ to: '+4915112345678/TYPE=PLMN' }));
    t.is(out.sentBytes, r.got[0].raw.length);
    t.deepEqual(r.got[0].to, [`+4915112345678/TYPE=PLMN@${PEER_DOMAIN}`]);
    const p = pdu(r.got[0].raw);
    if (p.type !== 'MM4_forward.REQ') return t.fail();
    t.deepEqual(p.to, [`+4915112345678/TYPE=PLMN@${PEER_DOMAIN}`]);
    t.is(p.content.mediaType, 'multipart/mixed');
    t.is(p.content.parts?.[0].mediaType, 'text/plain');
    t.false(p.idsQuoted);
    t.falsy(r.got[0].args.SIZE, 'SIZE= only to a peer that advertises SIZE (RFC 1870 6)');
  } finally {
    await r.close();
  }
});

test('forward.REQ text: 8bit with BODY=8BITMIME over 8BITMIME, else not 8bit at all', async (t) => {
  const eight = await rig();
  const seven = await rig({ server: { hide8BITMIME: true } });
  try {
    await eight.sendMm4Forward(forward({ text: 'Grüße ✓' }));
    t.like(eight.got[0].args, { BODY: '8BITMIME' });
    t.is(header(eight.got[0].raw, 'Content-Transfer-Encoding'), '8bit');
    await seven.sendMm4Forward(forward({ text: 'Grüße ✓' }));
    t.falsy(seven.got[0].args.BODY);
    t.true(/^[\x00-\x7f]*$/.test(seven.got[0].raw.toString('latin1')));
  } finally {
    await eight.close();
    await seven.close();
  }
});

test('binaryEncoding 8bit without 8BITMIME: media go base64 and the note says so', async (t) => {
  const r = await rig({ server: { hide8BITMIME: true }, rules: { binaryEncoding: '8bit' } });
  try {
    const ref = await media.put(Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), {
      contentType: 'image/gif',
      name: 'a.gif',
      ttlMs: 60_000,
    });
    const input = forward();
    input.content.parts = [{ ref, contentType: 'image/gif', name: 'a.gif' }];
    const out = await r.sendMm4Forward(input);
    t.regex(out.notes.join(), /no 8BITMIME/);
    const limits = await r.mm4PeerLimits({ peer: 'operator-a' });
    t.like(limits, { partEncoding: 'base64', eightBitMime: false, capabilitiesKnown: true });
  } finally {
    await r.close();
  }
});

test('mm4PeerLimits: min(content class, EHLO SIZE), as the PDU is sent', async (t) => {
  const small = await rig({ server: { size: 50_000 } });
  const none = await rig();
  try {
    t.deepEqual(await small.mm4PeerLimits({ peer: 'operator-a' }), {
      peer: 'operator-a',
      limitBytes: 50_000,
      contentClassBytes: CONTENT_CLASSES.megapixel.maxMessageBytes,
      smtpSizeBytes: 50_000,
      partEncoding: 'base64',
      eightBitMime: true,
      capabilitiesKnown: true,
      notes: [],
    });
    t.like(await none.mm4PeerLimits({ peer: 'operator-a' }), {
      limitBytes: CONTENT_CLASSES.megapixel.maxMessageBytes,
      smtpSizeBytes: undefined,
    });
  } finally {
    await small.close();
    await none.close();
  }
});

const tooLarge = (e: unknown): MessageTooLargeDetails => {
  if (!(e instanceof ApplicationFailure) || e.type !== 'MessageTooLarge')
    throw new Error(`not MessageTooLarge: ${String(e)}`);
  return e.details?.[0] as MessageTooLargeDetails;
};

test('a PDU over the advertised SIZE is not sent: MessageTooLarge with the SIZE as limit', async (t) => {
  const r = await rig({ server: { size: 2000, rejectOversized: true } });
  try {
    const err = await t.throwsAsync(r.sendMm4Forward(forward({ text: 'x'.repeat(3000) })));
    t.like(err, { nonRetryable: true });
    const d = tooLarge(err);
    t.is(d.limitBytes, 2000);
    t.is(d.limitSource, 'smtp-size');
    t.is(d.smtpCode, undefined);
    t.true(d.sentBytes > 3000);
    t.is(r.got.length, 0);
    // What fits goes.
    await r.sendMm4Forward(forward({ text: 'short' }));
    t.is(r.got.length, 1);
  } finally {
    await r.close();
  }
});

test('an SMTP 552 from a peer that hides its SIZE: MessageTooLarge with an estimated limit', async (t) => {
  const r = await rig({ server: { size: 2000, hideSize: true, rejectOversized: true } });
  try {
    const err = await t.throwsAsync(r.sendMm4Forward(forward({ text: 'x'.repeat(3000) })));
    const d = tooLarge(err);
    t.is(d.smtpCode, 552);
    t.is(d.limitSource, 'estimate');
    t.is(d.limitBytes, Math.floor((d.sentBytes * 3) / 4));
    t.regex(err.message, /SMTP 552/);
  } finally {
    await r.close();
  }
});

test('the limit never exceeds the content class', async (t) => {
  const r = await rig({ server: { size: 2000, hideSize: true, rejectOversized: true }, maxMessageBytes: 1500 });
  try {
    const d = tooLarge(await t.throwsAsync(r.sendMm4Forward(forward({ text: 'x'.repeat(3000) }))));
    t.is(d.limitBytes, 1500);
  } finally {
    await r.close();
  }
});
