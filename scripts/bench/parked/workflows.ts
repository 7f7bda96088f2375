// Bare parked workflows, the fan-out benchmark's baseline (scripts/bench/fanout.ts): `k` no-op activities one after
// another, then a timer a week away. Nothing else: no queries, signals, search attributes or state.
import { proxyActivities, sleep } from '@temporalio/workflow';

/** The activity the bare worker (worker.ts) registers. */
export interface ParkedActivities {
  /** Does nothing; the `k`-th of `k` tells the bench its workflow is about to park (worker.ts). */
  noop(i: number, k: number): Promise<void>;
}

const { noop } = proxyActivities<ParkedActivities>({ startToCloseTimeout: '1 minute' });

export async function parkedBare(k: number): Promise<void> {
  for (let i = 1; i <= k; i++) await noop(i, k);
  await sleep('7 days');
}
