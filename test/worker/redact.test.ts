/**
 * Phone-number masking (model/mask.ts) and its use on log lines (worker/redact.ts, worker/logger.ts).
 */
import test from 'ava';
import fc from 'fast-check';
import { Writable } from 'node:stream';
import { maskDigits, maskNumbers } from '../../model/mask.js';
import { buildConfig } from '../../worker/config.js';
import { createLogger, temporalLogger } from '../../worker/logger.js';
import { redactLine } from '../../worker/redact.js';

test('E.164 numbers, tel: and sip: URIs and MMS addresses are masked, keeping the country code and a few digits', (t) => {
  t.is(maskNumbers('+12025550123'), '+120255*****');
  t.is(maskNumbers('to tel:+12025550123;phone-context=x'), 'to tel:+120255*****;phone-context=x');
  t.is(maskNumbers('tel:+1-202-555-0123'), 'tel:+1-202-55*-****');
  t.is(maskNumbers('tel:2025550123'), 'tel:202555****');
  t.is(
    maskNumbers('<sip:+4915112345678@ims.example.net;user=phone>'),
    '<sip:+491511*******@ims.example.net;user=phone>',
  );
  t.is(maskNumbers('sips:02025550123@ims.example.net'), 'sips:020255*****@ims.example.net');
  t.is(
    maskNumbers('From: +12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs'),
    'From: +120255*****/TYPE=PLMN@mms.mnc001.mcc001.gprs',
  );
  t.is(maskNumbers('12025550101/type=plmn@mms.example'), '120255*****/type=plmn@mms.example');
  // A short number keeps nothing it would have to give away: at least 4 digits are always hidden.
  t.is(maskNumbers('+123456'), '+12****');
  t.is(maskDigits('12345'), '1****');
});

test('message ids, timestamps, ports, byte counts and names are left alone', (t) => {
  for (const s of [
    '2026-12-01T12:27:47.123+00:00',
    'Mon, 01 Dec 2026 12:27:47 +0000',
    'M-20261201122747-1234567890@mms.example.net',
    '<20261201.1234567@mms.mnc001.mcc001.gprs>',
    '127.0.0.1:5060',
    'sip:127.0.0.1:5070;transport=udp',
    'sip:alice@example.com',
    'size 12345678 bytes',
    'T-M-crash',
    'cpm-to-mms/3f2a9d1c88e04b7a/Msg-1234567890',
    'hotel:12345678 motel:9',
    '1e+21',
    '{"port":5060,"bytes":10485760,"took":1234567}',
  ])
    t.is(maskNumbers(s), s, s);
});

/** Text with no address context in it: no `+`, no tel:/sip:, no `/TYPE=PLMN`. */
const plain = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzTPLMNYE0123456789 :;.,-_=/@<>"{}[]'.split('')) })
  .filter((s) => !/tel:|sips?:|\/type=plmn/i.test(s));

const number = fc.stringMatching(/^[1-9]\d{6,14}$/);
const contexts: ((n: string) => string)[] = [
  (n) => `+${n}`,
  (n) => `tel:+${n}`,
  (n) => `tel:${n}`,
  (n) => `sip:+${n}@ims.example.net;user=phone`,
  (n) => `sip:${n}@ims.example.net`,
  (n) => `+${n}/TYPE=PLMN@mms.example.net`,
  (n) => `${n}/TYPE=PLMN@mms.example.net`,
  (n) => JSON.stringify({ to: [`+${n}/TYPE=PLMN@x`], uri: `sip:+${n}@h` }),
];

test('property: no run of 7 consecutive digits of a number survives, whatever surrounds it', (t) => {
  fc.assert(
    fc.property(plain, number, fc.nat(contexts.length - 1), plain, (before, n, c, after) => {
      // Where the surrounding text ends/starts with digits they may join the number's; the
      // separators keep the number itself apart, as in real log lines.
      const out = maskNumbers(`${before} ${contexts[c](n)} ${after}`);
      for (let i = 0; i + 7 <= n.length; i++) if (out.includes(n.slice(i, i + 7))) return false;
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: text without an address context is unchanged', (t) => {
  fc.assert(
    fc.property(plain, (s) => maskNumbers(s) === s),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: a masked JSON log line is still JSON with the same keys', (t) => {
  fc.assert(
    fc.property(
      fc.dictionary(
        plain,
        fc.oneof(
          plain,
          number.map((n) => `+${n}`),
          fc.integer(),
        ),
      ),
      (obj) => {
        const out = JSON.parse(redactLine(JSON.stringify(obj))) as Record<string, unknown>;
        return JSON.stringify(Object.keys(out)) === JSON.stringify(Object.keys(obj));
      },
    ),
  );
  t.pass();
});

test('64 KiB of hostile text is masked in one linear pass', (t) => {
  // A pass that backtracked badly would not end within the test's timeout on these.
  t.timeout(5000);
  const k64 = 64 * 1024;
  const digits = '1'.repeat(k64);
  t.false(/\d{7}/.test(maskNumbers(`+${digits}`)));
  t.is(maskNumbers(digits), digits);
  t.is(maskNumbers('sip:'.repeat(k64 / 4)), 'sip:'.repeat(k64 / 4));
  t.is(maskNumbers('tel:1'.repeat(k64 / 5)).length, 5 * Math.floor(k64 / 5));
  t.is(maskNumbers('1-'.repeat(k64 / 2) + '/TYPE=IPv4').length, k64 + 10);
  const mixed = 'sip:1a'.repeat(k64 / 6);
  t.is(maskNumbers(mixed), mixed, 'no @: no user part');
  const addrs = '+12025550123/TYPE=PLMN@m '.repeat(k64 / 26);
  t.false(/\d{7}/.test(maskNumbers(addrs)));
});

/** A pino destination collecting the lines. */
function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, stream };
}

test('log records are masked by default: message, fields, nested objects, child bindings, Temporal logger', (t) => {
  const { lines, stream } = capture();
  const log = createLogger('info', { destination: stream });
  const child = log.child({ src: 'sip', peer: 'sip:+12025550199@ims.example.net' });
  child.info(
    {
      from: '+12025550101/TYPE=PLMN@mms.example',
      nested: { uris: ['tel:+4915112345678'] },
      port: 5060,
      bytes: 1234567,
    },
    'MESSAGE to sip:+12025550123@ims.example.net sent',
  );
  temporalLogger(log).info('delivery step', { recipients: ['+12025550188/TYPE=PLMN@mms.example'] });
  t.is(lines.length, 2);
  for (const line of lines) t.false(/5550|2345678/.test(line), line);
  const first = JSON.parse(lines[0]) as Record<string, unknown>;
  t.is(first.msg, 'MESSAGE to sip:+120255*****@ims.example.net sent');
  t.is(first.peer, 'sip:+120255*****@ims.example.net');
  t.is(first.from, '+120255*****/TYPE=PLMN@mms.example');
  t.deepEqual(first.nested, { uris: ['tel:+491511*******'] });
  t.is(first.port, 5060);
  t.is(first.bytes, 1234567, 'numbers that are not addresses stay numbers');
  t.deepEqual((JSON.parse(lines[1]) as { recipients: string[] }).recipients, ['+120255*****/TYPE=PLMN@mms.example']);
});

test('log.showNumbers: true logs numbers in full', (t) => {
  const { lines, stream } = capture();
  const log = createLogger('info', { destination: stream, showNumbers: true });
  log.info({ from: '+12025550101/TYPE=PLMN@mms.example' }, 'to tel:+12025550123');
  const rec = JSON.parse(lines[0]) as Record<string, unknown>;
  t.is(rec.from, '+12025550101/TYPE=PLMN@mms.example');
  t.is(rec.msg, 'to tel:+12025550123');
});

test('log.showNumbers is read from the configuration (default false) and must be a boolean', (t) => {
  t.false(buildConfig({}).log.showNumbers);
  t.true(buildConfig({ log: { showNumbers: true } }).log.showNumbers);
  t.throws(() => buildConfig({ log: { showNumbers: 'yes please' } }), { message: /log\.showNumbers/ });
});
