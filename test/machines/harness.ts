import { SimulatedClock, waitFor, type AnyActorRef } from 'xstate';

/**
 * XState's SimulatedClock that knows when its next timer is due, so a test moves time exactly to
 * the machine's next timer instead of guessing an amount (or waiting for real time to pass).
 */
export class StepClock extends SimulatedClock {
  private readonly due = new Map<number, number>();

  constructor(start: number) {
    super();
    this.set(start);
  }

  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id = super.setTimeout(() => {
      this.due.delete(id);
      fn();
    }, timeout);
    this.due.set(id, this.now() + timeout);
    return id;
  }

  override clearTimeout(id: number): void {
    this.due.delete(id);
    super.clearTimeout(id);
  }

  /** Moves time to the earliest pending timer, which fires (with any others due then). */
  next(): void {
    if (this.due.size === 0)
      throw new Error('no timer pending: the machine waits for an event the scenario does not send');
    this.set(Math.min(...this.due.values()));
  }
}

/**
 * Runs a started actor to its end. Each time it settles in one of the `waits` states (eventless
 * transitions taken, no invoked actor in flight), `step` plays the outside world once: an event,
 * or time moving on. Nothing depends on real time, so a busy machine cannot change the outcome.
 */
export async function drive(
  actor: AnyActorRef,
  waits: readonly string[],
  step: (state: string) => void,
  maxSteps = 100,
): Promise<void> {
  for (let i = 0; ; i++) {
    const snap = (await waitFor(
      actor,
      (s: { status: string; value: unknown }) => s.status !== 'active' || waits.includes(String(s.value)),
    )) as {
      status: string;
      value: unknown;
    };
    if (snap.status !== 'active') return;
    if (i >= maxSteps) throw new Error(`still waiting in ${String(snap.value)} after ${maxSteps} steps`);
    step(String(snap.value));
  }
}
