// One release across the whole fleet (id fleet/<releaseId>). It starts no child workflows: it lists the inventory in
// pages and offers the release to each control plane's own workflow from an activity (control-plane/<id>, the only
// writer of that control plane), so no per-run limit on pending children applies and its history does not grow per
// control plane. It keeps the canary wave, bake, concurrency slots, the failure budget (harm only), halt/approve,
// freeze, pause and cancel; and it reconciles instead of trusting: on a timer it asks every control plane it still
// counts in flight for its real state, and settles those that closed or work on another release as `lost`.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { InFlightVerdict } from '../activities/controlPlanes';
import type { Wave } from '../domain/rollout';
import { fleetMarkdown } from './markdown';
import {
  approveSignal,
  askSlotSignal,
  cancelSignal,
  controlPlaneWorkflowId,
  fleetStatusQuery,
  forgetSignal,
  freezeSignal,
  grantSignal,
  parseForget,
  parseFreeze,
  parseSlotAsk,
  parseSlotReturn,
  parseSupersede,
  parseUpgradeReport,
  pauseSignal,
  reconcileSignal,
  reportSignal,
  resumeSignal,
  returnSlotSignal,
  supersedeSignal,
  unfreezeSignal,
  type ChildState,
  type FleetRolloutCarried,
  type FleetRolloutInput,
  type FleetStage,
  type FleetStatus,
  type FleetUpgradeResult,
  type FreezeRequest,
  type OperatorRequest,
  type SlotAsk,
  type UpgradeOutcome,
  type UpgradeReport,
} from './messages';
import * as metrics from './metrics';
import { errorMessage, onSignal, parseOperatorRequest, toRequest } from './operatorRequests';
import * as SA from './searchAttributes';

const FAILURES_KEPT = 25;
/**
 * Patch: a report that arrives before the fleet counts the control plane in (it reported while the activity that
 * offered it was still running, or was being retried after a worker died) is kept and applied when the offer's result
 * arrives. Before, it was dropped and the control plane was later settled as `lost`, with an alert (found by npm run
 * chaos).
 */
export const PATCH_EARLY_REPORTS = 'early-reports-kept';
/**
 * Patch: slot grants are not awaited as a batch. Before, the next grant waited until every grant of the previous batch
 * had been delivered (the SignalExternalWorkflowExecution of each acknowledged): under load that took 30–60 s, while
 * the slots drained to nearly none (npm run scale at 1,000: changing swung between 1 and 200, 2.6 upgrades/s).
 */
export const PATCH_GRANTS_UNAWAITED = 'grants-not-awaited';
/**
 * Patch: offers are paced. Before, the fleet offered every page at once: at 10,000 control planes with windows open,
 * thousands of first steps (assess, plan, ask) queued their workflow tasks ahead of the 200 slot holders', whose
 * upgrades then crawled (100 finished in 202 s while 4,271 were offered) and whose tasks timed out under load. Now the
 * next page waits while the control planes offered with an open window that have not asked yet, plus the asks
 * queued for a slot, reach twice the slots. A parked rollout (windows later) is not slowed: only open windows count.
 */
export const PATCH_OFFER_PACING = 'offer-pacing';
/**
 * Patch: slot grants are delivered by an activity (grantSlots, one per batch), not as the fleet's signals to external
 * workflows. The server delivers those from its transfer queue: under load a grant took p50 1.5 s, p90 17.5 s and up to
 * 68.5 s to reach its control plane (bench at 1,000), while the slot it granted stood idle; and at continue-as-new the
 * run waited for the last of them (19–38 s without a grant). Decision 0017.
 */
export const PATCH_GRANTS_BY_ACTIVITY = 'grants-by-activity';
/** How long a control plane offered with an open window counts as starting: after it, it is taken as parked. */
const STARTING_GRACE_MS = 5 * 60_000;
/** Early reports kept at most (oldest dropped): reports for control planes this rollout never counts in are rare. */
const EARLY_KEPT = 2000;
const LOST_KEPT = 25;
/** Control planes asked for their state per reconcile activity, and told of a withdrawal per activity. */
const BATCH = 200;
/** Signals received by one run before it continues as new (Temporal refuses more than 10,000 per run). */
const SIGNALS_PER_RUN = 4000;

const act = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});
/**
 * The activities that message a whole page or batch of control planes. They heartbeat, so that a worker killed
 * while one runs is noticed within the heartbeat timeout and the batch retried at once, instead of the fleet standing
 * still for the whole startToClose (seen in the chaos run: two minutes without offers after a SIGKILL). Changing
 * timeouts is not a change of commands: histories replay unchanged.
 */
const batchAct = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/**
 * Slot grants: retried until the service takes them (an unreachable service is the only error the activity throws),
 * quickly, as every retry is a slot standing idle.
 */
const grantAct = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

const nowIso = () => new Date(Date.now()).toISOString();
const KEY = { w: 'waitingForWindow', q: 'waitingForSlot', c: 'changing', s: 'starting' } as const;

/**
 * Whether a rollout of this kind takes over (supersede) or is taken over by another rollout of its line as a whole: LTS
 * only. A newer LTS release moves every control plane an older LTS release of its line would; a security release
 * moves only its affected range, so neither side of a supersede may be one.
 */
export function supersedes(kind: FleetRolloutInput['release']['kind']): boolean {
  return kind === 'lts';
}

export function isHarm(outcome: UpgradeOutcome | 'lost'): boolean {
  return outcome === 'rolled-back' || outcome === 'failed';
}

function initialStatus(input: FleetRolloutInput, workflowId: string): FleetStatus {
  const { release, rollout } = input;
  const wave = () => ({ listed: false, started: 0, finished: 0, failed: 0 });
  return {
    workflowId,
    releaseId: release.id,
    releaseKind: release.kind,
    targets: release.targets,
    rollout,
    stage: 'listing-canary',
    eligibility: { listed: 0, eligible: 0, skipped: {} },
    waves: { canary: wave(), main: wave() },
    inFlight: { waitingForWindow: 0, waitingForSlot: 0, changing: 0 },
    outcomes: {},
    failures: [],
    failureCount: 0,
    paused: false,
    approvals: [],
    runs: 0,
    maxHistoryLength: 0,
    lost: [],
    lostCount: 0,
    beforeChangeCount: 0,
  };
}

export class FleetRollout {
  readonly release: FleetRolloutInput['release'];
  readonly rollout: FleetRolloutInput['rollout'];
  readonly workflowId = workflowInfo().workflowId;
  readonly c: FleetRolloutCarried;
  readonly status: FleetStatus;
  private readonly withdrawn: Set<string>;
  /** Activities and signals in flight: continue-as-new waits for them. */
  private inFlightOps = 0;
  private quiescing = false;
  private signals = 0;
  private reconcileAsked = false;
  private shownStage?: string;
  readonly work = new CancellationScope();

  constructor(input: FleetRolloutInput) {
    this.release = input.release;
    this.rollout = input.rollout;
    this.c = input.carried ?? {
      status: initialStatus(input, this.workflowId),
      children: {},
      childWave: {},
      slotQueue: [],
      failuresAtApproval: 0,
      withdrawn: [],
    };
    this.status = this.c.status;
    this.withdrawn = new Set(this.c.withdrawn);
    this.shownStage = workflowInfo().typedSearchAttributes.get(SA.UpgradeStage);
  }

  // ---- bookkeeping ----

  private setChild(id: string, state: ChildState | undefined): void {
    const before = this.c.children[id];
    if (before === state) return;
    const f = this.status.inFlight;
    if (before) f[KEY[before]] = (f[KEY[before]] ?? 0) - 1;
    if (state) {
      this.c.children[id] = state;
      f[KEY[state]] = (f[KEY[state]] ?? 0) + 1;
    } else delete this.c.children[id];
    if (f.starting === 0) delete f.starting; // shown only while some are starting
  }

  inFlightCount(): number {
    const f = this.status.inFlight;
    return f.waitingForWindow + f.waitingForSlot + f.changing + (f.starting ?? 0);
  }

  private inFlightOf(wave: Wave): number {
    return this.status.waves[wave].started - this.status.waves[wave].finished;
  }

  stopping(): boolean {
    return this.status.cancel !== undefined || this.status.supersededBy !== undefined;
  }

  private frozen(): boolean {
    return this.status.freeze !== undefined && Date.parse(this.status.freeze.until) > Date.now();
  }

  /** Nothing new starts (no listing, no slot grants) while any of these hold. */
  private held(): boolean {
    return this.status.paused || this.status.halted !== undefined || this.frozen() || this.stopping();
  }

  private setStage(stage: FleetStage): void {
    this.status.stage = stage;
    this.refresh();
  }

  refresh(): void {
    const s = this.status;
    const ended = s.stage === 'completed' || s.stage === 'cancelled' || s.stage === 'superseded';
    const shown = s.halted && !ended ? 'halted' : s.stage;
    // Only on change: an upsert is a history event, and refresh runs on every report.
    if (shown !== this.shownStage) upsertSearchAttributes([{ key: SA.UpgradeStage, value: shown }]);
    this.shownStage = shown;
    setCurrentDetails(fleetMarkdown(s));
  }

  // ---- reports, settlement and the failure budget ----

  /** Counts one control plane's end: from its report, from reconciliation, or from an SRE's `forget`. */
  private settle(id: string, outcome: UpgradeOutcome | 'lost', reason?: string): void {
    const wave = this.c.childWave[id];
    if (!wave) return; // a duplicate, or a control plane this rollout does not count
    this.c.slotQueue = this.c.slotQueue.filter((r) => r.controlPlaneId !== id);
    this.setChild(id, undefined);
    delete this.c.childWave[id];
    const s = this.status;
    s.waves[wave].finished++;
    s.outcomes[outcome] = (s.outcomes[outcome] ?? 0) + 1;
    if (outcome === 'lost') {
      s.lostCount = (s.lostCount ?? 0) + 1;
      s.lost = [...(s.lost ?? []), { controlPlaneId: id, reason: reason ?? 'lost', at: nowIso() }].slice(-LOST_KEPT);
    } else if (outcome === 'failed-before-change') {
      s.beforeChangeCount = (s.beforeChangeCount ?? 0) + 1;
      this.checkBeforeChange();
    } else if (isHarm(outcome)) {
      s.failureCount++;
      s.waves[wave].failed++;
      s.failures.push({ controlPlaneId: id, outcome, reason, at: nowIso() });
      if (s.failures.length > FAILURES_KEPT) s.failures.shift();
      this.checkBudget();
    }
    this.refresh();
  }

  report(r: UpgradeReport): void {
    this.signals++;
    if (r.releaseId !== this.release.id) return;
    if (!this.c.childWave[r.controlPlaneId] && patched(PATCH_EARLY_REPORTS)) {
      this.keepEarly(r);
      return;
    }
    this.settle(r.controlPlaneId, r.outcome, r.reason);
  }

  /** A report from a control plane not (yet) counted in: kept until its offer's result counts it in. */
  private keepEarly(r: UpgradeReport): void {
    const early = { ...(this.c.early ?? {}) };
    delete early[r.controlPlaneId];
    early[r.controlPlaneId] = { outcome: r.outcome, ...(r.reason !== undefined ? { reason: r.reason } : {}) };
    const ids = Object.keys(early);
    for (const id of ids.slice(0, Math.max(0, ids.length - EARLY_KEPT))) delete early[id];
    this.c.early = early;
  }

  private checkBudget(): void {
    const s = this.status;
    if (s.halted) return;
    const { maxFailures, maxRatio, minSample } = this.rollout.failureBudget;
    // Both limits count from the last approval: an approval accepts what failed before it.
    const since = s.failureCount - this.c.failuresAtApproval;
    if (since <= 0) return;
    const finished = (s.outcomes.completed ?? 0) + s.failureCount - (this.c.finishedAtApproval ?? 0);
    const ratio = finished > 0 ? since / finished : 0;
    const sinceApproval = this.c.failuresAtApproval ? ' since the last approval' : '';
    if (since > maxFailures)
      this.halt(`${since} upgrades rolled back or failed (budget ${maxFailures}${sinceApproval})`);
    else if (finished >= minSample && ratio > maxRatio)
      this.halt(
        `${Math.round(ratio * 100)}% of ${finished} finished upgrades failed (budget ${Math.round(maxRatio * 100)}%)`,
      );
  }

  private checkBeforeChange(): void {
    const limit = this.rollout.failureBudget.maxBeforeChange;
    const n = (this.status.beforeChangeCount ?? 0) - (this.c.beforeChangeAtApproval ?? 0);
    if (limit !== undefined && n > limit && !this.status.halted)
      this.halt(`${n} upgrades stopped before any change (limit ${limit})`);
  }

  private halt(reason: string): void {
    this.status.halted = { reason, at: nowIso() };
    log.warn('fleet halted', { reason });
    metrics.fleetHalted();
    this.refresh();
  }

  // ---- slots ----

  askSlot(req: SlotAsk): void {
    this.signals++;
    if (req.releaseId !== this.release.id) return;
    if (!this.c.childWave[req.controlPlaneId]) {
      // Offered by the catch-up schedule or a follow-up while this rollout runs: count it in.
      this.c.childWave[req.controlPlaneId] = 'main';
      this.status.waves.main.started++;
    }
    this.c.slotQueue = this.c.slotQueue.filter((r) => r.controlPlaneId !== req.controlPlaneId);
    this.c.slotQueue.push(req);
    this.setChild(req.controlPlaneId, 'q');
    this.refresh();
  }

  returnSlot(controlPlaneId: string): void {
    this.signals++;
    this.c.slotQueue = this.c.slotQueue.filter((r) => r.controlPlaneId !== controlPlaneId);
    if (this.c.children[controlPlaneId]) this.setChild(controlPlaneId, 'w');
    this.refresh();
  }

  private async dispatchSlots(): Promise<void> {
    for (;;) {
      if (this.status.freeze && !this.frozen()) {
        log.info('freeze ended', { until: this.status.freeze.until });
        this.status.freeze = undefined;
        this.refresh();
      }
      if (this.status.freeze) {
        const seen = this.status.freeze;
        await condition(() => this.quiescing || this.status.freeze !== seen, Date.parse(seen.until) - Date.now());
        if (this.quiescing) return;
        continue;
      }
      await condition(() => this.quiescing || !!this.status.freeze || this.canGrant());
      if (this.quiescing) return;
      if (!this.status.freeze) await this.grantSlots();
    }
  }

  private canGrant(): boolean {
    return !this.held() && this.c.slotQueue.length > 0 && this.status.inFlight.changing < this.rollout.maxConcurrent;
  }

  private async grantSlots(): Promise<void> {
    const grants: SlotAsk[] = [];
    while (this.c.slotQueue.length > 0 && this.status.inFlight.changing < this.rollout.maxConcurrent) {
      const req = this.c.slotQueue.shift()!;
      // Too late for its window: the control plane gives the slot back and reschedules by itself.
      if (Date.parse(req.until) <= Date.now() || !this.c.children[req.controlPlaneId]) continue;
      this.setChild(req.controlPlaneId, 'c');
      grants.push(req);
    }
    this.refresh();
    const grantedAt = nowIso();
    if (patched(PATCH_GRANTS_BY_ACTIVITY)) {
      if (grants.length > 0) void this.tracked(() => this.deliverGrants(grants, grantedAt));
      return;
    }
    if (patched(PATCH_GRANTS_UNAWAITED)) {
      // Each grant is its own operation: a slot freed while earlier grants are still being delivered is granted at once.
      for (const g of grants) void this.tracked(() => this.sendGrant(g, grantedAt));
      return;
    }
    await this.tracked(async () => {
      await Promise.all(grants.map((g) => this.sendGrant(g, grantedAt)));
    });
  }

  /** One activity per batch; a control plane whose workflow is gone, or that refused the signal, gets no slot. */
  private async deliverGrants(grants: SlotAsk[], grantedAt: string): Promise<void> {
    const ids = grants.map((g) => g.controlPlaneId);
    try {
      const r = await grantAct.grantSlots({ controlPlaneIds: ids, grant: { releaseId: this.release.id, grantedAt } });
      for (const id of r.gone) this.grantNotDelivered(id, 'no running workflow');
      for (const f of r.failed ?? []) this.grantNotDelivered(f.id, f.error);
    } catch (err) {
      // Only a worker without a messenger fails it for good (retries are unlimited otherwise).
      for (const id of ids) this.grantNotDelivered(id, errorMessage(err));
    }
  }

  private grantNotDelivered(id: string, error: string): void {
    log.warn('slot grant not delivered; slot freed', { id, error });
    if (this.c.children[id] === 'c') this.setChild(id, 'w');
  }

  private async sendGrant(g: SlotAsk, grantedAt: string): Promise<void> {
    try {
      const cp = getExternalWorkflowHandle(controlPlaneWorkflowId(g.controlPlaneId));
      await cp.signal(grantSignal, { releaseId: this.release.id, grantedAt });
    } catch (err) {
      this.grantNotDelivered(g.controlPlaneId, errorMessage(err));
    }
  }

  // ---- paging and reconciliation ----

  private async pageOnHalt(): Promise<void> {
    for (;;) {
      const paged = () => this.status.halted !== undefined && this.c.pagedFor !== this.status.halted.at;
      await condition(() => this.quiescing || paged());
      if (this.quiescing) return;
      const halted = this.status.halted!;
      await this.tracked(() =>
        this.alert(
          `halt/${halted.at}`,
          'critical',
          `Fleet rollout ${this.release.id} HALTED: ${halted.reason}. Approve (npm run sre -- approve --fleet ${this.release.id}) or cancel.`,
          { failures: this.status.failures.slice(-5), outcomes: this.status.outcomes },
        ),
      );
      this.c.pagedFor = halted.at;
    }
  }

  private async alert(id: string, severity: 'critical' | 'error', summary: string, details: Record<string, unknown>) {
    try {
      await act.alertSre({
        dedupKey: `${this.workflowId}/${id.split('/')[0]}`,
        id: `${this.workflowId}/${id}`,
        action: 'trigger',
        severity,
        summary,
        controlPlaneId: 'fleet',
        releaseId: this.release.id,
        workflowId: this.workflowId,
        details,
      });
    } catch (err) {
      log.warn('alert not delivered', { id, error: errorMessage(err) });
    }
  }

  private async reconcileLoop(): Promise<void> {
    const every = this.rollout.reconcileMinutes * 60_000;
    for (;;) {
      const asked = await condition(() => this.quiescing || this.reconcileAsked, every);
      if (this.quiescing) return;
      this.reconcileAsked = false;
      if (asked || this.inFlightCount() > 0) await this.tracked(() => this.reconcile());
    }
  }

  /** Asks every control plane counted in flight for its real state; settles the finished and the lost. */
  async reconcile(): Promise<void> {
    const ids = Object.keys(this.c.children);
    const lost: string[] = [];
    for (let i = 0; i < ids.length; i += BATCH) {
      const verdicts = await batchAct.inspectControlPlanes({
        releaseId: this.release.id,
        controlPlaneIds: ids.slice(i, i + BATCH),
      });
      for (const v of verdicts)
        if (this.apply(v)) lost.push(`${v.controlPlaneId}: ${(v as { reason: string }).reason}`);
    }
    this.status.reconciledAt = nowIso();
    this.refresh();
    if (lost.length)
      await this.alert(
        `lost/${this.status.reconciledAt}`,
        'error',
        `Fleet rollout ${this.release.id}: ${lost.length} control plane(s) no longer in this rollout, counted as lost: ${lost.slice(0, 10).join('; ')}`,
        { lost: lost.slice(0, 50) },
      );
  }

  /** Applies one verdict; true when the control plane was counted as lost. */
  private apply(v: InFlightVerdict): boolean {
    if (!this.c.childWave[v.controlPlaneId]) return false;
    if (v.verdict === 'finished') this.settle(v.controlPlaneId, v.outcome, v.reason);
    if (v.verdict !== 'lost') return false;
    this.settle(v.controlPlaneId, 'lost', v.reason);
    return true;
  }

  forget(req: OperatorRequest & { controlPlaneId: string }): void {
    const r = toRequest(req);
    const why = `forgotten by ${r.by ?? 'an SRE'}${r.reason ? `: ${r.reason}` : ''}`;
    this.settle(req.controlPlaneId, 'lost', why);
  }

  askReconcile(): void {
    this.reconcileAsked = true;
  }

  // ---- operator signals ----

  pause(arg: unknown): void {
    this.status.paused = true;
    this.status.pause = { ...toRequest(arg), at: nowIso() };
    this.refresh();
  }

  resume(): void {
    this.status.paused = false;
    this.status.pause = undefined;
    this.refresh();
  }

  approve(arg: unknown): void {
    const s = this.status;
    if (!s.halted) return;
    s.approvals.push({ ...toRequest(arg), at: nowIso(), failuresAccepted: s.failureCount });
    this.c.failuresAtApproval = s.failureCount;
    this.c.finishedAtApproval = (s.outcomes.completed ?? 0) + s.failureCount;
    this.c.canaryFailuresAccepted = s.waves.canary.failed;
    this.c.beforeChangeAtApproval = s.beforeChangeCount ?? 0;
    s.halted = undefined;
    this.refresh();
  }

  /** `req` is checked (parseFreeze): `until` is an ISO instant. */
  freeze(req: FreezeRequest): void {
    const until = Date.parse(req.until);
    if (Number.isNaN(until) || until <= Date.now()) {
      const why = Number.isNaN(until) ? 'not an ISO instant' : `in the past (it is ${nowIso()})`;
      log.warn(`freeze signal ignored: until = ${JSON.stringify(req.until)}: ${why}`, { until: req.until });
      return;
    }
    this.status.freeze = { ...toRequest(req), until: new Date(until).toISOString(), at: nowIso() };
    this.refresh();
  }

  unfreeze(): void {
    this.status.freeze = undefined;
    this.refresh();
  }

  cancel(arg: unknown): void {
    if (this.stopping()) return;
    this.status.cancel = { ...toRequest(arg), at: nowIso() };
    this.work.cancel();
  }

  supersede(releaseId: string): void {
    if (this.stopping()) return;
    if (releaseId === this.release.id) {
      log.warn(`supersede signal ignored: releaseId = ${JSON.stringify(releaseId)}: this rollout's own release`);
      return;
    }
    if (!supersedes(this.release.kind)) {
      // A newer LTS release of the line does not move every version an older security release affects (say, a line
      // that is not LTS): those control planes keep this rollout; the ones it covers are offered it and switch.
      log.info('supersede ignored: a security rollout is not taken over wholesale', { by: releaseId });
      return;
    }
    this.status.supersededBy = releaseId;
    log.info('superseded', { by: releaseId });
    this.work.cancel();
  }

  // ---- continue-as-new ----

  shouldContinueAsNew(): boolean {
    const i = workflowInfo();
    return (
      i.historyLength > this.rollout.continueAsNewAfterEvents ||
      i.continueAsNewSuggested ||
      this.signals > SIGNALS_PER_RUN
    );
  }

  private async continueAsNewNow(): Promise<never> {
    this.quiescing = true;
    await condition(() => this.inFlightOps === 0 && allHandlersFinished());
    this.status.runs++;
    this.status.maxHistoryLength = Math.max(this.status.maxHistoryLength, workflowInfo().historyLength);
    log.info('continuing as new', { historyLength: workflowInfo().historyLength, inFlight: this.inFlightCount() });
    return continueAsNew<typeof fleetRollout>({
      release: this.release,
      rollout: this.rollout,
      carried: { ...this.c, status: this.status, withdrawn: [...this.withdrawn] },
    });
  }

  private async tracked<T>(op: () => Promise<T>): Promise<T> {
    this.inFlightOps++;
    try {
      return await op();
    } finally {
      this.inFlightOps--;
    }
  }

  // ---- the rollout ----

  private async holdWhile(): Promise<void> {
    if (this.held() && !this.stopping())
      await condition(() => !this.held() || this.stopping() || this.shouldContinueAsNew());
    if (this.shouldContinueAsNew()) await this.continueAsNewNow();
  }

  private async listWave(wave: Wave): Promise<void> {
    for (;;) {
      await this.holdWhile();
      if (this.stopping()) return;
      if (!(await this.paced())) continue;
      const page = await this.tracked(() =>
        batchAct.offerFleetPage({
          release: this.release,
          rollout: this.rollout,
          wave,
          fleetWorkflowId: this.workflowId,
          cursor: this.c.cursor,
          pageSize: this.rollout.pageSize,
          countEligibility: wave === 'canary',
        }),
      );
      this.countPage(wave, page.reasons, page.listed);
      const due = new Set(patched(PATCH_OFFER_PACING) ? (page.due ?? []) : []);
      for (const id of page.offered) this.track(id, wave, due.has(id));
      if (due.size > 0) this.c.starting = [...(this.c.starting ?? []), { at: nowIso(), ids: [...due] }];
      for (const f of page.failed) log.warn('offer not delivered; the catch-up schedule offers it later', { ...f });
      this.c.cursor = page.nextCursor;
      this.refresh();
      if (!this.c.cursor) break;
    }
    this.status.waves[wave].listed = true;
  }

  private countPage(wave: Wave, reasons: Record<string, number>, listed: number): void {
    // Eligibility is counted once, over the whole fleet, in the first pass.
    if (wave !== 'canary') return;
    const e = this.status.eligibility;
    e.listed += listed;
    for (const [reason, n] of Object.entries(reasons)) {
      if (reason === 'eligible') e.eligible += n;
      else e.skipped[reason] = (e.skipped[reason] ?? 0) + n;
    }
  }

  /** Control planes offered with an open window that have not asked yet, and the asks queued for a slot. */
  private pending(): number {
    return (this.status.inFlight.starting ?? 0) + this.c.slotQueue.length;
  }

  /**
   * Offers no faster than control planes start: true when the next page may go; false when a hold, a stop or
   * continue-as-new came first (the caller checks those again).
   */
  private async paced(): Promise<boolean> {
    if (!patched(PATCH_OFFER_PACING)) return true;
    const limit = Math.max(1, 2 * this.rollout.maxConcurrent);
    for (;;) {
      this.expireStarting();
      if (this.pending() < limit) return true;
      const next = Date.parse(this.c.starting?.[0]?.at ?? '') + STARTING_GRACE_MS - Date.now();
      const woke = () => this.pending() < limit || this.held() || this.shouldContinueAsNew();
      if (Number.isNaN(next)) await condition(woke);
      else await condition(woke, Math.max(1_000, next));
      if (this.held() || this.shouldContinueAsNew()) return false;
    }
  }

  /** Control planes still starting after the grace are taken as waiting for a later window (their notice lead). */
  private expireStarting(): void {
    const pages = this.c.starting ?? [];
    const cutoff = Date.now() - STARTING_GRACE_MS;
    for (let page = pages[0]; page && Date.parse(page.at) <= cutoff; page = pages[0]) {
      pages.shift();
      for (const id of page.ids) if (this.c.children[id] === 's') this.setChild(id, 'w');
    }
    this.c.starting = pages.length > 0 ? pages : undefined;
  }

  private track(id: string, wave: Wave, starting = false): void {
    if (this.c.childWave[id]) return;
    this.c.childWave[id] = wave;
    this.setChild(id, starting ? 's' : 'w');
    this.status.waves[wave].started++;
    const early = this.c.early?.[id];
    if (early) {
      const { [id]: _, ...rest } = this.c.early!;
      this.c.early = rest;
      this.settle(id, early.outcome, early.reason);
    }
  }

  private async waitFor(done: () => boolean): Promise<void> {
    for (;;) {
      await condition(() => done() || this.stopping() || this.shouldContinueAsNew());
      if (this.stopping() || done()) return;
      await this.continueAsNewNow();
    }
  }

  private async bake(): Promise<void> {
    this.status.bakeUntil ??= new Date(Date.now() + this.rollout.bakeMinutes * 60_000).toISOString();
    this.refresh();
    const until = Date.parse(this.status.bakeUntil);
    while (Date.now() < until && !this.stopping()) {
      const early = await condition(() => this.stopping() || this.shouldContinueAsNew(), until - Date.now());
      if (early && !this.stopping()) await this.continueAsNewNow();
    }
  }

  private async supersedeOlder(): Promise<void> {
    const s = this.status;
    if (s.runs !== 0 || s.stage !== 'listing-canary' || this.c.cursor !== undefined) return;
    // Only an LTS release takes over older rollouts of its line wholesale (see `supersede`). A security release moves
    // only its affected versions: an LTS rollout of the same line moving older lines must go on (its control planes
    // get the fix by the follow-up once they are on the line). Control planes both releases cover take the newer one
    // over one by one anyway: a control plane keeps the newest release offered.
    if (!supersedes(this.release.kind)) return;
    const older = await act.findSupersededRollouts({ release: this.release, selfWorkflowId: this.workflowId });
    for (const o of older) {
      log.info('superseding an older rollout of the same line', { older: o.workflowId });
      const handle = getExternalWorkflowHandle(o.workflowId);
      await this.tracked(() =>
        handle.signal(supersedeSignal, { releaseId: this.release.id, targets: this.release.targets }),
      );
    }
  }

  async rollOut(): Promise<void> {
    await this.supersedeOlder();
    for (;;) {
      if (this.stopping()) return;
      switch (this.status.stage) {
        case 'listing-canary':
          await this.listWave('canary');
          if (this.stopping()) return;
          this.c.cursor = undefined;
          this.setStage('canary');
          break;
        case 'canary':
          await this.canaryGate();
          if (this.stopping()) return;
          this.setStage(this.status.waves.canary.started > 0 ? 'baking' : 'listing-main');
          break;
        case 'baking':
          await this.bake();
          if (this.stopping()) return;
          this.setStage('listing-main');
          break;
        case 'listing-main':
          await this.listWave('main');
          if (this.stopping()) return;
          this.setStage('main');
          break;
        case 'main':
          await this.waitFor(() => this.inFlightCount() === 0);
          if (this.stopping()) return;
          this.setStage('completed');
          return;
        default:
          return;
      }
    }
  }

  private async canaryGate(): Promise<void> {
    const canary = this.status.waves.canary;
    await this.waitFor(() => canary.listed && this.inFlightOf('canary') === 0);
    if (this.stopping() || canary.failed <= (this.c.canaryFailuresAccepted ?? 0)) return;
    if (!this.status.halted) this.halt(`canary wave: ${canary.failed} of ${canary.started} upgrades failed`);
    await this.waitFor(() => !this.status.halted);
  }

  /** Cancel or supersede: withdraw the release from every control plane not yet changing; changing ones finish. */
  async withdrawAll(): Promise<void> {
    this.setStage('draining');
    this.c.slotQueue = [];
    const untold = () =>
      Object.entries(this.c.children)
        .filter(([id, s]) => s !== 'c' && !this.withdrawn.has(id))
        .map(([id]) => id);
    for (;;) {
      const targets = untold().slice(0, BATCH);
      if (targets.length === 0) {
        if (this.inFlightCount() === 0) return;
        await condition(() => this.inFlightCount() === 0 || this.shouldContinueAsNew() || untold().length > 0);
      } else await this.withdraw(targets);
      if (this.shouldContinueAsNew()) await this.continueAsNewNow();
    }
  }

  private async withdraw(ids: string[]): Promise<void> {
    const s = this.status;
    const withdrawal = s.supersededBy
      ? { releaseId: this.release.id, supersededBy: s.supersededBy }
      : {
          releaseId: this.release.id,
          reason: `fleet rollout ${this.release.id} cancelled${s.cancel?.reason ? `: ${s.cancel.reason}` : ''}`,
          by: s.cancel?.by,
        };
    for (const id of ids) this.withdrawn.add(id);
    const r = await this.tracked(() => batchAct.withdrawRelease({ controlPlaneIds: ids, withdrawal }));
    // Closed already: its report was lost with it; stop waiting for it.
    for (const id of r.gone) this.settle(id, 'lost', 'its control-plane workflow is closed');
    this.refresh();
  }

  async run(): Promise<FleetUpgradeResult> {
    upsertSearchAttributes([
      { key: SA.ReleaseId, value: this.release.id },
      { key: SA.TargetVersion, value: this.release.targets.gateway },
    ]);
    this.refresh();
    // Not cancellable: a Temporal cancellation stops the rollout through `work`; these stop when quiescing.
    const background = [
      CancellationScope.nonCancellable(() => this.dispatchSlots()),
      CancellationScope.nonCancellable(() => this.pageOnHalt()),
      CancellationScope.nonCancellable(() => this.reconcileLoop()),
    ];
    try {
      await this.work.run(() => this.rollOut());
    } catch (err) {
      if (!isCancellation(err)) throw err;
      if (!this.stopping()) this.status.cancel = { reason: 'Temporal cancellation request', at: nowIso() };
    }
    if (this.stopping()) {
      await CancellationScope.nonCancellable(() => this.withdrawAll());
      const outcome = this.status.supersededBy ? 'superseded' : 'cancelled';
      this.setStage(outcome);
      this.quiescing = true;
      await Promise.all(background);
      return { outcome, status: this.status };
    }
    // The last failures may have spent the budget as the rollout ended: the SRE still hears of it.
    if (this.status.halted) await condition(() => this.c.pagedFor === this.status.halted?.at);
    this.quiescing = true;
    await Promise.all(background);
    return { outcome: 'completed', status: this.status };
  }
}

function registerHandlers(f: FleetRollout): void {
  setHandler(fleetStatusQuery, () => f.status, {
    description: 'Stage, eligibility, waves, in flight, outcomes, failures, lost, halted/paused/frozen and why.',
  });
  // Every signal reads its payload first: one that does not parse is ignored with a warning naming the field and the
  // value (a handler that throws would fail every workflow task of the run).
  onSignal(askSlotSignal, parseSlotAsk, (r) => f.askSlot(r), 'Control plane → fleet: may I start changing?');
  onSignal(
    returnSlotSignal,
    parseSlotReturn,
    (r) => f.returnSlot(r.controlPlaneId),
    'Control plane → fleet: I no longer hold or want a slot.',
  );
  onSignal(
    reportSignal,
    parseUpgradeReport,
    (r) => f.report(r),
    'Control plane → fleet: my attempt ended (outcome, whether anything changed, why).',
  );
  onSignal(
    forgetSignal,
    parseForget,
    (r) => f.forget(r),
    'SRE: stop counting this control plane in flight (counted lost). {"controlPlaneId","reason","by"}',
  );
  onSignal(
    reconcileSignal,
    parseOperatorRequest,
    () => f.askReconcile(),
    'SRE: reconcile with the control planes now.',
  );
  onSignal(
    pauseSignal,
    parseOperatorRequest,
    (a) => f.pause(a),
    'Start nothing new (no listing, no slots); changing upgrades finish. Payload {"reason","by"}',
  );
  onSignal(resumeSignal, parseOperatorRequest, () => f.resume(), 'Undo pause.');
  onSignal(
    approveSignal,
    parseOperatorRequest,
    (a) => f.approve(a),
    'An SRE accepts the failures so far and lets a halted rollout go on. Payload {"reason","by"}',
  );
  onSignal(
    freezeSignal,
    parseFreeze,
    (r) => f.freeze(r),
    'Incident/holiday freeze: no new starts until `until`. Payload {"until": ISO, "reason", "by"}',
  );
  onSignal(unfreezeSignal, parseOperatorRequest, () => f.unfreeze(), 'End a freeze early.');
  onSignal(
    cancelSignal,
    parseOperatorRequest,
    (a) => f.cancel(a),
    'Cancel the rollout: the release is withdrawn where nothing changed yet; changing ones finish.',
  );
  onSignal(
    supersedeSignal,
    parseSupersede,
    (r) => f.supersede(r.releaseId),
    'A newer release of the same line takes over control planes that have not started changing.',
  );
}

export async function fleetRollout(input: FleetRolloutInput): Promise<FleetUpgradeResult> {
  const f = new FleetRollout(input);
  registerHandlers(f);
  return f.run();
}
