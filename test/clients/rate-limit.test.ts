import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { createMmscActivities } from '../../activities/mmsc.js';
import { filesystemMediaStore } from '../../clients/media-store.js';
import { createSmtpClient } from '../../clients/smtp.js';
import { CONTENT_CLASSES, DEFAULT_MMS_MEDIA_TYPES, type Mm4Peer } from '../../model/peer.js';
import { RateLimiter, RateLimitWaitTooLong, TokenBucket, type RateClock } from '../../clients/rate-limit.js';

/** A clock that only moves when a caller sleeps; every sleep is recorded. */
function fakeClock(start = 1_000_000) {
  let now = start;
  const sleeps: number[] = [];
  const clock: RateClock = {
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
  return { clock, sleeps, advance: (ms: number) => (now += ms), now: () => now };
}

test('a bucket gives its burst at once, then one token per 1/rate seconds', (t) => {
  const b = new TokenBucket(2, 0);
  t.is(b.reserve(0), 0);
  t.is(b.reserve(0), 0);
  t.is(b.reserve(0), 500, 'third at 2/s: half a second later');
  t.is(b.reserve(0), 1000, 'fourth waits behind the third');
  t.is(b.waitMs(1000), 500, 'one second later two tokens came back, both already promised');
  t.is(b.waitMs(1500), 0);
});

test('the burst is at most one second of tokens however long the bucket was idle', (t) => {
  const b = new TokenBucket(3, 0);
  for (let i = 0; i < 3; i++) t.is(b.reserve(0), 0);
  // An hour idle refills to 3, not 10800.
  for (let i = 0; i < 3; i++) t.is(b.reserve(3_600_000), 0);
  t.true(b.reserve(3_600_000)! > 0);
});

test('a rate under 1/s still lets one through, then spaces them by 1/rate', (t) => {
  const b = new TokenBucket(0.5, 0);
  t.is(b.reserve(0), 0);
  t.is(b.reserve(0), 2000);
});

test('a turn further off than the caller may wait is refused without taking a token', (t) => {
  const b = new TokenBucket(1, 0);
  t.is(b.reserve(0), 0);
  t.is(b.reserve(0, 500), undefined, 'the next turn is 1000 ms away');
  t.is(b.reserve(0, 1000), 1000, 'the refusal took nothing: the next caller gets the 1000 ms turn');
});

test('the limiter paces each peer on its own and waits (not fails) within the budget', async (t) => {
  const c = fakeClock();
  const limiter = new RateLimiter(c.clock);
  for (let i = 0; i < 4; i++) await limiter.acquire('a', 2, 10_000);
  await limiter.acquire('b', 2, 10_000);
  t.deepEqual(c.sleeps, [500, 1000], 'peer a waited for its third and fourth turn; b did not wait');
});

test('no rate (absent or 0) never waits', async (t) => {
  const c = fakeClock();
  const limiter = new RateLimiter(c.clock);
  for (let i = 0; i < 100; i++) await limiter.acquire('x', undefined, 0);
  for (let i = 0; i < 100; i++) await limiter.acquire('y', 0, 0);
  t.deepEqual(c.sleeps, []);
});

test('over the budget the limiter throws RateLimitWaitTooLong at once; time frees a turn again', async (t) => {
  const c = fakeClock();
  const limiter = new RateLimiter(c.clock);
  await limiter.acquire('a', 1, 100);
  const e = await t.throwsAsync(limiter.acquire('a', 1, 100), { instanceOf: RateLimitWaitTooLong });
  t.is(e?.waitMs, 1000);
  t.regex(e.message, /rate limit of a: next turn in 1000 ms/);
  t.deepEqual(c.sleeps, [], 'nothing waited');
  c.advance(1000);
  await limiter.acquire('a', 1, 100);
  t.deepEqual(c.sleeps, []);
});

test('a changed rate (config reload in tests) starts a fresh bucket', async (t) => {
  const c = fakeClock();
  const limiter = new RateLimiter(c.clock);
  await limiter.acquire('a', 1);
  await limiter.acquire('a', 1);
  await limiter.acquire('a', 5);
  t.deepEqual(c.sleeps, [1000]);
});

/** A real SMTP listener standing in for the peer MMSC: counts what it was sent. */
async function peerMmsc() {
  const got: Buffer[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => (got.push(Buffer.concat(chunks)), cb()));
    },
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port)),
  );
  return { port, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function mmscActivities(maxPerSecond: number) {
  const server = await peerMmsc();
  const smtp = createSmtpClient({ heloName: 'mms.iwf.example.net' });
  const peer: Mm4Peer = {
    name: 'operator-a',
    domains: ['mms.mnc001.mcc001.gprs'],
    smtp: { host: '127.0.0.1', port: server.port },
    allow: [],
    numbers: ['+49'],
    accepts: { ...CONTENT_CLASSES.megapixel, mediaTypes: DEFAULT_MMS_MEDIA_TYPES },
    maxPerSecond,
  };
  const c = fakeClock();
  const activities = createMmscActivities({
    smtp,
    media: filesystemMediaStore(mkdtempSync(join(tmpdir(), 'rate-'))),
    mm4: { domain: 'mms.iwf.example.net', systemAddress: 'mm4-system@mms.iwf.example.net', peers: [peer] },
    rateLimiter: new RateLimiter(c.clock),
  });
  const res = (n: number) => ({
    peer: 'operator-a',
    originatorSystem: 'system-user@mms.mnc001.mcc001.gprs',
    version: '6.16.0',
    transactionId: `T-${n}`,
    messageId: `M-${n}`,
    idsQuoted: true,
    status: 'Ok' as const,
    statusText: 'ok',
  });
  return {
    activities,
    res,
    got: server.got,
    sleeps: c.sleeps,
    close: async () => {
      smtp.close();
      await server.close();
    },
  };
}

test('mm4.peers[].maxPerSecond paces the PDUs the MMSC activities send to that peer', async (t) => {
  const r = await mmscActivities(2);
  try {
    for (let i = 1; i <= 3; i++) await r.activities.sendMm4ForwardRes(r.res(i));
    t.is(r.got.length, 3, 'all sent');
    t.deepEqual(r.sleeps, [500], 'the third waited for its turn at 2/s');
  } finally {
    await r.close();
  }
});

test('a turn beyond the attempt budget fails the send (retryable) without sending', async (t) => {
  const r = await mmscActivities(0.01); // one per 100 s; outside an activity the budget is 30 s
  try {
    await r.activities.sendMm4ForwardRes(r.res(1));
    const e = await t.throwsAsync(r.activities.sendMm4ForwardRes(r.res(2)), { instanceOf: RateLimitWaitTooLong });
    t.is(e?.name, 'RateLimitWaitTooLong', 'a plain error type: Temporal retries it under the activity retry policy');
    t.is(r.got.length, 1);
  } finally {
    await r.close();
  }
});
