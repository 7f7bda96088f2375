// Starts one fleet rollout per release, at most once: the release CLI and the webhook both call this, and a release
// event delivered twice (or by both paths, even after the rollout finished) finds the rollout that already exists.
import crypto from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Release } from '../domain/release';
import { parseRolloutPolicy, type RolloutPolicy, type RolloutPolicyInput } from '../domain/rollout';
import {
  fleetWorkflowId,
  type FleetStartOutcome,
  type FleetStartResult,
  type FleetUpgradeInput,
  type FleetUpgradeResult,
} from '../workflows/messages';

export type { FleetStartOutcome, FleetStartResult };
import { ReleaseId, TargetVersion, UpgradeStage } from '../workflows/searchAttributes';
import { RELEASE_MEMO } from '../integrations/temporalMessenger';

export const FLEET_WORKFLOW_TYPE = 'fleetRollout';
type FleetUpgradeWorkflow = (input: FleetUpgradeInput) => Promise<FleetUpgradeResult>;

/** Memo key holding a random token per start request: equal to ours only when our request created the run. */
export const START_TOKEN_MEMO = 'nightshiftStartToken';

export interface StartFleetOptions {
  taskQueue: string;
  release: Release;
  /** Overrides the release's own `rollout`; both absent means the default policy. */
  rollout?: RolloutPolicyInput;
  /** Who or what asked (e.g. `webhook from 10.0.0.7`, `cli by jo`); kept in the workflow's memo for the audit. */
  requestedBy?: string;
}

/** The workflow input: the resolved policy travels once, as `rollout`, not also inside the release. */
export function fleetInput(
  release: Release,
  rollout?: RolloutPolicyInput,
): { release: Release; rollout: RolloutPolicy } {
  const { rollout: carried, ...bare } = release;
  return { release: bare, rollout: parseRolloutPolicy(rollout ?? carried) };
}

function releaseTitle(release: Release): string {
  const { dashboard, gateway } = release.targets;
  const versions = dashboard === gateway ? dashboard : `Dashboard ${dashboard} / Gateway ${gateway}`;
  return release.kind === 'lts' ? `${versions} LTS` : `security fix ${versions}`;
}

export function fleetSummary(release: Release): string {
  return `Roll out ${releaseTitle(release)} to the fleet`;
}

export function fleetDetails(release: Release, rollout: RolloutPolicy): string {
  const list = (xs: string[]) => (xs.length ? xs.map((x) => `\`${x}\``).join(', ') : '—');
  const { canary, failureBudget: budget } = rollout;
  return [
    `**Release** \`${release.id}\` (${release.kind === 'lts' ? 'LTS' : 'security'})`,
    '',
    `- Dashboard → ${release.targets.dashboard}`,
    `- Gateway → ${release.targets.gateway}`,
    ...(release.affected ? [`- Affected versions: \`${release.affected}\``] : []),
    `- Release notes: ${release.notesUrl}`,
    '',
    '**Rollout**',
    '',
    `- Canary wave: labels ${list(canary.labels)}; tiers ${list(canary.tiers)}; control planes ${list(canary.controlPlaneIds)}`,
    `- Bake ${rollout.bakeMinutes} min after the canary wave`,
    `- At most ${rollout.maxConcurrent} control planes changing at once`,
    `- Halt after more than ${budget.maxFailures} failures, or more than ${Math.round(budget.maxRatio * 100)}% ` +
      `once ${budget.minSample} have finished`,
  ].join('\n');
}

export async function startFleetUpgrade(client: Client, opts: StartFleetOptions): Promise<FleetStartResult> {
  const input = fleetInput(opts.release, opts.rollout);
  const workflowId = fleetWorkflowId(opts.release.id);
  const token = crypto.randomUUID();
  try {
    const handle = await client.workflow.start<FleetUpgradeWorkflow>(FLEET_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: opts.taskQueue,
      args: [input],
      // A running rollout is returned as is; a closed one is never started again under the same release id.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      staticSummary: fleetSummary(input.release),
      staticDetails: fleetDetails(input.release, input.rollout),
      // `release` (without the rollout): the control planes' follow-up and catch-up read open releases from it.
      memo: {
        [START_TOKEN_MEMO]: token,
        [RELEASE_MEMO]: input.release,
        ...(opts.requestedBy ? { requestedBy: opts.requestedBy } : {}),
      },
      typedSearchAttributes: [
        { key: ReleaseId, value: input.release.id },
        { key: TargetVersion, value: input.release.targets.gateway },
        { key: UpgradeStage, value: 'listing-canary' },
      ],
    });
    // The 1.24 client drops the service's `started` flag, and with USE_EXISTING the run id it returns is the
    // existing run's. The memo of that run tells: it carries our token only if our request created it.
    const runId = handle.firstExecutionRunId;
    const description = await client.workflow.getHandle(workflowId, runId).describe();
    if (description.memo?.[START_TOKEN_MEMO] === token) return { workflowId, runId, result: 'started' };
    return { workflowId, runId, result: 'already-running', status: description.status.name };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const description = await client.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => undefined);
    return { workflowId, runId: description?.runId, result: 'already-finished', status: description?.status.name };
  }
}
