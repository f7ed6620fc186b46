/**
 * The benchmark's floor: a workflow with the same Temporal work as one single-recipient
 * delivery (three activities, no signals) that does nothing else.
 */
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(x: number): Promise<number> }>({ startToCloseTimeout: '30s' });

export async function floor(): Promise<number> {
  return (await noop(1)) + (await noop(2)) + (await noop(3));
}
