import test from 'ava';
import { Client, Connection } from '@temporalio/client';
import { temporalDispatcher } from '../../ingress/dispatch.js';
import { createMm4Server } from '../../ingress/mm4-server.js';
import { createSmtpClient } from '../../clients/smtp.js';
import { filesystemMediaStore } from '../../clients/media-store.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const media = () => filesystemMediaStore(mkdtempSync(join(tmpdir(), 'media-')));
import { forwardReq, sendMm4 } from '../helpers/mmsc.js';
import { freePort } from '../helpers/ports.js';

const quiet = { info() {}, warn() {}, error() {} };

test('when Temporal cannot be reached the MMSC gets a 4xx so it retries later', async (t) => {
  const dead = await freePort(); // nothing listens there
  const client = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${dead}` }) });
  const server = createMm4Server({
    listen: { host: '127.0.0.1', port: 0 },
    domain: 'mms.iwf.example.net',
    maxMessageBytes: 1 << 20,
    peers: [
      {
        name: 'a',
        domains: [],
        smtp: { host: '127.0.0.1', port: 1 },
        allow: ['127.0.0.1'],
        numbers: [],
        accepts: { maxMessageBytes: 1e6, maxImage: { width: 640, height: 480 }, mediaTypes: [] },
      },
    ],
    retry: { maxAttempts: 1, initialIntervalMs: 1, backoffCoefficient: 1, maxIntervalMs: 1 },
    mm4Ack: { timeoutMs: 1000, maxAttempts: 1 },
    defaultExpiryMs: 60_000,
    media: media(),
    mediaTtlMs: 60_000,
    replies: { smtp: createSmtpClient({ heloName: 'x' }), systemAddress: 'mm4-system@x', domain: 'x' },
    dispatcher: temporalDispatcher(client, 'iwf', 1500),
    log: quiet,
  });
  const { port } = await server.listen();
  try {
    const r = await sendMm4(port, forwardReq({ messageId: 'M-down' }), {
      from: 'a@b',
      to: ['+12025550199/TYPE=PLMN@x'],
    });
    t.false(r.ok);
    if (!r.ok) {
      t.is(r.code, 451);
      t.regex(r.response, /try again later/);
    }
  } finally {
    await server.close();
  }
});

test('an oversized MM4 PDU is refused with 552', async (t) => {
  const server = createMm4Server({
    listen: { host: '127.0.0.1', port: 0 },
    domain: 'mms.iwf.example.net',
    maxMessageBytes: 2048,
    peers: [
      {
        name: 'a',
        domains: [],
        smtp: { host: '127.0.0.1', port: 1 },
        allow: ['127.0.0.1'],
        numbers: [],
        accepts: { maxMessageBytes: 1e6, maxImage: { width: 640, height: 480 }, mediaTypes: [] },
      },
    ],
    retry: { maxAttempts: 1, initialIntervalMs: 1, backoffCoefficient: 1, maxIntervalMs: 1 },
    mm4Ack: { timeoutMs: 1000, maxAttempts: 1 },
    defaultExpiryMs: 60_000,
    media: media(),
    mediaTtlMs: 60_000,
    replies: { smtp: createSmtpClient({ heloName: 'x' }), systemAddress: 'mm4-system@x', domain: 'x' },
    dispatcher: {
      startMmsToCpm: async () => t.fail('must not start a delivery'),
      startCpmToMms: async () => t.fail('must not start a delivery'),
      signalMm4: async () => t.fail('must not signal'),
      signalImdn: async () => t.fail('must not signal'),
    },
    log: quiet,
  });
  const { port } = await server.listen();
  try {
    const r = await sendMm4(port, forwardReq({ messageId: 'M-big', text: 'x'.repeat(4000) }), {
      from: 'a@b',
      to: ['c@d'],
    });
    t.false(r.ok);
    if (!r.ok) t.is(r.code, 552);
  } finally {
    await server.close();
  }
});
