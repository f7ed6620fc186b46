import type { Clock, TimerHandle } from '../../../clients/sip/clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
  unref: boolean;
}

/**
 * A Clock that moves only when told. Timers fire in the order they are due (ties in the order they
 * were set), each with now() at its due time; a timer set while firing fires in the same advance()
 * if it falls due within it. Nothing here reads the real time.
 */
export class FakeClock implements Clock {
  private t: number;
  private lastId = 0;
  private readonly timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number, o?: { unref?: boolean }): TimerHandle {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`timer of ${ms} ms`);
    const id = ++this.lastId;
    this.timers.set(id, { id, at: this.t + ms, fn, unref: !!o?.unref });
    return { id } as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.timers.delete((handle as unknown as { id: number }).id);
  }

  /** The pending timers, the next due first: when each fires and whether it was unref'd. */
  pending(): { at: number; unref: boolean }[] {
    return this.sorted().map(({ at, unref }) => ({ at, unref }));
  }

  /** Moves time on by `ms`, firing every timer due by then; returns how many fired. */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance by ${ms} ms`);
    const end = this.t + ms;
    let fired = 0;
    for (let next = this.sorted()[0]; next && next.at <= end; next = this.sorted()[0], fired++) this.fire(next);
    this.t = end;
    return fired;
  }

  /** Moves time on to `at` (absolute), firing every timer due by then. */
  advanceTo(at: number): number {
    return this.advance(at - this.t);
  }

  /** Jumps to the next timer and fires it alone; returns the time it fired at, undefined when none was pending. */
  runNext(): number | undefined {
    const next = this.sorted()[0];
    if (!next) return undefined;
    this.fire(next);
    return this.t;
  }

  private fire(timer: Timer): void {
    this.timers.delete(timer.id);
    this.t = Math.max(this.t, timer.at);
    timer.fn();
  }

  private sorted(): Timer[] {
    return [...this.timers.values()].sort((a, b) => a.at - b.at || a.id - b.id);
  }
}

/**
 * Fires the clock's timers one at a time until `done()`. Before each (and before checking `done`),
 * `settle()` awaits the I/O the previous one caused, so every event happens at a known fake time.
 * Throws when no timer is left to fire (nothing more can happen) or after `maxSteps`.
 */
export async function runTimersUntil(
  clock: FakeClock,
  settle: () => Promise<unknown>,
  done: () => boolean,
  maxSteps = 1000,
): Promise<void> {
  for (let step = 0; ; step++) {
    await settle();
    if (done()) return;
    if (step >= maxSteps) throw new Error(`not done after ${maxSteps} timers (now ${clock.now()})`);
    if (clock.runNext() === undefined) throw new Error(`not done and no timer pending (now ${clock.now()})`);
  }
}
