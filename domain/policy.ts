import type { Tier } from './inventory';
import type { ReleaseKind } from './release';
import type { ComponentChange } from './model';

/** How careful an upgrade is: notice periods, time budgets and the health evidence each step needs. */
export interface UpgradePolicy {
  /** Minimum time between the scheduled notice and the window, per tier (maintenance-operations: 1 week / 2 days / 1 day). */
  noticeLeadMinutes: Record<Tier, number>;
  /** The shorter notice for urgent security releases. */
  securityNoticeLeadMinutes: Record<Tier, number>;
  /** Expected minutes per step, rollout and verification included; the window must fit the sum plus a buffer. */
  stepMinutes: { dashboard: number; gateway: number; dataPlane: number };
  /** Spare time kept in the window for a rollback (minutes). */
  bufferMinutes: number;
  /**
   * Health evidence after each step: `consecutivePasses` probes in a row answering `pass` on the expected version,
   * spanning at least `soakMs` (a component that passes once and then degrades is caught), within `timeoutMs`.
   */
  verify: VerifyPolicy;
}

export interface VerifyPolicy {
  consecutivePasses: number;
  intervalMs: number;
  soakMs: number;
  timeoutMs: number;
  /**
   * The Gateways' Tyk `liveness_check.check_duration` (ms): how often a Gateway re-runs the checks its /hello
   * reports; it runs the first one this long after it starts. A Gateway's soak lasts at least this long (a shorter
   * one would only see the same check results again); the Dashboard's (liveness only) does not. Absent: Tyk's
   * default, 10 s. See docs/decisions/0009-tyk-health.md.
   */
  checkDurationMs?: number;
}

/** Tyk Gateway's default `liveness_check.check_duration`: 10 s. */
export const TYK_DEFAULT_CHECK_DURATION_MS = 10_000;

const HOUR = 60;
const DAY = 24 * HOUR;

export const DEFAULT_POLICY: UpgradePolicy = {
  noticeLeadMinutes: { production: 7 * DAY, staging: 2 * DAY, development: DAY },
  securityNoticeLeadMinutes: { production: 24 * HOUR, staging: 4 * HOUR, development: HOUR },
  stepMinutes: { dashboard: 15, gateway: 15, dataPlane: 10 },
  bufferMinutes: 30,
  verify: {
    consecutivePasses: 3,
    intervalMs: 5_000,
    soakMs: 60_000,
    timeoutMs: 5 * 60_000,
    checkDurationMs: TYK_DEFAULT_CHECK_DURATION_MS,
  },
};

/** The Gateways' check_duration the policy assumes: its own, or Tyk's default. */
export function checkDurationOf(verify: VerifyPolicy): number {
  return verify.checkDurationMs ?? TYK_DEFAULT_CHECK_DURATION_MS;
}

/**
 * What makes a verify policy unusable, in words (empty when it is fine). A Gateway's soak lasts at least one
 * check_duration, so that has to fit in the verification's time; a configuration loader should refuse these at start.
 */
export function verifyPolicyProblems(verify: VerifyPolicy): string[] {
  const problems: string[] = [];
  const check = verify.checkDurationMs;
  if (check !== undefined && !(Number.isFinite(check) && check > 0)) {
    problems.push(
      `verify.checkDurationMs must be a positive number of milliseconds (Tyk treats 0 as its default, 10 s), got ${check}`,
    );
    return problems;
  }
  const effective = checkDurationOf(verify);
  if (effective >= verify.timeoutMs) {
    const what = check === undefined ? `${effective} ms, Tyk's default check_duration` : `${effective} ms`;
    problems.push(
      `verify.checkDurationMs (${what}) must be shorter than verify.timeoutMs (${verify.timeoutMs} ms): a Gateway's soak lasts at least one check_duration`,
    );
  }
  return problems;
}

export function noticeLeadMinutes(policy: UpgradePolicy, tier: Tier, kind: ReleaseKind): number {
  return kind === 'security' ? policy.securityNoticeLeadMinutes[tier] : policy.noticeLeadMinutes[tier];
}

/** Minutes of window an upgrade needs: every step, plus the buffer that leaves room to roll back. */
export function requiredMinutes(policy: UpgradePolicy, changes: ComponentChange[]): number {
  const steps = changes.reduce((sum, c) => {
    const kind = c.component.kind;
    return (
      sum +
      (kind === 'dashboard'
        ? policy.stepMinutes.dashboard
        : kind === 'gateway'
          ? policy.stepMinutes.gateway
          : policy.stepMinutes.dataPlane)
    );
  }, 0);
  return steps + policy.bufferMinutes;
}

/** How much a customer may defer an upgrade (Update `defer`), by release kind. */
export const DEFERRAL_BUDGET: Record<ReleaseKind, { maxDeferrals: number; maxDaysEach: number }> = {
  lts: { maxDeferrals: 2, maxDaysEach: 7 },
  security: { maxDeferrals: 0, maxDaysEach: 0 },
};
