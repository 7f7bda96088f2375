// One long-lived workflow per control plane (id control-plane/<controlPlaneId>): the only thing that ever changes that
// control plane. Releases are offered to it (signal-with-start `offer`, from fleet rollouts, the catch-up schedule or
// itself after an upgrade); it runs at most one upgrade attempt at a time (workflows/upgrade.ts). A newer release
// offered while the attempt has changed nothing replaces it; offered while it is changing, it waits until that attempt
// has ended and is then assessed against what is actually installed. It continues as new after every attempt, so its
// history stays small over years, and its `status` query says at any time why it is (not) being upgraded.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { compareVersions } from '../domain/versions';
import { controlPlaneMarkdown } from './markdown';
import {
  cancelSignal,
  abandonRollbackSignal,
  retryRollbackSignal,
  controlPlaneStatusQuery,
  deferUpdate,
  fleetWorkflowId,
  grantSignal,
  offerSignal,
  parseDefer,
  parseGrant,
  parseReleaseOffer,
  parseWithdrawal,
  pauseSignal,
  resumeSignal,
  upgradeNowUpdate,
  withdrawSignal,
  type AttemptOutcome,
  type AttemptRecord,
  type ControlPlaneCarried,
  type ControlPlaneInput,
  type ControlPlaneStatus,
  type DeferRequest,
  type FleetMessage,
  type OperatorRequest,
  type ReleaseOffer,
  type WhyNotReason,
  type Withdrawal,
} from './messages';
import { checkUpdatePayload, errorMessage, onSignal, parseOperatorRequest, toRequest } from './operatorRequests';
import * as SA from './searchAttributes';
import { UpgradeAttempt } from './upgrade';

/** Attempts kept in the status and carried over continue-as-new. */
const RECENT_KEPT = 10;
/**
 * Patch: a fleet's offer of a release this control plane already ran for that fleet is a duplicate (the fleet's
 * offering activity was retried after a worker died) and is ignored, unanswered. Before, such a re-offer after a
 * `cancel` started the cancelled upgrade again, and its second report was counted twice (found by npm run chaos).
 */
export const PATCH_FLEET_OFFER_ONCE = 'fleet-offer-once';
/**
 * Patch: a grant of the slot this attempt already holds is the same grant delivered again (the fleet's grantSlots
 * activity retried after a worker died) and is ignored. Before, it was handed back as unwanted, and the fleet counted
 * a changing control plane as waiting: one more than maxConcurrent could change at once.
 */
export const PATCH_REPEATED_GRANT_KEPT = 'repeated-grant-kept';
/**
 * Patch: a release (other than an SRE's offer) whose targets are no newer than those of the upgrade nightshift last
 * completed here is declined: it would change nothing. Before, a lagging inventory made it look eligible, and a
 * second, empty upgrade ran with its notices (a follow-up offered another open release of the same version at once;
 * found by the cluster bench, where each worker count's release targets the same version).
 */
export const PATCH_SAME_TARGETS_DECLINED = 'same-targets-declined';
/** A release that failed before any change is offered again by the catch-up schedule only after this long. */
export const RETRY_AFTER_MS = 6 * 60 * 60 * 1000;
/**
 * Outcomes after which the catch-up schedule does not offer the same release again: it is installed already (the
 * inventory may not show it yet), it did harm (changed, then failed), or someone cancelled it. A fleet or an SRE may.
 */
const NOT_AGAIN: readonly AttemptOutcome[] = ['rolled-back', 'failed', 'cancelled', 'completed'];

/** Reports and slots handed back free a fleet slot: ahead of assessments on the shared queue (see upgrade.ts). */
const fleetMessage: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
  priority: { priorityKey: 1 },
};
const followUpOptions: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 3 },
};

const nowIso = () => new Date(Date.now()).toISOString();

/** -1, 0, 1: which offer brings the newer versions (Gateway first, then Dashboard). */
export function compareOffers(a: ReleaseOffer, b: ReleaseOffer): number {
  return (
    compareVersions(a.release.targets.gateway, b.release.targets.gateway) ||
    compareVersions(a.release.targets.dashboard, b.release.targets.dashboard)
  );
}

export class ControlPlaneWorkflow {
  readonly controlPlaneId: string;
  readonly workflowId = workflowInfo().workflowId;
  private readonly carried: ControlPlaneCarried;
  current?: UpgradeAttempt;
  /** The workflow is closing (a Temporal cancellation request): no new attempt starts. */
  private closing = false;
  private sending = false;
  /** Search attribute values as last upserted (continue-as-new carries them over). */
  private shown: Record<string, string | undefined>;

  constructor(input: ControlPlaneInput) {
    this.controlPlaneId = input.controlPlaneId;
    this.carried = input.carried ?? { outbox: [], seq: 0, recent: [], installed: {}, runs: 0 };
    const sa = workflowInfo().typedSearchAttributes;
    this.shown = {
      stage: sa.get(SA.UpgradeStage),
      release: sa.get(SA.ReleaseId),
      target: sa.get(SA.TargetVersion),
      window: sa.get(SA.WindowOpensAt)?.toISOString(),
      org: sa.get(SA.OrgId),
    };
  }

  // ---- messages ----

  /** An offered release: keep the newest; replace an attempt that has changed nothing; answer the displaced. */
  offer(o: ReleaseOffer): void {
    const cur = this.active();
    // The same release as the attempt in progress (even while it rolls back or sends its last email) or pending: one.
    if (this.current?.release.id === o.release.id || this.carried.pending?.release.id === o.release.id) return;
    if (this.isRepeatedFleetOffer(o)) {
      log.info('repeated fleet offer ignored', { releaseId: o.release.id, fleet: o.fleet?.workflowId });
      return;
    }
    // A listing's status-only offer (the fleet found this control plane ineligible) never displaces real work.
    if (o.statusOnly && (cur || this.carried.pending)) return;
    const declined = this.declineReason(o);
    if (declined) {
      log.info('offer declined', { releaseId: o.release.id, why: declined });
      this.answer(o, 'skipped', declined);
      return;
    }
    const pending = this.carried.pending;
    if (pending && compareOffers(o, pending) <= 0) {
      this.answer(o, 'superseded', `release ${pending.release.id} (newer) is next for this control plane`);
      return;
    }
    if (pending) this.answer(pending, 'superseded', `superseded by the newer release ${o.release.id}`);
    if (cur && compareOffers(o, cur.offer) <= 0) {
      this.carried.pending = undefined;
      this.answer(o, 'superseded', `an upgrade to ${cur.release.id} (as new or newer) is in progress`);
      return;
    }
    this.carried.pending = o;
    if (cur?.supersede(o.release.id)) log.info('replacing the waiting upgrade', { by: o.release.id });
    this.refresh();
  }

  /** The fleet that offers it already had an attempt of this release here: its offering activity ran twice. */
  private isRepeatedFleetOffer(o: ReleaseOffer): boolean {
    if (o.source !== 'fleet' || !o.fleet) return false;
    const fleetId = o.fleet.workflowId;
    const ran = this.carried.recent.some((r) => r.releaseId === o.release.id && r.fleetWorkflowId === fleetId);
    return ran && patched(PATCH_FLEET_OFFER_ONCE);
  }

  /**
   * Why an offer is not taken: it would move the Gateway below what nightshift installed (the inventory may lag), or,
   * from the catch-up schedule or a follow-up, the same release already ended in a way that rules out an automatic
   * retry (fleets and SREs may offer it again).
   */
  private declineReason(o: ReleaseOffer): string | undefined {
    const installed = this.carried.installed.gateway;
    if (installed && compareVersions(o.release.targets.gateway, installed) < 0)
      return `the gateway runs ${installed} (installed by nightshift); ${o.release.id} would downgrade it`;
    const done = o.source === 'sre' ? undefined : this.installedAlready(o);
    if (done && patched(PATCH_SAME_TARGETS_DECLINED)) return done;
    if (o.source === 'fleet' || o.source === 'sre') return undefined;
    const last = this.carried.recent.filter((r) => r.releaseId === o.release.id).at(-1);
    if (!last) return undefined;
    if (NOT_AGAIN.includes(last.outcome))
      return `the upgrade to ${o.release.id} ${last.outcome} on ${last.endedAt}: it is offered again only by an SRE`;
    const retryAt = Date.parse(last.endedAt) + RETRY_AFTER_MS;
    if (last.outcome === 'failed-before-change' && Date.now() < retryAt)
      return `the last attempt failed before any change; retried after ${new Date(retryAt).toISOString()}`;
    return undefined;
  }

  /** Why the offer would change nothing: the last attempt completed an upgrade to targets as new as its own. */
  private installedAlready(o: ReleaseOffer): string | undefined {
    const last = this.carried.recent.at(-1);
    if (last?.outcome !== 'completed' || last.releaseId === o.release.id) return undefined;
    const { dashboard, gateway } = o.release.targets;
    if (compareVersions(dashboard, last.targets.dashboard) > 0 || compareVersions(gateway, last.targets.gateway) > 0)
      return undefined;
    return (
      `nightshift upgraded it to dashboard ${last.targets.dashboard} and gateway ${last.targets.gateway} ` +
      `(${last.releaseId}, ${last.endedAt}); ${o.release.id} would change nothing`
    );
  }

  /** Tells an offer's fleet (if any) that it will not be run. */
  private answer(o: ReleaseOffer, outcome: AttemptOutcome, reason: string): void {
    if (o.fleet) this.send(this.reportMessage(o.fleet.workflowId, o.release.id, outcome, false, reason));
  }

  private reportMessage(
    fleetWorkflowId: string,
    releaseId: string,
    outcome: AttemptOutcome,
    changed: boolean,
    reason?: string,
  ): FleetMessage {
    const report = { controlPlaneId: this.controlPlaneId, releaseId, outcome, changed, reason, at: nowIso() };
    return { kind: 'report', fleetWorkflowId, report };
  }

  grant(releaseId: string): void {
    const cur = this.active();
    if (cur?.release.id === releaseId && cur.grant()) return;
    if (cur?.release.id === releaseId && cur.holdsSlot() && patched(PATCH_REPEATED_GRANT_KEPT)) return;
    // Arrived after we stopped waiting (window closed, cancelled, finished): hand it straight back.
    this.send({ kind: 'return-slot', fleetWorkflowId: fleetWorkflowId(releaseId), releaseId });
  }

  pause(arg: unknown): void {
    const cur = this.active();
    if (cur) cur.pause(arg);
    else this.carried.hold = { ...toRequest(arg), at: nowIso() };
    this.refresh();
  }

  resume(arg: unknown): void {
    this.carried.hold = undefined;
    this.active()?.resume(arg);
    this.refresh();
  }

  /**
   * The `cancel` signal stops the upgrade in progress (rolled back if it changed something). A newer release pending
   * behind it stays pending: it is assessed once this attempt has ended, like after any other end (cancel it then, or
   * withdraw it). With no upgrade in progress, the pending offer is what is cancelled.
   */
  cancel(arg: unknown): void {
    const cur = this.active();
    const pending = this.carried.pending;
    if (cur) cur.cancel(arg);
    else if (pending) {
      this.carried.pending = undefined;
      this.answer(pending, 'cancelled', `cancelled: ${toRequest(arg).reason ?? 'no reason given'}`);
    }
    this.refresh();
  }

  /** `retry-rollback` / `abandon-rollback`: answers a blocked rollback; ignored (with a log line) otherwise. */
  answerRollback(decision: 'retry' | 'abandon', arg: unknown): void {
    // The attempt is ending (rolling back), so not `active()`.
    const cur = this.current;
    if (!cur?.answerRollback(decision, arg))
      log.warn(`${decision}-rollback ignored: no rollback is blocked`, { controlPlaneId: this.controlPlaneId });
    this.refresh();
  }

  /** The fleet withdrew its release (cancelled, or superseded by a newer rollout): only where nothing changed yet. */
  withdraw(w: Withdrawal): void {
    const r = toRequest(w);
    const why = w.supersededBy
      ? `superseded by release ${w.supersededBy}`
      : `withdrawn${r.by ? ` by ${r.by}` : ''}${r.reason ? `: ${r.reason}` : ''}`;
    const pending = this.carried.pending;
    if (pending?.release.id === w.releaseId) {
      this.carried.pending = undefined;
      this.answer(pending, w.supersededBy ? 'superseded' : 'cancelled', why);
    }
    const cur = this.active();
    if (cur?.release.id === w.releaseId && cur.isBeforeChange()) {
      if (w.supersededBy) cur.supersede(w.supersededBy);
      else cur.cancel({ reason: r.reason ?? why, by: r.by });
    }
    this.refresh();
  }

  attemptFor(what: string): UpgradeAttempt {
    const cur = this.active();
    if (!cur) throw new Error(`no upgrade of ${this.controlPlaneId} is in progress to ${what}`);
    return cur;
  }

  private active(): UpgradeAttempt | undefined {
    return this.current && !this.current.isFinished() ? this.current : undefined;
  }

  // ---- status ----

  status(): ControlPlaneStatus {
    const cur = this.current;
    const c = this.carried;
    const pending = c.pending;
    const whyNot = this.whyNot();
    const state = !cur
      ? 'idle'
      : cur.isFinished()
        ? 'ending'
        : cur.status.stage === 'preflight' || !cur.isBeforeChange()
          ? 'changing'
          : 'waiting';
    return {
      workflowId: this.workflowId,
      controlPlaneId: this.controlPlaneId,
      orgId: cur?.orgId ?? c.orgId,
      state,
      installed: cur ? { ...c.installed, ...cur.status.versionsNow } : c.installed,
      installedSeenAt: c.installedSeenAt,
      upgrade: cur?.status,
      pending: pending && {
        releaseId: pending.release.id,
        targets: pending.release.targets,
        source: pending.source,
        offeredAt: pending.offeredAt,
        fleetWorkflowId: pending.fleet?.workflowId,
      },
      recent: c.recent,
      whyNot,
      nextChanceAt: whyNot.find((r) => r.until)?.until,
      runs: c.runs,
      deliveryFailures: cur?.status.deliveryFailures,
    };
  }

  /** The chain of reasons this control plane is not being upgraded right now (empty while it makes progress). */
  whyNot(): WhyNotReason[] {
    const cur = this.active();
    const reasons: WhyNotReason[] = [];
    if (this.carried.hold)
      reasons.push({
        code: 'paused',
        detail: `paused${this.carried.hold.by ? ` by ${this.carried.hold.by}` : ''}: the next upgrade starts paused`,
        evidence: { since: this.carried.hold.at },
      });
    if (cur) return [...reasons, ...cur.whyNot()];
    if (this.current?.status.rollbackBlocked) return [...reasons, ...this.current.whyNot()];
    if (this.carried.pending) return reasons;
    const last = this.carried.recent.at(-1);
    if (!last) return [...reasons, { code: 'no-release-offered', detail: 'no release has been offered yet' }];
    return [...reasons, ...this.whyNotAfter(last)];
  }

  private whyNotAfter(last: AttemptRecord): WhyNotReason[] {
    const evidence = { releaseId: last.releaseId, outcome: last.outcome, at: last.endedAt };
    switch (last.outcome) {
      case 'completed':
        return [
          {
            code: 'already-at-target',
            detail: `upgraded to ${last.releaseId} (gateway ${last.targets.gateway}); no newer release is offered`,
            evidence,
          },
        ];
      case 'skipped':
        return [{ code: last.skipReason ?? 'no-release-offered', detail: last.reason ?? 'skipped', evidence }];
      case 'failed-before-change':
        return [
          {
            code: 'retry-later',
            detail: `the upgrade to ${last.releaseId} stopped before any change: ${last.reason ?? ''}`,
            evidence,
            until: new Date(Date.parse(last.endedAt) + RETRY_AFTER_MS).toISOString(),
          },
        ];
      case 'rolled-back':
      case 'failed':
        return [
          {
            code: 'last-upgrade-failed',
            detail: `the upgrade to ${last.releaseId} ${last.outcome}: ${last.reason ?? ''}; an SRE decides what next`,
            evidence,
          },
        ];
      default:
        return [{ code: last.outcome, detail: last.reason ?? last.outcome, evidence }];
    }
  }

  /** Search attributes (only those that changed: each upsert is a history event) and the UI's current details. */
  refresh(): void {
    const cur = this.current;
    // Until its outcome is decided (rolling back included) the attempt is what the UI shows; then the pending release.
    const live = cur && cur.status.outcome === undefined ? cur : undefined;
    const next: Record<string, string | undefined> = {
      stage: live ? live.status.stage : 'idle',
      release: live ? live.release.id : this.carried.pending?.release.id,
      target: live ? live.release.targets.gateway : this.carried.pending?.release.targets.gateway,
      window: live ? live.status.window?.startAt : undefined,
      org: cur?.orgId ?? this.carried.orgId,
    };
    const changed = (k: string) => next[k] !== this.shown[k];
    const updates = [
      changed('stage') && { key: SA.UpgradeStage, value: next.stage! },
      changed('release') && { key: SA.ReleaseId, value: next.release ?? null },
      changed('target') && { key: SA.TargetVersion, value: next.target ?? null },
      changed('window') && { key: SA.WindowOpensAt, value: next.window ? new Date(next.window) : null },
      changed('org') && next.org && { key: SA.OrgId, value: next.org },
    ].filter(Boolean);
    if (updates.length) upsertSearchAttributes(updates as Parameters<typeof upsertSearchAttributes>[0]);
    this.shown = next;
    setCurrentDetails(controlPlaneMarkdown(this.status()));
  }

  // ---- fleet messages: queued, sent in order, retried until accepted ----

  private send(m: FleetMessage): void {
    this.carried.outbox.push(m);
  }

  private async sendLoop(): Promise<void> {
    for (;;) {
      await condition(() => this.carried.outbox.length > 0 || this.closing);
      const m = this.carried.outbox[0];
      if (!m) return;
      this.sending = true;
      try {
        const a = proxyActivities<Activities>({ ...fleetMessage, summary: `Tell ${m.fleetWorkflowId}: ${m.kind}` });
        const sent =
          m.kind === 'report'
            ? await a.reportToFleet({ fleetWorkflowId: m.fleetWorkflowId, report: m.report })
            : await a.returnFleetSlot({
                fleetWorkflowId: m.fleetWorkflowId,
                controlPlaneId: this.controlPlaneId,
                releaseId: m.releaseId,
              });
        if (!sent.delivered) log.info('fleet rollout gone; message dropped', { ...m, fleetStatus: sent.fleetStatus });
      } catch (err) {
        log.warn('fleet message not sent', { fleet: m.fleetWorkflowId, error: errorMessage(err) });
      } finally {
        this.sending = false;
      }
      this.carried.outbox.shift();
    }
  }

  // ---- the life of the control plane ----

  async run(): Promise<ControlPlaneStatus> {
    const sender = CancellationScope.nonCancellable(() => this.sendLoop());
    this.refresh();
    try {
      await this.serve();
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }
    // A Temporal cancellation request: the attempt in progress has ended (rolled back if it changed something).
    return CancellationScope.nonCancellable(async () => {
      this.closing = true;
      const pending = this.carried.pending;
      if (pending) this.answer(pending, 'cancelled', 'the control-plane workflow was cancelled');
      this.carried.pending = undefined;
      this.refresh();
      await sender;
      return this.status();
    });
  }

  private async serve(): Promise<void> {
    for (;;) {
      await condition(() => this.carried.pending !== undefined || workflowInfo().continueAsNewSuggested);
      const offer = this.carried.pending;
      if (!offer) return this.continueAsNew();
      this.carried.pending = undefined;
      const record = await this.attempt(offer);
      if (CancellationScope.current().consideredCancelled) return;
      if (record.outcome === 'completed' && !this.carried.pending) await this.followUp(record);
      return this.continueAsNew();
    }
  }

  /** Runs one attempt to its end and records it. */
  private async attempt(offer: ReleaseOffer): Promise<AttemptRecord> {
    const ctx = {
      controlPlaneId: this.controlPlaneId,
      workflowId: this.workflowId,
      seq: ++this.carried.seq,
      changed: () => this.refresh(),
      report: async (fleetId: string, outcome: AttemptOutcome, changed: boolean, reason?: string) =>
        this.send(this.reportMessage(fleetId, offer.release.id, outcome, changed, reason)),
    };
    this.current = new UpgradeAttempt(ctx, offer);
    if (this.carried.hold) this.current.pause(this.carried.hold);
    this.carried.hold = undefined;
    const record = await this.current.run();
    const c = this.carried;
    c.recent = [...c.recent, record].slice(-RECENT_KEPT);
    c.installed = { ...c.installed, ...record.versions };
    c.installedSeenAt = record.endedAt;
    c.orgId = this.current.orgId ?? c.orgId;
    this.current = undefined;
    this.refresh();
    return record;
  }

  /** After an upgrade: the newest open release that now applies (a security fix for the version just installed). */
  private async followUp(done: AttemptRecord): Promise<void> {
    // Bounded: without an answer the catch-up schedule offers the release within the hour anyway.
    const next = await proxyActivities<Activities>({
      ...followUpOptions,
      summary: 'Any open release that now applies?',
    })
      .findFollowUpRelease({ controlPlaneId: this.controlPlaneId, exceptReleaseIds: [done.releaseId] })
      .catch((err: unknown) => {
        log.warn('follow-up release lookup failed; the catch-up schedule will offer it', { error: errorMessage(err) });
        return undefined;
      });
    if (!next || this.carried.pending) return;
    this.offer({
      release: next.release,
      fleet: next.fleetWorkflowId ? { workflowId: next.fleetWorkflowId, wave: 'main' } : undefined,
      source: 'follow-up',
      offeredAt: nowIso(),
    });
  }

  private async continueAsNew(): Promise<never> {
    // Reports go out before the run ends: an activity scheduled in the last task would otherwise be abandoned and sent
    // again by the next run.
    await condition(() => this.carried.outbox.length === 0 && !this.sending && allHandlersFinished());
    return continueAsNew<typeof controlPlane>({
      controlPlaneId: this.controlPlaneId,
      carried: { ...this.carried, runs: this.carried.runs + 1 },
    });
  }
}

/**
 * The handlers: each is a line that hands the message to the state class. Each reads its payload first: a signal whose
 * payload does not parse is ignored with a warning naming the field and the value (a handler that throws would fail
 * every workflow task of the run); an update is rejected with that message.
 */
function registerHandlers(wf: ControlPlaneWorkflow): void {
  setHandler(controlPlaneStatusQuery, () => wf.status(), {
    description: 'Installed versions, the upgrade in progress or pending, recent attempts, and why not (reasons).',
  });
  onSignal(
    offerSignal,
    parseReleaseOffer,
    (o) => wf.offer(o),
    'Fleet / catch-up → control plane: a release to bring here (the newest wins; one at a time).',
  );
  onSignal(
    withdrawSignal,
    parseWithdrawal,
    (w) => wf.withdraw(w),
    'Fleet → control plane: the release is withdrawn (where nothing has changed yet).',
  );
  onSignal(grantSignal, parseGrant, (g) => wf.grant(g.releaseId), 'Fleet → control plane: a slot is yours.');
  onSignal(
    pauseSignal,
    parseOperatorRequest,
    (a) => wf.pause(a),
    'Hold before the next step (the running step finishes). Payload: {"reason": "...", "by": "..."}',
  );
  onSignal(resumeSignal, parseOperatorRequest, (a) => wf.resume(a), 'Continue after a pause. {"reason","by"}');
  onSignal(
    cancelSignal,
    parseOperatorRequest,
    (a) => wf.cancel(a),
    'Stop the upgrade; roll back what changed (not after the last verification). {"reason","by"}',
  );
  onSignal(
    retryRollbackSignal,
    parseOperatorRequest,
    (a) => wf.answerRollback('retry', a),
    'A blocked rollback: try the restore again now. {"reason","by"}',
  );
  onSignal(
    abandonRollbackSignal,
    parseOperatorRequest,
    (a) => wf.answerRollback('abandon', a),
    'A blocked rollback: stop restoring that component (an SRE restores it by hand). {"reason","by"}',
  );
  setHandler(deferUpdate, (req: DeferRequest) => wf.attemptFor('defer').defer(req), {
    validator: (req: DeferRequest) => {
      checkUpdatePayload(req, parseDefer);
      wf.attemptFor('defer').validateDefer(req);
    },
    description: 'Customer deferral: {"days": N, "reason", "by"}. LTS: 2 deferrals of up to 7 days; security: none.',
  });
  setHandler(upgradeNowUpdate, (req: OperatorRequest) => wf.attemptFor('start now').upgradeNow(req), {
    validator: (req: OperatorRequest) => {
      checkUpdatePayload(req, parseOperatorRequest);
      wf.attemptFor('start now').validateUpgradeNow();
    },
    description: 'SRE override: skip the wait for the window (the customer gets a starting notice). {"reason","by"}',
  });
}

export async function controlPlane(input: ControlPlaneInput): Promise<ControlPlaneStatus> {
  const wf = new ControlPlaneWorkflow(input);
  registerHandlers(wf);
  if (workflowInfo().typedSearchAttributes.get(SA.ControlPlaneId) !== input.controlPlaneId)
    upsertSearchAttributes([{ key: SA.ControlPlaneId, value: input.controlPlaneId }]);
  return wf.run();
}
