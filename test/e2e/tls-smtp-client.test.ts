/**
 * Our MM4 SMTP client's STARTTLS policy per peer (clients/smtp.ts, RFC 3207), against real SMTP
 * servers (the test MMSC, smtp-server) with certificates made by the openssl CLI: `required`
 * sends only inside a verified TLS session and fails retryably otherwise, `optional` upgrades when
 * offered, `none` never does.
 */
import { SMTPServer } from 'smtp-server';
import { ApplicationFailure } from '@temporalio/common';
import { smtpFailure } from '../../activities/failures.js';
import { createSmtpClient, SmtpSendError } from '../../clients/smtp.js';
import type { Mm4PeerTls } from '../../model/peer.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { forwardReq, startFakeMmsc, type FakeMmsc } from '../helpers/mmsc.js';
import { testWith } from '../helpers/tools.js';

const test = testWith('openssl');

let pki: TestPki;
/** Offers STARTTLS with a certificate our CA signed. */
let trusted: FakeMmsc;
/** Offers STARTTLS with a certificate of another CA. */
let rogue: FakeMmsc;
/** Offers no STARTTLS. */
let plain: FakeMmsc;
test.before(async () => {
  pki = await makeTestPki();
  trusted = await startFakeMmsc(0, undefined, { tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert } });
  rogue = await startFakeMmsc(0, undefined, {
    tls: { cert: pki.rogueServer.cert, key: pki.rogueServer.key, ca: pki.ca.cert },
  });
  plain = await startFakeMmsc();
});
test.after.always(async () => {
  await Promise.all([trusted?.close(), rogue?.close(), plain?.close()]);
});

let n = 0;
/** Sends one MM4_forward.REQ toward `mmsc` with `tls`; resolves with what the send threw, if anything. */
async function sendTo(mmsc: { port: number }, tls: Mm4PeerTls | undefined) {
  const client = createSmtpClient({ heloName: 'mms.iwf.example.net', timeoutMs: 3000, tls: () => tls });
  const messageId = `M-client-${++n}`;
  try {
    await client.send({
      host: '127.0.0.1',
      port: mmsc.port,
      from: '+12025550101/TYPE=PLMN@mms.iwf.example.net',
      to: ['+4915112345678/TYPE=PLMN@mms.mnc001.mcc001.gprs'],
      raw: Buffer.from(forwardReq({ messageId })),
    });
    return { messageId, error: undefined };
  } catch (e) {
    return { messageId, error: e as Error };
  } finally {
    client.close();
  }
}
const got = (mmsc: FakeMmsc, messageId: string) => mmsc.received.find((r) => r.messageId === messageId);

test('required: delivered inside TLS, the certificate verified against the pinned CA', async (t) => {
  const { messageId, error } = await sendTo(trusted, { mode: 'required', ca: pki.ca.cert });
  t.is(error, undefined, error?.message);
  t.true(got(trusted, messageId)?.secure);
});

test('required toward a certificate the CA did not sign: a retryable failure, nothing sent in cleartext', async (t) => {
  const { messageId, error } = await sendTo(rogue, { mode: 'required', ca: pki.ca.cert });
  t.true(error instanceof SmtpSendError, String(error));
  const e = error as SmtpSendError;
  t.is(e.responseCode, undefined, 'no SMTP reply code: a connection-level failure');
  t.regex(e.message, /certificate|TLS/i);
  t.is(got(rogue, messageId), undefined, 'the MMSC received nothing');
  const failure = smtpFailure(e, 'MM4_forward.REQ');
  t.false(failure instanceof ApplicationFailure && failure.nonRetryable, 'retried by Temporal');
});

test('required toward a peer that offers no STARTTLS: retryable (even though it answers 5xx), nothing sent', async (t) => {
  const { messageId, error } = await sendTo(plain, { mode: 'required', ca: pki.ca.cert });
  t.true(error instanceof SmtpSendError, String(error));
  const e = error as SmtpSendError;
  t.is(e.more.code, 'ETLS');
  t.regex(e.more.response ?? '', /^5\d\d /, 'the peer refused STARTTLS with a 5xx');
  t.is(e.responseCode, undefined, 'not taken as a refusal of the message');
  t.is(got(plain, messageId), undefined);
  const failure = smtpFailure(e, 'MM4_forward.REQ');
  t.false(failure instanceof ApplicationFailure && failure.nonRetryable);
});

test('required without a pinned CA verifies against the system roots: a private CA is refused', async (t) => {
  const { messageId, error } = await sendTo(trusted, { mode: 'required' });
  t.true(error instanceof SmtpSendError, String(error));
  t.is(got(trusted, messageId), undefined);
});

test('optional: upgraded when offered, the unpinned certificate accepted', async (t) => {
  const { messageId, error } = await sendTo(rogue, { mode: 'optional' });
  t.is(error, undefined, error?.message);
  t.true(got(rogue, messageId)?.secure);
});

test('optional (the default) toward a peer without STARTTLS: cleartext', async (t) => {
  const { messageId, error } = await sendTo(plain, undefined);
  t.is(error, undefined, error?.message);
  t.false(got(plain, messageId)?.secure);
});

test('optional with a pinned CA: a certificate it did not sign fails, no cleartext fallback', async (t) => {
  const { messageId, error } = await sendTo(rogue, { mode: 'optional', ca: pki.ca.cert });
  t.true(error instanceof SmtpSendError, String(error));
  t.is((error as SmtpSendError).responseCode, undefined);
  t.is(got(rogue, messageId), undefined);
});

test('none: never upgrades, even when the peer offers STARTTLS', async (t) => {
  const { messageId, error } = await sendTo(trusted, { mode: 'none' });
  t.is(error, undefined, error?.message);
  const r = got(trusted, messageId);
  t.truthy(r);
  t.false(r?.secure);
});

test('required with a client certificate: the peer sees it', async (t) => {
  const seen: (string | undefined)[] = [];
  // A peer that asks for a client certificate and checks it against the CA (smtp-server, not our code).
  const server = new SMTPServer({
    key: pki.server.key,
    cert: pki.server.cert,
    ca: pki.ca.cert,
    requestCert: true,
    rejectUnauthorized: true,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onSecure(socket, _session, cb) {
      const peer = (socket as import('node:tls').TLSSocket).getPeerCertificate();
      seen.push(peer.subject ? String(peer.subject.CN) : undefined);
      cb();
    },
    onData(stream, _session, cb) {
      stream.on('data', () => {});
      stream.on('end', () => cb());
    },
  });
  const port = await new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)),
  );
  try {
    const { error } = await sendTo(
      { port },
      { mode: 'required', ca: pki.ca.cert, clientCert: pki.client.cert, clientKey: pki.client.key },
    );
    t.is(error, undefined, error?.message);
    t.deepEqual(seen, ['mmsc-client.test']);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
