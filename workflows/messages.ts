// Signals, queries and the shapes they carry: shared by workflows, clients, scripts and tests.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Release } from '../domain/release';
import {
  SKIP_REASONS,
  type ComponentChange,
  type NoticeKind,
  type ProbeRecord,
  type SkipReason,
  type WindowPlan,
} from '../domain/model';
import type { RolloutPolicy, Wave } from '../domain/rollout';
import { isVersion } from '../domain/versions';
import { PayloadError, requestFields, type JsonObject, type PayloadReader } from './operatorRequests';

export const TASK_QUEUE_DEFAULT = 'nightshift';

export function upgradeWorkflowId(controlPlaneId: string, releaseId: string): string {
  return `upgrade/${controlPlaneId}/${releaseId}`;
}

export function fleetWorkflowId(releaseId: string): string {
  return `fleet/${releaseId}`;
}

export interface ControlPlaneUpgradeInput {
  controlPlaneId: string;
  release: Release;
  /** Set when a fleet rollout started this upgrade: it asks that workflow for a slot and reports its outcome to it. */
  fleet?: { workflowId: string; wave: Wave };
}

/** Who asked and why. The UI sends one JSON payload: `{"reason": "...", "by": "..."}`; a bare string is the reason. */
export interface OperatorRequest {
  reason?: string;
  by?: string;
}

export const pauseSignal = defineSignal<[(OperatorRequest | string)?]>('pause');
export const resumeSignal = defineSignal<[(OperatorRequest | string)?]>('resume');
export const cancelSignal = defineSignal<[(OperatorRequest | string)?]>('cancel');
/** A blocked rollback: try the restore again now. */
export const retryRollbackSignal = defineSignal<[(OperatorRequest | string)?]>('retry-rollback');
/** A blocked rollback: stop trying to restore this component (an SRE restores it by hand); recorded with who and why. */
export const abandonRollbackSignal = defineSignal<[(OperatorRequest | string)?]>('abandon-rollback');

/** A newer release of the same line replaces this one where nothing has changed yet. Fleet → fleet, fleet → child. */
export interface SupersedeRequest {
  releaseId: string;
  targets: Release['targets'];
}
export const supersedeSignal = defineSignal<[SupersedeRequest]>('supersede');

/** Customer deferral (Update `defer`): LTS releases allow a few short deferrals, security releases none. */
export interface DeferRequest extends OperatorRequest {
  days: number;
}
export interface DeferResult {
  window: WindowPlan;
  deferralsLeft: number;
}
export const deferUpdate = defineUpdate<DeferResult, [DeferRequest]>('defer');

/** SRE override: skip the wait for the window (still tells the customer first). Returns the stage it left. */
export const upgradeNowUpdate = defineUpdate<{ accepted: true; from: UpgradeStage }, [OperatorRequest]>('upgradeNow');

// ---- child ↔ fleet: concurrency slots and outcome reports, addressed by workflow ID so they survive the fleet's
// continue-as-new ----
export interface SlotRequest {
  controlPlaneId: string;
  workflowId: string;
  /** The latest instant the child can still start inside its window; a grant after it is returned unused. */
  until: string;
}
export const slotRequestSignal = defineSignal<[SlotRequest]>('slot-request');
/** The child no longer wants or holds a slot (its window closed before a grant, or a grant arrived too late). */
export const slotReturnSignal = defineSignal<[{ controlPlaneId: string }]>('slot-return');
/** Fleet → child: you may start changing now. */
export const slotGrantSignal = defineSignal<[{ grantedAt: string }]>('slot-grant');

export interface ChildOutcome {
  controlPlaneId: string;
  outcome: UpgradeOutcome;
  /** True when nightshift changed any component (even if it was rolled back afterwards). */
  changed: boolean;
  reason?: string;
}
export const childOutcomeSignal = defineSignal<[ChildOutcome]>('child-outcome');

// ---- fleet ----
export interface FleetUpgradeInput {
  release: Release;
  rollout: RolloutPolicy;
  /** Carried over continue-as-new; absent on the first run. */
  carried?: FleetCarriedState;
}

export interface FreezeRequest extends OperatorRequest {
  /** ISO instant the freeze ends by itself. */
  until: string;
}
export const approveSignal = defineSignal<[(OperatorRequest | string)?]>('approve');
export const freezeSignal = defineSignal<[FreezeRequest]>('freeze');
export const unfreezeSignal = defineSignal<[(OperatorRequest | string)?]>('unfreeze');

export const FLEET_STAGES = [
  'listing-canary',
  'canary',
  'baking',
  'listing-main',
  'main',
  'draining',
  'completed',
  'halted',
  'cancelled',
  'superseded',
] as const;
export type FleetStage = (typeof FLEET_STAGES)[number];

/**
 * Per control plane the fleet is still waiting on: w = waiting for its window, q = asked for a slot, c = changing,
 * s = starting (offered while its window was open, has not asked for a slot yet: the offers' pacing counts these).
 */
export type ChildState = 'w' | 'q' | 'c' | 's';

export interface FleetFailure {
  controlPlaneId: string;
  outcome: UpgradeOutcome;
  reason?: string;
  at: string;
}

export interface WaveProgress {
  listed: boolean;
  started: number;
  finished: number;
  failed: number;
}

export interface FleetStatus {
  workflowId: string;
  releaseId: string;
  releaseKind: Release['kind'];
  targets: Release['targets'];
  rollout: RolloutPolicy;
  stage: FleetStage;
  /** Control planes listed, and how many were skipped for each reason (eligibility at listing time). */
  eligibility: { listed: number; eligible: number; skipped: Record<string, number> };
  waves: Record<Wave, WaveProgress>;
  bakeUntil?: string;
  /** Children not finished yet, by state. */
  inFlight: { waitingForWindow: number; waitingForSlot: number; changing: number; starting?: number };
  outcomes: Partial<Record<UpgradeOutcome | 'lost', number>>;
  /** The most recent failures (rolled back or failed), newest last; `failureCount` has them all. */
  failures: FleetFailure[];
  failureCount: number;
  paused: boolean;
  pause?: OperatorRequest & { at: string };
  halted?: { reason: string; at: string };
  approvals: (OperatorRequest & { at: string; failuresAccepted: number })[];
  freeze?: FreezeRequest & { at: string };
  cancel?: OperatorRequest & { at: string };
  supersededBy?: string;
  /** How many times this rollout continued as new, and the longest history a run reached. */
  runs: number;
  maxHistoryLength: number;
  /** Control planes settled by reconciliation or `forget` (the newest few; `lostCount` has them all). */
  lost?: LostControlPlane[];
  lostCount?: number;
  /** Upgrades that stopped before any change: shown and alerted, but they do not spend the failure budget. */
  beforeChangeCount?: number;
  reconciledAt?: string;
}

export const fleetStatusQuery = defineQuery<FleetStatus>('status');

export interface FleetCarriedState {
  status: FleetStatus;
  /** Inventory cursor of the wave being listed. */
  cursor?: string;
  children: Record<string, ChildState>;
  /** Wave of each child still in flight (to count its outcome against the right wave). */
  childWave: Record<string, Wave>;
  slotQueue: SlotRequest[];
  failuresAtApproval: number;
  /** Upgrades finished (completed or failed) at the last approval: the ratio counts from there. */
  finishedAtApproval?: number;
  /** Canary failures an SRE approved: the canary gate halts only for more than these. */
  canaryFailuresAccepted?: number;
  /** Children already told to stop (cancel/supersede fan-out in progress). */
  stopSent: string[];
  pagedFor?: string;
}

export interface FleetUpgradeResult {
  outcome: 'completed' | 'cancelled' | 'superseded';
  status: FleetStatus;
}

export const UPGRADE_STAGES = [
  'assessing',
  'waiting-for-window',
  'waiting-for-slot',
  'preflight',
  'dashboard',
  'gateway',
  'data-planes',
  'rolling-back',
  'completed',
  'skipped',
  'cancelled',
  'superseded',
  'rolled-back',
  'failed',
] as const;
export type UpgradeStage = (typeof UPGRADE_STAGES)[number];

export type UpgradeOutcome =
  | 'completed'
  | 'skipped'
  | 'cancelled'
  | 'superseded'
  | 'rolled-back'
  | 'failed'
  /** Stopped before touching anything (unhealthy before, no window, notice undeliverable): no harm done. */
  | 'failed-before-change';

export interface StepRecord {
  name: string;
  status: 'running' | 'done' | 'failed';
  startedAt: string;
  endedAt?: string;
  detail?: string;
  /** Health probes behind a verification (the last ones, oldest first): the evidence the step passed or failed. */
  evidence?: ProbeRecord[];
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
  /** Notices delivered, with the channel's id of the send and its final result (HubSpot statusId, sendResult). */
  notices: { kind: NoticeKind; key: string; at: string; duplicate: boolean; deliveryId?: string; result?: string }[];
  steps: StepRecord[];
  lastError?: string;
  overrunMinutes?: number;
  fleet?: ControlPlaneUpgradeInput['fleet'] & { slotGrantedAt?: string; slotWaits: number };
  deferrals: (OperatorRequest & { days: number; at: string; newStart: string })[];
  /** An SRE's upgradeNow: who, why, when. */
  override?: OperatorRequest & { at: string };
  supersededBy?: string;
  /** A restore that keeps failing: the workflow retries it and waits for `retry-rollback` or `abandon-rollback`. */
  rollbackBlocked?: { component: string; why: string; since: string; rounds: number };
  /** SREs' answers to a blocked rollback, with who and why. */
  rollbackDecisions?: (OperatorRequest & { decision: 'retry' | 'abandon'; component: string; at: string })[];
  /** Emails and alerts that could not be delivered after changes began (the upgrade went on without them). */
  deliveryFailures?: string[];
}

export const statusQuery = defineQuery<UpgradeStatus>('status');

export interface ControlPlaneUpgradeResult {
  outcome: 'completed' | 'skipped' | 'cancelled' | 'superseded';
  status: UpgradeStatus;
}

// ==== One workflow per control plane (controlPlane) and the fleet that offers it releases (fleetRollout) ====

export function controlPlaneWorkflowId(controlPlaneId: string): string {
  return `control-plane/${controlPlaneId}`;
}

/** Where an offer came from: a fleet's listing, the catch-up schedule, the control plane's own follow-up, an SRE. */
export type OfferSource = 'fleet' | 'catch-up' | 'follow-up' | 'sre';

/** A release offered to a control plane's workflow (signal-with-start `offer`). */
export interface ReleaseOffer {
  release: Release;
  /** The fleet rollout that offered it: slots come from it and the outcome goes back to it. */
  fleet?: { workflowId: string; wave: Wave };
  source: OfferSource;
  offeredAt: string;
  /**
   * Offered only so that the control plane has a status (the fleet found it ineligible and does not count it): it never
   * replaces an upgrade in progress or pending.
   */
  statusOnly?: boolean;
}
export const offerSignal = defineSignal<[ReleaseOffer]>('offer');

/** Fleet → control plane: a slot is yours (`grantedAt`: when the fleet granted it). */
export interface SlotGrant {
  releaseId: string;
  grantedAt: string;
}
export const grantSignal = defineSignal<[SlotGrant]>('grant');

/** Outcomes of one upgrade attempt. `failed-before-change`: it stopped before touching anything (not harm). */
export type AttemptOutcome = UpgradeOutcome;

/** Control plane → fleet (from an activity, retried until the fleet accepts it): how the attempt ended. */
export interface UpgradeReport {
  controlPlaneId: string;
  releaseId: string;
  outcome: AttemptOutcome;
  /** True when nightshift changed any component (even if it was rolled back afterwards). */
  changed: boolean;
  reason?: string;
  skipReason?: SkipReason;
  at: string;
}
export const reportSignal = defineSignal<[UpgradeReport]>('report');

/** Control plane → fleet (from an activity): my window is open for this release, may I start changing? */
export interface SlotAsk {
  controlPlaneId: string;
  releaseId: string;
  /** The latest instant it can still start inside its window; a grant after it is returned unused. */
  until: string;
}
export const askSlotSignal = defineSignal<[SlotAsk]>('ask-slot');
export const returnSlotSignal = defineSignal<[{ controlPlaneId: string; releaseId: string }]>('return-slot');

/** SRE → fleet: stop counting this control plane as in flight (`npm run sre -- forget`). */
export const forgetSignal = defineSignal<[OperatorRequest & { controlPlaneId: string }]>('forget');

/** One finished attempt, kept in the control plane's status (the newest few) and carried over continue-as-new. */
export interface AttemptRecord {
  releaseId: string;
  targets: Release['targets'];
  outcome: AttemptOutcome;
  changed: boolean;
  reason?: string;
  skipReason?: SkipReason;
  fleetWorkflowId?: string;
  startedAt: string;
  endedAt: string;
  /** Versions after the attempt, as nightshift last saw them. */
  versions: Record<string, string>;
  /** Emails and alerts that could not be delivered (best effort once changes began). */
  deliveryFailures?: string[];
}

export const WHY_NOT_CODES = [
  ...SKIP_REASONS,
  'no-release-offered',
  'waiting-for-window',
  'waiting-for-slot',
  'fleet-held',
  'paused',
  'health-warn',
  'deferred',
  'retry-later',
  'last-upgrade-failed',
  'superseded',
  'cancelled',
  'rollback-blocked',
] as const;
export type WhyNotCode = (typeof WHY_NOT_CODES)[number];

/** One link of "why is this control plane not being upgraded right now": what, the evidence, and until when. */
export interface WhyNotReason {
  code: WhyNotCode;
  detail: string;
  evidence?: Record<string, string | number | boolean>;
  /** The earliest time this reason can stop holding (a window opening, a retry becoming allowed). */
  until?: string;
}

export interface ControlPlaneStatus {
  workflowId: string;
  controlPlaneId: string;
  orgId?: string;
  /** idle: nothing to do; waiting: an upgrade waits (window, slot, pause); changing: components are being changed. */
  state: 'idle' | 'waiting' | 'changing' | 'ending';
  /** component id → version, as last read from the inventory or set by nightshift. */
  installed: Record<string, string>;
  installedSeenAt?: string;
  /** The upgrade in progress (its full step history). */
  upgrade?: UpgradeStatus;
  /** A release offered while another upgrade was changing: it is assessed once that one has ended. */
  pending?: {
    releaseId: string;
    targets: Release['targets'];
    source: OfferSource;
    offeredAt: string;
    fleetWorkflowId?: string;
  };
  /** The newest attempts, newest last. */
  recent: AttemptRecord[];
  /** Empty while an upgrade is making progress; otherwise the chain of reasons, the first is the main one. */
  whyNot: WhyNotReason[];
  /** When something could next happen by itself (a window opening, a retry allowed). */
  nextChanceAt?: string;
  /** Runs of this workflow so far (it continues as new after each upgrade). */
  runs: number;
  /** Emails and alerts that could not be delivered (best effort once changes began). */
  deliveryFailures?: string[];
}
export const controlPlaneStatusQuery = defineQuery<ControlPlaneStatus>('status');

export interface ControlPlaneInput {
  controlPlaneId: string;
  /** Carried over continue-as-new (absent on the very first run). */
  carried?: ControlPlaneCarried;
}

/** A message to a fleet rollout waiting to be sent (carried over continue-as-new until the fleet accepted it). */
export type FleetMessage =
  | { kind: 'report'; fleetWorkflowId: string; report: UpgradeReport }
  | { kind: 'return-slot'; fleetWorkflowId: string; releaseId: string };

export interface ControlPlaneCarried {
  /** The release to assess next (the newest offered while an upgrade was changing). */
  pending?: ReleaseOffer;
  /** Fleet messages not yet accepted. */
  outbox: FleetMessage[];
  /** Attempts started over the control plane's life (notice and alert keys include it). */
  seq: number;
  /** A pause that arrived while no upgrade ran: the next upgrade starts paused. */
  hold?: OperatorRequest & { at: string };
  recent: AttemptRecord[];
  installed: Record<string, string>;
  installedSeenAt?: string;
  orgId?: string;
  runs: number;
}

/** Fleet → control plane: the release is withdrawn (fleet cancelled, or superseded by a newer release's rollout). */
export interface Withdrawal extends OperatorRequest {
  releaseId: string;
  /** The newer release that takes over, when superseded. */
  supersededBy?: string;
}
export const withdrawSignal = defineSignal<[Withdrawal]>('withdraw');

/** SRE → fleet: reconcile now (ask every control plane counted in flight for its real state). */
export const reconcileSignal = defineSignal<[(OperatorRequest | string)?]>('reconcile');

/** A control plane the fleet stopped counting: its workflow closed, was terminated, or works on another release. */
export interface LostControlPlane {
  controlPlaneId: string;
  reason: string;
  at: string;
}

export interface FleetRolloutInput {
  release: Release;
  rollout: RolloutPolicy;
  /** Carried over continue-as-new; absent on the first run. */
  carried?: FleetRolloutCarried;
}

export interface FleetRolloutCarried {
  status: FleetStatus;
  /** Inventory cursor of the wave being listed. */
  cursor?: string;
  /** Control planes counted in flight, by state (w: waiting for a window, q: asked for a slot, c: changing). */
  children: Record<string, ChildState>;
  /** Wave of each control plane in flight (to count its outcome against the right wave). */
  childWave: Record<string, Wave>;
  slotQueue: SlotAsk[];
  failuresAtApproval: number;
  finishedAtApproval?: number;
  canaryFailuresAccepted?: number;
  beforeChangeAtApproval?: number;
  /** Control planes already told that the release is withdrawn (cancel/supersede fan-out in progress). */
  withdrawn: string[];
  pagedFor?: string;
  /** Reports that came before their control plane was counted in (applied when it is), by control plane. */
  early?: Record<string, { outcome: AttemptOutcome; reason?: string }>;
  /**
   * Offers to control planes whose window was open (state s), by page, oldest first: counted by the offers' pacing
   * until each asks for a slot, settles, or the grace passes (then it is taken as waiting for a later window).
   */
  starting?: { at: string; ids: string[] }[];
}

// ==== Payload checks: signals and updates arrive as raw JSON (Web UI, CLI, other versions of this code) ====
// Each returns the payload typed, or throws a PayloadError naming the field and the value (workflows/operatorRequests.ts
// has the reader, and what a handler does with a payload that does not parse).

export const UPGRADE_OUTCOMES = [
  'completed',
  'skipped',
  'cancelled',
  'superseded',
  'rolled-back',
  'failed',
  'failed-before-change',
] as const satisfies readonly UpgradeOutcome[];
export const OFFER_SOURCES = ['fleet', 'catch-up', 'follow-up', 'sre'] as const satisfies readonly OfferSource[];
/** The waves (domain/rollout's WAVES, which this bundle does not import: it brings zod). */
export const WAVE_NAMES = ['canary', 'main'] as const satisfies readonly Wave[];
/** Compile-time: each list above names every member of its type. */
type Covers<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : false;
type Assert<T extends true> = T;
export type ListsCoverTheirTypes = [
  Assert<Covers<UpgradeOutcome, (typeof UPGRADE_OUTCOMES)[number]>>,
  Assert<Covers<OfferSource, (typeof OFFER_SOURCES)[number]>>,
  Assert<Covers<Wave, (typeof WAVE_NAMES)[number]>>,
];
const RELEASE_KIND_NAMES = ['lts', 'security'] as const satisfies readonly Release['kind'][];
/** As ReleaseSchema (domain/release.ts) spells a release id. */
const RELEASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const RELEASE_ID_EXPECTED = 'a release id: letters, digits, dot, dash, underscore (max 63), e.g. lts-5.8.2';

const shape = (fields: string) => `expected an object {${fields}}`;

function version(r: PayloadReader, o: JsonObject, key: string, path: string): string {
  const v = r.string(o, key, path, 'a semantic version such as 5.8.2');
  if (!isVersion(v)) throw new PayloadError(`${path}.${key}`, v, 'a semantic version such as 5.8.2');
  return v;
}

/** A release as offered to a control plane: what the workflow and its activities rely on. */
export function parseRelease(raw: unknown, r: PayloadReader, path = 'release'): Release {
  const known = ['id', 'kind', 'targets', 'affected', 'notesUrl', 'publishedAt', 'ltsLines', 'rollout'];
  const o = r.object(raw, path, shape('"id", "kind", "targets", "notesUrl", …'), known);
  r.string(o, 'id', path, RELEASE_ID_EXPECTED, RELEASE_ID);
  const kind = r.oneOf(o, 'kind', path, RELEASE_KIND_NAMES);
  const targets = r.object(o.targets, `${path}.targets`, shape('"dashboard": "5.8.2", "gateway": "5.8.2"'), [
    'dashboard',
    'gateway',
  ]);
  version(r, targets, 'dashboard', `${path}.targets`);
  version(r, targets, 'gateway', `${path}.targets`);
  r.string(o, 'notesUrl', path, 'the release notes URL');
  const affected = r.optionalString(o, 'affected', path, 'a semver range such as ">=5.3.0 <5.3.9"');
  if (kind === 'security' && affected === undefined)
    throw new PayloadError(`${path}.affected`, o.affected, 'a security release names the affected version range');
  r.optionalString(o, 'publishedAt', path);
  const lines = o.ltsLines;
  if (lines !== undefined && (!Array.isArray(lines) || lines.some((l) => typeof l !== 'string')))
    throw new PayloadError(`${path}.ltsLines`, lines, 'a list of release lines such as ["5.3", "5.8"]');
  const rollout = o.rollout;
  if (rollout !== undefined && (rollout === null || typeof rollout !== 'object' || Array.isArray(rollout)))
    throw new PayloadError(`${path}.rollout`, rollout, 'a rollout policy object, or leave it out');
  return o as unknown as Release;
}

/** `offer` (fleet, catch-up, follow-up, SRE → control plane). */
export function parseReleaseOffer(raw: unknown, r: PayloadReader): ReleaseOffer {
  const o = r.object(raw, '', shape('"release", "source", "offeredAt", "fleet"?, "statusOnly"?'), [
    'release',
    'fleet',
    'source',
    'offeredAt',
    'statusOnly',
  ]);
  const release = parseRelease(o.release, r);
  const source = r.oneOf(o, 'source', '', OFFER_SOURCES);
  const offeredAt = r.instant(o, 'offeredAt', '');
  let fleet: ReleaseOffer['fleet'];
  if (o.fleet !== undefined && o.fleet !== null) {
    const f = r.object(o.fleet, 'fleet', shape('"workflowId": "fleet/<releaseId>", "wave": "canary" | "main"'), [
      'workflowId',
      'wave',
    ]);
    fleet = { workflowId: r.string(f, 'workflowId', 'fleet'), wave: r.oneOf(f, 'wave', 'fleet', WAVE_NAMES) };
  }
  const statusOnly = r.optionalBoolean(o, 'statusOnly', '');
  return { release, source, offeredAt, ...(fleet ? { fleet } : {}), ...(statusOnly ? { statusOnly } : {}) };
}

/** `withdraw` (fleet → control plane). */
export function parseWithdrawal(raw: unknown, r: PayloadReader): Withdrawal {
  const o = r.object(raw, '', shape('"releaseId", "supersededBy"?, "reason"?, "by"?'), [
    'releaseId',
    'supersededBy',
    'reason',
    'by',
  ]);
  const releaseId = r.string(o, 'releaseId', '', RELEASE_ID_EXPECTED, RELEASE_ID);
  const supersededBy = r.optionalString(o, 'supersededBy', '', 'the newer release id, or leave it out');
  return { releaseId, ...(supersededBy !== undefined ? { supersededBy } : {}), ...requestFields(o, r) };
}

/** `grant` (fleet → control plane). */
export function parseGrant(raw: unknown, r: PayloadReader): { releaseId: string; grantedAt?: string } {
  const o = r.object(raw, '', shape('"releaseId", "grantedAt"'), ['releaseId', 'grantedAt']);
  const releaseId = r.string(o, 'releaseId', '', RELEASE_ID_EXPECTED, RELEASE_ID);
  const grantedAt = r.optionalString(o, 'grantedAt', '');
  return { releaseId, ...(grantedAt !== undefined ? { grantedAt } : {}) };
}

/** `report` (control plane → fleet). */
export function parseUpgradeReport(raw: unknown, r: PayloadReader): UpgradeReport {
  const o = r.object(raw, '', shape('"controlPlaneId", "releaseId", "outcome", "changed", "reason"?, "at"'), [
    'controlPlaneId',
    'releaseId',
    'outcome',
    'changed',
    'reason',
    'skipReason',
    'at',
  ]);
  const controlPlaneId = r.string(o, 'controlPlaneId', '');
  const releaseId = r.string(o, 'releaseId', '');
  const outcome = r.oneOf(o, 'outcome', '', UPGRADE_OUTCOMES);
  const changed = r.boolean(o, 'changed', '');
  const reason = r.optionalString(o, 'reason', '');
  const skipReason = r.oneOf(o, 'skipReason', '', SKIP_REASONS, true);
  const at = r.optionalString(o, 'at', '') ?? '';
  return {
    controlPlaneId,
    releaseId,
    outcome,
    changed,
    ...(reason !== undefined ? { reason } : {}),
    ...(skipReason !== undefined ? { skipReason } : {}),
    at,
  };
}

/** `ask-slot` (control plane → fleet). */
export function parseSlotAsk(raw: unknown, r: PayloadReader): SlotAsk {
  const o = r.object(raw, '', shape('"controlPlaneId", "releaseId", "until": ISO instant'), [
    'controlPlaneId',
    'releaseId',
    'until',
  ]);
  return {
    controlPlaneId: r.string(o, 'controlPlaneId', ''),
    releaseId: r.string(o, 'releaseId', ''),
    until: r.instant(o, 'until', ''),
  };
}

/** `return-slot` (control plane → fleet). */
export function parseSlotReturn(raw: unknown, r: PayloadReader): { controlPlaneId: string; releaseId: string } {
  const o = r.object(raw, '', shape('"controlPlaneId", "releaseId"'), ['controlPlaneId', 'releaseId']);
  return { controlPlaneId: r.string(o, 'controlPlaneId', ''), releaseId: r.string(o, 'releaseId', '') };
}

/** `forget` (SRE → fleet). */
export function parseForget(raw: unknown, r: PayloadReader): OperatorRequest & { controlPlaneId: string } {
  const o = r.object(raw, '', shape('"controlPlaneId", "reason"?, "by"?'), ['controlPlaneId', 'reason', 'by']);
  return { controlPlaneId: r.string(o, 'controlPlaneId', ''), ...requestFields(o, r) };
}

/** `supersede` (a newer rollout of the line → fleet). */
export function parseSupersede(raw: unknown, r: PayloadReader): SupersedeRequest {
  const o = r.object(raw, '', shape('"releaseId", "targets"'), ['releaseId', 'targets']);
  const releaseId = r.string(o, 'releaseId', '', RELEASE_ID_EXPECTED, RELEASE_ID);
  if (o.targets !== undefined && o.targets !== null)
    r.object(o.targets, 'targets', shape('"dashboard", "gateway"'), ['dashboard', 'gateway']);
  return { releaseId, targets: o.targets as SupersedeRequest['targets'] };
}

/** `freeze` (SRE → fleet). */
export function parseFreeze(raw: unknown, r: PayloadReader): FreezeRequest {
  const o = r.object(raw, '', shape('"until": ISO instant, "reason"?, "by"?'), ['until', 'reason', 'by']);
  return { until: r.instant(o, 'until', ''), ...requestFields(o, r) };
}

/** `defer` (update: customer deferral). The number of days allowed is checked by the attempt (it depends on the release). */
export function parseDefer(raw: unknown, r: PayloadReader): DeferRequest {
  const o = r.object(raw, '', shape('"days": N, "reason"?, "by"?'), ['days', 'reason', 'by']);
  const days = o.days;
  if (typeof days !== 'number' || !Number.isInteger(days))
    throw new PayloadError('days', days, 'a whole number of days');
  return { days, ...requestFields(o, r) };
}

// What starting a release's fleet rollout came to (client/startFleet.ts; the webhook answers with it).
export type FleetStartOutcome = 'started' | 'already-running' | 'already-finished';

export interface FleetStartResult {
  workflowId: string;
  runId?: string;
  result: FleetStartOutcome;
  /** Execution status name of the existing run (RUNNING, COMPLETED, TERMINATED...), when it was not started now. */
  status?: string;
}
