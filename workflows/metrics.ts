// nightshift's own metrics, emitted from workflow code through the SDK's workflow metric meter. They issue no
// command (recorded histories replay unchanged) and the SDK drops them while replaying, so each is counted once.
// The worker adds namespace, task_queue and workflow_type; Prometheus scrapes them with the SDK's (see
// NIGHTSHIFT_METRICS_ADDRESS). Meters are created per call: the workflow meter only works inside a workflow context.
import { metricMeter } from '@temporalio/workflow';
import type { ComponentKind, SkipReason } from '../domain/model';
import type { UpgradeOutcome } from './messages';

export type StepMetric = ComponentKind | 'rollback';

/** A control plane is about to start changing (pre-flight passed, snapshots taken). */
export function upgradeStarted(): void {
  metricMeter.createCounter('nightshift_upgrades_started', undefined, 'Upgrades that started changing').add(1);
}

/** An upgrade ended; `reason` only for skipped ones. */
export function upgradeFinished(outcome: UpgradeOutcome, reason?: SkipReason): void {
  metricMeter
    .createCounter('nightshift_upgrades_finished', undefined, 'Upgrades that ended, by outcome')
    .add(1, outcome === 'skipped' ? { outcome, reason: reason ?? 'unknown' } : { outcome });
}

/** Workflow time (ms) of one upgrade + verify pair (or restore + verify, for a rollback). */
export function stepDuration(step: StepMetric, ms: number): void {
  metricMeter
    .createHistogram('nightshift_step_duration', 'int', 'ms', 'Upgrade or rollback step, with its verification')
    .record(Math.max(0, Math.round(ms)), { step });
}

/** A fleet rollout halted because its failure budget was spent. */
export function fleetHalted(): void {
  metricMeter.createCounter('nightshift_fleet_halts', undefined, 'Fleet rollouts halted on the failure budget').add(1);
}
