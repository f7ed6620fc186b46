declare const timerBrand: unique symbol;

/** A pending timer of a Clock; only the clock that made it can clear it. */
export type TimerHandle = { readonly [timerBrand]: true };

/**
 * Time as the SIP layer sees it: the RFC 3261 17 transaction timers (E, F, J) and the transport's
 * connect timeout are set on a Clock given at construction, never on the globals, so tests can run
 * them on a clock they move themselves.
 */
export interface Clock {
  /** Calls `fn` once, `ms` milliseconds from now. `unref`: the pending timer does not keep the process alive. */
  setTimeout(fn: () => void, ms: number, o?: { unref?: boolean }): TimerHandle;
  /** Cancels a pending timer; one that has fired or was cleared, or undefined, is ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Milliseconds since an arbitrary origin (the epoch for the real clock); only differences mean anything. */
  now(): number;
}

/** Node's timers and Date.now(): what production runs on. */
export const realClock: Clock = {
  setTimeout(fn, ms, o) {
    const timer = setTimeout(fn, ms);
    if (o?.unref) timer.unref();
    return timer as unknown as TimerHandle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as unknown as NodeJS.Timeout | undefined);
  },
  now: () => Date.now(),
};
