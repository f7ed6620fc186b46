/**
 * The benchmark's floor: workflows with the same Temporal work as one text delivery (five
 * activities: MMS -> CPM convert, store, send, answer, audit; CPM -> MMS select, convert, adapt,
 * send, audit, plus the MMSC's answer as one signal) that do nothing else.
 */
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(x: number): Promise<number> }>({ startToCloseTimeout: '30s' });
export const poke = defineSignal('poke');

export async function floor(): Promise<number> {
  return (await noop(1)) + (await noop(2)) + (await noop(3)) + (await noop(4)) + (await noop(5));
}

export async function floorWithSignal(): Promise<number> {
  let poked = false;
  setHandler(poke, () => void (poked = true));
  const sum = (await noop(1)) + (await noop(2)) + (await noop(3)) + (await noop(4)) + (await noop(5));
  await condition(() => poked);
  return sum;
}
