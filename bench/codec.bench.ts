/**
 * The codec path of one MMS -> CPM text delivery, on one core with no I/O: parse the
 * MM4_forward.REQ (3GPP TS 23.140 §8.4.1), map it to the workflow input, convert its addresses
 * (MMS address -> CPM URI, as the interworking activities do), and build + serialize the CPIM
 * body of the SIP MESSAGE (RFC 3862, RFC 5438 headers). Whatever this costs every delivery pays
 * on top of Temporal, so it must stay far below the workflow path.
 *
 *   node --import tsx bench/codec.bench.ts          (or run from bench/deliveries.bench.ts)
 * Env: BENCH_CODEC_SECONDS (default 2, at least 2).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseMmsAddress } from '../protocols/address/mms-address.js';
import { mmsToCpmUri } from '../protocols/address/uri.js';
import { buildCpimMessage, serializeCpim } from '../protocols/cpim/cpim.js';
import { extractText, forwardReqToInput } from '../protocols/interworking/mm4-intake.js';
import { parseMm4 } from '../protocols/mm4/pdu.js';

export const CODEC_GOAL_PER_SECOND = 5000;

const fixture = fileURLToPath(new URL('../test/fixtures/mm4-forward-req-text.eml', import.meta.url));
/** SMTP DATA carries CRLF line ends (RFC 5321 §2.3.8), whatever the checkout did to the file. */
const raw = Buffer.from(readFileSync(fixture, 'utf8').replace(/\r?\n/g, '\r\n'));
const receivedAt = new Date('2025-03-04T10:15:03Z');
const ref = {
  id: 'bench',
  contentType: 'message/rfc822',
  size: raw.length,
  sha256: '0'.repeat(64),
  expiresAt: '2025-03-06T10:15:02Z',
};
const addressOpts = { defaultCountry: 'US', sipDomain: 'ims.iwf.example.net', form: 'sip' as const };

function toUri(mms: string): string {
  const a = parseMmsAddress(mms);
  if (!a.ok) throw new Error(a.error);
  const u = mmsToCpmUri(a.address, addressOpts);
  if (!u.ok) throw new Error(u.error);
  return u.uri;
}

/** One message through the path; returns the serialized size so nothing is optimised away. */
export function codecOnce(i: number): number {
  const parsed = parseMm4(raw);
  if (!parsed.ok || parsed.pdu.type !== 'MM4_forward.REQ') throw new Error('fixture does not parse');
  const pdu = parsed.pdu;
  const input = forwardReqToInput(pdu, ref, {
    peer: 'bench',
    receivedAt,
    envelopeRecipients: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
    retry: { maxAttempts: 5, initialIntervalMs: 1000, backoffCoefficient: 2, maxIntervalMs: 60000 },
    mm4Ack: { timeoutMs: 60000, maxAttempts: 3 },
    defaultExpiryMs: 86_400_000,
  });
  const from = toUri(input.mm4.from);
  let bytes = 0;
  const { text } = extractText(pdu.content);
  for (const r of input.mm4.recipients) {
    const cpim = serializeCpim(
      buildCpimMessage({
        from,
        to: toUri(r),
        dateTime: receivedAt,
        subject: input.mm4.subject,
        imdnMessageId: `bench-${i}`,
        disposition: input.mm4.deliveryReport ? ['positive-delivery', 'negative-delivery'] : undefined,
        contentType: 'text/plain;charset=UTF-8',
        body: Buffer.from(text, 'utf8'),
      }),
    );
    bytes += cpim.length;
  }
  return bytes;
}

/** Warms up (JIT), then runs the path for `seconds` (>= 2); messages per second. */
export function runCodecBench(seconds = Math.max(2, Number(process.env.BENCH_CODEC_SECONDS ?? 2))) {
  let sink = 0;
  for (let i = 0; i < 2000; i++) sink += codecOnce(i);
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 100; k++) sink += codecOnce(n++);
  }
  const elapsed = (performance.now() - t0) / 1000;
  if (sink === 0) throw new Error('codec path produced nothing');
  return { messagesPerSecond: n / elapsed, messages: n, seconds: elapsed };
}

export function codecLine(r: ReturnType<typeof runCodecBench>): string {
  const met = r.messagesPerSecond >= CODEC_GOAL_PER_SECOND ? 'met' : 'not met';
  return `  codec path (parseMm4 -> intake -> addresses -> CPIM), one core, no I/O: ${r.messagesPerSecond.toFixed(0)} messages/s (${r.messages} in ${r.seconds.toFixed(2)} s; goal >= ${CODEC_GOAL_PER_SECOND}/s: ${met})`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = runCodecBench();
  console.log(codecLine(r));
  console.log(
    `BENCH-JSON ${JSON.stringify({ bench: 'codec', codecMessagesPerSecond: Math.round(r.messagesPerSecond) })}`,
  );
}
