import test from 'ava';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testWith } from '../helpers/tools.js';
import { jsonlAuditStore, postgresAuditStore, type AuditRecord, type AuditStore } from '../../clients/audit-store.js';

const record = (workflowId: string, runId = 'r1', endedAt = '2026-01-01T00:00:00.000Z'): AuditRecord => ({
  workflowId,
  runId,
  direction: 'mms-to-cpm',
  ids: { mm4MessageId: 'M-1' },
  outcome: { result: 'delivered', mm4Status: 'Ok', statusText: 'fine' },
  trail: [{ at: endedAt, from: 'received', to: 'done', event: 'start' }],
  startedAt: endedAt,
  endedAt,
});

// PostgreSQL is the production store; CI starts one (Debian postgresql) and names it here.
const pgUrl = process.env.IWF_TEST_POSTGRES_URL;

const stores: [string, (() => AuditStore) | undefined][] = [
  ['jsonl', () => jsonlAuditStore(join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.jsonl'))],
  ['postgres', pgUrl ? () => postgresAuditStore(pgUrl) : undefined],
];

for (const [kind, make] of stores) {
  const t0 = kind === 'postgres' ? testWith('postgres') : test;
  t0(`${kind}: a record is written once per run, even when the write is retried`, async (t) => {
    const store = make!();
    const id = `wf-${randomUUID()}`;
    try {
      const results = await Promise.all([store.append(record(id)), store.append(record(id))]);
      t.deepEqual(results.sort(), ['exists', 'written']);
      t.is(await store.append(record(id)), 'exists');
      t.is(await store.append(record(id, 'r2')), 'written', 'another run is another record');
      t.deepEqual((await store.get(id)).map((r) => r.runId).sort(), ['r1', 'r2']);
    } finally {
      await store.close?.();
    }
  });

  t0(`${kind}: records are found by id and exported by end time`, async (t) => {
    const store = make!();
    const tag = randomUUID();
    try {
      await store.append(record(`old-${tag}`, 'r', '2025-01-01T00:00:00.000Z'));
      await store.append(record(`new-${tag}`, 'r', '2026-06-01T00:00:00.000Z'));
      const since: string[] = [];
      for await (const r of store.since(new Date('2026-01-01T00:00:00Z')))
        if (r.workflowId.endsWith(tag)) since.push(r.workflowId);
      t.deepEqual(since, [`new-${tag}`]);
      t.is((await store.get(`old-${tag}`))[0].outcome?.result, 'delivered');
    } finally {
      await store.close?.();
    }
  });
}

test('jsonl: a restarted writer sees earlier records; a torn last line is skipped', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.jsonl');
  t.is(await jsonlAuditStore(file).append(record('a')), 'written');
  t.is(await jsonlAuditStore(file).append(record('a')), 'exists', 'a new process (a restarted worker) sees it');
  appendFileSync(file, JSON.stringify(record('b')).slice(0, 30));
  const store = jsonlAuditStore(file);
  t.deepEqual(await store.get('b'), []);
  appendFileSync(file, '\n');
  t.is(await store.append(record('b')), 'written');
  t.is(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{"workflowId":"b"') && l.endsWith('}')).length,
    1,
  );
});

test('postgres: a database that is down at start does not stop the process; each write fails as an error and is tried afresh', async (t) => {
  // Nothing listens on this port: every use fails, as a retryable error, and nothing is thrown at creation.
  const store = postgresAuditStore('postgres://iwf:iwf@127.0.0.1:1/iwf');
  try {
    await t.throwsAsync(store.append(record(`wf-${randomUUID()}`)), { message: /ECONNREFUSED|connect/ });
    await t.throwsAsync(
      store.append(record(`wf-${randomUUID()}`)),
      { message: /ECONNREFUSED|connect/ },
      'tried again, not a cached failure',
    );
  } finally {
    await store.close?.();
  }
});
