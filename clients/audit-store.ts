import { createReadStream } from 'node:fs';
import pg from 'pg';
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { AuditEntry, Direction } from '../model/delivery.js';

/**
 * One finished delivery as kept after Temporal's retention: ids, peer, outcome and
 * every state change; never message bodies.
 */
export interface AuditRecord {
  workflowId: string;
  runId: string;
  direction: Direction;
  ids: Record<string, string>;
  outcome?: { result: string; mm4Status: string; statusText: string };
  trail: AuditEntry[];
  startedAt: string;
  endedAt: string;
}

/** Append-only store of audit records; `append` is idempotent per workflow run. */
export interface AuditStore {
  append(r: AuditRecord): Promise<'written' | 'exists'>;
  get(workflowId: string): Promise<AuditRecord[]>;
  since(from: Date): AsyncIterable<AuditRecord>;
  close?(): Promise<void>;
}

/**
 * The embedded store: JSON lines in one file, each record fsynced before `append` returns. A
 * retried append (a worker that crashed after writing) finds its run already there. One writer
 * process per file; PostgreSQL is the store for several workers.
 */
export function jsonlAuditStore(file: string): AuditStore {
  const ready = mkdir(dirname(file), { recursive: true });

  async function* records(): AsyncIterable<AuditRecord> {
    await ready;
    if (!(await stat(file).catch(() => undefined))) return;
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.trim()) continue;
      try {
        yield JSON.parse(line) as AuditRecord;
      } catch {
        // A torn last line from a crash mid-write: skipped; the retried append writes it again.
      }
    }
  }

  let tail: Promise<unknown> = Promise.resolve();
  // Runs already in the file, read once per process (this process is the file's only writer).
  let index: Promise<Set<string>> | undefined;
  const key = (r: AuditRecord) => `${r.workflowId}\u0000${r.runId}`;
  const loadIndex = async () => {
    const ids = new Set<string>();
    for await (const x of records()) ids.add(key(x));
    return ids;
  };
  return {
    append(r) {
      // Serialised: the check and the write of one append must not interleave with another's.
      const run = tail.then(async () => {
        const ids = await (index ??= loadIndex());
        if (ids.has(key(r))) return 'exists' as const;
        const fh = await open(file, 'a', 0o600);
        try {
          await fh.appendFile(JSON.stringify(r) + '\n');
          await fh.sync();
        } finally {
          await fh.close();
        }
        ids.add(key(r));
        return 'written' as const;
      });
      tail = run.catch(() => undefined);
      return run;
    },
    async get(workflowId) {
      const out: AuditRecord[] = [];
      for await (const r of records()) if (r.workflowId === workflowId) out.push(r);
      return out;
    },
    async *since(from) {
      for await (const r of records()) if (Date.parse(r.endedAt) >= from.getTime()) yield r;
    },
  };
}

/**
 * The production store: PostgreSQL, one row per delivery run, primary key (workflow id, run id),
 * so a retried write is a no-op (INSERT ... ON CONFLICT DO NOTHING). Several workers may share it.
 */
export function postgresAuditStore(
  connectionString: string,
  log: { warn(o: object, m: string): void } = { warn() {} },
): AuditStore {
  const pool = new pg.Pool({ connectionString, max: 4 });
  // An idle client losing its connection (a PostgreSQL restart) is reported here; without a
  // listener it would be an uncaught 'error' event and stop the process.
  pool.on('error', (e) => log.warn({ error: e.message }, 'PostgreSQL audit store: idle connection lost'));
  // The table is made on first use, not at start: with the database down the IWF still starts,
  // audit writes fail as retryable activity errors, and the next use tries again.
  let table: Promise<void> | undefined;
  const ensureTable = () =>
    (table ??= pool
      .query(
        `CREATE TABLE IF NOT EXISTS iwf_audit (
       workflow_id text NOT NULL,
       run_id text NOT NULL,
       direction text NOT NULL,
       ended_at timestamptz NOT NULL,
       record jsonb NOT NULL,
       PRIMARY KEY (workflow_id, run_id))`,
      )
      .then(
        () => undefined,
        (e: { code?: string }) => {
          // Two processes creating the table at once: one wins, the other sees a duplicate; both fine.
          if (e.code === '23505' || e.code === '42P07') return;
          table = undefined;
          throw e;
        },
      ));
  return {
    async append(r) {
      await ensureTable();
      const res = await pool.query(
        'INSERT INTO iwf_audit (workflow_id, run_id, direction, ended_at, record) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
        [r.workflowId, r.runId, r.direction, r.endedAt, JSON.stringify(r)],
      );
      return res.rowCount === 1 ? 'written' : 'exists';
    },
    async get(workflowId) {
      await ensureTable();
      const res = await pool.query<{ record: AuditRecord }>(
        'SELECT record FROM iwf_audit WHERE workflow_id = $1 ORDER BY ended_at',
        [workflowId],
      );
      return res.rows.map((row) => row.record);
    },
    async *since(from) {
      await ensureTable();
      const res = await pool.query<{ record: AuditRecord }>(
        'SELECT record FROM iwf_audit WHERE ended_at >= $1 ORDER BY ended_at',
        [from.toISOString()],
      );
      for (const row of res.rows) yield row.record;
    },
    close: () => pool.end(),
  };
}

/** The store the configuration names (`audit.store`). */
export function auditStoreFor(
  c: { store: 'jsonl' | 'postgres'; file: string; postgresUrl?: string },
  log?: { warn(o: object, m: string): void },
): AuditStore {
  return c.store === 'postgres' ? postgresAuditStore(c.postgresUrl!, log) : jsonlAuditStore(c.file);
}
