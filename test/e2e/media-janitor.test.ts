/**
 * Media expiry is a durable Temporal schedule, not a cron on one box: the IWF creates
 * `iwf-media-janitor` once, and each run purges the expired objects of the store.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { filesystemMediaStore } from '../../clients/media-store.js';
import { MEDIA_JANITOR_SCHEDULE } from '../../worker/schedules.js';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import { waitFor } from '../helpers/ports.js';

test('the janitor schedule exists once and its run purges expired media', async (t) => {
  const temporal = await startTestTemporal();
  const iwf = await startTestIwf({ temporalAddress: temporal.address, mmscPort: 1, outboundProxyPort: 1 });
  try {
    const store = filesystemMediaStore(iwf.config.media.dir);
    const expired = await store.put(Buffer.from('old'), { contentType: 'text/plain', ttlMs: 1 });
    const live = await store.put(Buffer.from('new'), { contentType: 'text/plain', ttlMs: 60_000 });
    const schedule = iwf.client.schedule.getHandle(MEDIA_JANITOR_SCHEDULE);
    const desc = await schedule.describe();
    t.is(desc.action.type, 'startWorkflow');
    await schedule.trigger();
    await waitFor('janitor run', async () => {
      for await (const wf of iwf.client.workflow.list({
        query: 'WorkflowType = "mediaJanitor" AND ExecutionStatus = "Completed"',
      }))
        return wf;
      return undefined;
    });
    t.false(existsSync(join(iwf.config.media.dir, `${expired.id}.bin`)));
    t.true(existsSync(join(iwf.config.media.dir, `${live.id}.bin`)));
  } finally {
    await iwf.stop();
    await temporal.stop();
  }
});
