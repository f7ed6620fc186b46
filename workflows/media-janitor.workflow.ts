import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

const { purgeExpiredMedia } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  retry: { maximumAttempts: 3 },
});

/**
 * Removes expired media. Started by the Temporal schedule `iwf-media-janitor` (worker/schedules.ts),
 * so expiry is durable and runs once per interval for the whole deployment, not per box.
 */
export async function mediaJanitor(): Promise<{ removed: number }> {
  return { removed: await purgeExpiredMedia() };
}
