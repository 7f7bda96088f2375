// TEST FIXTURES, not the real workflows: the upgrade and restore activities of activities/deploy.ts called the way
// workflows/upgrade.ts calls them (its `rollout` options: heartbeat, retry with backoff and an attempt limit, wait for
// cancellation), with a shorter first retry interval so that retries after injected faults take a fraction of a
// second. test/integration/realKubeFaults.test.ts runs them on the Temporal dev server, so retries, their delays and
// a server's Retry-After (nextRetryDelay) are decided by the real Temporal server.
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { deployActivities } from '../../activities/deploy';
import type { ComponentSnapshot } from '../../domain/model';
import type { PlatformChangeResult } from '../../activities/ports';

type Deploy = ReturnType<typeof deployActivities>;

const deploy = proxyActivities<Deploy>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '300ms', backoffCoefficient: 2, maximumInterval: '2 seconds', maximumAttempts: 6 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

export async function upgradeOne(input: Parameters<Deploy['upgradeComponent']>[0]): Promise<PlatformChangeResult> {
  return deploy.upgradeComponent(input);
}

export async function restoreOne(snapshot: ComponentSnapshot): Promise<PlatformChangeResult> {
  return deploy.restoreComponent(snapshot);
}
