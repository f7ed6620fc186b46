import test from 'ava';
import type { Context } from '@temporalio/activity';
import { localActivityResults } from '../../worker/local-activity-results.js';

const ctxOf = (info: object) => ({ info }) as unknown as Context;
const run = { workflowId: 'wf', runId: 'r1' };

test('a local activity run again for the same call answers with its first result; a new call runs', async (t) => {
  const factory = localActivityResults();
  let runs = 0;
  const next = async () => ({ sent: ++runs });
  const call = (info: object) => factory(ctxOf(info)).inbound!.execute!({ args: [], headers: {} }, next);
  const first = await call({ isLocal: true, workflowExecution: run, activityId: '3' });
  const again = await call({ isLocal: true, workflowExecution: run, activityId: '3' });
  t.deepEqual(again, first, 'the replayed task gets the first result');
  t.is(runs, 1, 'and the side effect happened once');
  await call({ isLocal: true, workflowExecution: run, activityId: '4' });
  await call({ isLocal: true, workflowExecution: { ...run, runId: 'r2' }, activityId: '3' });
  t.is(runs, 3, 'another call, or another run, is carried out');
  await call({ isLocal: false, workflowExecution: run, activityId: '3' });
  await call({ isLocal: false, workflowExecution: run, activityId: '3' });
  t.is(runs, 5, 'normal activities are not affected (Temporal records their results)');
});

test('a failed call is not remembered: its retry runs', async (t) => {
  const factory = localActivityResults();
  let runs = 0;
  const next = async () => {
    runs++;
    if (runs === 1) throw new Error('SMTP 421');
    return 'ok';
  };
  const call = () =>
    factory(ctxOf({ isLocal: true, workflowExecution: run, activityId: '1' })).inbound!.execute!(
      { args: [], headers: {} },
      next,
    );
  await t.throwsAsync(call(), { message: 'SMTP 421' });
  t.is(await call(), 'ok');
  t.is(runs, 2);
});

test('bounded: the oldest results are forgotten first', async (t) => {
  const factory = localActivityResults(2);
  let runs = 0;
  const next = async () => ++runs;
  const call = (id: string) =>
    factory(ctxOf({ isLocal: true, workflowExecution: run, activityId: id })).inbound!.execute!(
      { args: [], headers: {} },
      next,
    );
  await call('1');
  await call('2');
  await call('3');
  t.is(await call('3'), 3);
  t.is(await call('1'), 4, 'the oldest was dropped, so it runs again');
});
