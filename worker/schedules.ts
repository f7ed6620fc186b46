import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';

export const MEDIA_JANITOR_SCHEDULE = 'iwf-media-janitor';

/** Creates the media expiry schedule once per namespace; an existing one is left as operators set it. */
export async function ensureMediaJanitorSchedule(
  client: Client,
  taskQueue: string,
  everyMs: number,
): Promise<'created' | 'exists'> {
  try {
    await client.schedule.create({
      scheduleId: MEDIA_JANITOR_SCHEDULE,
      spec: { intervals: [{ every: everyMs }] },
      action: { type: 'startWorkflow', workflowType: 'mediaJanitor', taskQueue, args: [] },
      policies: { overlap: 'SKIP' },
    });
    return 'created';
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning) return 'exists';
    throw e;
  }
}
