import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { OperatorEvent } from '../model/delivery.js';
import { auditQuery, operatorUpdate, type AuditView } from '../workflows/messages.js';

/** Output goes through this, so tests can capture it. */
export interface Out {
  print(line: string): void;
}

/** A Temporal visibility query from the list filters (values are quoted; keys are ours). */
export function listQuery(o: { state?: string; direction?: string; since?: Date }): string {
  const q = ['WorkflowType IN ("mmsToCpm", "cpmToMms")'];
  const quote = (v: string) => `"${v.replace(/["\\\\]/g, '')}"`;
  if (o.direction) q.push(`IwfDirection = ${quote(o.direction)}`);
  if (o.state) q.push(`IwfState = ${quote(o.state)}`);
  if (o.since) q.push(`StartTime >= ${quote(o.since.toISOString())}`);
  return q.join(' AND ');
}

/** `30m`, `2h`, `7d` ago, or an ISO date-time. */
export function parseSince(v: string, now = Date.now()): Date {
  const m = /^(\d+)(m|h|d)$/.exec(v.trim());
  if (m) return new Date(now - Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm']);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`--since: '${v}' is neither a duration like 2h nor a date`);
  return d;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => (c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}

const sa = (w: WorkflowExecutionInfo, key: string) => {
  const v = (w.searchAttributes as Record<string, unknown[]> | undefined)?.[key];
  return Array.isArray(v) && v.length ? String(v[0]) : '';
};

export async function listDeliveries(
  client: Client,
  out: Out,
  o: { state?: string; direction?: string; since?: Date; limit: number; json: boolean },
) {
  const rows: { id: string; direction: string; state: string; outcome: string; status: string; started: string }[] = [];
  for await (const w of client.workflow.list({ query: listQuery(o) })) {
    rows.push({
      id: w.workflowId,
      direction: sa(w, 'IwfDirection'),
      state: sa(w, 'IwfState'),
      outcome: sa(w, 'IwfOutcome'),
      status: w.status.name,
      started: w.startTime.toISOString(),
    });
    if (rows.length >= o.limit) break;
  }
  if (o.json) return out.print(JSON.stringify(rows, null, 2));
  if (!rows.length) return out.print('no deliveries match');
  for (const line of table([
    ['WORKFLOW ID', 'DIRECTION', 'STATE', 'OUTCOME', 'STATUS', 'STARTED'],
    ...rows.map((r) => [r.id, r.direction, r.state, r.outcome, r.status, r.started]),
  ]))
    out.print(line);
}

export async function showDelivery(client: Client, out: Out, id: string, json: boolean) {
  const handle = client.workflow.getHandle(id);
  const desc = await handle.describe();
  let audit: AuditView | undefined;
  let auditError: string | undefined;
  try {
    audit = await handle.query(auditQuery);
  } catch (e) {
    auditError = (e as Error).message; // e.g. no worker running for an open delivery
  }
  const summary = (await desc.staticSummary?.()) ?? '';
  if (json)
    return out.print(JSON.stringify({ workflowId: id, status: desc.status.name, summary, audit, auditError }, null, 2));
  out.print(`delivery  ${id}`);
  out.print(`summary   ${summary}`);
  out.print(`status    ${desc.status.name}${audit ? `, state ${audit.state}` : ''}`);
  if (audit?.outcome)
    out.print(`outcome   ${audit.outcome.result} (MM4 ${audit.outcome.mm4Status}) ${audit.outcome.statusText}`);
  if (!audit) return out.print(`audit     unavailable: ${auditError}`);
  out.print('');
  for (const line of table([
    ['AT', 'FROM', 'TO', 'EVENT', 'DETAIL'],
    ...audit.trail.map((e) => [e.at, e.from, e.to, e.event, e.detail ?? '']),
  ]))
    out.print(line);
}

export async function commandDelivery(client: Client, out: Out, id: string, event: OperatorEvent, json: boolean) {
  const result = await client.workflow.getHandle(id).executeUpdate(operatorUpdate, { args: [event] });
  out.print(
    json
      ? JSON.stringify({ workflowId: id, command: event.type, ...result })
      : `${event.type} accepted: ${id} is now in state ${result.state}`,
  );
}
