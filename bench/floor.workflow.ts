/**
 * The benchmark's floor: workflows with the same Temporal work as one delivery (three activities,
 * and for CPM -> MMS one signal) that do nothing else.
 */
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(x: number): Promise<number> }>({ startToCloseTimeout: '30s' });
export const poke = defineSignal('poke');

export async function floor(): Promise<number> {
  return (await noop(1)) + (await noop(2)) + (await noop(3));
}

export async function floorWithSignal(): Promise<number> {
  let poked = false;
  setHandler(poke, () => void (poked = true));
  const sum = (await noop(1)) + (await noop(2)) + (await noop(3));
  await condition(() => poked);
  return sum;
}
