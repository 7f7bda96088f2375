import { assessEligibility } from '../domain/eligibility';
import type { Release } from '../domain/release';
import { waveOf, type RolloutPolicy, type Wave } from '../domain/rollout';
import { compareVersions, releaseLine } from '../domain/versions';
import type { ActivityDeps } from './deps';
import { translating } from './errors';

/** A fleet rollout in progress, as the rollout directory sees it. */
export interface RunningRollout {
  workflowId: string;
  releaseId: string;
  /** The gateway target of that release (its search attribute TargetVersion). */
  targetVersion: string;
}

/** Finds the fleet rollouts running now (production: Temporal visibility). */
export interface RolloutDirectoryPort {
  runningRollouts(): Promise<RunningRollout[]>;
}

export interface FleetPageInput {
  release: Release;
  rollout: RolloutPolicy;
  wave: Wave;
  cursor?: string;
  pageSize: number;
}

export interface FleetPage {
  /** Control planes of this wave to start an upgrade for (eligible, or blocked in a way the customer must hear of). */
  start: string[];
  /** Every control plane on the page, eligible or not, counted by reason ('eligible' for the eligible ones). */
  reasons: Record<string, number>;
  listed: number;
  nextCursor?: string;
}

/** Skip reasons the child workflow still has to act on (tell the customer), so the fleet starts it anyway. */
const START_ANYWAY = new Set<string>(['config-incompatible']);

export function fleetActivities({ inventory, rollouts }: ActivityDeps) {
  return {
    /** One page of the fleet: who of this wave gets an upgrade workflow, and the eligibility counts. */
    async listFleetPage(input: FleetPageInput): Promise<FleetPage> {
      return translating(async () => {
        const page = await inventory.listControlPlanes({ cursor: input.cursor, limit: input.pageSize });
        const start: string[] = [];
        const reasons: Record<string, number> = {};
        for (const { controlPlane: cp } of page.items) {
          const decision = assessEligibility(cp, input.release);
          const reason = decision.eligible ? 'eligible' : decision.reason;
          reasons[reason] = (reasons[reason] ?? 0) + 1;
          if ((decision.eligible || START_ANYWAY.has(reason)) && waveOf(cp, input.rollout) === input.wave)
            start.push(cp.id);
        }
        return { start, reasons, listed: page.items.length, nextCursor: page.nextCursor };
      });
    },

    /** Running rollouts of an older release on the same line as `release` (the ones it supersedes). */
    async findSupersededRollouts(input: { release: Release; selfWorkflowId: string }): Promise<RunningRollout[]> {
      if (!rollouts) return [];
      return translating(async () => {
        const target = input.release.targets.gateway;
        const line = releaseLine(target);
        return (await rollouts.runningRollouts()).filter(
          (r) =>
            r.workflowId !== input.selfWorkflowId &&
            releaseLine(r.targetVersion) === line &&
            compareVersions(r.targetVersion, target) < 0,
        );
      });
    },
  };
}
