import type { AuditRecord, AuditStore } from '../clients/audit-store.js';

export interface AuditDeps {
  audit: AuditStore;
}

export function createAuditActivities(deps: AuditDeps) {
  return {
    /** Writes a finished delivery's audit record once (idempotent per run). */
    async writeAuditRecord(r: AuditRecord): Promise<'written' | 'exists'> {
      return deps.audit.append(r);
    },
  };
}
