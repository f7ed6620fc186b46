import { WorkflowUpdateFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time.js';
import { cpmToMmsMachine } from '../machines/cpm-to-mms.machine.js';
import { mmsToCpmMachine } from '../machines/mms-to-cpm.machine.js';
import type { OperatorEvent } from '../model/delivery.js';
import { auditQuery, operatorUpdate, type AuditView } from '../workflows/messages.js';

/** Output goes through this, so tests can capture it. */
export interface Out {
  print(line: string): void;
}

/** Bad command-line input (an option value, a state or peer name): exit 2, as the README says. */
export class UsageError extends Error {}

interface StateNodeShape {
  type: string;
  invoke: unknown[];
  after: unknown[];
}
const machineStates = [mmsToCpmMachine, cpmToMmsMachine].flatMap((m) =>
  Object.entries(m.root.states as Record<string, StateNodeShape>),
);
/** Every top-level state of both machines: the values `IwfState` takes. */
export const STATE_NAMES: readonly string[] = [...new Set(machineStates.map(([name]) => name))].sort();
/**
 * The states in which a delivery waits: it runs nothing and sits on a durable timer until a peer
 * answers (a SIP final response, an MM4_forward.RES, a report, an IMDN), the timer fires or an
 * operator acts. Derived from the machines, so a new waiting state is found without a list to keep.
 */
export const WAITING_STATES: readonly string[] = [
  ...new Set(
    machineStates
      .filter(([, n]) => n.type === 'atomic' && n.invoke.length === 0 && n.after.length > 0)
      .map(([name]) => name),
  ),
].sort();

export function checkState(state: string, valid: readonly string[] = STATE_NAMES, option = '--state'): string {
  if (!valid.includes(state)) throw new UsageError(`${option}: '${state}' is not a state; valid: ${valid.join(', ')}`);
  return state;
}

/** A Temporal visibility query from the filters (values are quoted; keys are ours). */
export function listQuery(o: {
  state?: string;
  states?: readonly string[];
  direction?: string;
  peer?: string;
  since?: Date;
  startedBefore?: Date;
  running?: boolean;
}): string {
  const q = ['WorkflowType IN ("mmsToCpm", "cpmToMms")'];
  const quote = (v: string) => `"${v.replace(/["\\\\]/g, '')}"`;
  if (o.running) q.push(`ExecutionStatus = "Running"`);
  if (o.direction) q.push(`IwfDirection = ${quote(o.direction)}`);
  if (o.state) q.push(`IwfState = ${quote(o.state)}`);
  if (o.states) q.push(`IwfState IN (${o.states.map(quote).join(', ')})`);
  if (o.peer) q.push(`IwfPeer = ${quote(o.peer)}`);
  if (o.since) q.push(`StartTime >= ${quote(o.since.toISOString())}`);
  if (o.startedBefore) q.push(`StartTime <= ${quote(o.startedBefore.toISOString())}`);
  return q.join(' AND ');
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90s`, `30m`, `2h`, `7d` (one unit) in milliseconds. */
export function parseDuration(v: string, option: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(v.trim());
  if (!m) throw new UsageError(`${option}: '${v}' is not a duration like 90s, 30m, 2h or 7d`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** `30m`, `2h`, `7d` ago, or an ISO date-time. */
export function parseSince(v: string, now = Date.now(), option = '--since'): Date {
  if (/^\d+[smhd]$/.test(v.trim())) return new Date(now - parseDuration(v, option));
  const d = /^\d{4}-\d{2}-\d{2}/.test(v.trim()) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime()))
    throw new UsageError(`${option}: '${v}' is neither a duration like 2h nor an ISO date`);
  return d;
}

/** What an update refusal or RPC error says: a refusal carries the validator's message as its cause. */
export function reasonOf(e: unknown): string {
  if (e instanceof WorkflowUpdateFailedError && e.cause?.message) return e.cause.message;
  return (e as Error).message;
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

/** Newest start first; the same start time by workflow id, so the order is stable. */
export function newestFirst<T extends { id: string; started: string }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => b.started.localeCompare(a.started) || a.id.localeCompare(b.id));
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
  const all: { id: string; direction: string; state: string; outcome: string; status: string; started: string }[] = [];
  // Temporal's SQL visibility (the embedded server, PostgreSQL, MySQL) takes no ORDER BY and lists
  // running executions first, then by close time: every match is read and sorted here, newest start
  // first, so --limit keeps the newest. --since bounds how much is read.
  for await (const w of client.workflow.list({ query: listQuery(o) })) {
    all.push({
      id: w.workflowId,
      direction: sa(w, 'IwfDirection'),
      state: sa(w, 'IwfState'),
      outcome: sa(w, 'IwfOutcome'),
      status: w.status.name,
      started: w.startTime.toISOString(),
    });
  }
  const rows = newestFirst(all).slice(0, o.limit);
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

export interface StuckDelivery {
  id: string;
  runId: string;
  direction: string;
  state: string;
  peer: string;
  /** When the delivery entered `state` (see stateSince). */
  since: string;
  /** Where `since` comes from: the delivery's audit trail, or (no worker answered) its history. */
  sinceFrom: 'trail' | 'history';
  /** Whole seconds in `state` at the time of the listing. */
  forSeconds: number;
  started: string;
}

/**
 * The delivery's current state and since when it is in it. No search attribute records the entry
 * time, and `IwfState` is published only when a delivery comes to rest (a retry that ends in
 * retryWait again writes none), so its upsert events are no measure. The audit trail is: every
 * transition with the workflow's time (the `audit` query), the last one being the entry into the
 * current state. A query needs a worker; without one (or without the payload keys) the answer is
 * the time of the last workflow task the delivery completed: it has done nothing since, so it has
 * been in its state at least that long (an IMDN that left it waiting counts as activity there).
 */
export async function stateSince(
  client: Client,
  workflowId: string,
  o: { runId?: string; query?: boolean; queryTimeoutMs?: number } = {},
): Promise<{ state: string; at: Date; from: 'trail' | 'history' } | undefined> {
  if (o.query !== false) {
    try {
      const audit = await client.connection.withDeadline(Date.now() + (o.queryTimeoutMs ?? 5000), () =>
        client.workflow.getHandle(workflowId, o.runId).query(auditQuery),
      );
      const last = audit.trail.at(-1);
      return { state: audit.state, at: new Date(last?.at ?? Date.now()), from: 'trail' };
    } catch {
      // no worker answers (or the payloads cannot be read): the history says at least as much
    }
  }
  const page = await client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace: client.options.namespace,
    execution: { workflowId, runId: o.runId },
    maximumPageSize: 50,
  });
  let state: string | undefined;
  let at: Date | undefined;
  for (const ev of page.history?.events ?? []) {
    if (!at && ev.workflowTaskCompletedEventAttributes) at = new Date(tsToMs(ev.eventTime));
    const fields =
      ev.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ??
      ev.workflowExecutionStartedEventAttributes?.searchAttributes?.indexedFields;
    if (fields?.IwfState) {
      const value = defaultPayloadConverter.fromPayload<unknown>(fields.IwfState);
      state = String(Array.isArray(value) ? value[0] : value);
      at ??= new Date(tsToMs(ev.eventTime));
      break;
    }
  }
  return state && at ? { state, at, from: 'history' } : undefined;
}

/**
 * Running deliveries in a waiting state (WAITING_STATES) for at least `olderThanMs` at `now`,
 * longest waiting first. Visibility finds the candidates (a delivery started after the bound cannot
 * have waited that long); each one's trail then says which state it is in and since when.
 */
export async function findStuck(
  client: Client,
  o: { olderThanMs: number; peer?: string; now: number },
): Promise<StuckDelivery[]> {
  const bound = o.now - o.olderThanMs;
  const rows: StuckDelivery[] = [];
  const query = listQuery({ states: WAITING_STATES, peer: o.peer, running: true, startedBefore: new Date(bound) });
  let workerAnswers = true; // one unanswered query is enough: the others would wait as long
  for await (const w of client.workflow.list({ query })) {
    const entry = await stateSince(client, w.workflowId, { runId: w.runId, query: workerAnswers }).catch(
      () => undefined,
    );
    if (entry?.from === 'history') workerAnswers = false;
    // Visibility may lag the delivery by a moment: the delivery's own state is the one that counts.
    const state = entry?.state ?? sa(w, 'IwfState');
    const since = entry?.at ?? w.startTime;
    if (!WAITING_STATES.includes(state) || since.getTime() > bound) continue;
    rows.push({
      id: w.workflowId,
      runId: w.runId,
      direction: sa(w, 'IwfDirection'),
      state,
      peer: sa(w, 'IwfPeer'),
      since: since.toISOString(),
      sinceFrom: entry?.from ?? 'history',
      forSeconds: Math.floor((o.now - since.getTime()) / 1000),
      started: w.startTime.toISOString(),
    });
  }
  return rows.sort((a, b) => a.since.localeCompare(b.since) || a.id.localeCompare(b.id));
}

/** `1h05m`, `3d2h`, `45s`: how long, for people. */
export function humanDuration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

export function printStuck(out: Out, rows: StuckDelivery[], json: boolean) {
  if (json) return out.print(JSON.stringify(rows, null, 2));
  if (!rows.length) return out.print('no deliveries are stuck');
  for (const line of table([
    ['WORKFLOW ID', 'DIRECTION', 'STATE', 'PEER', 'IN STATE SINCE', 'FOR', 'STARTED'],
    ...rows.map((r) => [r.id, r.direction, r.state, r.peer, r.since, humanDuration(r.forSeconds), r.started]),
  ]))
    out.print(line);
}

/**
 * `retry --all-stuck`: each delivery through the operator update, whose validator refuses what its
 * state does not take (awaitingReport has no retry); one line per delivery and the counts.
 * Answers whether every retry was accepted.
 */
export async function retryStuck(
  client: Client,
  out: Out,
  rows: StuckDelivery[],
  o: { dryRun: boolean; json: boolean },
) {
  const results: { id: string; state: string; result: 'accepted' | 'refused' | 'dry-run'; detail: string }[] = [];
  for (const r of rows) {
    if (o.dryRun) {
      results.push({ id: r.id, state: r.state, result: 'dry-run', detail: `in ${r.state} since ${r.since}` });
      continue;
    }
    try {
      const res = await client.workflow
        .getHandle(r.id, r.runId)
        .executeUpdate(operatorUpdate, { args: [{ type: 'operator.retry' }] });
      results.push({ id: r.id, state: r.state, result: 'accepted', detail: `now in state ${res.state}` });
    } catch (e) {
      results.push({ id: r.id, state: r.state, result: 'refused', detail: reasonOf(e) });
    }
  }
  const accepted = results.filter((r) => r.result === 'accepted').length;
  const refused = results.filter((r) => r.result === 'refused').length;
  if (o.json) out.print(JSON.stringify({ dryRun: o.dryRun, accepted, refused, deliveries: results }, null, 2));
  else {
    for (const r of results)
      out.print(r.result === 'dry-run' ? `would retry  ${r.id}  (${r.detail})` : `${r.result}  ${r.id}  ${r.detail}`);
    out.print(
      o.dryRun
        ? `dry run: ${results.length} stuck deliveries would be retried; nothing was sent`
        : `${accepted} accepted, ${refused} refused`,
    );
  }
  return refused === 0;
}
