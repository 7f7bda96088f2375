import { ApplicationFailure } from '@temporalio/activity';
import type { ComponentChange, WindowPlan } from '../domain/model';
import { noticeLeadMinutes, requiredMinutes } from '../domain/policy';
import type { Release } from '../domain/release';
import { NoWindowError, nextWindow, toWindowPlan, windowOpenAt } from '../domain/window';
import type { ActivityDeps } from './deps';
import { NON_RETRYABLE, translating } from './errors';
import type { ControlPlaneRecord } from './ports';

export interface PlanWindowInput {
  controlPlaneId: string;
  release: Release;
  changes: ComponentChange[];
  /** The workflow's clock (ISO): activities never use their own clock for planning, so time skipping works. */
  now: string;
  /** Earliest start (ISO), e.g. after a customer's deferral or when the last window was missed. */
  notBefore?: string;
}

export type WindowCheck = { open: true; plan: WindowPlan } | { open: false; reason: string };

export function scheduleActivities({ inventory, policy }: ActivityDeps) {
  async function load(controlPlaneId: string): Promise<ControlPlaneRecord> {
    const record = await inventory.getControlPlane(controlPlaneId);
    if (!record)
      throw ApplicationFailure.nonRetryable(
        `control plane ${controlPlaneId} is not in the inventory`,
        NON_RETRYABLE.notFound,
      );
    return record;
  }

  return {
    /** The next window that opens at least the notice period from now, is not blacked out and is long enough. */
    async planWindow(input: PlanWindowInput): Promise<WindowPlan> {
      return translating(async () => {
        const { controlPlane: cp } = await load(input.controlPlaneId);
        const lead = noticeLeadMinutes(policy, cp.tier, input.release.kind);
        const required = requiredMinutes(policy, input.changes);
        try {
          // nextWindow looks `lead` ahead of `now`; starting the search later keeps both the notice period and the floor.
          const now = Date.parse(input.now);
          const floor = input.notBefore ? Date.parse(input.notBefore) - lead * 60_000 : now;
          const choice = nextWindow(cp.window, cp.blackouts, {
            now: new Date(Math.max(now, floor)),
            leadMinutes: lead,
            requiredMinutes: required,
          });
          return toWindowPlan(choice, cp.window, lead, required);
        } catch (err) {
          if (err instanceof NoWindowError)
            throw ApplicationFailure.nonRetryable(`${cp.id}: ${err.message}`, NON_RETRYABLE.noWindow);
          throw err;
        }
      });
    },

    /**
     * Is the customer's window, as configured now, open at `at` with enough time left for `requiredMinutes`?
     * Asked when the workflow wakes (may it start?) and while it waits (is the planned start still valid?).
     */
    async checkWindow(input: {
      controlPlaneId: string;
      at: string;
      requiredMinutes: number;
      leadMinutes: number;
    }): Promise<WindowCheck> {
      return translating(async () => {
        const { controlPlane: cp } = await load(input.controlPlaneId);
        const at = new Date(input.at);
        const choice = windowOpenAt(cp.window, cp.blackouts, at, input.requiredMinutes);
        if (choice)
          return { open: true, plan: toWindowPlan(choice, cp.window, input.leadMinutes, input.requiredMinutes) };
        return {
          open: false,
          reason: `the maintenance window of ${cp.id} (${describeSpec(cp.window)}) does not leave ${input.requiredMinutes} minutes from ${at.toISOString()}`,
        };
      });
    },
  };
}

function describeSpec(w: ControlPlaneRecord['controlPlane']['window']): string {
  const when = w.weekly ? w.weekly.days.join(',') : w.monthly;
  return `${when} ${w.start} for ${w.durationMinutes} min, ${w.timeZone}`;
}
