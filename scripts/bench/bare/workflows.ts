// The bare baseline (scripts/bench/throughput.ts): a workflow that runs `activities` no-op activities one after
// another and ends. Its history is the minimum for them: 5 + 6 × activities events (scripts/bench/historyCount.ts).
// `upserts` (a diagnostic, `throughput.ts --bare-upserts N`): that many search-attribute upserts, spread between the
// activities, to measure what they cost the server.
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type * as activities from './activities';

const { noop } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds' });

export async function bareWorkflow(count: number, upserts = 0): Promise<number> {
  for (let i = 0; i < count; i++) {
    // Upsert number u goes before activity floor(u * count / upserts): spread evenly, one task each when upserts ≤ count.
    for (let u = 0; u < upserts; u++)
      if (Math.floor((u * count) / upserts) === i) upsertSearchAttributes({ UpgradeStage: [`bare-${u}`] });
    await noop();
  }
  return count;
}
