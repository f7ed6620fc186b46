import test from 'ava';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonlAuditStore, type AuditRecord } from '../../clients/audit-store.js';

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

test('a record is written once per run, even when the write is retried', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.jsonl');
  const store = jsonlAuditStore(file);
  const results = await Promise.all([store.append(record('a')), store.append(record('a'))]);
  t.deepEqual(results.sort(), ['exists', 'written']);
  // A new process (a restarted worker) sees it too.
  t.is(await jsonlAuditStore(file).append(record('a')), 'exists');
  t.is(await store.append(record('a', 'r2')), 'written', 'another run is another record');
  t.is(readFileSync(file, 'utf8').trim().split('\n').length, 2);
});

test('a torn last line from a crash is skipped and the record can be written again', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.jsonl');
  appendFileSync(file, JSON.stringify(record('b')).slice(0, 30));
  const store = jsonlAuditStore(file);
  t.deepEqual(await store.get('b'), []);
  appendFileSync(file, '\n');
  t.is(await store.append(record('b')), 'written');
  t.is((await store.get('b')).length, 1);
});

test('records are found by id and exported by end time', async (t) => {
  const store = jsonlAuditStore(join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.jsonl'));
  await store.append(record('old', 'r', '2025-01-01T00:00:00.000Z'));
  await store.append(record('new', 'r', '2026-06-01T00:00:00.000Z'));
  const since = [];
  for await (const r of store.since(new Date('2026-01-01T00:00:00Z'))) since.push(r.workflowId);
  t.deepEqual(since, ['new']);
  t.is((await store.get('old'))[0].outcome?.result, 'delivered');
});
