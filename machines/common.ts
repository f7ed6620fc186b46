import type { RetryPolicy } from '../model/delivery.js';

/**
 * What a failed actor delivers to `onError`: the workflow's actor bindings unwrap Temporal's
 * ActivityFailure into this plain shape so guards match on `type` strings (conventions.md 1.7).
 */
export interface ActorError {
  type: string;
  message: string;
  details?: unknown;
}

/** Exponential backoff before attempt `done + 1`, capped (same shape as Temporal's RetryPolicy). */
export function retryDelayMs(policy: RetryPolicy, done: number): number {
  const raw = policy.initialIntervalMs * policy.backoffCoefficient ** Math.max(0, done - 1);
  return Math.max(1, Math.min(policy.maxIntervalMs, Math.round(raw)));
}
