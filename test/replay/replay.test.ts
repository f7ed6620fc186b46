/**
 * Deliveries in flight survive upgrades: every history an earlier release recorded
 * (test/fixtures/histories/<release>/, written by record-histories.ts) replays against the current
 * workflow code without a nondeterminism error. A change to workflow code that alters the commands
 * an old history expects must be guarded with `patched()` (docs/temporal-notes.md), or this fails.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/iwf.js';

// The replay workers' own lifecycle lines are noise here; failures still reach the test.
Runtime.install({ logger: new DefaultLogger('WARN') });

const root = join(import.meta.dirname, '..', 'fixtures', 'histories');
const fixtures = readdirSync(root).flatMap((release) =>
  readdirSync(join(root, release))
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ release, name: f.replace(/\.json$/, ''), file: join(root, release, f) })),
);

test('histories of earlier releases are kept: a plain delivery each way, retryWait, awaitingImdn, awaitingReport', (t) => {
  const names = new Set(fixtures.map((f) => f.name));
  for (const n of [
    'mms-to-cpm-plain',
    'mms-to-cpm-retry-wait',
    'mms-to-cpm-awaiting-imdn',
    'mms-to-cpm-both-reports',
    'cpm-to-mms-plain',
    'cpm-to-mms-awaiting-report',
    'cpm-to-mms-both-reports',
  ])
    t.true(names.has(n), n);
});

for (const f of fixtures) {
  test(`${f.release} ${f.name} replays against the current workflow code`, async (t) => {
    const { workflowId, history } = JSON.parse(readFileSync(f.file, 'utf8')) as {
      workflowId: string;
      history: unknown;
    };
    const h = historyFromJSON(history);
    t.true((h.events?.length ?? 0) > 5);
    await t.notThrowsAsync(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, h, workflowId));
  });
}
