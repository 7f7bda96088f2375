// One control plane's upgrade to one release: eligibility → window → notice → wait → pre-flight → Dashboard →
// Gateway → data planes, each verified; on failure or cancel, newest-first compensation. Deterministic code only:
// time-zone math, HTTP and email happen in activities.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Assessment, ControlPlaneSummary } from '../activities/assess';
import {
  componentLabel,
  type ComponentChange,
  type ComponentSnapshot,
  type NoticeKind,
  type SreAlert,
  type WindowPlan,
} from '../domain/model';
import {
  cancelSignal,
  pauseSignal,
  resumeSignal,
  statusQuery,
  type ControlPlaneUpgradeInput,
  type ControlPlaneUpgradeResult,
  type OperatorRequest,
  type UpgradeStage,
  type UpgradeStatus,
} from './messages';
import * as SA from './searchAttributes';

/** While waiting for a window, re-read the customer's settings this often (they may move the window). */
const RECHECK_INTERVAL_MS = 12 * 60 * 60 * 1000;

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

function activities(options: ActivityOptions, summary: string) {
  return proxyActivities<Activities>({ ...options, summary });
}

function toRequest(arg: unknown): OperatorRequest {
  if (typeof arg === 'string') return { reason: arg };
  if (arg && typeof arg === 'object') {
    const { reason, by } = arg as Record<string, unknown>;
    return { reason: typeof reason === 'string' ? reason : undefined, by: typeof by === 'string' ? by : undefined };
  }
  return {};
}

function errorMessage(err: unknown): string {
  let cur: unknown = err;
  // ActivityFailure wraps the ApplicationFailure that carries the real message.
  while (cur instanceof Error && cur.cause instanceof Error) cur = cur.cause;
  return cur instanceof Error ? cur.message : String(err);
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
  };
  let cp: ControlPlaneSummary | undefined;
  const snapshots = new Map<string, ComponentSnapshot>();
  /** Components nightshift has started to change, oldest first: compensation walks it backwards. */
  const touched: ComponentChange[] = [];
  let noticeSeq = 0;

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
    setCurrentDetails(lines.join('\n\n'));
  }

  function stepStart(name: string): (detail?: string, failed?: boolean) => void {
    const step: UpgradeStatus['steps'][number] = { name, status: 'running', startedAt: nowIso() };
    status.steps.push(step);
    return (detail, failed = false) => {
      step.status = failed ? 'failed' : 'done';
      step.endedAt = nowIso();
      step.detail = detail;
    };
  }

  async function notify(kind: NoticeKind, reason?: string): Promise<void> {
    const key = `${info.workflowId}/${kind}/${++noticeSeq}`;
    const receipt = await activities(notifyOptions, `Email org admin: ${kind}`).sendNotice({
      key,
      kind,
      controlPlaneId,
      releaseId: release.id,
      notesUrl: release.notesUrl,
      changes: status.changes,
      window: status.window,
      reason,
      requestedAt: nowIso(),
    });
    status.notices.push({ kind, key, at: receipt.deliveredAt, duplicate: receipt.duplicate });
  }

  async function alert(severity: SreAlert['severity'], summary: string, details: Record<string, unknown> = {}) {
    await activities(quick, `Alert SRE: ${severity}`).alertSre({
      dedupKey: info.workflowId,
      action: 'trigger',
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
    }
    return a;
  }

  /** Stops before any change because the control plane no longer qualifies; tells the customer if they were told. */
  async function stopIneligible(a: Assessment): Promise<ControlPlaneUpgradeResult> {
    status.outcome = 'skipped';
    status.skipReason = a.found ? (a.decision.eligible ? undefined : a.decision.reason) : 'control-plane-not-found';
    status.reason = a.found ? (a.decision.eligible ? undefined : a.decision.detail) : a.detail;
    if (status.notices.length > 0) await notify('cancelled', `The upgrade is no longer needed: ${status.reason}`);
    setStage('skipped');
    return { outcome: 'skipped', status };
  }

  async function planWindow(kind: 'scheduled' | 'rescheduled', reason?: string): Promise<void> {
    const done = stepStart(kind === 'scheduled' ? 'plan window' : 're-plan window');
    const plan: WindowPlan = await activities(quick, 'Find the next maintenance window').planWindow({
      controlPlaneId,
      release,
      changes: status.changes,
      now: nowIso(),
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
      const plan = status.window!;
      const startAt = Date.parse(plan.startAt);
      const now = Date.now();
      if (now < startAt) {
        setStage('waiting-for-window');
        const wakeIn = Math.min(startAt - now, RECHECK_INTERVAL_MS);
        await sleep(wakeIn, { summary: `Wait for window ${plan.localText}` });
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
      if (Date.now() >= startAt) {
        status.window = { ...check.plan, leadMinutes: plan.leadMinutes };
        if (status.paused) continue;
        return 'start';
      }
    }
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

    for (const change of status.changes) {
      await holdIfPaused();
      const stage: UpgradeStage = change.component.kind === 'data-plane' ? 'data-planes' : change.component.kind;
      if (status.stage !== stage) setStage(stage);
      const label = componentLabel(change.component);
      const step = stepStart(`upgrade ${label} ${change.from} → ${change.to}`);
      touched.push(change);
      try {
        const r = await activities(rollout, `Upgrade ${label} to ${change.to}`).upgradeComponent({
          component: change.component,
          targetVersion: change.to,
        });
        status.versionsNow[change.component.id] = change.to;
        const v = await activities(verify, `Verify ${label} on ${change.to}`).verifyComponent({
          component: change.component,
          expectedVersion: change.to,
        });
        step(`${r.changed ? 'rolled out' : 'already on target'}; ${v.passes} passing probes of ${v.probes}`);
      } catch (err) {
        step(errorMessage(err), true);
        throw err;
      }
    }
  }

  /** Newest change first; each restore verified. Returns the components that could not be restored. */
  async function compensate(): Promise<string[]> {
    setStage('rolling-back');
    const failedRestores: string[] = [];
    for (const change of [...touched].reverse()) {
      const snap = snapshots.get(change.component.id);
      if (!snap) continue;
      const label = componentLabel(change.component);
      const step = stepStart(`roll back ${label} to ${snap.version}`);
      try {
        await activities(rollout, `Roll back ${label} to ${snap.version}`).restoreComponent(snap);
        await activities(verify, `Verify ${label} on ${snap.version}`).verifyComponent({
          component: change.component,
          expectedVersion: snap.version,
        });
        status.versionsNow[change.component.id] = snap.version;
        step('restored and verified');
      } catch (err) {
        failedRestores.push(`${label}: ${errorMessage(err)}`);
        step(errorMessage(err), true);
      }
    }
    return failedRestores;
  }

  /**
   * Ends a failed or cancelled upgrade: rolls back what changed, tells SREs and the customer.
   * Returns the components that could not be restored.
   */
  async function finish(kind: 'failed' | 'cancelled', why: string): Promise<string[]> {
    const changed = touched.length > 0;
    const failedRestores = changed ? await compensate() : [];
    const restored = failedRestores.length === 0;
    if (!restored) {
      await alert(
        'critical',
        `${controlPlaneId}: ROLLBACK INCOMPLETE after ${why}: ${failedRestores.join('; ')} — manual action needed`,
        {
          touched: touched.map((c) => c.component.id),
          failedRestores,
        },
      );
    } else if (kind === 'failed') {
      const what = changed ? 'failed and was rolled back' : 'failed before any change';
      await alert('error', `${controlPlaneId}: upgrade to ${release.id} ${what}: ${why}`, {
        touched: touched.map((c) => c.component.id),
      });
    } else if (changed) {
      await alert(
        'info',
        `${controlPlaneId}: upgrade to ${release.id} cancelled after changes and rolled back: ${why}`,
      );
    }
    const backAgain = restored
      ? 'The previous versions are running again.'
      : 'Our engineers are restoring the previous versions and will contact you.';
    if (changed) await notify(kind === 'failed' ? 'rolled-back' : 'cancelled', `${why}. ${backAgain}`);
    else if (status.notices.length > 0) {
      const next = kind === 'failed' ? ' Our engineers will look into it and schedule it again.' : '';
      await notify('cancelled', `${why}. Nothing was changed.${next}`);
    }
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
      const ready = await waitForWindow();
      if (ready !== 'start') return stopIneligible(ready);
      await upgradeAll();
      const closes = Date.parse(status.window!.closesAt);
      if (Date.now() > closes) {
        status.overrunMinutes = Math.ceil((Date.now() - closes) / 60000);
        await alert(
          'warning',
          `${controlPlaneId}: upgrade finished ${status.overrunMinutes} min after the window closed`,
        );
      }
      status.outcome = 'completed';
      setStage('completed');
      await notify('completed');
      return { outcome: 'completed', status };
    });
  } catch (err) {
    if (isCancellation(err)) {
      const by = status.cancel
        ? `cancelled${status.cancel.by ? ` by ${status.cancel.by}` : ''}`
        : 'cancelled via Temporal';
      const why = `${by}${status.cancel?.reason ? `: ${status.cancel.reason}` : ''}`;
      status.cancel ??= { reason: 'Temporal cancellation request', at: nowIso() };
      status.reason = why;
      ending = true;
      await CancellationScope.nonCancellable(async () => {
        const failedRestores = await finish('cancelled', `The upgrade was ${why}`);
        if (failedRestores.length) status.lastError = failedRestores.join('; ');
        status.outcome = 'cancelled';
        setStage('cancelled');
      });
      return { outcome: 'cancelled', status };
    }
    const message = errorMessage(err);
    status.lastError = message;
    const failedStep = [...status.steps].reverse().find((s) => s.status === 'failed')?.name ?? status.stage;
    const why = `${failedStep} failed: ${message}`;
    status.reason = why;
    ending = true;
    await CancellationScope.nonCancellable(async () => {
      const failedRestores = await finish('failed', why);
      if (failedRestores.length) status.lastError = `${message}; rollback incomplete: ${failedRestores.join('; ')}`;
      // rolled-back: every change was undone and verified; failed: nothing changed, or the rollback is incomplete.
      status.outcome = touched.length > 0 && failedRestores.length === 0 ? 'rolled-back' : 'failed';
      setStage(status.outcome);
    });
    throw ApplicationFailure.nonRetryable(`${controlPlaneId}: ${why}`, 'UpgradeFailed', status);
  }
}
