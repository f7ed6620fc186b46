/**
 * Outbound pacing per MM4 peer (`mm4.peers[].maxPerSecond`): a token bucket per peer, holding at
 * most one second of tokens (so a burst after a quiet spell is at most `maxPerSecond` PDUs).
 * A caller over the rate is given a turn in the future and waits for it, in arrival order; one
 * whose turn is further off than it may wait is refused at once without taking a token, so a
 * refusal never delays those behind it.
 */

export interface RateClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realRateClock: RateClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** The wait for a turn would outlast what the caller may wait (e.g. its activity timeout): try later. */
export class RateLimitWaitTooLong extends Error {
  constructor(
    readonly key: string,
    readonly waitMs: number,
    readonly maxWaitMs: number,
  ) {
    super(
      `rate limit of ${key}: next turn in ${Math.ceil(waitMs)} ms, more than the ${Math.floor(maxWaitMs)} ms allowed`,
    );
    this.name = 'RateLimitWaitTooLong';
  }
}

export class TokenBucket {
  /** May go below 0: each negative unit is a turn already promised to a waiting caller. */
  private tokens: number;
  private at: number;

  constructor(
    readonly perSecond: number,
    now: number,
  ) {
    if (!(perSecond > 0)) throw new RangeError('perSecond must be > 0');
    this.tokens = this.capacity;
    this.at = now;
  }

  get capacity(): number {
    return Math.max(1, this.perSecond);
  }

  private refill(now: number) {
    if (now > this.at) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) * this.perSecond) / 1000);
      this.at = now;
    }
  }

  /** How long from `now` until a token would be free for a new caller (0: at once). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / this.perSecond;
  }

  /**
   * Takes a token (now or a promised future one) and says how long to wait for it; takes nothing
   * and returns undefined when that wait would exceed `maxWaitMs`.
   */
  reserve(now: number, maxWaitMs = Infinity): number | undefined {
    const wait = this.waitMs(now);
    if (wait > maxWaitMs) return undefined;
    this.tokens -= 1;
    return wait;
  }
}

/** One bucket per key (peer name), created on first use; a key without a rate is never paced. */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly clock: RateClock = realRateClock) {}

  /**
   * Waits for `key`'s next turn at `perSecond` (undefined or 0: unlimited). Rejects with
   * {@link RateLimitWaitTooLong}, without waiting, when the turn is more than `maxWaitMs` away.
   */
  async acquire(key: string, perSecond: number | undefined, maxWaitMs = Infinity): Promise<void> {
    if (!perSecond) return;
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (!bucket || bucket.perSecond !== perSecond) {
      bucket = new TokenBucket(perSecond, now);
      this.buckets.set(key, bucket);
    }
    const wait = bucket.reserve(now, maxWaitMs);
    if (wait === undefined) throw new RateLimitWaitTooLong(key, bucket.waitMs(now), maxWaitMs);
    if (wait > 0) await this.clock.sleep(wait);
  }
}
