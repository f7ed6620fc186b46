import { fromPromise } from 'xstate';
import type { RetryPolicy } from '../model/delivery.js';

/**
 * What a failed actor delivers to `onError`: the workflow's actor bindings unwrap Temporal's
 * ActivityFailure into this plain shape so guards match on `type` strings (the failure types of
 * model/errors.ts).
 */
export interface ActorError {
  type: string;
  message: string;
  details?: unknown;
}

/**
 * The current time in epoch ms, the only clock a machine's guards and delays read. XState hands
 * guards and delays no clock, so it comes with the machine's input: the workflow's deterministic
 * time under Temporal, the SimulatedClock's in tests. A function, so it is given where the actor
 * is created, never in a workflow's (serialised) input.
 */
export type Now = () => number;

/** Exponential backoff before attempt `done + 1`, capped (same shape as Temporal's RetryPolicy). */
export function retryDelayMs(policy: RetryPolicy, done: number): number {
  const raw = policy.initialIntervalMs * policy.backoffCoefficient ** Math.max(0, done - 1);
  return Math.max(1, Math.min(policy.maxIntervalMs, Math.round(raw)));
}

/** An actor the workflow must supply with `machine.provide({ actors })`; it fails if it did not. */
export const placeholder = <O, I>(name: string) =>
  fromPromise<O, I>(async () => {
    throw new Error(`actor '${name}' must be provided by the workflow`);
  });
