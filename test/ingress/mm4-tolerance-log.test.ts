/**
 * The MM4 front-end logs each dialect habit it tolerates once per peer (not once per PDU), through
 * the real pino logger the worker uses, captured as the JSON lines it writes.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { filesystemMediaStore } from '../../clients/media-store.js';
import { createSmtpClient } from '../../clients/smtp.js';
import { createMm4Server } from '../../ingress/mm4-server.js';
import type { MmsToCpmInput } from '../../model/delivery.js';
import { forwardReq, sendMm4 } from '../helpers/mmsc.js';

const A = 'mms.mnc001.mcc001.gprs';
const B = 'mmsc.vc.test';
const accepts = { maxMessageBytes: 1e6, maxImage: { width: 640, height: 480 }, mediaTypes: [] };

test('each tolerated habit is logged once per peer, whatever its value, however many PDUs show it', async (t) => {
  const lines: { msg: string; peer?: string; habit?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[0]) });
  const started: MmsToCpmInput[] = [];
  const server = createMm4Server({
    listen: { host: '127.0.0.1', port: 0 },
    domain: 'mms.iwf.example.net',
    maxMessageBytes: 1 << 20,
    // Two peers behind one source address, told apart by domain (the PDU's Sender / From).
    peers: [
      {
        name: 'peer-a',
        domains: [A],
        smtp: { host: '127.0.0.1', port: 1 },
        allow: ['127.0.0.1'],
        numbers: [],
        accepts,
      },
      {
        name: 'peer-b',
        domains: [B],
        smtp: { host: '127.0.0.1', port: 1 },
        allow: ['127.0.0.1'],
        numbers: [],
        accepts,
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
    log,
  });
  const { port } = await server.listen();
  t.teardown(() => server.close());

  // peer-a: three MMs with RFC 3339 dates (each its own value) and an unreadable X-Mms-Priority;
  // peer-b: one MM with an RFC 3339 date. The same habits, four PDUs, two peers.
  const send = async (messageId: string, system?: string, extra: string[] = []) => {
    const raw = forwardReq({
      messageId,
      habits: { rfc3339Dates: true, ...(system ? { system } : {}) },
      expiry: new Date(Date.parse('2030-01-01T00:00:00Z') + messageId.length * 1000),
      extra,
    });
    const r = await sendMm4(port, raw, { from: system ?? `mmsc@${A}`, to: ['+12025550199/TYPE=PLMN@x'] });
    t.true(r.ok, `${messageId}: ${JSON.stringify(r)}`);
  };
  await send('LOG-1', undefined, ['X-Mms-Priority: Urgent']);
  await send('LOG-22', undefined, ['X-Mms-Priority: Whenever']);
  await send('LOG-333');
  await send('LOG-B', `mmsc@${B}`);
  t.is(started.length, 4);

  const tolerated = lines.filter((l) => l.msg === 'MM4 dialect tolerated (logged once per peer)');
  const of = (peer: string) =>
    tolerated
      .filter((l) => l.peer === peer)
      .map((l) => l.habit ?? '')
      .sort();
  const a = of('peer-a');
  const b = of('peer-b');
  t.true(a.length > 0 && b.length > 0, JSON.stringify(tolerated));
  // Once per habit and peer: no two lines of one peer name the same header.
  const headerOf = (habit: string) => /^(?:unreadable )?(\S+)/.exec(habit)?.[1];
  t.deepEqual(a.map(headerOf), [...new Set(a.map(headerOf))], JSON.stringify(a));
  t.deepEqual(b.map(headerOf), [...new Set(b.map(headerOf))], JSON.stringify(b));
  t.true(
    a.some((h) => /^Date\b/.test(h)),
    `peer-a's RFC 3339 Date logged: ${JSON.stringify(a)}`,
  );
  t.true(
    a.some((h) => /^unreadable X-Mms-Priority/.test(h)),
    `peer-a's unreadable X-Mms-Priority logged once: ${JSON.stringify(a)}`,
  );
  t.true(
    b.some((h) => /^Date\b/.test(h)),
    `peer-b's own RFC 3339 Date logged too: ${JSON.stringify(b)}`,
  );
  t.false(
    b.some((h) => /X-Mms-Priority/.test(h)),
    'peer-b never sent the unreadable priority',
  );
  // Nothing of the habits is logged per PDU: 4 PDUs, yet Date once for each peer.
  t.is(tolerated.filter((l) => /^Date\b/.test(l.habit ?? '')).length, 2);
});
