/**
 * SIP over TLS (RFC 3261 26.2, RFC 5630) on our endpoint, against an independent TLS peer
 * (test/helpers/tls-sip-peer.ts: Node's tls, SIP by hand) with certificates made by the openssl CLI.
 */
import { createSipEndpoint, type SipEndpoint } from '../../../clients/sip/endpoint.js';
import { makeTestPki, type TestPki } from '../../helpers/certs.js';
import { connectTlsSip, header, rawMessage, startTlsSipServer } from '../../helpers/tls-sip-peer.js';
import { testWith } from '../../helpers/tools.js';

const test = testWith('openssl');

let pki: TestPki;
let ep: SipEndpoint;
const seen: { transport: string; uri: string; from: string }[] = [];
test.before(async () => {
  pki = await makeTestPki();
  ep = await createSipEndpoint({
    host: '127.0.0.1',
    port: 0,
    timers: { t1: 100, t2: 400 },
    tls: { listen: { host: '127.0.0.1', port: 0 }, cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert },
  });
  ep.onRequest((req, info) => {
    seen.push({ transport: info.transport, uri: req.uri, from: `${info.remote.host}` });
    return { status: 200 };
  });
});
test.after.always(async () => {
  await ep?.close();
});

const headers = (callId: string) => [
  { name: 'From', value: '<sip:iwf@ims.iwf.example.net>;tag=a1' },
  { name: 'To', value: '<sips:+12025550199@ims.example.net>' },
  { name: 'Call-ID', value: callId },
  { name: 'CSeq', value: '1 MESSAGE' },
  { name: 'Content-Type', value: 'text/plain' },
];

test('the TLS listener has its own port, apart from UDP/TCP', (t) => {
  t.true(ep.tlsPort > 0);
  t.not(ep.tlsPort, ep.port);
});

test('a request over TLS with sips: URIs is answered on the same connection', async (t) => {
  const c = await connectTlsSip({ port: ep.tlsPort, ca: pki.ca.cert });
  try {
    const clientPort = c.socket.localPort!;
    c.send(
      rawMessage({
        uri: 'sips:+12025550199@ims.example.net',
        from: 'sips:+4915112345678@ims.example.net',
        to: 'sips:+12025550199@ims.example.net',
        callId: 'tls-in-1',
        branch: 'z9hG4bKtlsin1',
        viaPort: clientPort,
        contentType: 'text/plain',
        body: Buffer.from('hallo über TLS'),
      }),
    );
    const res = await c.next();
    t.is(res.startLine, 'SIP/2.0 200 OK');
    t.regex(header(res, 'Via') ?? '', /^SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;branch=z9hG4bKtlsin1/);
    t.is(header(res, 'Call-ID'), 'tls-in-1');
    const s = seen.find((x) => x.uri === 'sips:+12025550199@ims.example.net');
    t.is(s?.transport, 'tls');
  } finally {
    c.close();
  }
});

test('an outgoing request over TLS: Via SIP/2.0/TLS with the TLS port, the certificate verified, the answer read', async (t) => {
  const peer = await startTlsSipServer({ cert: pki.server.cert, key: pki.server.key, answer: () => 202 });
  try {
    const res = await ep.sendRequest(
      {
        method: 'MESSAGE',
        uri: 'sips:+12025550199@ims.example.net',
        headers: headers('tls-out-1'),
        body: Buffer.from('x'),
      },
      { host: '127.0.0.1', port: peer.port, transport: 'tls' },
    );
    t.is(res.status, 202);
    const [req] = peer.requests;
    t.is(req.startLine, 'MESSAGE sips:+12025550199@ims.example.net SIP/2.0');
    t.regex(header(req, 'Via') ?? '', new RegExp(`^SIP/2\\.0/TLS 127\\.0\\.0\\.1:${ep.tlsPort};branch=z9hG4bK`));
  } finally {
    await peer.close();
  }
});

test('a large request over TLS stays on TLS (the 1300-byte UDP rule never downgrades it)', async (t) => {
  const peer = await startTlsSipServer({ cert: pki.server.cert, key: pki.server.key });
  try {
    const body = Buffer.alloc(4000, 'a');
    const res = await ep.sendRequest(
      { method: 'MESSAGE', uri: 'sip:+12025550199@ims.example.net', headers: headers('tls-big'), body },
      { host: '127.0.0.1', port: peer.port, transport: 'tls' },
    );
    t.is(res.status, 200);
    t.is(peer.requests[0].body.length, 4000);
    t.regex(header(peer.requests[0], 'Via') ?? '', /^SIP\/2\.0\/TLS /);
  } finally {
    await peer.close();
  }
});

test('two requests to the same TLS peer share one connection', async (t) => {
  const peer = await startTlsSipServer({ cert: pki.server.cert, key: pki.server.key });
  try {
    for (const id of ['tls-reuse-1', 'tls-reuse-2']) {
      const res = await ep.sendRequest(
        { method: 'MESSAGE', uri: 'sip:+12025550199@ims.example.net', headers: headers(id), body: Buffer.from(id) },
        { host: '127.0.0.1', port: peer.port, transport: 'tls' },
      );
      t.is(res.status, 200);
    }
    t.is(peer.requests.length, 2);
    t.is(peer.handshakes, 1);
  } finally {
    await peer.close();
  }
});

test('a TLS peer whose certificate the CA did not sign: 503, nothing sent, no fallback to TCP', async (t) => {
  const peer = await startTlsSipServer({ cert: pki.rogueServer.cert, key: pki.rogueServer.key });
  try {
    const res = await ep.sendRequest(
      {
        method: 'MESSAGE',
        uri: 'sip:+12025550199@ims.example.net',
        headers: headers('tls-rogue'),
        body: Buffer.from('x'),
      },
      { host: '127.0.0.1', port: peer.port, transport: 'tls' },
    );
    t.is(res.status, 503);
    t.regex(res.reason, /CERT|certificate|UNABLE|SELF_SIGNED/i);
    t.is(peer.requests.length, 0);
  } finally {
    await peer.close();
  }
});

test('an endpoint without TLS answers 503 for a TLS destination', async (t) => {
  const plain = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
  try {
    const res = await plain.sendRequest(
      { method: 'MESSAGE', uri: 'sip:x@example.net', headers: headers('no-tls'), body: Buffer.alloc(0) },
      { host: '127.0.0.1', port: ep.tlsPort, transport: 'tls' },
    );
    t.is(res.status, 503);
    t.is(plain.tlsPort, 0);
  } finally {
    await plain.close();
  }
});
