// One control plane's upgrade to one release: eligibility → window → notice → wait → pre-flight → Dashboard →
// Gateway → data planes, each verified; on failure or cancel, newest-first compensation. Deterministic code only:
// time-zone math, HTTP and email happen in activities.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
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
import {
  cancelSignal,
  childOutcomeSignal,
  deferUpdate,
  pauseSignal,
  resumeSignal,
  slotGrantSignal,
  slotRequestSignal,
  slotReturnSignal,
  statusQuery,
  supersedeSignal,
  upgradeNowUpdate,
  type ControlPlaneUpgradeInput,
  type ControlPlaneUpgradeResult,
  type DeferRequest,
  type OperatorRequest,
  type UpgradeStage,
  type UpgradeStatus,
} from './messages';
import * as metrics from './metrics';
import { errorMessage, toRequest } from './operatorRequests';
import * as SA from './searchAttributes';

/** While waiting for a window, re-read the customer's settings this often (they may move the window). */
const RECHECK_INTERVAL_MS = 12 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Stages in which nothing has changed yet: deferral, upgradeNow and supersede apply only here. */
const BEFORE_CHANGE: readonly UpgradeStage[] = ['assessing', 'waiting-for-window', 'waiting-for-slot'];

const quick: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};
const notifyOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  // A notice that cannot be delivered within a day fails the upgrade before anything changes.
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '30 minutes' },
};
const rollout: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 5 },
};
const verify: ActivityOptions = {
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', maximumAttempts: 3 },
};

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

function activities(options: ActivityOptions, summary: string) {
  return proxyActivities<Activities>({ ...options, summary });
}

export async function controlPlaneUpgrade(input: ControlPlaneUpgradeInput): Promise<ControlPlaneUpgradeResult> {
  const { controlPlaneId, release } = input;
  const info = workflowInfo();
  const nowIso = () => new Date(Date.now()).toISOString();
  const status: UpgradeStatus = {
    workflowId: info.workflowId,
    controlPlaneId,
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
    fleet: input.fleet ? { ...input.fleet, slotWaits: 0 } : undefined,
  };
  let cp: ControlPlaneSummary | undefined;
  const snapshots = new Map<string, ComponentSnapshot>();
  /** Components nightshift has started to change, oldest first: compensation walks it backwards. */
  const touched: ComponentChange[] = [];
  let noticeSeq = 0;
  let alertSeq = 0;
  /** Bumped when the plan changes outside the wait loop (a deferral, an SRE's upgradeNow): wakes the loop. */
  let windowSeq = 0;
  /** A deferral is re-planning: the wait loop must not start meanwhile. */
  let replanning = false;
  /** Earliest start after a deferral or a missed window; every re-plan keeps it. */
  let notBefore: string | undefined;
  let waitingForSlot = false;
  let slotGranted = false;
  /** The dedup key of an open SRE page about a health `warn` (resolved when the component passes again, or at the end). */
  let healthPage: string | undefined;

  setHandler(statusQuery, () => status, {
    description: 'Stage, versions, window, steps, notices, pause and last error.',
  });
  setHandler(
    pauseSignal,
    (arg) => {
      if (isFinished()) return;
      status.paused = true;
      status.pause = { ...toRequest(arg), at: nowIso() };
      log.info('paused', { ...status.pause });
      refreshDetails();
    },
    { description: 'Hold before the next step (the running step finishes). Payload: {"reason": "...", "by": "..."}' },
  );
  setHandler(
    resumeSignal,
    (arg) => {
      if (!status.paused) return;
      status.paused = false;
      log.info('resumed', { ...toRequest(arg) });
      status.pause = undefined;
      refreshDetails();
    },
    { description: 'Continue after a pause. Payload: {"reason": "...", "by": "..."}' },
  );
  const work = new CancellationScope();
  setHandler(
    cancelSignal,
    (arg) => {
      if (isFinished() || status.cancel) return;
      status.cancel = { ...toRequest(arg), at: nowIso() };
      work.cancel();
    },
    { description: 'Stop; roll back whatever already changed. Payload: {"reason": "...", "by": "..."}' },
  );
  setHandler(
    supersedeSignal,
    (req) => {
      if (isFinished() || status.cancel || !BEFORE_CHANGE.includes(status.stage) || touched.length > 0) {
        log.info('not superseded: the upgrade has already started changing or ended', { by: req?.releaseId });
        return;
      }
      status.supersededBy = req.releaseId;
      work.cancel();
    },
    { description: 'Fleet → upgrade: a newer release of the same line replaces this one (only before any change).' },
  );
  setHandler(
    slotGrantSignal,
    async () => {
      if (waitingForSlot && !slotGranted) {
        slotGranted = true;
        return;
      }
      // Arrived after we stopped waiting (window closed, cancelled, finished): hand it straight back.
      await signalFleet('slot-return');
    },
    { description: 'Fleet → upgrade: a rollout slot is yours, start changing.' },
  );
  setHandler(
    deferUpdate,
    async (req) => {
      replanning = true;
      try {
        const base = Math.max(Date.now(), Date.parse(status.window!.startAt));
        notBefore = new Date(base + req.days * DAY_MS).toISOString();
        const by = req.reason ? `: ${req.reason}` : '';
        await planWindow('rescheduled', `Deferred by ${req.days} day(s) at your request${by}`);
        status.deferrals.push({ ...toRequest(req), days: req.days, at: nowIso(), newStart: status.window!.startAt });
        windowSeq++;
        refreshDetails();
        return {
          window: status.window!,
          deferralsLeft: DEFERRAL_BUDGET[release.kind].maxDeferrals - status.deferrals.length,
        };
      } finally {
        replanning = false;
      }
    },
    {
      validator: (req: DeferRequest) => {
        const budget = DEFERRAL_BUDGET[release.kind];
        if (budget.maxDeferrals === 0)
          throw new Error(`${release.kind} releases cannot be deferred (${release.id} is ${release.kind})`);
        if (isFinished() || status.stage !== 'waiting-for-window' || !status.window)
          throw new Error(`the upgrade can only be deferred while it waits for its window; it is ${status.stage}`);
        if (status.override) throw new Error('an SRE has started this upgrade now; it can no longer be deferred');
        if (replanning) throw new Error('another deferral is being applied; try again in a moment');
        if (status.deferrals.length >= budget.maxDeferrals)
          throw new Error(`no deferrals left: all ${budget.maxDeferrals} allowed for this release are used`);
        const days = (req as Partial<DeferRequest> | undefined)?.days;
        if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > budget.maxDaysEach)
          throw new Error(`days = ${JSON.stringify(days)}: a whole number of days from 1 to ${budget.maxDaysEach}`);
      },
      description: 'Customer deferral: {"days": N, "reason", "by"}. LTS: 2 deferrals of up to 7 days; security: none.',
    },
  );
  setHandler(
    upgradeNowUpdate,
    (req) => {
      const from = status.stage;
      status.override = { ...toRequest(req), at: nowIso() };
      windowSeq++;
      refreshDetails();
      return { accepted: true as const, from };
    },
    {
      validator: (_req: OperatorRequest) => {
        if (isFinished() || !BEFORE_CHANGE.includes(status.stage))
          throw new Error(`too late for upgradeNow: the upgrade is ${status.outcome ?? status.stage}`);
        if (status.override)
          throw new Error(`already started now by ${status.override.by ?? 'an SRE'} at ${status.override.at}`);
      },
      description: 'SRE override: skip the wait for the window (the customer gets a starting notice). {"reason","by"}',
    },
  );

  /** Child → fleet messages. The fleet may have ended (cancelled, superseded): then there is nobody to tell. */
  async function signalFleet(kind: 'slot-request' | 'slot-return' | 'outcome'): Promise<void> {
    if (!input.fleet) return;
    const fleet = getExternalWorkflowHandle(input.fleet.workflowId);
    try {
      if (kind === 'slot-request') {
        const w = status.window!;
        const latest = status.override ? Date.now() + 7 * DAY_MS : Date.parse(w.closesAt) - w.requiredMinutes * 60_000;
        await fleet.signal(slotRequestSignal, {
          controlPlaneId,
          workflowId: info.workflowId,
          until: new Date(latest).toISOString(),
        });
      } else if (kind === 'slot-return') await fleet.signal(slotReturnSignal, { controlPlaneId });
      else
        await fleet.signal(childOutcomeSignal, {
          controlPlaneId,
          outcome: status.outcome!,
          changed: touched.length > 0,
          reason: status.reason,
        });
    } catch (err) {
      log.warn('could not signal the fleet rollout', { kind, fleet: input.fleet.workflowId, error: errorMessage(err) });
    }
  }

  /** Set once the upgrade is winding down (rolling back, notifying): operator signals no longer apply. */
  let ending = false;
  function isFinished(): boolean {
    return ending || status.outcome !== undefined;
  }

  function setStage(stage: UpgradeStage): void {
    status.stage = stage;
    upsertSearchAttributes([{ key: SA.UpgradeStage, value: stage }]);
    refreshDetails();
  }

  function refreshDetails(): void {
    const lines = [
      `**${controlPlaneId}** → ${release.id} (${release.kind}): dashboard ${release.targets.dashboard}, gateway ${release.targets.gateway}`,
      `Stage: **${status.stage}**${status.paused ? ` — PAUSED${status.pause?.reason ? `: ${status.pause.reason}` : ''}` : ''}`,
    ];
    if (status.window) lines.push(`Window: ${status.window.localText} / ${status.window.utcText}`);
    if (status.changes.length)
      lines.push(`Changes: ${status.changes.map((c) => `${c.component.id} ${c.from} → ${c.to}`).join(', ')}`);
    if (status.reason) lines.push(`Reason: ${status.reason}`);
    if (status.lastError) lines.push(`Last error: ${status.lastError}`);
    if (status.deliveryFailures?.length) lines.push(`Not delivered: ${status.deliveryFailures.join('; ')}`);
    setCurrentDetails(lines.join('\n\n'));
  }

  function stepStart(name: string): (detail?: string, failed?: boolean, evidence?: ProbeRecord[]) => void {
    const step: UpgradeStatus['steps'][number] = { name, status: 'running', startedAt: nowIso() };
    status.steps.push(step);
    return (detail, failed = false, evidence) => {
      step.status = failed ? 'failed' : 'done';
      step.endedAt = nowIso();
      step.detail = detail;
      if (evidence) step.evidence = evidence;
    };
  }

  async function notify(kind: NoticeKind, reason?: string, opts: { withWindow?: boolean } = {}): Promise<void> {
    const key = `${info.workflowId}/${kind}/${++noticeSeq}`;
    const receipt = await activities(notifyOptions, `Email org admin: ${kind}`).sendNotice({
      key,
      kind,
      controlPlaneId,
      releaseId: release.id,
      notesUrl: release.notesUrl,
      changes: status.changes,
      window: opts.withWindow === false ? undefined : status.window,
      reason,
      requestedAt: nowIso(),
    });
    status.notices.push({ kind, key, at: receipt.deliveredAt, duplicate: receipt.duplicate });
  }

  async function alert(
    severity: SreAlert['severity'],
    summary: string,
    details: Record<string, unknown> = {},
    action: SreAlert['action'] = 'trigger',
    dedupKey = info.workflowId,
  ) {
    await activities(quick, action === 'resolve' ? 'Resolve SRE alert' : `Alert SRE: ${severity}`).alertSre({
      dedupKey,
      id: `${info.workflowId}/alert/${++alertSeq}`,
      action,
      severity,
      summary,
      controlPlaneId,
      releaseId: release.id,
      workflowId: info.workflowId,
      details: { stage: status.stage, ...details },
    });
  }

  async function assess(): Promise<Assessment> {
    const done = stepStart('assess eligibility');
    const a = await activities(quick, `Check eligibility of ${controlPlaneId}`).assessControlPlane(
      controlPlaneId,
      release,
    );
    done(a.found ? (a.decision.eligible ? 'eligible' : `${a.decision.reason}: ${a.decision.detail}`) : a.detail);
    if (a.found) {
      cp = a.controlPlane;
      status.orgId = cp.orgId;
      for (const c of cp.components) status.versionsNow[c.component.id] = c.version;
      if (a.decision.eligible) status.changes = a.decision.changes;
      // Blocked by configuration: keep what the upgrade would change, for the customer's action-needed notice.
      else if (a.decision.reason === 'config-incompatible')
        status.changes = a.decision.components
          .filter((c) => c.change)
          .map(({ component, from, to }) => ({ component, from, to }));
    }
    return a;
  }

  /** Stops before any change because the control plane no longer qualifies; tells the customer if they were told. */
  async function stopIneligible(a: Assessment): Promise<ControlPlaneUpgradeResult> {
    status.outcome = 'skipped';
    status.skipReason = a.found ? (a.decision.eligible ? undefined : a.decision.reason) : 'control-plane-not-found';
    status.reason = a.found ? (a.decision.eligible ? undefined : a.decision.detail) : a.detail;
    if (status.skipReason === 'config-incompatible') {
      // The customer has to act before this release can be installed: tell them, and the SREs, what and why.
      await notify('action-needed', status.reason, { withWindow: false });
      await alert('warning', `${controlPlaneId}: upgrade to ${release.id} blocked by configuration: ${status.reason}`);
    } else if (status.notices.length > 0)
      await notify('cancelled', `The upgrade is no longer needed: ${status.reason}`);
    setStage('skipped');
    metrics.upgradeFinished('skipped', status.skipReason);
    await signalFleet('outcome');
    return { outcome: 'skipped', status };
  }

  async function planWindow(kind: 'scheduled' | 'rescheduled', reason?: string): Promise<void> {
    const done = stepStart(kind === 'scheduled' ? 'plan window' : 're-plan window');
    const plan: WindowPlan = await activities(quick, 'Find the next maintenance window').planWindow({
      controlPlaneId,
      release,
      changes: status.changes,
      now: nowIso(),
      notBefore,
    });
    status.window = plan;
    status.reason = reason;
    upsertSearchAttributes([{ key: SA.WindowOpensAt, value: new Date(plan.startAt) }]);
    done(`${plan.localText} (${plan.utcText})`);
    const sent = stepStart(`notify: ${kind}`);
    await notify(kind, reason);
    sent('delivered');
  }

  /** Holds while paused. Cancellation (signal or Temporal) interrupts the hold. */
  async function holdIfPaused(): Promise<void> {
    if (status.paused) await condition(() => !status.paused);
  }

  /** Sleeps until the planned start, re-reading the customer's settings periodically; returns once it may start. */
  async function waitForWindow(): Promise<'start' | Assessment> {
    for (;;) {
      if (status.override) {
        // Skip the window, not the checks: the customer may have opted out or upgraded by hand meanwhile.
        const a = await assess();
        return a.found && a.decision.eligible ? 'start' : a;
      }
      const plan = status.window!;
      const seq = windowSeq;
      const startAt = Date.parse(plan.startAt);
      const now = Date.now();
      if (now < startAt) {
        setStage('waiting-for-window');
        const wakeIn = Math.min(startAt - now, RECHECK_INTERVAL_MS);
        const woken = await condition(() => windowSeq !== seq, wakeIn, {
          summary: `Wait for window ${plan.localText}`,
        });
        if (woken) continue;
      } else {
        await holdIfPaused();
      }
      const a = await assess();
      if (!a.found || !a.decision.eligible) return a;
      const at = Math.max(Date.now(), startAt);
      const check = await activities(quick, 'Is the maintenance window open?').checkWindow({
        controlPlaneId,
        at: new Date(at).toISOString(),
        requiredMinutes: plan.requiredMinutes,
        leadMinutes: plan.leadMinutes,
      });
      if (!check.open) {
        await planWindow('rescheduled', check.reason);
        continue;
      }
      // A deferral or upgradeNow arrived while we checked: its plan wins.
      if (replanning) await condition(() => !replanning);
      if (windowSeq !== seq) continue;
      if (Date.now() >= startAt) {
        status.window = { ...check.plan, leadMinutes: plan.leadMinutes };
        if (status.paused) continue;
        return 'start';
      }
    }
  }

  /** With a fleet: ask it for a concurrency slot and wait until the latest start in the window. */
  async function acquireSlot(): Promise<boolean> {
    if (!input.fleet) return true;
    setStage('waiting-for-slot');
    status.fleet!.slotWaits++;
    const step = stepStart('wait for a fleet rollout slot');
    slotGranted = false;
    waitingForSlot = true;
    await signalFleet('slot-request');
    const w = status.window!;
    const latest = status.override ? Date.now() + 7 * DAY_MS : Date.parse(w.closesAt) - w.requiredMinutes * 60_000;
    const granted = await condition(() => slotGranted, Math.max(latest - Date.now(), 1000), {
      summary: 'Wait for a fleet rollout slot',
    });
    waitingForSlot = false;
    if (granted) {
      status.fleet!.slotGrantedAt = nowIso();
      step('granted');
      return true;
    }
    step('no slot before the latest start in this window');
    await signalFleet('slot-return');
    return false;
  }

  async function upgradeAll(): Promise<void> {
    setStage('preflight');
    const pre = stepStart('pre-flight health and snapshot');
    const components = cp!.components.map((c) => c.component);
    const reports = await activities(quick, 'Pre-flight health of every component').probeComponents(components);
    const unhealthy = reports.filter((r) => r.status !== 'pass');
    if (unhealthy.length > 0) {
      const what = unhealthy.map((r) => `${r.component.id}: ${r.status}${r.error ? ` (${r.error})` : ''}`).join(', ');
      pre(`unhealthy before any change: ${what}`, true);
      throw ApplicationFailure.nonRetryable(`pre-flight: not healthy before the upgrade: ${what}`, 'PreflightFailed');
    }
    const snaps = await activities(quick, 'Snapshot what rollback needs').snapshotComponents(
      status.changes.map((c) => c.component),
    );
    for (const s of snaps) snapshots.set(s.component.id, s);
    for (const c of cp!.components) status.versionsBefore[c.component.id] = c.version;
    pre(`all ${reports.length} components pass; ${snaps.length} snapshots taken`);
    metrics.upgradeStarted();

    for (const change of status.changes) {
      await holdIfPaused();
      const stage: UpgradeStage = change.component.kind === 'data-plane' ? 'data-planes' : change.component.kind;
      if (status.stage !== stage) setStage(stage);
      const label = componentLabel(change.component);
      const step = stepStart(`upgrade ${label} ${change.from} → ${change.to}`);
      touched.push(change);
      try {
        const startedAt = Date.now();
        const r = await activities(rollout, `Upgrade ${label} to ${change.to}`).upgradeComponent({
          component: change.component,
          targetVersion: change.to,
          configMigrations: change.configMigrations,
        });
        status.versionsNow[change.component.id] = change.to;
        const v = await verifyHealthy(change.component, change.to, label);
        metrics.stepDuration(change.component.kind, Date.now() - startedAt);
        step(`${r.changed ? 'rolled out' : 'already on target'}; ${soakText(v)}`, false, v.evidence);
      } catch (err) {
        step(errorMessage(err), true, evidenceOf(err));
        throw err;
      }
    }
  }

  /**
   * Soaks the component's health after a change. Tyk `warn` (serving, but a check such as redis degraded) is a
   * judgement call, so the upgrade pauses and pages: `resume` re-verifies and goes on, `cancel` rolls back. The page
   * is resolved once the component passes. `fail` or no soak in time throws (compensation follows).
   */
  async function verifyHealthy(component: ComponentRef, version: string, label: string): Promise<VerifyResult> {
    const current = status.steps.at(-1);
    for (;;) {
      const v = await activities(verify, `Verify ${label} on ${version}`).verifyComponent({
        component,
        expectedVersion: version,
      });
      if (v.outcome !== 'warn') {
        // A resolve carries its trigger's severity, so it follows the same route (PagerDuty pages for critical).
        await resolveHealthPage(`${controlPlaneId}: ${label} passes on ${version} again; the upgrade continues`);
        return v;
      }
      const why = `health check warn after upgrading ${label} to ${version}: ${v.summary ?? 'warn'}`;
      if (current) {
        current.detail = `paused: ${why}`;
        current.evidence = v.evidence;
      }
      status.paused = true;
      status.pause = { reason: why, by: 'nightshift health check', at: nowIso() };
      refreshDetails();
      healthPage = `${info.workflowId}/health`;
      await bestEffort('SRE page for the health warn', () =>
        alert(
          'critical',
          `${controlPlaneId}: upgrade to ${release.id} PAUSED: ${why}. Resume to re-check and continue, or cancel to roll back.`,
          { component: component.id, evidence: v.evidence.slice(-3) },
          'trigger',
          healthPage,
        ),
      );
      await holdIfPaused();
    }
  }

  /**
   * Once something has changed, an email or an alert that cannot be delivered must neither undo a good upgrade nor
   * keep a failed one from ending (and from reporting to its fleet): it is logged and shown in the status instead.
   */
  async function bestEffort(what: string, send: () => Promise<void>): Promise<void> {
    try {
      await send();
    } catch (err) {
      if (isCancellation(err)) throw err;
      const message = `${what}: not delivered: ${errorMessage(err)}`;
      log.warn(message);
      status.deliveryFailures = [...(status.deliveryFailures ?? []), message].slice(-10);
      refreshDetails();
    }
  }

  /** Closes the page a health `warn` opened (its own incident, apart from the upgrade's failure alerts). */
  async function resolveHealthPage(summary: string): Promise<void> {
    if (!healthPage) return;
    const key = healthPage;
    healthPage = undefined;
    await bestEffort('resolve of the health page', () => alert('critical', summary, {}, 'resolve', key));
  }

  /**
   * Newest change first; each restore verified. Returns the components that could not be restored, and those back on
   * their old version that answer `warn` (restored, but a dependency such as redis is degraded).
   */
  async function compensate(): Promise<{ failedRestores: string[]; degraded: string[] }> {
    setStage('rolling-back');
    const failedRestores: string[] = [];
    const degraded: string[] = [];
    for (const change of [...touched].reverse()) {
      const snap = snapshots.get(change.component.id);
      if (!snap) continue;
      const label = componentLabel(change.component);
      const step = stepStart(`roll back ${label} to ${snap.version}`);
      try {
        const startedAt = Date.now();
        await activities(rollout, `Roll back ${label} to ${snap.version}`).restoreComponent(snap);
        const v = await activities(verify, `Verify ${label} on ${snap.version}`).verifyComponent({
          component: change.component,
          expectedVersion: snap.version,
        });
        status.versionsNow[change.component.id] = snap.version;
        metrics.stepDuration('rollback', Date.now() - startedAt);
        if (v.outcome === 'warn') {
          const why = `restored to ${snap.version}, but health is ${v.summary ?? 'warn'}`;
          degraded.push(`${label} ${why}`);
          step(why, false, v.evidence);
        } else step(`restored and verified; ${soakText(v)}`, false, v.evidence);
      } catch (err) {
        failedRestores.push(`${label}: ${errorMessage(err)}`);
        step(errorMessage(err), true, evidenceOf(err));
      }
    }
    return { failedRestores, degraded };
  }

  /**
   * Ends a failed or cancelled upgrade: rolls back what changed, tells SREs and the customer.
   * Returns the components that could not be restored.
   */
  async function finish(kind: 'failed' | 'cancelled', why: string): Promise<string[]> {
    const changed = touched.length > 0;
    const { failedRestores, degraded } = changed ? await compensate() : { failedRestores: [], degraded: [] };
    const restored = failedRestores.length === 0;
    // The health page's question (go on, or roll back?) is answered either way; what follows is a new alert.
    await resolveHealthPage(
      `${controlPlaneId}: upgrade ${kind === 'failed' ? 'failed' : 'cancelled'}; see its own alert`,
    );
    const afterwards = degraded.length ? `; after the rollback ${degraded.join('; ')}` : '';
    const touchedIds = touched.map((c) => c.component.id);
    await bestEffort('SRE alert', async () => {
      if (!restored) {
        await alert(
          'critical',
          `${controlPlaneId}: ROLLBACK INCOMPLETE after ${why}: ${failedRestores.join('; ')} — manual action needed`,
          { touched: touchedIds, failedRestores, degraded },
        );
      } else if (kind === 'failed') {
        const what = changed ? 'failed and was rolled back' : 'failed before any change';
        await alert('error', `${controlPlaneId}: upgrade to ${release.id} ${what}: ${why}${afterwards}`, {
          touched: touchedIds,
          degraded,
        });
      } else if (changed) {
        await alert(
          degraded.length ? 'error' : 'info',
          `${controlPlaneId}: upgrade to ${release.id} cancelled after changes and rolled back: ${why}${afterwards}`,
          { touched: touchedIds, degraded },
        );
      }
    });
    const backAgain = restored
      ? 'The previous versions are running again.'
      : 'Our engineers are restoring the previous versions and will contact you.';
    await bestEffort('customer notice', async () => {
      if (changed) await notify(kind === 'failed' ? 'rolled-back' : 'cancelled', `${why}. ${backAgain}`);
      else if (status.notices.length > 0) {
        const next = kind === 'failed' ? ' Our engineers will look into it and schedule it again.' : '';
        await notify('cancelled', `${why}. Nothing was changed.${next}`);
      }
    });
    return failedRestores;
  }

  upsertSearchAttributes([
    { key: SA.ControlPlaneId, value: controlPlaneId },
    { key: SA.ReleaseId, value: release.id },
    { key: SA.TargetVersion, value: release.targets.gateway },
    { key: SA.UpgradeStage, value: 'assessing' },
  ]);
  refreshDetails();

  try {
    return await work.run(async () => {
      const first = await assess();
      if (!first.found || !first.decision.eligible) return stopIneligible(first);
      upsertSearchAttributes([{ key: SA.OrgId, value: cp!.orgId }]);
      await planWindow('scheduled');
      for (;;) {
        const ready = await waitForWindow();
        if (ready !== 'start') return stopIneligible(ready);
        if (await acquireSlot()) break;
        notBefore = status.window!.closesAt;
        await planWindow(
          'rescheduled',
          'Our rollout was at capacity for the whole of your maintenance window, so we have moved your upgrade to your next window.',
        );
      }
      if (status.override) {
        const why = status.override.reason ? `: ${status.override.reason}` : '';
        await notify('starting', `Our engineers are starting this upgrade now${why}`, { withWindow: false });
      }
      await upgradeAll();
      const closes = Date.parse(status.window!.closesAt);
      if (Date.now() > closes && !status.override) {
        status.overrunMinutes = Math.ceil((Date.now() - closes) / 60000);
        await bestEffort('SRE alert', () =>
          alert('warning', `${controlPlaneId}: upgrade finished ${status.overrunMinutes} min after the window closed`),
        );
      }
      status.outcome = 'completed';
      setStage('completed');
      metrics.upgradeFinished('completed');
      await bestEffort('customer notice', () => notify('completed'));
      await signalFleet('outcome');
      return { outcome: 'completed', status };
    });
  } catch (err) {
    if (isCancellation(err) && status.supersededBy) {
      status.reason = `superseded by release ${status.supersededBy} before anything changed`;
      ending = true;
      status.paused = false;
      await CancellationScope.nonCancellable(async () => {
        status.outcome = 'superseded';
        setStage('superseded');
        metrics.upgradeFinished('superseded');
        await signalFleet('outcome');
      });
      return { outcome: 'superseded', status };
    }
    if (isCancellation(err)) {
      const by = status.cancel
        ? `cancelled${status.cancel.by ? ` by ${status.cancel.by}` : ''}`
        : 'cancelled via Temporal';
      const why = `${by}${status.cancel?.reason ? `: ${status.cancel.reason}` : ''}`;
      status.cancel ??= { reason: 'Temporal cancellation request', at: nowIso() };
      status.reason = why;
      ending = true;
      status.paused = false;
      await CancellationScope.nonCancellable(async () => {
        const failedRestores = await finish('cancelled', `The upgrade was ${why}`);
        if (failedRestores.length) status.lastError = failedRestores.join('; ');
        status.outcome = 'cancelled';
        setStage('cancelled');
        metrics.upgradeFinished('cancelled');
        await signalFleet('outcome');
      });
      return { outcome: 'cancelled', status };
    }
    const message = errorMessage(err);
    status.lastError = message;
    const failedStep = [...status.steps].reverse().find((s) => s.status === 'failed')?.name ?? status.stage;
    const why = `${failedStep} failed: ${message}`;
    status.reason = why;
    ending = true;
    status.paused = false;
    await CancellationScope.nonCancellable(async () => {
      const failedRestores = await finish('failed', why);
      if (failedRestores.length) status.lastError = `${message}; rollback incomplete: ${failedRestores.join('; ')}`;
      // rolled-back: every change was undone and verified; failed: nothing changed, or the rollback is incomplete.
      status.outcome = touched.length > 0 && failedRestores.length === 0 ? 'rolled-back' : 'failed';
      setStage(status.outcome);
      metrics.upgradeFinished(status.outcome);
      await signalFleet('outcome');
    });
    throw ApplicationFailure.nonRetryable(`${controlPlaneId}: ${why}`, 'UpgradeFailed', status);
  }
}
