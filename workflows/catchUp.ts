// Level-triggered catch-up, run by the Temporal Schedule `nightshift-catch-up` (hourly by default): for every open
// release (its fleet rollout runs, or finished without being cancelled or superseded), newest first, offer it to each
// control plane that should have it and whose workflow holds no upgrade of it. A late opt-in, a control plane added
// after the fleet listed the inventory, a terminated control-plane workflow and an attempt that stopped before any
// change are all picked up without anyone re-firing a release. Offers are idempotent: the control-plane workflow keeps
// the newest release and ignores one it already has.
import { log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const act = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
});

/** Control planes listed per activity call. */
const PAGE_SIZE = 500;

export interface CatchUpResult {
  releases: { releaseId: string; fleetWorkflowId: string; running: boolean; listed: number; offered: number }[];
  failed: number;
}

export async function catchUp(): Promise<CatchUpResult> {
  const result: CatchUpResult = { releases: [], failed: 0 };
  for (const open of await act.listOpenReleases()) {
    const row = {
      releaseId: open.release.id,
      fleetWorkflowId: open.fleetWorkflowId,
      running: open.running,
      listed: 0,
      offered: 0,
    };
    let cursor: string | undefined;
    do {
      const page = await act.catchUpPage({
        release: open.release,
        fleetWorkflowId: open.running ? open.fleetWorkflowId : undefined,
        cursor,
        pageSize: PAGE_SIZE,
      });
      row.listed += page.listed;
      row.offered += page.offered.length;
      result.failed += page.failed.length;
      cursor = page.nextCursor;
    } while (cursor);
    if (row.offered) log.info('caught up', { ...row });
    result.releases.push(row);
  }
  return result;
}
