import type { AuditRecord, AuditStore } from '../clients/audit-store.js';
import type { Direction } from '../model/delivery.js';

export interface AuditDeps {
  audit: AuditStore;
  /** Finished deliveries by direction and outcome, and their durations (worker/metrics.ts). */
  metrics?: { deliveryFinished(direction: Direction, outcome: string, seconds: number): void };
}

export function createAuditActivities(deps: AuditDeps) {
  return {
    /**
     * Writes a finished delivery's audit record once (idempotent per run). It runs once at the end
     * of every delivery that reaches an outcome, outside the workflow sandbox, so it is where a
     * finished delivery is counted: only on the first write, so a retried activity (a worker that
     * crashed after writing) is not counted twice.
     */
    async writeAuditRecord(r: AuditRecord): Promise<'written' | 'exists'> {
      const how = await deps.audit.append(r);
      if (how === 'written')
        deps.metrics?.deliveryFinished(
          r.direction,
          r.outcome?.result ?? 'other',
          (Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000,
        );
      return how;
    },
  };
}
