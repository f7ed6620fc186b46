/**
 * The benchmark's floors: workflows that do nothing but Temporal work, so their rate on the same
 * server in the same run is a ceiling our deliveries cannot move.
 *  - `floorOne`: exactly one normal activity and one signal, the least a delivery that calls out
 *    once and waits for one answer can cost (the figure the ratio goal is set against);
 *  - `floor`, `floorWithSignal`: the older floors with the same Temporal work as one text delivery
 *    today (five activities: MMS -> CPM convert, store, send, answer, audit; CPM -> MMS select,
 *    convert, adapt, send, audit, plus the MMSC's answer as one signal).
 */
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(x: number): Promise<number> }>({ startToCloseTimeout: '30s' });
export const poke = defineSignal('poke');

export async function floorOne(): Promise<number> {
  let poked = false;
  setHandler(poke, () => void (poked = true));
  const one = await noop(1);
  await condition(() => poked);
  return one;
}

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
