// Running fleet rollouts from Temporal visibility: the fleet workflow keeps ReleaseId and TargetVersion current.
import type { Client } from '@temporalio/client';
import type { RolloutDirectoryPort, RunningRollout } from '../activities/fleet';
import { ReleaseId, TargetVersion } from '../workflows/searchAttributes';
import { FLEET_ROLLOUT_WORKFLOW_TYPE } from './temporalMessenger';

export class TemporalRolloutDirectory implements RolloutDirectoryPort {
  constructor(private readonly client: Client) {}

  async runningRollouts(): Promise<RunningRollout[]> {
    const found: RunningRollout[] = [];
    const query = `WorkflowType = '${FLEET_ROLLOUT_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;
    for await (const wf of this.client.workflow.list({ query })) {
      const releaseId = wf.typedSearchAttributes.get(ReleaseId);
      const targetVersion = wf.typedSearchAttributes.get(TargetVersion);
      if (releaseId && targetVersion) found.push({ workflowId: wf.workflowId, releaseId, targetVersion });
    }
    return found;
  }
}
