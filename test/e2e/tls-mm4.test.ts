/**
 * MM4 with STARTTLS (RFC 3207) end to end, all real: certificates made by the openssl CLI
 * (test/helpers/certs.ts), the IWF with `mm4.tls`, a test MMSC (smtp-server, offering STARTTLS
 * with its own certificate) and nodemailer as the MMSC's client, a SIP peer at the outbound proxy,
 * a Temporal dev server. Peer `operator-a` (source 127.0.0.1) is `tls: required` with our CA
 * pinned; peer `operator-b` (source 127.0.0.2) is `optional` and writes bare envelope addresses.
 */
import { createSipEndpoint, type SipEndpoint } from '../../clients/sip/endpoint.js';
import { EnvelopeQualifier } from '../../ingress/smtp-envelope.js';
import type { SipRequest } from '../../protocols/sip/message.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import { forwardReq, sendMm4, sendMm4Bare, startFakeMmsc } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { testWith } from '../helpers/tools.js';

const test = testWith('openssl');

async function setup() {
  const pki: TestPki = await makeTestPki();
  const temporal = await startTestTemporal();
  const tls = { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert };
  const mmscA = await startFakeMmsc(0, undefined, { tls });
  const mmscB = await startFakeMmsc(0, undefined, { system: 'system@mms.operator-b.test' });
  const messages: SipRequest[] = [];
  const proxy: SipEndpoint = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
  proxy.onRequest((req) => {
    messages.push(req);
    return { status: 202 };
  });
  const iwf = await startTestIwf({
    temporalAddress: temporal.address,
    mmscPort: mmscA.port,
    outboundProxyPort: proxy.port,
    mm4Keys: { tls: { cert: pki.server.certFile, key: pki.server.keyFile } },
    peerKeys: { tls: 'required', ca: pki.ca.certFile },
    extraPeers: [
      {
        name: 'operator-b',
        domains: ['mms.operator-b.test'],
        smtp: `127.0.0.1:${mmscB.port}`,
        allow: ['127.0.0.2'],
        numbers: ['+33'],
        tls: 'optional',
      },
    ],
  });
  mmscA.answerForwards(iwf.mm4.port);
  return { pki, temporal, mmscA, mmscB, proxy, messages, iwf };
}

let env: Awaited<ReturnType<typeof setup>>;
test.before(async () => {
  env = await setup();
});
test.after.always(async () => {
  await env?.iwf.stop();
  await env?.proxy.close();
  await env?.mmscA.close();
  await env?.mmscB.close();
  await env?.temporal.stop();
});

const envelope = (n: string, domain = 'mms.mnc001.mcc001.gprs') => ({
  from: `+12025550101/TYPE=PLMN@${domain}`,
  to: [`+${n}/TYPE=PLMN@mms.iwf.example.net`],
});
const messageWith = (text: string) =>
  waitFor(`MESSAGE with '${text}'`, () => env.messages.find((m) => m.body.toString('utf8').includes(text)));

test.serial('a required peer inside STARTTLS delivers; the .RES goes back to it over verified TLS', async (t) => {
  const sent = await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-tls-1', text: 'über TLS' }),
    envelope('12025550199'),
    '127.0.0.1',
    { ca: env.pki.ca.cert },
  );
  t.true(sent.ok, JSON.stringify(sent));
  const msg = await messageWith('über TLS');
  t.is(msg.method, 'MESSAGE');
  const res = await waitFor('MM4_forward.RES', () =>
    env.mmscA.received.find((r) => r.type === 'MM4_forward.RES' && r.transactionId === 'T-M-tls-1'),
  );
  t.is(res.requestStatus, 'Ok');
  t.true(res.secure, "the IWF's .RES reached the required peer inside TLS");
});

test.serial('a required peer in cleartext gets 530 5.7.0 at MAIL FROM (RFC 3207 4)', async (t) => {
  const sent = await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-tls-clear', text: 'cleartext' }),
    envelope('12025550198'),
  );
  t.false(sent.ok);
  if (sent.ok) return;
  t.is(sent.code, 530);
  t.regex(sent.response, /^530 5\.7\.0 Must issue a STARTTLS command first/);
});

test.serial('a client that does not trust our certificate does not deliver', async (t) => {
  const sent = await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-tls-rogue', text: 'wrong ca' }),
    envelope('12025550197'),
    '127.0.0.1',
    { ca: env.pki.rogueCa.cert },
  );
  t.false(sent.ok);
  if (sent.ok) return;
  t.regex(sent.response, /certificate|TLS/i);
});

test.serial(
  'an optional peer: bare envelope in cleartext is still qualified, and STARTTLS works through the rewriter',
  async (t) => {
    // Cleartext: the rewriter qualifies the bare addresses (ingress/smtp-envelope.ts).
    const bare = await sendMm4Bare(
      env.iwf.mm4.port,
      forwardReq({
        messageId: 'M-b-bare',
        text: 'bare in cleartext',
        from: '+33612345678/TYPE=PLMN@mms.operator-b.test',
        originatorSystem: 'system@mms.operator-b.test',
      }),
      { from: '+33612345678', to: ['+12025550196'] },
      '127.0.0.2',
    );
    t.regex(bare.final, /^250 /, bare.replies.join(' | '));
    await messageWith('bare in cleartext');
    // STARTTLS through the same interposed socket: the TLS bytes pass the rewriter untouched.
    const sent = await sendMm4(
      env.iwf.mm4.port,
      forwardReq({
        messageId: 'M-b-tls',
        text: 'optional über TLS',
        from: '+33612345678/TYPE=PLMN@mms.operator-b.test',
        originatorSystem: 'system@mms.operator-b.test',
      }),
      envelope('12025550195', 'mms.operator-b.test'),
      '127.0.0.2',
      { ca: env.pki.ca.cert },
    );
    t.true(sent.ok, JSON.stringify(sent));
    await messageWith('optional über TLS');
    // Cleartext from an optional peer is still taken.
    const clear = await sendMm4(
      env.iwf.mm4.port,
      forwardReq({
        messageId: 'M-b-clear',
        text: 'optional cleartext',
        from: '+33612345678/TYPE=PLMN@mms.operator-b.test',
        originatorSystem: 'system@mms.operator-b.test',
      }),
      envelope('12025550194', 'mms.operator-b.test'),
      '127.0.0.2',
    );
    t.true(clear.ok, JSON.stringify(clear));
  },
);

test.serial('CPM -> MMS toward the required peer goes inside verified TLS', async (t) => {
  const uri = 'tel:+4915112345678';
  const body = Buffer.from(
    [
      'From: <sip:anonymous@anonymous.invalid>',
      `To: <${uri}>`,
      'DateTime: 2025-03-04T10:15:02.000Z',
      'NS: imdn <urn:ietf:params:imdn>',
      'imdn.Message-ID: cpm-tls-1',
      '',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'nach MMS über TLS',
    ].join('\r\n'),
  );
  const res = await env.proxy.sendRequest(
    {
      method: 'MESSAGE',
      uri,
      headers: [
        { name: 'From', value: '<tel:+12025550101>;tag=t1' },
        { name: 'To', value: `<${uri}>` },
        { name: 'Call-ID', value: 'call-tls-1' },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: '<tel:+12025550101>' },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body,
    },
    { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'udp' },
  );
  t.is(res.status, 202);
  const req = await waitFor('MM4_forward.REQ', () =>
    env.mmscA.received.find((r) => r.type === 'MM4_forward.REQ' && r.text === 'nach MMS über TLS'),
  );
  t.true(req.secure, 'the MMSC took the MM4_forward.REQ inside TLS');
});

test('the envelope rewriter passes everything after STARTTLS through at once, unread', async (t) => {
  const q = new EnvelopeQualifier('mms.operator-b.test');
  const out: Buffer[] = [];
  q.on('data', (c: Buffer) => out.push(c));
  // Bytes without a line end, and ones that would read as a bare MAIL FROM in cleartext.
  const tlsBytes = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0xff, 0x0d]);
  const lookalike = Buffer.from('MAIL FROM:<+12025550100>\r\n');
  q.write(Buffer.from('EHLO mmsc.test\r\nSTARTTLS\r\n'));
  q.write(tlsBytes);
  q.write(lookalike);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(Buffer.concat(out), Buffer.concat([Buffer.from('EHLO mmsc.test\r\nSTARTTLS\r\n'), tlsBytes, lookalike]));
});
