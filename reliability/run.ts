/**
 * `npm run reliability [-- --short] [--group R1,R4] [--json FILE] [--fuzz SECONDS]`
 *
 * Runs the reliability groups against a real `npm start` (harness.ts) and prints one table per
 * group: cases, lost, duplicated, crashes, hangs, violations, RSS of the IWF process before/after,
 * then the group's own figures and failures. Exit 1 when any group that ran has a non-zero count;
 * a group that waits for a feature (R6 without `ingress.maxInFlight`) is reported, not failed.
 */
import { writeFileSync } from 'node:fs';
import { failed, Rig, type GroupResult } from './harness.js';
import { r1Kill } from './groups/r1-kill.js';
import { r2Temporal } from './groups/r2-temporal.js';
import { r3Storm } from './groups/r3-storm.js';
import { r4Hostile } from './groups/r4-hostile.js';
import { r5Access } from './groups/r5-access.js';
import { r6Overload } from './groups/r6-overload.js';

export const GROUPS = ['R1', 'R2', 'R3', 'R4', 'R5', 'R6'] as const;
export type GroupName = (typeof GROUPS)[number];

export interface RunOptions {
  short: boolean;
  groups: GroupName[];
  /** Mutation fuzzing time in R4. */
  fuzzMs: number;
  log: (s: string) => void;
}

/** Runs the groups in order; R1-R5 share one IWF (R1 restarts it), R6 starts its own. */
export async function runReliability(o: RunOptions): Promise<GroupResult[]> {
  const results: GroupResult[] = [];
  const shared = o.groups.filter((g) => g !== 'R6');
  if (shared.length) {
    const rig = await Rig.start();
    o.log(
      `IWF pid ${rig.iwf.pid} in ${rig.iwf.dir}: MM4 ${rig.iwf.ports.mm4}, SIP ${rig.iwf.ports.sip}, media ${rig.iwf.ports.media}, Temporal ${rig.iwf.ports.temporal}`,
    );
    try {
      for (const g of shared) {
        const t0 = Date.now();
        o.log(`${g} ...`);
        const res =
          g === 'R1'
            ? await r1Kill(rig, o)
            : g === 'R2'
              ? await r2Temporal(rig, o)
              : g === 'R3'
                ? await r3Storm(rig, o)
                : g === 'R4'
                  ? await r4Hostile(rig, o)
                  : await r5Access(rig, o);
        res.figures.seconds = Math.round((Date.now() - t0) / 1000);
        results.push(res);
        o.log(table(res));
      }
    } finally {
      await rig.stop();
    }
  }
  if (o.groups.includes('R6')) {
    const t0 = Date.now();
    o.log('R6 ...');
    const res = await r6Overload(o);
    res.figures.seconds = Math.round((Date.now() - t0) / 1000);
    results.push(res);
    o.log(table(res));
  }
  return results;
}

export function table(r: GroupResult): string {
  const cols: [string, string][] = [
    ['group', r.group],
    ['status', r.status],
    ['cases', String(r.cases)],
    ['lost', String(r.lost)],
    ['duplicated', String(r.duplicated)],
    ['crashes', String(r.crashes)],
    ['hangs', String(r.hangs)],
    ['violations', String(r.violations)],
    ['RSS before', `${Math.round(r.rssBeforeKb / 1024)} MiB`],
    ['RSS after', `${Math.round(r.rssAfterKb / 1024)} MiB`],
  ];
  const w = cols.map(([k, v]) => Math.max(k.length, v.length));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  const out = [
    `\n${r.group}: ${r.title}`,
    line(cols.map(([k]) => k)),
    `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`,
    line(cols.map(([, v]) => v)),
  ];
  for (const [k, v] of Object.entries(r.figures)) out.push(`  ${k}: ${v}`);
  if (r.failures.length)
    out.push(`  failures (${r.failures.length}):`, ...r.failures.slice(0, 40).map((f) => `   - ${f.slice(0, 400)}`));
  return out.join('\n');
}

function parseArgs(argv: string[]): RunOptions & { json?: string } {
  const o: RunOptions & { json?: string } = {
    short: false,
    groups: [...GROUPS],
    fuzzMs: 30_000,
    log: (s) => console.log(s),
  };
  let fuzzSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--short') o.short = true;
    else if (a === '--group' || a === '--groups') {
      const names = (argv[++i] ?? '').split(',').map((s) => s.trim().toUpperCase());
      const bad = names.filter((n) => !(GROUPS as readonly string[]).includes(n));
      if (bad.length || names.length === 0)
        throw new Error(`--group: unknown ${bad.join(', ')} (groups: ${GROUPS.join(', ')})`);
      o.groups = GROUPS.filter((g) => names.includes(g));
    } else if (a === '--json') o.json = argv[++i];
    else if (a === '--fuzz') {
      o.fuzzMs = Number(argv[++i]) * 1000;
      fuzzSet = true;
    } else throw new Error(`unknown option ${a} (--short, --group R1,R4, --json FILE, --fuzz SECONDS)`);
  }
  if (o.short && !fuzzSet) o.fuzzMs = 5_000;
  return o;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const results = await runReliability(o);
  console.log('\nsummary');
  for (const r of results)
    console.log(`  ${r.group} ${failed(r) ? 'FAIL' : r.status === 'waiting' ? 'WAITING' : 'ok'}  ${r.title}`);
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ short: o.short, results }, null, 2)}\n`);
  process.exit(results.some(failed) ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: Error) => {
    console.error(`reliability: ${e.stack ?? e.message}`);
    process.exit(3);
  });
}
