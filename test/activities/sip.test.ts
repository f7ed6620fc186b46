/**
 * The CPM messages an MM becomes, as the SIP activity writes them: the same URI string in the SIP
 * and CPIM From/To, P-Asserted-Identity in both forms, and the text/plain form for clients that
 * refuse message/cpim (RFC 3428 pager mode without CPIM).
 */
import test from 'ava';
import {
  assertedIdentity,
  buildCpmMessage,
  buildPlainTextMessage,
  cpmParts,
  type CpmMessageInput,
} from '../../activities/sip.js';
import { cpimHeader, parseCpim } from '../../protocols/cpim/cpim.js';
import { getHeader } from '../../protocols/sip/message.js';

const SENDER = 'sip:+12025550101@ims.iwf.example.net;user=phone';
const RECIPIENT = 'sip:+12025550199@ims.iwf.example.net;user=phone';
const deps = {
  domain: 'ims.iwf.example.net',
  outboundProxy: { host: '127.0.0.1', port: 5070 },
  transport: 'udp' as const,
  mediaPublicUrl: () => 'http://media.example:8090',
};
const input = (o: Partial<CpmMessageInput> = {}): CpmMessageInput => ({
  workflowId: 'mms-to-cpm/peer/M-1',
  attempt: 1,
  recipientUri: RECIPIENT,
  senderUri: SENDER,
  disposition: ['positive-delivery'],
  dateTime: '2026-01-01T00:00:00.000Z',
  content: {
    text: 'Grüße 🎉',
    files: [
      {
        file: {
          id: 'A'.repeat(22),
          contentType: 'image/jpeg',
          size: 1234,
          sha256: 'x',
          name: 'pic.jpg',
          expiresAt: '2026-01-08T00:00:00.000Z',
        },
      },
    ],
  },
  hideSender: false,
  ...o,
});

test('P-Asserted-Identity carries the sip and the tel form of a number (RFC 3325 9.1); other URIs as they are', (t) => {
  t.is(assertedIdentity(SENDER), `<${SENDER}>, <tel:+12025550101>`);
  t.is(assertedIdentity('tel:+12025550101'), '<tel:+12025550101>');
  t.is(assertedIdentity('sip:alice@example.net'), '<sip:alice@example.net>');
});

test('the SIP From and To carry the same URI strings as the CPIM From and To', (t) => {
  const msg = buildCpmMessage(input(), deps);
  const cpim = parseCpim(msg.body);
  if (!cpim.ok) return t.fail(cpim.error);
  t.is(getHeader(msg.headers, 'From')?.replace(/;tag=.*$/, ''), cpimHeader(cpim.message, 'From'));
  t.is(getHeader(msg.headers, 'To'), cpimHeader(cpim.message, 'To'));
  t.is(cpimHeader(cpim.message, 'From'), `<${SENDER}>`);
});

test('the text/plain form: the text itself, and a file as its name and download link, in requests of their own', (t) => {
  const a = input();
  const [text, file] = cpmParts(a.content);
  const plainText = buildPlainTextMessage(a, deps, text, 0);
  t.is(getHeader(plainText.headers, 'Content-Type'), 'text/plain;charset=UTF-8');
  t.is(plainText.body.toString('utf8'), 'Grüße 🎉');
  t.is(getHeader(plainText.headers, 'Accept-Contact'), undefined, 'no CPM feature tags on a plain MESSAGE');
  const cpim = buildCpmMessage(a, deps, text, 0);
  t.not(
    getHeader(plainText.headers, 'Call-ID'),
    getHeader(cpim.headers, 'Call-ID'),
    'not a second request on the CPIM Call-ID',
  );
  t.not(plainText.branch, cpim.branch);
  t.is(buildPlainTextMessage(a, deps, text, 0).branch, plainText.branch, 'deterministic: a retry retransmits');

  const plainFile = buildPlainTextMessage(a, deps, file, 1);
  t.is(plainFile.body.toString('utf8'), `pic.jpg: http://media.example:8090/m/${'A'.repeat(22)}/pic.jpg`);
});
