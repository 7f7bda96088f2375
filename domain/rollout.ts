// How one release rolls across the fleet: who goes first (canary wave), how long to watch them (bake), how many
// control planes may be changing at once, and how many failures halt the rollout.
import { z } from 'zod';
import { TIERS, type ControlPlane } from './inventory';
import { parseWith } from './validation';

export const WAVES = ['canary', 'main'] as const;
export type Wave = (typeof WAVES)[number];

export const RolloutPolicySchema = z
  .object({
    /** A control plane is in the canary wave if it matches any of these. */
    canary: z
      .object({
        labels: z.array(z.string().min(1)).default([]),
        tiers: z.array(z.enum(TIERS)).default([]),
        controlPlaneIds: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({ labels: ['canary'], tiers: [], controlPlaneIds: [] }),
    /** Minutes to watch the finished canary wave before the main wave starts. */
    bakeMinutes: z
      .number()
      .int()
      .min(0)
      .max(14 * 24 * 60)
      .default(60),
    /** Control planes changing at the same moment across the fleet (waiting for a window does not count). */
    maxConcurrent: z.number().int().min(1).max(1000).default(10),
    failureBudget: z
      .object({
        /** Halt when more than this many upgrades were rolled back or failed (since the last approval). */
        maxFailures: z.number().int().min(0).default(3),
        /** Halt when more than this share of finished upgrades failed… */
        maxRatio: z.number().min(0).max(1).default(0.1),
        /** …once at least this many have finished (a ratio over 2 upgrades says little). */
        minSample: z.number().int().min(1).default(20),
        /**
         * Halt when more than this many upgrades stopped before any change (unhealthy before, no window, notice not
         * delivered). They did no harm, so by default they never halt a rollout on their own.
         */
        maxBeforeChange: z.number().int().min(0).optional(),
      })
      .strict()
      .default({ maxFailures: 3, maxRatio: 0.1, minSample: 20 }),
    /** Minutes between reconciliations: the fleet asks every control plane it counts in flight for its real state. */
    reconcileMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .default(60),
    /** Control planes listed from the inventory per activity call. */
    pageSize: z.number().int().min(1).max(1000).default(200),
    /** The fleet workflow continues as new past this many history events (Temporal's hard limit is 51,200). */
    continueAsNewAfterEvents: z.number().int().min(500).max(40_000).default(10_000),
  })
  .strict();

export type RolloutPolicy = z.output<typeof RolloutPolicySchema>;
export type RolloutPolicyInput = z.input<typeof RolloutPolicySchema>;

export function parseRolloutPolicy(input: unknown, path = 'rollout'): RolloutPolicy {
  return parseWith(RolloutPolicySchema, input ?? {}, path);
}

export function waveOf(cp: Pick<ControlPlane, 'id' | 'tier' | 'labels'>, policy: RolloutPolicy): Wave {
  const { canary } = policy;
  const isCanary =
    canary.controlPlaneIds.includes(cp.id) ||
    canary.tiers.includes(cp.tier) ||
    cp.labels.some((l) => canary.labels.includes(l));
  return isCanary ? 'canary' : 'main';
}
