// One attempt to bring one release to one control plane, run by that control plane's workflow (controlPlane.ts), the
// only writer of the control plane: assess → plan window → scheduled notice → wait → slot → pre-flight → Dashboard →
// Gateway → data planes, each verified; on failure or cancel before the last verification, newest-first compensation.
// After the last verification the upgrade is finished: nothing undoes it (a cancellation then only ends the wait for
// the completion email). Deterministic code only: time-zone math, HTTP and email happen in activities.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Assessment, ControlPlaneSummary } from '../activities/assess';
import type { VerifyResult } from '../activities/health';
import {
  componentLabel,
  type ComponentChange,
  type ComponentRef,
  type ComponentSnapshot,
  type NoticeKind,
  type ProbeRecord,
  type SreAlert,
  type WindowPlan,
} from '../domain/model';
import { DEFERRAL_BUDGET } from '../domain/policy';
import type {
  AttemptOutcome,
  AttemptRecord,
  DeferRequest,
  DeferResult,
  OperatorRequest,
  ReleaseOffer,
  UpgradeStage,
  UpgradeStatus,
  WhyNotReason,
} from './messages';
import * as metrics from './metrics';
import { errorMessage, toRequest } from './operatorRequests';

/** While waiting for a window, re-read the customer's settings this often (they may move the window). */
const RECHECK_INTERVAL_MS = 12 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Stages in which nothing has changed yet: deferral, upgradeNow and being replaced by a newer release apply here. */
export const BEFORE_CHANGE: readonly UpgradeStage[] = ['assessing', 'waiting-for-window', 'waiting-for-slot'];

const quick: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};
const notifyOptions: ActivityOptions = {
  // HubSpot decides a send asynchronously: the activity polls its status and heartbeats the send's id, so a retry
  // after a lost worker looks the send up instead of sending again.
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  // A notice that cannot be delivered within a day fails the upgrade before anything changes.
  scheduleToCloseTimeout: '1 day',
  // At most 5 minutes between attempts: HubSpot's own waits (429, 477) come as explicit retry delays, and Temporal's
  // backoff grows with the attempt number, so after a storm of quick 429 retries one ordinary failure used to wait the
  // whole 30-minute maximum (seen in npm run chaos: a scheduled notice 28 minutes late after a 2-minute outage).
  // Changing retry options changes no workflow command.
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};
/** SRE alerts: retried for half an hour, then given up (logged in the status): an alert never holds an upgrade. */
const alerting: ActivityOptions = { ...quick, scheduleToCloseTimeout: '30 minutes' };
/**
 * The steps taken while holding a fleet slot (pre-flight, changes, verification) go ahead of other control planes'
 * assessments and notices on the shared task queue (Temporal task queue priority; the default key is 3). When a release
 * is offered to 10,000 control planes at once, their first steps would otherwise queue in front of the 200 holding
 * slots. Priority is not part of the command a replay compares: histories replay unchanged.
 */
const HOLDING_SLOT = { priorityKey: 1 };
/** Pre-flight probes and snapshots: retried for a quarter of an hour, then the attempt fails before any change. */
const preflightOptions: ActivityOptions = { ...quick, scheduleToCloseTimeout: '15 minutes', priority: HOLDING_SLOT };
/** Patch: after pre-flight and any pause, the window is checked once more right before the first change. */
export const PATCH_WINDOW_BEFORE_CHANGE = 'window-checked-before-first-change';
/** Patch: a restore that keeps failing blocks (retried, paged once) until it succeeds or an SRE abandons it. */
export const PATCH_ROLLBACK_BLOCKS = 'rollback-blocks-until-answered';
/** A blocked rollback tries its restore again this often by itself. */
const ROLLBACK_RETRY_EVERY_MS = 10 * 60 * 1000;
/** Patch: the notice period counts from the notice's delivery, not from when the window was planned. */
export const PATCH_NOTICE_FROM_DELIVERY = 'notice-lead-from-delivery';
/** Patch: a health page's trigger is never abandoned, and its resolve waits until the trigger has settled. */
export const PATCH_PAGE_ORDER = 'page-trigger-before-resolve';
/** Late notices in a row before the attempt stops (before any change) instead of re-planning again. */
const MAX_LATE_NOTICES = 3;
/** Fleet messages: retried until the fleet accepts them (no attempt limit); a closed fleet is an answer, not an error. */
const fleetMessage: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const rollout: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 5 },
  // Compensation must not overlap the step it undoes (temporal-notes §0).
  cancellationType: 'WAIT_CANCELLATION_COMPLETED' as ActivityOptions['cancellationType'],
  priority: HOLDING_SLOT,
};
const lookupOptions: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 3 },
};
const verify: ActivityOptions = {
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', maximumAttempts: 3 },
  priority: HOLDING_SLOT,
};

function act(options: ActivityOptions, summary: string) {
  return proxyActivities<Activities>({ ...options, summary });
}

function soakText(v: VerifyResult): string {
  const soak = v.soakedMs === undefined ? '' : ` over ${Math.round(v.soakedMs / 1000)}s`;
  return `${v.passes} passing probes of ${v.probes}${soak}`;
}

/** The probes a failed verification carried (its failure details), for the step history. */
function evidenceOf(err: unknown): ProbeRecord[] | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || cause.type !== 'VerificationFailed') return undefined;
  const details = cause.details?.[0];
  return Array.isArray(details) ? (details as ProbeRecord[]) : undefined;
}

const nowIso = () => new Date(Date.now()).toISOString();

/** `7 days`, `2 hours`, `90 minutes`. */
export function describeMinutes(minutes: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (minutes % (24 * 60) === 0) return unit(minutes / (24 * 60), 'day');
  if (minutes % 60 === 0) return unit(minutes / 60, 'hour');
  return unit(minutes, 'minute');
}

/** What the control-plane workflow gives each attempt: who it is, and how to reach the fleet and the UI. */
export interface AttemptContext {
  controlPlaneId: string;
  workflowId: string;
  /** Sequence number of this attempt over the control plane's life: keys of notices and alerts include it. */
  seq: number;
  /** Called on every visible change (stage, pause, window): the workflow refreshes search attributes and details. */
  changed(): void;
  /** Sends a message to a fleet rollout reliably (queued, retried until accepted). */
  report(fleetWorkflowId: string, outcome: AttemptOutcome, changed: boolean, reason?: string): Promise<void>;
}

export class UpgradeAttempt {
  readonly status: UpgradeStatus;
  private cp?: ControlPlaneSummary;
  private readonly snapshots = new Map<string, ComponentSnapshot>();
  /** Components nightshift has started to change, oldest first: compensation walks it backwards. */
  private readonly touched: ComponentChange[] = [];
  private noticeSeq = 0;
  private alertSeq = 0;
  /** Bumped when the plan changes outside the wait loop (a deferral, an SRE's upgradeNow): wakes the loop. */
  private windowSeq = 0;
  private replanning = false;
  /** Earliest start after a deferral or a missed window; every re-plan keeps it. */
  private notBefore?: string;
  private waitingForSlot = false;
  private slotGranted = false;
  private healthPage?: string;
  private preflightDone = false;
  /** An SRE's answer to a blocked rollback, waiting to be taken. */
  private rollbackAnswer?: { decision: 'retry' | 'abandon'; req: OperatorRequest };
  private rollbackPaged = false;
  private degradedRestores: string[] = [];
  /** The health page's trigger while its activity runs: the resolve is sent only after it has settled. */
  private pageInFlight?: Promise<void>;
  /** Set once every change is verified: from here on nothing undoes the upgrade. */
  verified = false;
  /** Winding down (rolling back, notifying): operator signals no longer apply. */
  private ending = false;
  readonly scope = new CancellationScope();
  private readonly startedAt = nowIso();
  private fleetId?: string;
  /** Why the "is the release still open?" lookup failed, when its fleet was gone. */
  private lookupFailed?: string;

  constructor(
    private readonly ctx: AttemptContext,
    readonly offer: ReleaseOffer,
  ) {
    const { release } = offer;
    this.fleetId = offer.fleet?.workflowId;
    this.status = {
      workflowId: ctx.workflowId,
      controlPlaneId: ctx.controlPlaneId,
      releaseId: release.id,
      releaseKind: release.kind,
      targets: release.targets,
      stage: 'assessing',
      paused: false,
      versionsBefore: {},
      versionsNow: {},
      changes: [],
      notices: [],
      steps: [],
      deferrals: [],
      fleet: offer.fleet ? { ...offer.fleet, slotWaits: 0 } : undefined,
    };
  }

  get release() {
    return this.offer.release;
  }

  get key(): string {
    return `${this.ctx.workflowId}/a${this.ctx.seq}`;
  }

  // ---- operator messages (delegated by the workflow's handlers) ----

  isFinished(): boolean {
    return this.ending || this.status.outcome !== undefined;
  }

  /** Nothing changed yet and nothing is being decided: a newer release may replace this attempt. */
  isBeforeChange(): boolean {
    return (
      !this.isFinished() && !this.status.cancel && BEFORE_CHANGE.includes(this.status.stage) && !this.touched.length
    );
  }

  pause(arg: unknown): void {
    if (this.isFinished() || this.verified) return;
    this.status.paused = true;
    this.status.pause = { ...toRequest(arg), at: nowIso() };
    log.info('paused', { ...this.status.pause });
    this.ctx.changed();
  }

  resume(arg: unknown): void {
    if (!this.status.paused) return;
    this.status.paused = false;
    this.status.pause = undefined;
    log.info('resumed', { ...toRequest(arg) });
    this.ctx.changed();
  }

  /** The `cancel` signal. After the last verification it is too late: the upgrade is finished. */
  cancel(arg: unknown): void {
    if (this.isFinished() || this.status.cancel) return;
    if (this.verified) {
      log.info('cancel ignored: every change is verified, the upgrade is finished', { ...toRequest(arg) });
      return;
    }
    this.status.cancel = { ...toRequest(arg), at: nowIso() };
    this.scope.cancel();
  }

  /** A newer release replaces this attempt; only before any change. Returns whether it did. */
  supersede(releaseId: string): boolean {
    if (!this.isBeforeChange()) return false;
    this.status.supersededBy = releaseId;
    this.scope.cancel();
    return true;
  }

  /** Whether this attempt holds the slot its latest ask was granted. */
  holdsSlot(): boolean {
    return this.slotGranted;
  }

  /** The fleet's slot grant for this release. False when it is not wanted (it must be handed back). */
  grant(): boolean {
    if (this.waitingForSlot && !this.slotGranted) {
      this.slotGranted = true;
      return true;
    }
    return false;
  }

  validateDefer(req: DeferRequest): void {
    const budget = DEFERRAL_BUDGET[this.release.kind];
    if (budget.maxDeferrals === 0)
      throw new Error(`${this.release.kind} releases cannot be deferred (${this.release.id} is ${this.release.kind})`);
    if (this.isFinished() || this.status.stage !== 'waiting-for-window' || !this.status.window)
      throw new Error(`the upgrade can only be deferred while it waits for its window; it is ${this.status.stage}`);
    if (this.status.override) throw new Error('an SRE has started this upgrade now; it can no longer be deferred');
    if (this.replanning) throw new Error('another deferral is being applied; try again in a moment');
    if (this.status.deferrals.length >= budget.maxDeferrals)
      throw new Error(`no deferrals left: all ${budget.maxDeferrals} allowed for this release are used`);
    const days = (req as Partial<DeferRequest> | undefined)?.days;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > budget.maxDaysEach)
      throw new Error(`days = ${JSON.stringify(days)}: a whole number of days from 1 to ${budget.maxDaysEach}`);
  }

  async defer(req: DeferRequest): Promise<DeferResult> {
    this.replanning = true;
    try {
      const base = Math.max(Date.now(), Date.parse(this.status.window!.startAt));
      this.notBefore = new Date(base + req.days * DAY_MS).toISOString();
      const by = req.reason ? `: ${req.reason}` : '';
      await this.planWindow('rescheduled', `Deferred by ${req.days} day(s) at your request${by}`);
      const { days } = req;
      this.status.deferrals.push({ ...toRequest(req), days, at: nowIso(), newStart: this.status.window!.startAt });
      this.windowSeq++;
      this.ctx.changed();
      const left = DEFERRAL_BUDGET[this.release.kind].maxDeferrals - this.status.deferrals.length;
      return { window: this.status.window!, deferralsLeft: left };
    } finally {
      this.replanning = false;
    }
  }

  validateUpgradeNow(): void {
    if (this.isFinished() || !BEFORE_CHANGE.includes(this.status.stage))
      throw new Error(`too late for upgradeNow: the upgrade is ${this.status.outcome ?? this.status.stage}`);
    if (this.status.override)
      throw new Error(`already started now by ${this.status.override.by ?? 'an SRE'} at ${this.status.override.at}`);
  }

  upgradeNow(req: OperatorRequest): { accepted: true; from: UpgradeStage } {
    const from = this.status.stage;
    this.status.override = { ...toRequest(req), at: nowIso() };
    this.windowSeq++;
    this.ctx.changed();
    return { accepted: true, from };
  }

  /** Why this attempt is not changing anything right now (empty while it makes progress). */
  whyNot(): WhyNotReason[] {
    const s = this.status;
    const reasons: WhyNotReason[] = [];
    if (s.paused) {
      const health = s.pause?.by === 'nightshift health check';
      reasons.push({
        code: health ? 'health-warn' : 'paused',
        detail: `${health ? '' : 'paused'}${s.pause?.by && !health ? ` by ${s.pause.by}` : ''}${s.pause?.reason ? `${health ? '' : ': '}${s.pause.reason}` : ''}`,
        evidence: s.pause?.at ? { since: s.pause.at } : undefined,
      });
    }
    if (s.stage === 'waiting-for-window' && s.window) {
      const deferred = s.deferrals.at(-1);
      if (deferred)
        reasons.push({ code: 'deferred', detail: `deferred by ${deferred.days} day(s)`, until: deferred.newStart });
      reasons.push({
        code: 'waiting-for-window',
        detail: `next maintenance window ${s.window.localText} (${s.window.utcText})`,
        evidence: {
          noticeLeadMinutes: s.window.leadMinutes,
          requiredMinutes: s.window.requiredMinutes,
          ...(s.window.noticeDeliveredAt ? { noticeDeliveredAt: s.window.noticeDeliveredAt } : {}),
        },
        until: s.window.startAt,
      });
    }
    if (s.rollbackBlocked)
      reasons.push({
        code: 'rollback-blocked',
        detail: `rolling back, blocked: restoring ${s.rollbackBlocked.component} keeps failing: ${s.rollbackBlocked.why}; send retry-rollback or abandon-rollback`,
        evidence: { since: s.rollbackBlocked.since, rounds: s.rollbackBlocked.rounds },
      });
    if (s.stage === 'waiting-for-slot')
      reasons.push({
        code: 'waiting-for-slot',
        detail: `the window is open; waiting for a slot from ${this.fleetId ?? 'the fleet rollout'}`,
        until: s.window?.closesAt,
      });
    return reasons;
  }

  // ---- the attempt ----

  /** Runs the attempt to its end; never throws (a failure is an outcome). */
  async run(): Promise<AttemptRecord> {
    this.ctx.changed();
    let outcome: AttemptOutcome;
    try {
      outcome = await this.scope.run(() => this.attempt());
    } catch (err) {
      outcome = await this.ended(err);
    }
    return {
      releaseId: this.release.id,
      targets: this.release.targets,
      outcome,
      changed: this.touched.length > 0,
      reason: this.status.reason,
      skipReason: this.status.skipReason,
      fleetWorkflowId: this.fleetId,
      startedAt: this.startedAt,
      endedAt: nowIso(),
      versions: { ...this.status.versionsNow },
      ...(this.status.deliveryFailures?.length ? { deliveryFailures: this.status.deliveryFailures } : {}),
    };
  }

  private async attempt(): Promise<AttemptOutcome> {
    const first = await this.assess();
    if (!first.found || !first.decision.eligible) return this.stopIneligible(first);
    await this.planWindow('scheduled');
    for (;;) {
      const ready = await this.waitForWindow();
      if (ready !== 'start') return this.stopIneligible(ready);
      const slot = await this.acquireSlot();
      if (slot === 'granted') {
        if (!patched(PATCH_WINDOW_BEFORE_CHANGE)) break;
        // Pre-flight, then any pause, then the window once more: the first change starts inside it or not at all.
        await this.preflight();
        await this.holdIfPaused();
        if (this.status.override || Date.now() <= this.latestStart()) break;
        await this.giveSlotBack();
        this.notBefore = this.status.window!.closesAt;
        await this.planWindow(
          'rescheduled',
          'Your maintenance window closed before we could begin, so we have moved your upgrade to your next window. Nothing was changed.',
        );
        continue;
      }
      if (slot === 'fleet-gone') return this.stopFleetGone();
      this.notBefore = this.status.window!.closesAt;
      await this.planWindow(
        'rescheduled',
        'Our rollout was at capacity for the whole of your maintenance window, so we have moved your upgrade to your next window.',
      );
    }
    if (this.status.override) {
      const why = this.status.override.reason ? `: ${this.status.override.reason}` : '';
      await this.notify('starting', `Our engineers are starting this upgrade now${why}`, { withWindow: false });
    }
    await this.change();
    return this.finishCompleted();
  }

  private setStage(stage: UpgradeStage): void {
    this.status.stage = stage;
    this.ctx.changed();
  }

  private stepStart(name: string): (detail?: string, failed?: boolean, evidence?: ProbeRecord[]) => void {
    const step: UpgradeStatus['steps'][number] = { name, status: 'running', startedAt: nowIso() };
    this.status.steps.push(step);
    return (detail, failed = false, evidence) => {
      step.status = failed ? 'failed' : 'done';
      step.endedAt = nowIso();
      step.detail = detail;
      if (evidence) step.evidence = evidence;
    };
  }

  private async notify(kind: NoticeKind, reason?: string, opts: { withWindow?: boolean } = {}): Promise<void> {
    const key = `${this.key}/${kind}/${++this.noticeSeq}`;
    const receipt = await act(notifyOptions, `Email org admin: ${kind}`).sendNotice({
      key,
      kind,
      controlPlaneId: this.ctx.controlPlaneId,
      releaseId: this.release.id,
      notesUrl: this.release.notesUrl,
      changes: this.status.changes,
      window: opts.withWindow === false ? undefined : this.status.window,
      reason,
      requestedAt: nowIso(),
    });
    this.status.notices.push({
      kind,
      key,
      at: receipt.deliveredAt,
      duplicate: receipt.duplicate,
      ...(receipt.deliveryId ? { deliveryId: receipt.deliveryId } : {}),
      ...(receipt.result ? { result: receipt.result } : {}),
    });
  }

  private async alert(
    severity: SreAlert['severity'],
    summary: string,
    details: Record<string, unknown> = {},
    action: SreAlert['action'] = 'trigger',
    dedupKey = this.key,
  ): Promise<void> {
    await act(alerting, action === 'resolve' ? 'Resolve SRE alert' : `Alert SRE: ${severity}`).alertSre({
      dedupKey,
      id: `${this.key}/alert/${++this.alertSeq}`,
      action,
      severity,
      summary,
      controlPlaneId: this.ctx.controlPlaneId,
      releaseId: this.release.id,
      workflowId: this.ctx.workflowId,
      details: { stage: this.status.stage, ...details },
    });
  }

  private async assess(): Promise<Assessment> {
    const done = this.stepStart('assess eligibility');
    const a = await act(quick, `Check eligibility of ${this.ctx.controlPlaneId}`).assessControlPlane(
      this.ctx.controlPlaneId,
      this.release,
    );
    done(a.found ? (a.decision.eligible ? 'eligible' : `${a.decision.reason}: ${a.decision.detail}`) : a.detail);
    if (a.found) {
      this.cp = a.controlPlane;
      this.status.orgId = this.cp.orgId;
      for (const c of this.cp.components) this.status.versionsNow[c.component.id] = c.version;
      if (a.decision.eligible) this.status.changes = a.decision.changes;
      // Blocked by configuration: keep what the upgrade would change, for the customer's action-needed notice.
      else if (a.decision.reason === 'config-incompatible')
        this.status.changes = a.decision.components
          .filter((c) => c.change)
          .map(({ component, from, to }) => ({ component, from, to }));
    }
    return a;
  }

  get orgId(): string | undefined {
    return this.cp?.orgId;
  }

  /** Stops before any change because the control plane no longer qualifies; tells the customer if they were told. */
  private async stopIneligible(a: Assessment): Promise<AttemptOutcome> {
    const s = this.status;
    s.skipReason = a.found ? (a.decision.eligible ? undefined : a.decision.reason) : 'control-plane-not-found';
    s.reason = a.found ? (a.decision.eligible ? undefined : a.decision.detail) : a.detail;
    if (s.skipReason === 'config-incompatible') {
      // The customer has to act before this release can be installed: tell them, and the SREs, what and why.
      await this.notify('action-needed', s.reason, { withWindow: false });
      await this.alert(
        'warning',
        `${this.ctx.controlPlaneId}: upgrade to ${this.release.id} blocked by configuration: ${s.reason}`,
      );
    } else if (s.notices.length > 0) await this.notify('cancelled', `The upgrade is no longer needed: ${s.reason}`);
    return this.settle('skipped');
  }

  /** Its fleet rollout has ended and the release is no longer offered: stop before any change. */
  private async stopFleetGone(): Promise<AttemptOutcome> {
    if (this.lookupFailed) {
      // Not known whether the release is still open: stop without harm; the catch-up schedule offers it again later.
      this.status.reason = `its fleet rollout ${this.fleetId} has ended and whether the release is still open could not be found out: ${this.lookupFailed}`;
      if (this.status.notices.length > 0)
        await this.notify('cancelled', 'The upgrade could not go ahead in this window. Nothing was changed.');
      return this.settle('failed-before-change');
    }
    this.status.reason = `its fleet rollout ${this.fleetId} has ended; the release is no longer being rolled out`;
    if (this.status.notices.length > 0)
      await this.notify('cancelled', `The rollout of this release was stopped. Nothing was changed.`);
    return this.settle('cancelled');
  }

  /** The outcome is decided: record it, report it to the fleet before anything best effort. */
  private async settle(outcome: AttemptOutcome): Promise<AttemptOutcome> {
    this.status.outcome = outcome;
    this.setStage(outcome === 'failed-before-change' ? 'failed' : outcome);
    metrics.upgradeFinished(outcome === 'failed-before-change' ? 'failed' : outcome, this.status.skipReason);
    if (this.fleetId)
      await CancellationScope.nonCancellable(() =>
        this.ctx.report(this.fleetId!, outcome, this.touched.length > 0, this.status.reason),
      );
    return outcome;
  }

  /**
   * Plans the next window and tells the customer. The notice period counts from the notice's delivery (the workflow's
   * clock once the send's outcome is final): a start that delivery left too close moves later inside the same window,
   * and when the window no longer fits, it is planned again with a new notice.
   */
  private async planWindow(kind: 'scheduled' | 'rescheduled', reason?: string): Promise<void> {
    for (let late = 0; ; late++) {
      await this.planAndNotify(kind, reason);
      if (!patched(PATCH_NOTICE_FROM_DELIVERY)) return;
      const deliveredAt = Date.now();
      const plan = this.status.window!;
      const earliest = deliveredAt + plan.leadMinutes * 60_000;
      this.status.window = { ...plan, noticeDeliveredAt: new Date(deliveredAt).toISOString() };
      if (Date.parse(plan.startAt) >= earliest) return;
      if (earliest + plan.requiredMinutes * 60_000 <= Date.parse(plan.closesAt)) {
        this.status.window.startAt = new Date(earliest).toISOString();
        this.ctx.changed();
        return;
      }
      const lead = describeMinutes(plan.leadMinutes);
      if (late + 1 >= MAX_LATE_NOTICES)
        throw ApplicationFailure.nonRetryable(
          `${MAX_LATE_NOTICES} notices in a row reached the customer too late to keep the ${lead} notice period ` +
            `(the last one at ${new Date(deliveredAt).toISOString()} for a window starting ${plan.startAt})`,
          'NoticeLate',
        );
      kind = 'rescheduled';
      reason = `Our notice about the window ${plan.localText} reached you later than planned, leaving less than the ${lead} notice we promise, so we have moved your upgrade to a later window.`;
    }
  }

  private async planAndNotify(kind: 'scheduled' | 'rescheduled', reason?: string): Promise<void> {
    const done = this.stepStart(kind === 'scheduled' ? 'plan window' : 're-plan window');
    const plan: WindowPlan = await act(quick, 'Find the next maintenance window').planWindow({
      controlPlaneId: this.ctx.controlPlaneId,
      release: this.release,
      changes: this.status.changes,
      now: nowIso(),
      notBefore: this.notBefore,
    });
    this.status.window = plan;
    this.status.reason = reason;
    done(`${plan.localText} (${plan.utcText})`);
    this.ctx.changed();
    const sent = this.stepStart(`notify: ${kind}`);
    await this.notify(kind, reason);
    sent('delivered');
  }

  /** Holds while paused. Cancellation (signal or Temporal) interrupts the hold. */
  private async holdIfPaused(): Promise<void> {
    if (this.status.paused) await condition(() => !this.status.paused);
  }

  /** Sleeps until the planned start, re-reading the customer's settings periodically; returns once it may start. */
  private async waitForWindow(): Promise<'start' | Assessment> {
    for (;;) {
      if (this.status.override) {
        // Skip the window, not the checks: the customer may have opted out or upgraded by hand meanwhile.
        const a = await this.assess();
        return a.found && a.decision.eligible ? 'start' : a;
      }
      const plan = this.status.window!;
      const seq = this.windowSeq;
      const startAt = Date.parse(plan.startAt);
      const now = Date.now();
      if (now < startAt) {
        this.setStage('waiting-for-window');
        const wakeIn = Math.min(startAt - now, RECHECK_INTERVAL_MS);
        const woken = await condition(() => this.windowSeq !== seq, wakeIn, {
          summary: `Wait for window ${plan.localText}`,
        });
        if (woken) continue;
      } else await this.holdIfPaused();
      const a = await this.assess();
      if (!a.found || !a.decision.eligible) return a;
      const at = Math.max(Date.now(), startAt);
      const check = await act(quick, 'Is the maintenance window open?').checkWindow({
        controlPlaneId: this.ctx.controlPlaneId,
        at: new Date(at).toISOString(),
        requiredMinutes: plan.requiredMinutes,
        leadMinutes: plan.leadMinutes,
      });
      if (!check.open) {
        await this.planWindow('rescheduled', check.reason);
        continue;
      }
      // A deferral or upgradeNow arrived while we checked: its plan wins.
      if (this.replanning) await condition(() => !this.replanning);
      if (this.windowSeq !== seq) continue;
      if (Date.now() >= startAt) {
        const delivered = plan.noticeDeliveredAt;
        this.status.window = {
          ...check.plan,
          leadMinutes: plan.leadMinutes,
          ...(delivered ? { noticeDeliveredAt: delivered } : {}),
        };
        if (this.status.paused) continue;
        return 'start';
      }
    }
  }

  /** The latest instant this attempt can still start changing in its window. */
  private latestStart(): number {
    const w = this.status.window!;
    return this.status.override ? Date.now() + 7 * DAY_MS : Date.parse(w.closesAt) - w.requiredMinutes * 60_000;
  }

  /** With a fleet: ask it for a concurrency slot (reliably, from an activity) and wait until the latest start. */
  private async acquireSlot(): Promise<'granted' | 'no-slot' | 'fleet-gone'> {
    if (!this.fleetId) return 'granted';
    this.setStage('waiting-for-slot');
    this.status.fleet!.slotWaits++;
    const step = this.stepStart('wait for a fleet rollout slot');
    this.slotGranted = false;
    this.waitingForSlot = true;
    const latest = this.latestStart();
    const ask = {
      controlPlaneId: this.ctx.controlPlaneId,
      releaseId: this.release.id,
      until: new Date(latest).toISOString(),
    };
    const asked = await act(fleetMessage, 'Ask the fleet rollout for a slot').askFleetForSlot({
      fleetWorkflowId: this.fleetId,
      ask,
    });
    if (!asked.delivered) {
      this.waitingForSlot = false;
      if (await this.goOnWithoutFleet(asked.fleetStatus)) {
        step(`fleet rollout ${asked.fleetStatus}; the release is still open: going on without it`);
        return 'granted';
      }
      step(`fleet rollout ${asked.fleetStatus}: no slot will come`, true);
      return 'fleet-gone';
    }
    const granted = await condition(() => this.slotGranted, Math.max(latest - Date.now(), 1000), {
      summary: 'Wait for a fleet rollout slot',
    });
    this.waitingForSlot = false;
    if (granted) {
      this.status.fleet!.slotGrantedAt = nowIso();
      step('granted');
      return 'granted';
    }
    step('no slot before the latest start in this window');
    await this.giveSlotBack();
    return 'no-slot';
  }

  private async giveSlotBack(): Promise<void> {
    if (!this.fleetId) return;
    await CancellationScope.nonCancellable(() =>
      act(fleetMessage, 'Give the slot back').returnFleetSlot({
        fleetWorkflowId: this.fleetId!,
        controlPlaneId: this.ctx.controlPlaneId,
        releaseId: this.release.id,
      }),
    );
  }

  /**
   * The fleet that offered the release has closed. If the release is still open (its rollout finished, e.g. after
   * counting this control plane as lost), this attempt goes on by itself, without slots; otherwise it stops.
   */
  private async goOnWithoutFleet(fleetStatus: string | undefined): Promise<boolean> {
    log.warn('the fleet rollout is gone', { fleet: this.fleetId, fleetStatus });
    // Bounded: without an answer this attempt stops before any change, and the catch-up schedule may offer it again.
    const lookup = act(lookupOptions, 'Is the release still open?').findFollowUpRelease({
      controlPlaneId: this.ctx.controlPlaneId,
      exceptReleaseIds: [],
    });
    const open = await lookup.catch((err: unknown) => {
      this.lookupFailed = errorMessage(err);
      return undefined;
    });
    if (open?.release.id !== this.release.id) return false;
    this.fleetId = open.fleetWorkflowId;
    if (this.status.fleet) this.status.fleet.workflowId = open.fleetWorkflowId ?? `(ended: ${fleetStatus})`;
    return this.fleetId === undefined || (await this.acquireSlot()) === 'granted';
  }

  private async change(): Promise<void> {
    if (!this.preflightDone) await this.preflight();
    metrics.upgradeStarted();
    for (const change of this.status.changes) await this.changeOne(change);
    this.verified = true;
  }

  /** Every component healthy, and a snapshot of each one to change; bounded in time (then it fails before change). */
  private async preflight(): Promise<void> {
    this.setStage('preflight');
    const pre = this.stepStart('pre-flight health and snapshot');
    const components = this.cp!.components.map((c) => c.component);
    const reports = await act(preflightOptions, 'Pre-flight health of every component').probeComponents(components);
    const unhealthy = reports.filter((r) => r.status !== 'pass');
    if (unhealthy.length > 0) {
      const what = unhealthy.map((r) => `${r.component.id}: ${r.status}${r.error ? ` (${r.error})` : ''}`).join(', ');
      pre(`unhealthy before any change: ${what}`, true);
      throw ApplicationFailure.nonRetryable(`pre-flight: not healthy before the upgrade: ${what}`, 'PreflightFailed');
    }
    const snaps = await act(preflightOptions, 'Snapshot what rollback needs').snapshotComponents(
      this.status.changes.map((c) => c.component),
    );
    for (const s of snaps) this.snapshots.set(s.component.id, s);
    for (const c of this.cp!.components) this.status.versionsBefore[c.component.id] = c.version;
    pre(`all ${reports.length} components pass; ${snaps.length} snapshots taken`);
    this.preflightDone = true;
  }

  private async changeOne(change: ComponentChange): Promise<void> {
    await this.holdIfPaused();
    const stage: UpgradeStage = change.component.kind === 'data-plane' ? 'data-planes' : change.component.kind;
    if (this.status.stage !== stage) this.setStage(stage);
    const label = componentLabel(change.component);
    const step = this.stepStart(`upgrade ${label} ${change.from} → ${change.to}`);
    this.touched.push(change);
    try {
      const startedAt = Date.now();
      const r = await act(rollout, `Upgrade ${label} to ${change.to}`).upgradeComponent({
        component: change.component,
        targetVersion: change.to,
        configMigrations: change.configMigrations,
      });
      this.status.versionsNow[change.component.id] = change.to;
      const v = await this.verifyHealthy(change.component, change.to, label);
      metrics.stepDuration(change.component.kind, Date.now() - startedAt);
      step(`${r.changed ? 'rolled out' : 'already on target'}; ${soakText(v)}`, false, v.evidence);
    } catch (err) {
      step(errorMessage(err), true, evidenceOf(err));
      throw err;
    }
  }

  /**
   * Soaks the component's health after a change. Tyk `warn` (serving, but a check such as redis degraded) is a
   * judgement call, so the upgrade pauses and pages: `resume` re-verifies and goes on, `cancel` rolls back. The page
   * is resolved once the component passes. `fail` or no soak in time throws (compensation follows).
   */
  private async verifyHealthy(component: ComponentRef, version: string, label: string): Promise<VerifyResult> {
    const current = this.status.steps.at(-1);
    for (;;) {
      const v = await act(verify, `Verify ${label} on ${version}`).verifyComponent({
        component,
        expectedVersion: version,
      });
      if (v.outcome !== 'warn') {
        await this.resolveHealthPage(
          `${this.ctx.controlPlaneId}: ${label} passes on ${version} again; the upgrade continues`,
        );
        return v;
      }
      const why = `health check warn after upgrading ${label} to ${version}: ${v.summary ?? 'warn'}`;
      if (current) {
        current.detail = `paused: ${why}`;
        current.evidence = v.evidence;
      }
      this.status.paused = true;
      this.status.pause = { reason: why, by: 'nightshift health check', at: nowIso() };
      this.ctx.changed();
      this.healthPage = `${this.key}/health`;
      const page = this.healthPage;
      const trigger = () =>
        this.bestEffort('SRE page for the health warn', () =>
          this.alert(
            'critical',
            `${this.ctx.controlPlaneId}: upgrade to ${this.release.id} PAUSED: ${why}. Resume to re-check and continue, or cancel to roll back.`,
            { component: component.id, evidence: v.evidence.slice(-3) },
            'trigger',
            page,
          ),
        );
      // A cancel must not abandon the trigger while its request may still reach PagerDuty: arriving after the
      // resolve, it would open a new incident. It runs to its end on its own; the resolve waits for it.
      if (patched(PATCH_PAGE_ORDER)) this.pageInFlight = CancellationScope.nonCancellable(trigger);
      else await trigger();
      await this.holdIfPaused();
    }
  }

  /**
   * Once something has changed, an email or an alert that cannot be delivered must neither undo a good upgrade nor
   * keep a failed one from ending (and from reporting to its fleet): it is logged and shown in the status instead.
   */
  private async bestEffort(what: string, send: () => Promise<void>): Promise<void> {
    try {
      await send();
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.deliveryFailure(`${what}: not delivered: ${errorMessage(err)}`);
    }
  }

  private deliveryFailure(message: string): void {
    log.warn(message);
    this.status.deliveryFailures = [...(this.status.deliveryFailures ?? []), message].slice(-10);
    this.ctx.changed();
  }

  private async resolveHealthPage(summary: string): Promise<void> {
    if (!this.healthPage) return;
    const key = this.healthPage;
    this.healthPage = undefined;
    const trigger = this.pageInFlight;
    this.pageInFlight = undefined;
    if (trigger) await trigger;
    await this.bestEffort('resolve of the health page', () => this.alert('critical', summary, {}, 'resolve', key));
  }

  /** Every change verified: report first (frees the fleet's slot), then the best-effort overrun alert and email. */
  private async finishCompleted(): Promise<AttemptOutcome> {
    const closes = Date.parse(this.status.window!.closesAt);
    if (Date.now() > closes && !this.status.override)
      this.status.overrunMinutes = Math.ceil((Date.now() - closes) / 60000);
    await this.settle('completed');
    try {
      if (this.status.overrunMinutes)
        await this.bestEffort('SRE alert', () =>
          this.alert(
            'warning',
            `${this.ctx.controlPlaneId}: upgrade finished ${this.status.overrunMinutes} min after the window closed`,
          ),
        );
      await this.bestEffort('customer notice', () => this.notify('completed'));
    } catch (err) {
      if (!isCancellation(err)) throw err;
      // Finished means finished: a cancellation now only ends the wait for the email.
      this.deliveryFailure('completion notice: abandoned by a cancellation request after the upgrade had finished');
    }
    return 'completed';
  }

  /** A failure or a cancellation (signal, Temporal, newer release): compensate what changed, then tell people. */
  private async ended(err: unknown): Promise<AttemptOutcome> {
    this.ending = true;
    this.status.paused = false;
    if (this.verified && isCancellation(err)) {
      // Cancelled between the last verification and the report: still finished.
      return CancellationScope.nonCancellable(() => this.settle('completed'));
    }
    if (isCancellation(err) && this.status.supersededBy) {
      this.status.reason = `superseded by release ${this.status.supersededBy} before anything changed`;
      return CancellationScope.nonCancellable(() => this.settle('superseded'));
    }
    if (isCancellation(err)) {
      const c = this.status.cancel;
      const by = c ? `cancelled${c.by ? ` by ${c.by}` : ''}` : 'cancelled via Temporal';
      const why = `${by}${c?.reason ? `: ${c.reason}` : ''}`;
      this.status.cancel ??= { reason: 'Temporal cancellation request', at: nowIso() };
      this.status.reason = why;
      return CancellationScope.nonCancellable(async () => {
        const undone = await this.rollBack();
        if (undone.failedRestores.length) this.status.lastError = undone.failedRestores.join('; ');
        await this.settle('cancelled');
        await this.tell('cancelled', `The upgrade was ${why}`, undone);
        return 'cancelled' as const;
      });
    }
    const message = errorMessage(err);
    this.status.lastError = message;
    const failedStep = [...this.status.steps].reverse().find((s) => s.status === 'failed')?.name ?? this.status.stage;
    const why = `${failedStep} failed: ${message}`;
    this.status.reason = why;
    return CancellationScope.nonCancellable(async () => {
      const undone = await this.rollBack();
      const { failedRestores } = undone;
      if (failedRestores.length)
        this.status.lastError = `${message}; rollback incomplete: ${failedRestores.join('; ')}`;
      // rolled-back: every change undone and verified; failed: the rollback is incomplete; before any change: no harm.
      const outcome: AttemptOutcome =
        this.touched.length === 0 ? 'failed-before-change' : failedRestores.length === 0 ? 'rolled-back' : 'failed';
      // The fleet hears first (its slot comes back), then the best-effort alert and email.
      await this.settle(outcome);
      await this.tell('failed', why, undone);
      return outcome;
    });
  }

  /**
   * Newest change first; each restore verified. Returns the components that could not be restored, and those back on
   * their old version that answer `warn` (restored, but a dependency such as redis is degraded).
   */
  private async compensate(): Promise<{ failedRestores: string[]; degraded: string[] }> {
    this.setStage('rolling-back');
    const failedRestores: string[] = [];
    const degraded: string[] = (this.degradedRestores = []);
    for (const change of [...this.touched].reverse()) {
      const snap = this.snapshots.get(change.component.id);
      if (!snap) continue;
      const label = componentLabel(change.component);
      const step = this.stepStart(`roll back ${label} to ${snap.version}`);
      for (let round = 1; ; round++) {
        const restored = await this.restoreOne(change, snap, label, step);
        if (restored === 'done') break;
        if (!patched(PATCH_ROLLBACK_BLOCKS)) {
          failedRestores.push(`${label}: ${restored.error}`);
          break;
        }
        const answer = await this.rollbackBlocked(label, restored.error, round);
        if (answer.decision === 'abandon') {
          const by = answer.req.by ? ` by ${answer.req.by}` : '';
          const why = answer.req.reason ? `: ${answer.req.reason}` : '';
          failedRestores.push(`${label}: restore abandoned${by}${why} (last error: ${restored.error})`);
          step(`abandoned${by}${why}`, true);
          break;
        }
      }
      if (this.status.rollbackBlocked) this.unblockRollback();
    }
    await this.resolveRollbackPage(failedRestores.length === 0);
    return { failedRestores, degraded };
  }

  /** One restore of one component, verified; never throws but for cancellation. */
  private async restoreOne(
    change: ComponentChange,
    snap: ComponentSnapshot,
    label: string,
    step: (detail?: string, failed?: boolean, evidence?: ProbeRecord[]) => void,
  ): Promise<'done' | { error: string }> {
    const degraded = this.degradedRestores;
    try {
      const startedAt = Date.now();
      await act(rollout, `Roll back ${label} to ${snap.version}`).restoreComponent(snap);
      const v = await act(verify, `Verify ${label} on ${snap.version}`).verifyComponent({
        component: change.component,
        expectedVersion: snap.version,
      });
      this.status.versionsNow[change.component.id] = snap.version;
      metrics.stepDuration('rollback', Date.now() - startedAt);
      if (v.outcome === 'warn') {
        const why = `restored to ${snap.version}, but health is ${v.summary ?? 'warn'}`;
        degraded.push(`${label} ${why}`);
        step(why, false, v.evidence);
      } else step(`restored and verified; ${soakText(v)}`, false, v.evidence);
      return 'done';
    } catch (err) {
      if (isCancellation(err)) throw err;
      step(errorMessage(err), true, evidenceOf(err));
      return { error: errorMessage(err) };
    }
  }

  /**
   * The restore of `label` keeps failing: show it, page once, and wait for an SRE's `retry-rollback` or
   * `abandon-rollback`, trying again by itself every ten minutes meanwhile. Never gives up alone.
   */
  private async rollbackBlocked(
    label: string,
    error: string,
    rounds: number,
  ): Promise<{ decision: 'retry' | 'abandon'; req: OperatorRequest }> {
    this.status.rollbackBlocked = {
      component: label,
      why: error,
      since: this.status.rollbackBlocked?.since ?? nowIso(),
      rounds,
    };
    this.ctx.changed();
    if (!this.rollbackPaged) {
      this.rollbackPaged = true;
      await this.bestEffort('SRE page for the blocked rollback', () =>
        this.alert(
          'critical',
          `${this.ctx.controlPlaneId}: ROLLBACK BLOCKED restoring ${label}: ${error}. nightshift keeps retrying every 10 min; send retry-rollback to try now, or abandon-rollback to restore it by hand.`,
          { component: label, error },
          'trigger',
          `${this.key}/rollback`,
        ),
      );
    }
    const answered = await condition(() => this.rollbackAnswer !== undefined, ROLLBACK_RETRY_EVERY_MS);
    const answer = answered
      ? this.rollbackAnswer!
      : { decision: 'retry' as const, req: { by: 'nightshift', reason: 'periodic retry' } };
    this.rollbackAnswer = undefined;
    return answer;
  }

  private unblockRollback(): void {
    this.status.rollbackBlocked = undefined;
    this.ctx.changed();
  }

  private async resolveRollbackPage(restored: boolean): Promise<void> {
    if (!this.rollbackPaged) return;
    const summary = `${this.ctx.controlPlaneId}: rollback ${restored ? 'finished' : 'ended incomplete; see its own alert'}`;
    await this.bestEffort('resolve of the rollback page', () =>
      this.alert('critical', summary, {}, 'resolve', `${this.key}/rollback`),
    );
  }

  /** `retry-rollback` / `abandon-rollback`: only while a rollback is blocked; recorded with who and why. */
  answerRollback(decision: 'retry' | 'abandon', arg: unknown): boolean {
    const blocked = this.status.rollbackBlocked;
    if (!blocked || this.rollbackAnswer) return false;
    const req = toRequest(arg);
    this.rollbackAnswer = { decision, req };
    this.status.rollbackDecisions = [
      ...(this.status.rollbackDecisions ?? []),
      { ...req, decision, component: blocked.component, at: nowIso() },
    ];
    this.ctx.changed();
    return true;
  }

  private async rollBack(): Promise<{ failedRestores: string[]; degraded: string[] }> {
    return this.touched.length > 0 ? this.compensate() : { failedRestores: [], degraded: [] };
  }

  /** Tells SREs and the customer how a failed or cancelled attempt ended (best effort). */
  private async tell(
    kind: 'failed' | 'cancelled',
    why: string,
    { failedRestores, degraded }: { failedRestores: string[]; degraded: string[] },
  ): Promise<void> {
    const changed = this.touched.length > 0;
    const restored = failedRestores.length === 0;
    const cp = this.ctx.controlPlaneId;
    await this.resolveHealthPage(`${cp}: upgrade ${kind === 'failed' ? 'failed' : 'cancelled'}; see its own alert`);
    const afterwards = degraded.length ? `; after the rollback ${degraded.join('; ')}` : '';
    const touched = this.touched.map((c) => c.component.id);
    await this.bestEffort('SRE alert', async () => {
      if (!restored)
        await this.alert(
          'critical',
          `${cp}: ROLLBACK INCOMPLETE after ${why}: ${failedRestores.join('; ')} — manual action needed`,
          { touched, failedRestores, degraded },
        );
      else if (kind === 'failed') {
        const what = changed ? 'failed and was rolled back' : 'failed before any change';
        await this.alert('error', `${cp}: upgrade to ${this.release.id} ${what}: ${why}${afterwards}`, {
          touched,
          degraded,
        });
      } else if (changed)
        await this.alert(
          degraded.length ? 'error' : 'info',
          `${cp}: upgrade to ${this.release.id} cancelled after changes and rolled back: ${why}${afterwards}`,
          { touched, degraded },
        );
    });
    const backAgain = restored
      ? 'The previous versions are running again.'
      : 'Our engineers are restoring the previous versions and will contact you.';
    await this.bestEffort('customer notice', async () => {
      if (changed) await this.notify(kind === 'failed' ? 'rolled-back' : 'cancelled', `${why}. ${backAgain}`);
      else if (this.status.notices.length > 0) {
        const next = kind === 'failed' ? ' Our engineers will look into it and schedule it again.' : '';
        await this.notify('cancelled', `${why}. Nothing was changed.${next}`);
      }
    });
  }
}
