/**
 * The short reliability suite (`npm run reliability -- --short`) as part of `npm test`: a real
 * `npm start` between independent peers (reliability/harness.ts), every group, and no delivery
 * lost or duplicated, no crash, no hang, no violation. R6 may report that it waits for push-back
 * (`ingress.maxInFlight`), which is not a failure of the others.
 */
import test from 'ava';
import { failed } from '../../reliability/harness.js';
import { runReliability, table } from '../../reliability/run.js';

test.serial('the short reliability suite finds nothing lost, duplicated, crashed, hung or violated', async (t) => {
  t.timeout(900_000);
  const results = await runReliability({
    short: true,
    groups: ['R1', 'R2', 'R3', 'R4', 'R5', 'R6'],
    fuzzMs: 5_000,
    // Progress on stderr as it happens (t.log is shown only at the end).
    log: (s) => {
      t.log(s);
      process.stderr.write(`${s}\n`);
    },
  });
  t.is(results.length, 6);
  for (const r of results) {
    t.false(failed(r), table(r));
    if (r.status === 'ran') t.true(r.cases > 0, `${r.group} ran no cases`);
  }
});
