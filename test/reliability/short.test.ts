/**
 * The short reliability suite (`npm run reliability -- --short`) as part of `npm test`: a real
 * `npm start` between independent peers (reliability/harness.ts), every group, and no delivery
 * lost or duplicated, no crash, no hang, no violation. The suite runs as its own process, as an
 * operator runs it: whatever it leaves open when it ends (peers of a killed IWF) cannot keep this
 * test file from ending, and a stuck run is killed at the deadline rather than hanging CI.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { failed, type GroupResult } from '../../reliability/harness.js';
import { table } from '../../reliability/run.js';

const DEADLINE_MS = 20 * 60_000;

test.serial('the short reliability suite finds nothing lost, duplicated, crashed, hung or violated', async (t) => {
  t.timeout(DEADLINE_MS + 60_000);
  const json = join(mkdtempSync(join(tmpdir(), 'iwf-reliability-short-')), 'results.json');
  const run = join(import.meta.dirname, '..', '..', 'reliability', 'run.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', run, '--short', '--fuzz', '5', '--json', json], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Progress on stderr as it happens (t.log is shown only at the end).
  child.stdout.on('data', (d: Buffer) => process.stderr.write(d));
  child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  const killer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(killer);
  t.not(code, null, `the suite did not end within ${DEADLINE_MS / 60_000} minutes`);
  const { results } = JSON.parse(readFileSync(json, 'utf8')) as { results: GroupResult[] };
  t.deepEqual(
    results.map((r) => r.group),
    ['R1', 'R2', 'R3', 'R4', 'R5', 'R6'],
  );
  for (const r of results) {
    t.log(table(r));
    t.false(failed(r), table(r));
    if (r.status === 'ran') t.true(r.cases > 0, `${r.group} ran no cases`);
  }
  t.is(code, 0);
});
