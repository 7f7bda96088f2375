// Signals, queries and the shapes they carry: shared by workflows, clients, scripts and tests.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Release } from '../domain/release';
import type { ComponentChange, NoticeKind, SkipReason, WindowPlan } from '../domain/model';

export const TASK_QUEUE_DEFAULT = 'nightshift';

export function upgradeWorkflowId(controlPlaneId: string, releaseId: string): string {
  return `upgrade/${controlPlaneId}/${releaseId}`;
}

export interface ControlPlaneUpgradeInput {
  controlPlaneId: string;
  release: Release;
}

/** Who asked and why. The UI sends one JSON payload: `{"reason": "...", "by": "..."}`; a bare string is the reason. */
export interface OperatorRequest {
  reason?: string;
  by?: string;
}

export const pauseSignal = defineSignal<[(OperatorRequest | string)?]>('pause');
export const resumeSignal = defineSignal<[(OperatorRequest | string)?]>('resume');
export const cancelSignal = defineSignal<[(OperatorRequest | string)?]>('cancel');

export const UPGRADE_STAGES = [
  'assessing',
  'waiting-for-window',
  'preflight',
  'dashboard',
  'gateway',
  'data-planes',
  'rolling-back',
  'completed',
  'skipped',
  'cancelled',
  'rolled-back',
  'failed',
] as const;
export type UpgradeStage = (typeof UPGRADE_STAGES)[number];

export type UpgradeOutcome = 'completed' | 'skipped' | 'cancelled' | 'rolled-back' | 'failed';

export interface StepRecord {
  name: string;
  status: 'running' | 'done' | 'failed';
  startedAt: string;
  endedAt?: string;
  detail?: string;
}

export interface UpgradeStatus {
  workflowId: string;
  controlPlaneId: string;
  orgId?: string;
  releaseId: string;
  releaseKind: Release['kind'];
  targets: Release['targets'];
  stage: UpgradeStage;
  outcome?: UpgradeOutcome;
  skipReason?: SkipReason;
  /** Why it ended the way it did, or why it is waiting, in words. */
  reason?: string;
  paused: boolean;
  pause?: OperatorRequest & { at: string };
  cancel?: OperatorRequest & { at: string };
  /** component id → version, as found before any change. */
  versionsBefore: Record<string, string>;
  /** component id → version, as nightshift last knew it. */
  versionsNow: Record<string, string>;
  changes: ComponentChange[];
  window?: WindowPlan;
  notices: { kind: NoticeKind; key: string; at: string; duplicate: boolean }[];
  steps: StepRecord[];
  lastError?: string;
  overrunMinutes?: number;
}

export const statusQuery = defineQuery<UpgradeStatus>('status');

export interface ControlPlaneUpgradeResult {
  outcome: 'completed' | 'skipped' | 'cancelled';
  status: UpgradeStatus;
}
