/**
 * SIP over TLS end to end (RFC 3261 26.2, RFC 5630), all real: the IWF with `sip.tlsListen`,
 * `sip.tls` and `sip.transport: tls`; the IMS core side played by independent TLS peers (Node's
 * tls, SIP written and read by hand: test/helpers/tls-sip-peer.ts; SIPp in Debian has no TLS);
 * certificates made by the openssl CLI; a test MMSC; a Temporal dev server.
 */
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import { forwardReq, sendMm4, startFakeMmsc } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { connectTlsSip, header, rawMessage, startTlsSipServer } from '../helpers/tls-sip-peer.js';
import { testWith } from '../helpers/tools.js';

const test = testWith('openssl');

async function setup() {
  const pki: TestPki = await makeTestPki();
  const temporal = await startTestTemporal();
  const mmsc = await startFakeMmsc();
  // The outbound proxy: a TLS server with a certificate our CA signed, answering 202.
  const proxy = await startTlsSipServer({ cert: pki.server.cert, key: pki.server.key, answer: () => 202 });
  const iwf = await startTestIwf({
    temporalAddress: temporal.address,
    mmscPort: mmsc.port,
    outboundProxyPort: proxy.port,
    proxyTransport: 'tls',
    sipKeys: {
      tlsListen: '127.0.0.1:0',
      tls: { cert: pki.server.certFile, key: pki.server.keyFile, ca: pki.ca.certFile },
    },
  });
  mmsc.answerForwards(iwf.mm4.port);
  mmsc.answerReports(iwf.mm4.port);
  return { pki, temporal, mmsc, proxy, iwf };
}

let env: Awaited<ReturnType<typeof setup>>;
test.before(async () => {
  env = await setup();
});
test.after.always(async () => {
  await env?.iwf.stop();
  await env?.proxy.close();
  await env?.mmsc.close();
  await env?.temporal.stop();
});

function cpim(id: string, to: string, text: string): Buffer {
  return Buffer.from(
    [
      'From: <sip:anonymous@anonymous.invalid>',
      `To: <${to}>`,
      'DateTime: 2025-03-04T10:15:02.000Z',
      'NS: imdn <urn:ietf:params:imdn>',
      `imdn.Message-ID: ${id}`,
      '',
      'Content-Type: text/plain; charset=utf-8',
      '',
      text,
    ].join('\r\n'),
  );
}

test.serial('a MESSAGE over TLS with a sips: Request-URI gets 202 and becomes an MM4_forward.REQ', async (t) => {
  t.truthy(env.iwf.sipTls);
  const c = await connectTlsSip({ port: env.iwf.sipTls!.port, ca: env.pki.ca.cert });
  try {
    const uri = 'sips:+4915112345678@ims.iwf.example.net;user=phone';
    c.send(
      rawMessage({
        uri,
        from: 'sips:+12025550101@ims.example.net',
        to: uri,
        callId: 'tls-e2e-in-1',
        branch: 'z9hG4bKtlse2e1',
        viaPort: c.socket.localPort!,
        contentType: 'message/cpim',
        body: cpim('cpm-tls-in-1', uri, 'Hallo über SIP/TLS'),
        extra: ['P-Asserted-Identity: <tel:+12025550101>'],
      }),
    );
    const res = await c.next();
    t.is(res.startLine.split(' ').slice(0, 2).join(' '), 'SIP/2.0 202', res.raw.toString());
    t.is(header(res, 'Call-ID'), 'tls-e2e-in-1');
  } finally {
    c.close();
  }
  const req = await waitFor('MM4_forward.REQ', () =>
    env.mmsc.received.find((r) => r.type === 'MM4_forward.REQ' && r.text === 'Hallo über SIP/TLS'),
  );
  t.deepEqual(req.envelope.to, ['+4915112345678/TYPE=PLMN@mms.mnc001.mcc001.gprs']);
});

test.serial('a MESSAGE over TLS from an untrusted source gets 403 on its connection', async (t) => {
  const c = await connectTlsSip({ port: env.iwf.sipTls!.port, ca: env.pki.ca.cert, localAddress: '127.0.0.2' });
  try {
    const uri = 'sip:+4915112345678@ims.iwf.example.net;user=phone';
    c.send(
      rawMessage({
        uri,
        from: 'sip:+12025550101@ims.example.net',
        to: uri,
        callId: 'tls-e2e-untrusted',
        branch: 'z9hG4bKtlse2e403',
        viaPort: c.socket.localPort!,
        contentType: 'message/cpim',
        body: cpim('cpm-tls-untrusted', uri, 'from outside'),
      }),
    );
    const res = await c.next();
    t.regex(res.startLine, /^SIP\/2\.0 403 /);
  } finally {
    c.close();
  }
  t.false(env.mmsc.received.some((r) => r.text === 'from outside'));
});

test.serial('MMS -> CPM: the MESSAGE goes to the outbound proxy over verified TLS', async (t) => {
  const sent = await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-sip-tls', text: 'MMS nach TLS-Proxy' }), {
    from: '+4915112345678/TYPE=PLMN@mms.mnc001.mcc001.gprs',
    to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
  });
  t.true(sent.ok, JSON.stringify(sent));
  const msg = await waitFor('MESSAGE at the TLS proxy', () =>
    env.proxy.requests.find((r) => r.body.toString('utf8').includes('MMS nach TLS-Proxy')),
  );
  t.regex(msg.startLine, /^MESSAGE \S+ SIP\/2\.0$/);
  t.regex(header(msg, 'Via') ?? '', new RegExp(`^SIP/2\\.0/TLS 127\\.0\\.0\\.1:${env.iwf.sipTls!.port};`));
  t.regex(header(msg, 'Route') ?? '', /;transport=tls;lr>$/);
  const res = await waitFor('MM4_forward.RES', () =>
    env.mmsc.received.find((r) => r.type === 'MM4_forward.RES' && r.transactionId === 'T-M-sip-tls'),
  );
  t.is(res.requestStatus, 'Ok');
});
