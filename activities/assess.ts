import { assessEligibility, componentsOf } from '../domain/eligibility';
import type { Tier } from '../domain/inventory';
import type { ComponentRef, EligibilityDecision } from '../domain/model';
import type { Release } from '../domain/release';
import type { ActivityDeps } from './deps';
import { translating } from './errors';

/** The facts a workflow keeps about a control plane: small, so history stays small. */
export interface ControlPlaneSummary {
  id: string;
  name?: string;
  orgId: string;
  tier: Tier;
  timeZone: string;
  components: { component: ComponentRef; version: string }[];
}

export type Assessment =
  { found: false; detail: string } | { found: true; controlPlane: ControlPlaneSummary; decision: EligibilityDecision };

export function assessActivities({ inventory }: ActivityDeps) {
  return {
    /** Loads the control plane as it is now and decides what this release would change. */
    async assessControlPlane(controlPlaneId: string, release: Release): Promise<Assessment> {
      return translating(async () => {
        const record = await inventory.getControlPlane(controlPlaneId);
        if (!record) return { found: false, detail: `control plane ${controlPlaneId} is not in the inventory` };
        const cp = record.controlPlane;
        return {
          found: true,
          controlPlane: {
            id: cp.id,
            name: cp.name,
            orgId: cp.orgId,
            tier: cp.tier,
            timeZone: cp.window.timeZone,
            components: componentsOf(cp),
          },
          decision: assessEligibility(cp, release),
        };
      });
    },
  };
}
