import test from 'ava';
import { readCpmMessage } from '../../../protocols/interworking/cpm-intake.js';
import { selectInterworking, type IsfPolicy } from '../../../protocols/interworking/isf.js';
import { choosePeer } from '../../../protocols/interworking/mm4-routing.js';
import { mintMm4Id, workflowIdFromMintedMm4Id } from '../../../protocols/interworking/ids.js';
import { parseSipMessage, type SipRequest } from '../../../protocols/sip/message.js';
import type { Mm4Peer } from '../../../model/peer.js';
import { crlf, vector } from '../vectors.js';

const policy: IsfPolicy = {
  maxMessageBytes: 1000,
  maxFileBytes: 5000,
  contentTypes: ['text/plain'],
  interworkCpmUsers: false,
};
const base = { recipientNumber: '+4915112345678', recipientIsCpmUser: false, contentType: 'text/plain', sizeBytes: 10 };

test('the ISF interworks text for a non-CPM recipient and says why', (t) => {
  t.deepEqual(selectInterworking(base, policy), {
    interwork: true,
    reason: 'recipient is not a CPM user; text/plain, 10 bytes',
  });
});

test('the ISF refuses with the SIP status that fits', (t) => {
  t.like(selectInterworking({ ...base, recipientNumber: undefined }, policy), { interwork: false, sipStatus: 404 });
  t.like(selectInterworking({ ...base, recipientIsCpmUser: true }, policy), {
    interwork: false,
    sipStatus: 404,
    reason: 'recipient is a CPM user; not for interworking',
  });
  t.like(selectInterworking({ ...base, contentType: 'image/jpeg' }, policy), { interwork: false, sipStatus: 415 });
  t.like(selectInterworking({ ...base, contentType: 'message/imdn+xml' }, policy), {
    interwork: false,
    sipStatus: 415,
  });
  t.like(selectInterworking({ ...base, sizeBytes: 1001 }, policy), { interwork: false, sipStatus: 413 });
});

test('policy can interwork CPM users (fallback) and other content types', (t) => {
  t.like(selectInterworking({ ...base, recipientIsCpmUser: true }, { ...policy, interworkCpmUsers: true }), {
    interwork: true,
    reason: 'CPM user, interworked by policy; text/plain, 10 bytes',
  });
  t.like(
    selectInterworking(
      { ...base, contentType: 'Text/Vcard; charset=utf-8' },
      { ...policy, contentTypes: ['text/vcard'] },
    ),
    { interwork: true },
  );
});

const peer = (name: string, numbers: string[]): Mm4Peer => ({
  name,
  numbers,
  domains: [`mms.${name}`],
  smtp: { host: 'h', port: 25 },
  allow: [],
  accepts: { maxMessageBytes: 1e6, maxImage: { width: 640, height: 480 }, mediaTypes: [] },
});

test('the MMSC peer is the longest matching prefix, else the default, else none', (t) => {
  const peers = [peer('de', ['+49']), peer('de-mobile', ['+4915', '+4916']), peer('fallback', [])];
  t.is(choosePeer(peers, '+4915112345678')?.peer.name, 'de-mobile');
  t.is(choosePeer(peers, '+4930123456')?.peer.name, 'de');
  t.is(choosePeer(peers, '+33612345678', 'fallback')?.why, 'default peer');
  t.is(choosePeer(peers, '+33612345678'), undefined);
});

test('minted MM4 ids carry the workflow id back, and foreign ids carry none', (t) => {
  const wf = 'cpm-to-mms/AbC123/imdn-1';
  t.is(workflowIdFromMintedMm4Id(mintMm4Id(wf, 't2')), wf);
  t.is(workflowIdFromMintedMm4Id('M-5c1d2e3f@mms.mnc001.mcc001.gprs'), undefined);
  t.is(workflowIdFromMintedMm4Id(`iwf1.${Buffer.from('other/thing').toString('base64url')}.m`), undefined);
});

function sip(raw: string): SipRequest {
  const r = parseSipMessage(Buffer.from(raw.replace(/\r?\n/g, '\r\n')));
  if (!r.ok || r.message.kind !== 'request') throw new Error('bad test message');
  return r.message;
}

test('the pager-mode vector reads with the asserted sender and the Request-URI recipient', (t) => {
  const req = parseSipMessage(crlf(vector('sip-message-cpim-text.txt')));
  if (!req.ok || req.message.kind !== 'request') return t.fail();
  const r = readCpmMessage(req.message, new Date('2025-03-04T10:15:03Z'));
  if (!r.ok) return t.fail(r.reason);
  t.is(r.recipientNumber, '+12025550199');
  t.like(r.input.cpm, {
    senderUri: 'tel:+12025550101',
    recipientUri: 'tel:+12025550199',
    imdnMessageId: 'Xk3p9QmT2aLwY7Rb',
    disposition: ['positive-delivery', 'negative-delivery'],
    dateTime: '2025-03-04T10:15:02.000Z',
    subject: 'Lunch?',
    contentType: 'text/plain',
    sizeBytes: 24,
    conversationId: '0b7e2c6a-9d3f-4e1b-8a2c-5f6d7e8f9a01',
  });
  t.is(r.input.text, 'Lunch at 12:30? -- Alice');
});

const cpimBody =
  'From: <sip:anonymous@anonymous.invalid>\nTo: <sip:anonymous@anonymous.invalid>\nNS: imdn <urn:ietf:params:imdn>\nimdn.Message-ID: a1\n\nContent-Type: text/plain\n\nhi';

test('the sender comes from P-Asserted-Identity, preferring tel, never from CPIM', (t) => {
  const req = sip(
    `MESSAGE sip:+4915112345678@ims.example.net;user=phone SIP/2.0\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\nFrom: <sip:anonymous@anonymous.invalid>;tag=1\nTo: <sip:x@y>\nCall-ID: c\nCSeq: 1 MESSAGE\nP-Asserted-Identity: "Alice" <sip:+12025550101@ims.example.net;user=phone>\nP-Asserted-Identity: <tel:+12025550101>\nContent-Type: message/cpim\n\n${cpimBody}`,
  );
  const r = readCpmMessage(req, new Date());
  t.like(r, {
    ok: true,
    recipientNumber: '+4915112345678',
    input: { cpm: { senderUri: 'tel:+12025550101', imdnMessageId: 'a1' } },
  });
});

test('what cannot be read gets a clear SIP refusal', (t) => {
  const head =
    'MESSAGE tel:+4915112345678 SIP/2.0\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\nFrom: <tel:+1>;tag=1\nTo: <tel:+2>\nCall-ID: c\nCSeq: 1 MESSAGE\n';
  t.like(
    readCpmMessage(sip(`${head}P-Asserted-Identity: <tel:+12025550101>\nContent-Type: text/plain\n\nhi`), new Date()),
    { ok: false, status: 415 },
  );
  t.like(readCpmMessage(sip(`${head}Content-Type: message/cpim\n\n${cpimBody}`), new Date()), {
    ok: false,
    status: 403,
  });
  t.like(
    readCpmMessage(
      sip(`${head}P-Asserted-Identity: <tel:+12025550101>\nContent-Type: message/cpim\n\ngarbage`),
      new Date(),
    ),
    { ok: false, status: 400 },
  );
});
