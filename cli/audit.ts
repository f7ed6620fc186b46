import type { AuditStore } from '../clients/audit-store.js';
import type { Out } from './deliveries.js';

/** Prints a delivery's audit record(s); false when there is none. */
export async function showAudit(store: AuditStore, out: Out, id: string, json: boolean): Promise<boolean> {
  const records = await store.get(id);
  if (!records.length) return false;
  if (json) {
    out.print(JSON.stringify(records, null, 2));
    return true;
  }
  for (const r of records) {
    out.print(`delivery  ${r.workflowId} (run ${r.runId}, ${r.direction})`);
    out.print(
      `ids       ${Object.entries(r.ids)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    out.print(
      `outcome   ${r.outcome ? `${r.outcome.result} (MM4 ${r.outcome.mm4Status}) ${r.outcome.statusText}` : 'none'}`,
    );
    out.print(`time      ${r.startedAt} .. ${r.endedAt}`);
    for (const e of r.trail) out.print(`  ${e.at}  ${e.from} -> ${e.to}  ${e.event}${e.detail ? `  ${e.detail}` : ''}`);
  }
  return true;
}

export async function exportAudit(store: AuditStore, out: Out, since: Date): Promise<void> {
  for await (const r of store.since(since)) out.print(JSON.stringify(r));
}
