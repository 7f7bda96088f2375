// The bare baseline (scripts/bench/throughput.ts): a workflow that runs `activities` no-op activities one after
// another and ends. Its history is the minimum for them: 5 + 6 × activities events (scripts/bench/historyCount.ts).
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities';

const { noop } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds' });

export async function bareWorkflow(count: number): Promise<number> {
  for (let i = 0; i < count; i++) await noop();
  return count;
}
