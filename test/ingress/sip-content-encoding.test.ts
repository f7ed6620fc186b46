/**
 * Encoded bodies at the SIP front-end (RFC 3261 20.12, 8.2.3): liblinphone deflates every IMDN,
 * so an IMDN with Content-Encoding: deflate must reach its delivery; an encoding we cannot read
 * gets 415 with the Accept-Encoding we take, which OPTIONS advertises too.
 */
import test from 'ava';
import { deflateSync } from 'node:zlib';
import { staticCpmDirectory } from '../../clients/cpm-directory.js';
import { createSipEndpoint } from '../../clients/sip/endpoint.js';
import type { Dispatcher } from '../../ingress/dispatch.js';
import { attachSipIngress } from '../../ingress/sip-server.js';
import { buildImdnCpim, serializeCpim } from '../../protocols/cpim/cpim.js';
import { cpmMessageIds } from '../../protocols/interworking/ids.js';
import { getHeader, type SipHeader } from '../../protocols/sip/message.js';

async function rig() {
  const imdns: { workflowId: string; status: string }[] = [];
  const refused: object[] = [];
  const dispatcher: Dispatcher = {
    startMmsToCpm: () => Promise.reject(new Error('not in this test')),
    startCpmToMms: () => Promise.reject(new Error('not in this test')),
    signalMm4: () => Promise.resolve('unknown'),
    signalImdn: (workflowId, p) => {
      imdns.push({ workflowId, status: p.status });
      return Promise.resolve('delivered');
    },
  };
  // Refusals are logged, once, by the endpoint's server transactions.
  const iwf = await createSipEndpoint({
    host: '127.0.0.1',
    port: 0,
    log: { debug() {}, warn: (o, m) => void (m === 'SIP request refused' && refused.push(o)) },
  });
  attachSipIngress(iwf, {
    trusted: ['127.0.0.1'],
    directory: staticCpmDirectory([]),
    isf: { maxMessageBytes: 10_000, maxFileBytes: 1e6, contentTypes: ['text/plain'], interworkCpmUsers: false },
    dispatcher,
    mm4Ack: { timeoutMs: 1000, maxAttempts: 1 },
    reportWaitMs: 1000,
    log: { info() {}, warn: (o) => void refused.push(o) },
  });
  const ua = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  const send = (method: string, headers: SipHeader[], body: Buffer = Buffer.alloc(0)) =>
    ua.sendRequest(
      {
        method,
        uri: 'sip:iwf@127.0.0.1',
        headers: [
          { name: 'From', value: '<sip:+12025550199@ims.example.net;user=phone>;tag=c1' },
          { name: 'To', value: '<sip:+12025550101@ims.example.net;user=phone>' },
          { name: 'Call-ID', value: `enc-${Math.random()}` },
          { name: 'CSeq', value: `1 ${method}` },
          ...headers,
        ],
        body,
      },
      { host: '127.0.0.1', port: iwf.port, transport: 'udp' },
    );
  return { imdns, refused, send, close: async () => (await ua.close(), await iwf.close()) };
}

const workflowId = 'mms-to-cpm/system-user@mms.example/M-enc';
const imdnBody = () =>
  serializeCpim(
    buildImdnCpim({
      from: 'sip:+12025550199@ims.example.net;user=phone',
      to: 'sip:+12025550101@ims.example.net;user=phone',
      dateTime: new Date('2026-01-01T00:00:00Z'),
      imdnMessageId: 'imdn-of-the-imdn',
      notification: {
        messageId: cpmMessageIds(workflowId, 'sip:+12025550199@ims.example.net;user=phone', 'ims.example.net')
          .imdnMessageId,
        datetime: '2026-01-01T00:00:00Z',
        kind: 'delivery',
        status: 'delivered',
      },
    }),
  );

test('a deflated IMDN (as liblinphone sends them) is inflated and routed to its delivery', async (t) => {
  const r = await rig();
  try {
    const res = await r.send(
      'MESSAGE',
      [
        { name: 'Content-Type', value: 'message/cpim' },
        { name: 'Content-Encoding', value: 'deflate' },
      ],
      deflateSync(imdnBody()),
    );
    t.is(res.status, 202, res.reason);
    t.deepEqual(r.imdns, [{ workflowId, status: 'delivered' }]);
  } finally {
    await r.close();
  }
});

test('an unknown Content-Encoding gets 415 with Accept-Encoding, logged with the request it refused', async (t) => {
  const r = await rig();
  try {
    const res = await r.send(
      'MESSAGE',
      [
        { name: 'Content-Type', value: 'message/cpim' },
        { name: 'Content-Encoding', value: 'x-foo' },
      ],
      imdnBody(),
    );
    t.is(res.status, 415);
    t.regex(res.reason, /unsupported Content-Encoding x-foo/);
    t.is(getHeader(res.headers, 'Accept-Encoding'), 'deflate, gzip');
    t.is(r.imdns.length, 0);
    t.like(r.refused.at(-1), {
      method: 'MESSAGE',
      status: 415,
      transport: 'udp',
      contentEncoding: 'x-foo',
      cseq: '1 MESSAGE',
    });
    t.regex(String((r.refused.at(-1) as { remote: string }).remote), /^127\.0\.0\.1:\d+$/);
    t.regex(String((r.refused.at(-1) as { callId: string }).callId), /^enc-/);
  } finally {
    await r.close();
  }
});

test('OPTIONS advertises the encodings we accept', async (t) => {
  const r = await rig();
  try {
    const res = await r.send('OPTIONS', []);
    t.is(res.status, 200);
    t.is(getHeader(res.headers, 'Accept-Encoding'), 'deflate, gzip');
  } finally {
    await r.close();
  }
});
