import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Remembers what each local activity returned, so that the same call is not carried out twice by
 * this process. A local activity's result reaches Temporal only with the workflow task that ran
 * it; when that task is lost (the Temporal server restarted, the task timed out under load), the
 * task is run again and with it every local activity in it: the .RES, the report, the SIP
 * MESSAGE would go out a second time. The same call has the same workflow run and activity id
 * (its position in the workflow's commands, the same on every replay), so a repeat is answered
 * with the first result. A new call (a report resent after its ack timeout) has a new id and is
 * carried out. Bounded: the oldest entries go first; a task is run again within seconds.
 * A crashed process forgets: another worker then repeats the call, as with any activity.
 */
export function localActivityResults(max = 20_000): ActivityInterceptorsFactory {
  const results = new Map<string, unknown>();
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const { isLocal, workflowExecution, activityId } = ctx.info;
        if (!isLocal || !workflowExecution) return next(input);
        const key = `${workflowExecution.workflowId}\n${workflowExecution.runId}\n${activityId}`;
        if (results.has(key)) return results.get(key);
        const out = await next(input);
        results.set(key, out);
        if (results.size > max) results.delete(results.keys().next().value!);
        return out;
      },
    },
  });
}
