// One release across the whole fleet: list the control planes in pages, start one controlPlaneUpgrade per eligible
// control plane (canary wave, bake, then the rest), hand out concurrency slots to children whose window has opened,
// count their outcomes and halt when the failure budget is spent. Children report by signal to this workflow ID,
// so reports reach whichever run is current after continue-as-new.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import type { Wave } from '../domain/rollout';
import { controlPlaneUpgrade } from './controlPlaneUpgrade';
import {
  approveSignal,
  cancelSignal,
  childOutcomeSignal,
  fleetStatusQuery,
  freezeSignal,
  pauseSignal,
  resumeSignal,
  slotGrantSignal,
  slotRequestSignal,
  slotReturnSignal,
  supersedeSignal,
  unfreezeSignal,
  upgradeWorkflowId,
  type ChildState,
  type FleetCarriedState,
  type FleetStage,
  type FleetStatus,
  type FleetUpgradeInput,
  type FleetUpgradeResult,
  type SlotRequest,
  type UpgradeOutcome,
} from './messages';
import * as metrics from './metrics';
import { errorMessage, toRequest } from './operatorRequests';
import * as SA from './searchAttributes';

/** Failures kept in the status (the count has them all). */
const FAILURES_KEPT = 25;
/** Child workflows started per batch. */
const START_BATCH = 100;
/** Stop signals sent per batch while cancelling or superseding (history grows by two events per signal). */
const STOP_BATCH = 200;

const { listFleetPage, findSupersededRollouts, alertSre } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

export async function fleetUpgrade(input: FleetUpgradeInput): Promise<FleetUpgradeResult> {
  const { release, rollout } = input;
  const info = workflowInfo();
  const nowIso = () => new Date(Date.now()).toISOString();
  const carried: FleetCarriedState = input.carried ?? {
    status: {
      workflowId: info.workflowId,
      releaseId: release.id,
      releaseKind: release.kind,
      targets: release.targets,
      rollout,
      stage: 'listing-canary',
      eligibility: { listed: 0, eligible: 0, skipped: {} },
      waves: {
        canary: { listed: false, started: 0, finished: 0, failed: 0 },
        main: { listed: false, started: 0, finished: 0, failed: 0 },
      },
      inFlight: { waitingForWindow: 0, waitingForSlot: 0, changing: 0 },
      outcomes: {},
      failures: [],
      failureCount: 0,
      paused: false,
      approvals: [],
      runs: 0,
      maxHistoryLength: 0,
    },
    children: {},
    childWave: {},
    slotQueue: [],
    failuresAtApproval: 0,
    stopSent: [],
  };
  const status: FleetStatus = carried.status;
  const { children, childWave } = carried;
  const stopSent = new Set(carried.stopSent);
  let slotQueue: SlotRequest[] = carried.slotQueue;
  /** Signals and child starts in flight: continue-as-new waits for them. */
  let inFlightOps = 0;
  /** Set before continue-as-new: background loops stop issuing commands. */
  let quiescing = false;
  const work = new CancellationScope();

  // ---- bookkeeping ----
  function countStates(): void {
    const n = { w: 0, q: 0, c: 0 };
    for (const s of Object.values(children)) n[s]++;
    status.inFlight = { waitingForWindow: n.w, waitingForSlot: n.q, changing: n.c };
  }
  countStates();

  function setChild(id: string, state: ChildState | undefined): void {
    const before = children[id];
    if (before === state) return;
    const key = { w: 'waitingForWindow', q: 'waitingForSlot', c: 'changing' } as const;
    if (before) status.inFlight[key[before]]--;
    if (state) {
      children[id] = state;
      status.inFlight[key[state]]++;
    } else delete children[id];
  }

  function inFlightCount(): number {
    const f = status.inFlight;
    return f.waitingForWindow + f.waitingForSlot + f.changing;
  }

  function inFlightOf(wave: Wave): number {
    return status.waves[wave].started - status.waves[wave].finished;
  }

  const stopping = () => status.cancel !== undefined || status.supersededBy !== undefined;
  const frozen = () => status.freeze !== undefined && Date.parse(status.freeze.until) > Date.now();
  /** Nothing new starts (no listing, no slot grants) while any of these hold. */
  const held = () => status.paused || status.halted !== undefined || frozen() || stopping();

  function setStage(stage: FleetStage): void {
    status.stage = stage;
    refresh();
  }

  let shownStage: string | undefined;
  function refresh(): void {
    const ended = status.stage === 'completed' || status.stage === 'cancelled' || status.stage === 'superseded';
    const shown = status.halted && !ended ? 'halted' : status.stage;
    // Only on change: an upsert is a history event, and refresh runs on every child report.
    if (shown !== shownStage) upsertSearchAttributes([{ key: SA.UpgradeStage, value: shown }]);
    shownStage = shown;
    const f = status.inFlight;
    const o = status.outcomes;
    const lines = [
      `**${release.id}** (${release.kind}) → dashboard ${release.targets.dashboard}, gateway ${release.targets.gateway}`,
      `Stage: **${status.stage}**` +
        (status.halted ? ` — **HALTED**: ${status.halted.reason}` : '') +
        (status.paused ? ` — PAUSED${status.pause?.reason ? `: ${status.pause.reason}` : ''}` : '') +
        (status.freeze ? ` — FROZEN until ${status.freeze.until}: ${status.freeze.reason ?? ''}` : ''),
      `Listed ${status.eligibility.listed}, eligible ${status.eligibility.eligible}; canary ${status.waves.canary.finished}/${status.waves.canary.started}, main ${status.waves.main.finished}/${status.waves.main.started}`,
      `In flight: ${f.waitingForWindow} waiting for window, ${f.waitingForSlot} for a slot, ${f.changing} changing (max ${rollout.maxConcurrent})`,
      `Outcomes: ${Object.entries(o)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    ];
    if (status.failureCount) lines.push(`Failures: ${status.failureCount}`);
    setCurrentDetails(lines.join('\n\n'));
  }

  // ---- failure budget ----
  function checkBudget(): void {
    if (status.halted) return;
    const { maxFailures, maxRatio, minSample } = rollout.failureBudget;
    // Both limits count from the last approval: an approval accepts what failed before it.
    const since = status.failureCount - carried.failuresAtApproval;
    if (since <= 0) return;
    const finished = (status.outcomes.completed ?? 0) + status.failureCount - (carried.finishedAtApproval ?? 0);
    const ratio = finished > 0 ? since / finished : 0;
    if (since > maxFailures)
      halt(
        `${since} upgrades rolled back or failed (budget ${maxFailures}${carried.failuresAtApproval ? ' since the last approval' : ''})`,
      );
    else if (finished >= minSample && ratio > maxRatio)
      halt(
        `${Math.round(ratio * 100)}% of ${finished} finished upgrades failed (budget ${Math.round(maxRatio * 100)}%)`,
      );
  }

  function halt(reason: string): void {
    status.halted = { reason, at: nowIso() };
    log.warn('fleet halted', { reason });
    metrics.fleetHalted();
    refresh();
  }

  // ---- handlers ----
  setHandler(fleetStatusQuery, () => status, {
    description: 'Stage, eligibility, waves, in flight, outcomes, failures, halted/paused/frozen and why.',
  });
  setHandler(
    slotRequestSignal,
    (req) => {
      if (!childWave[req.controlPlaneId]) {
        // Not started by this rollout's listing (e.g. started by hand with this fleet as its parent): count it in.
        childWave[req.controlPlaneId] = 'main';
        status.waves.main.started++;
      }
      slotQueue = slotQueue.filter((r) => r.controlPlaneId !== req.controlPlaneId);
      slotQueue.push(req);
      setChild(req.controlPlaneId, 'q');
      refresh();
    },
    { description: 'Child → fleet: my window is open, may I start changing?' },
  );
  setHandler(
    slotReturnSignal,
    ({ controlPlaneId }) => {
      slotQueue = slotQueue.filter((r) => r.controlPlaneId !== controlPlaneId);
      if (children[controlPlaneId]) setChild(controlPlaneId, 'w');
      refresh();
    },
    { description: 'Child → fleet: I no longer hold or want a slot.' },
  );
  setHandler(
    childOutcomeSignal,
    (o) => {
      const id = o.controlPlaneId;
      const wave = childWave[id];
      if (!wave) return; // a duplicate report, or a child this rollout does not know
      slotQueue = slotQueue.filter((r) => r.controlPlaneId !== id);
      setChild(id, undefined);
      delete childWave[id];
      status.waves[wave].finished++;
      status.outcomes[o.outcome] = (status.outcomes[o.outcome] ?? 0) + 1;
      if (isFailure(o.outcome)) {
        status.failureCount++;
        status.waves[wave].failed++;
        status.failures.push({ controlPlaneId: id, outcome: o.outcome, reason: o.reason, at: nowIso() });
        if (status.failures.length > FAILURES_KEPT) status.failures.shift();
        checkBudget();
      }
      refresh();
    },
    { description: 'Child → fleet: my upgrade ended (outcome, whether anything changed, why).' },
  );
  setHandler(
    pauseSignal,
    (arg) => {
      status.paused = true;
      status.pause = { ...toRequest(arg), at: nowIso() };
      refresh();
    },
    { description: 'Start nothing new (no listing, no slots); changing upgrades finish. Payload {"reason","by"}' },
  );
  setHandler(
    resumeSignal,
    () => {
      status.paused = false;
      status.pause = undefined;
      refresh();
    },
    { description: 'Undo pause.' },
  );
  setHandler(
    approveSignal,
    (arg) => {
      if (!status.halted) return;
      status.approvals.push({ ...toRequest(arg), at: nowIso(), failuresAccepted: status.failureCount });
      carried.failuresAtApproval = status.failureCount;
      carried.finishedAtApproval = (status.outcomes.completed ?? 0) + status.failureCount;
      carried.canaryFailuresAccepted = status.waves.canary.failed;
      status.halted = undefined;
      refresh();
    },
    { description: 'An SRE accepts the failures so far and lets a halted rollout go on. Payload {"reason","by"}' },
  );
  setHandler(
    freezeSignal,
    (req) => {
      const until = typeof req?.until === 'string' ? Date.parse(req.until) : NaN;
      if (Number.isNaN(until)) {
        log.warn('freeze ignored: until is not an ISO instant', { until: req?.until });
        return;
      }
      status.freeze = { ...toRequest(req), until: new Date(until).toISOString(), at: nowIso() };
      refresh();
    },
    { description: 'Incident/holiday freeze: no new starts until `until`. Payload {"until": ISO, "reason", "by"}' },
  );
  setHandler(
    unfreezeSignal,
    () => {
      status.freeze = undefined;
      refresh();
    },
    { description: 'End a freeze early.' },
  );
  setHandler(
    cancelSignal,
    (arg) => {
      if (stopping()) return;
      status.cancel = { ...toRequest(arg), at: nowIso() };
      work.cancel();
    },
    { description: 'Cancel the rollout: upgrades not yet changing are cancelled; changing ones finish (README).' },
  );
  setHandler(
    supersedeSignal,
    (req) => {
      if (stopping()) return;
      status.supersededBy = req.releaseId;
      log.info('superseded', { by: req.releaseId });
      work.cancel();
    },
    { description: 'A newer release of the same line takes over control planes that have not started changing.' },
  );

  // ---- continue-as-new ----
  function shouldContinueAsNew(): boolean {
    const i = workflowInfo();
    return i.historyLength > rollout.continueAsNewAfterEvents || i.continueAsNewSuggested;
  }

  async function continueAsNewNow(): Promise<never> {
    quiescing = true;
    await condition(() => inFlightOps === 0 && allHandlersFinished());
    status.runs++;
    status.maxHistoryLength = Math.max(status.maxHistoryLength, workflowInfo().historyLength);
    log.info('continuing as new', { historyLength: workflowInfo().historyLength, inFlight: inFlightCount() });
    return continueAsNew<typeof fleetUpgrade>({
      release,
      rollout,
      carried: { ...carried, status, children, childWave, slotQueue, stopSent: [...stopSent] },
    });
  }

  /** Runs a batch of commands (child starts, signals) and counts them as in flight while they are. */
  async function tracked<T>(ops: (() => Promise<T>)[]): Promise<T[]> {
    inFlightOps++;
    try {
      return await Promise.all(ops.map((op) => op()));
    } finally {
      inFlightOps--;
    }
  }

  // ---- background: slots and paging ----
  async function dispatchSlots(): Promise<void> {
    for (;;) {
      if (status.freeze && !frozen()) {
        log.info('freeze ended', { until: status.freeze.until });
        status.freeze = undefined;
        refresh();
      }
      if (status.freeze) {
        const seen = status.freeze;
        await condition(() => quiescing || status.freeze !== seen, Date.parse(seen.until) - Date.now());
        if (quiescing) return;
        continue;
      }
      await condition(
        () =>
          quiescing ||
          !!status.freeze ||
          (!held() && slotQueue.length > 0 && status.inFlight.changing < rollout.maxConcurrent),
      );
      if (quiescing) return;
      if (status.freeze) continue;
      const grants: SlotRequest[] = [];
      while (slotQueue.length > 0 && status.inFlight.changing < rollout.maxConcurrent) {
        const req = slotQueue.shift()!;
        // Too late for its window: the child gives the slot back and reschedules by itself.
        if (Date.parse(req.until) <= Date.now() || !children[req.controlPlaneId]) continue;
        setChild(req.controlPlaneId, 'c');
        grants.push(req);
      }
      refresh();
      const grantedAt = nowIso();
      await tracked(
        grants.map((g) => async () => {
          try {
            await getExternalWorkflowHandle(g.workflowId).signal(slotGrantSignal, { grantedAt });
          } catch (err) {
            log.warn('slot grant not delivered; slot freed', { child: g.workflowId, error: errorMessage(err) });
            if (children[g.controlPlaneId] === 'c') setChild(g.controlPlaneId, 'w');
          }
        }),
      );
    }
  }

  async function pageOnHalt(): Promise<void> {
    for (;;) {
      await condition(() => quiescing || (status.halted !== undefined && carried.pagedFor !== status.halted.at));
      if (quiescing) return;
      const halted = status.halted!;
      await tracked([
        () =>
          alertSre({
            dedupKey: info.workflowId,
            // One page per halt: a halt after an approval is a new alert, not a retry of the first.
            id: `${info.workflowId}/halt/${halted.at}`,
            action: 'trigger',
            severity: 'critical',
            summary: `Fleet rollout ${release.id} HALTED: ${halted.reason}. Approve (npm run sre -- approve --fleet ${release.id}) or cancel.`,
            // The alert is about the whole rollout, not one control plane.
            controlPlaneId: 'fleet',
            releaseId: release.id,
            workflowId: info.workflowId,
            details: { failures: status.failures.slice(-5), outcomes: status.outcomes },
          }),
      ]);
      carried.pagedFor = halted.at;
    }
  }

  // ---- the rollout ----
  async function holdWhile(): Promise<void> {
    if (held() && !stopping()) await condition(() => !held() || stopping() || shouldContinueAsNew());
    if (shouldContinueAsNew()) await continueAsNewNow();
  }

  /** The child's fixed facts, as markdown for the UI; its window and progress are in its current details. */
  function childDetails(id: string, wave: Wave): string {
    return [
      `**${id}**: ${release.kind === 'security' ? 'security release' : 'LTS release'} **${release.id}**`,
      `Targets: Dashboard ${release.targets.dashboard}, Gateway ${release.targets.gateway}`,
      `Fleet rollout: \`${info.workflowId}\`, ${wave} wave`,
      `Release notes: ${release.notesUrl}`,
      'Operate: signals `pause`, `resume`, `cancel` with `{"reason": "...", "by": "..."}`; query `status`.',
    ].join('\n\n');
  }

  async function startChildren(ids: string[], wave: Wave): Promise<void> {
    const fresh = ids.filter((id) => !childWave[id]);
    for (const id of fresh) {
      childWave[id] = wave;
      setChild(id, 'w');
      status.waves[wave].started++;
    }
    // In batches: hundreds of child starts in one workflow task can outlast the task timeout on a busy worker.
    for (let i = 0; i < fresh.length; i += START_BATCH) await startBatch(fresh.slice(i, i + START_BATCH), wave);
  }

  async function startBatch(ids: string[], wave: Wave): Promise<void> {
    await tracked(
      ids.map((id) => async () => {
        try {
          await startChild(controlPlaneUpgrade, {
            workflowId: upgradeWorkflowId(id, release.id),
            args: [{ controlPlaneId: id, release, fleet: { workflowId: info.workflowId, wave } }],
            // Children outlive this run (continue-as-new) and are stopped by signal, so a cancelled scope must not
            // cancel them behind the fleet's back: the fan-out in stopChildren decides who stops.
            parentClosePolicy: 'ABANDON',
            cancellationType: 'ABANDON',
            staticSummary: `Upgrade ${id} to ${release.targets.gateway} (${release.id}, ${wave} wave)`,
            staticDetails: childDetails(id, wave),
          });
          return true;
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          log.warn('an upgrade for this control plane and release is already running outside this rollout', { id });
          setChild(id, undefined);
          delete childWave[id];
          status.waves[wave].started--;
          return false;
        }
      }),
    );
  }

  async function listWave(wave: Wave): Promise<void> {
    for (;;) {
      await holdWhile();
      if (stopping()) return;
      const page = await listFleetPage({ release, rollout, wave, cursor: carried.cursor, pageSize: rollout.pageSize });
      if (wave === 'canary') {
        // Eligibility is counted once, over the whole fleet, in the first pass.
        status.eligibility.listed += page.listed;
        for (const [reason, n] of Object.entries(page.reasons)) {
          if (reason === 'eligible') status.eligibility.eligible += n;
          else status.eligibility.skipped[reason] = (status.eligibility.skipped[reason] ?? 0) + n;
        }
      }
      await startChildren(page.start, wave);
      carried.cursor = page.nextCursor;
      refresh();
      if (!carried.cursor) break;
    }
    status.waves[wave].listed = true;
  }

  async function waitFor(done: () => boolean): Promise<void> {
    for (;;) {
      await condition(() => done() || stopping() || shouldContinueAsNew());
      if (stopping() || done()) return;
      await continueAsNewNow();
    }
  }

  async function bake(): Promise<void> {
    status.bakeUntil ??= new Date(Date.now() + rollout.bakeMinutes * 60_000).toISOString();
    refresh();
    const until = Date.parse(status.bakeUntil);
    while (Date.now() < until && !stopping()) {
      const early = await condition(() => stopping() || shouldContinueAsNew(), until - Date.now());
      if (early && !stopping()) await continueAsNewNow();
    }
  }

  async function rollOut(): Promise<void> {
    if (status.runs === 0 && status.stage === 'listing-canary' && carried.cursor === undefined) {
      for (const older of await findSupersededRollouts({ release, selfWorkflowId: info.workflowId })) {
        log.info('superseding an older rollout of the same line', { older: older.workflowId });
        await tracked([
          () =>
            getExternalWorkflowHandle(older.workflowId).signal(supersedeSignal, {
              releaseId: release.id,
              targets: release.targets,
            }),
        ]);
      }
    }
    for (;;) {
      if (stopping()) return;
      switch (status.stage) {
        case 'listing-canary':
          await listWave('canary');
          if (stopping()) return;
          carried.cursor = undefined;
          setStage('canary');
          break;
        case 'canary':
          await waitFor(() => status.waves.canary.listed && inFlightOf('canary') === 0);
          if (stopping()) return;
          if (status.waves.canary.failed > (carried.canaryFailuresAccepted ?? 0)) {
            if (!status.halted)
              halt(`canary wave: ${status.waves.canary.failed} of ${status.waves.canary.started} upgrades failed`);
            await waitFor(() => !status.halted);
            if (stopping()) return;
          }
          setStage(status.waves.canary.started > 0 ? 'baking' : 'listing-main');
          break;
        case 'baking':
          await bake();
          if (stopping()) return;
          setStage('listing-main');
          break;
        case 'listing-main':
          await listWave('main');
          if (stopping()) return;
          setStage('main');
          break;
        case 'main':
          await waitFor(() => inFlightCount() === 0);
          if (stopping()) return;
          setStage('completed');
          return;
        default:
          return;
      }
    }
  }

  /** Cancel or supersede: tell every child that has not started changing to stop; changing ones finish. */
  async function stopChildren(): Promise<void> {
    setStage('draining');
    slotQueue = [];
    for (;;) {
      const targets = Object.entries(children)
        .filter(([id, s]) => s !== 'c' && !stopSent.has(id))
        .map(([id]) => id)
        .slice(0, STOP_BATCH);
      if (targets.length === 0) {
        if (inFlightCount() === 0) return;
        await condition(
          () =>
            inFlightCount() === 0 ||
            shouldContinueAsNew() ||
            Object.entries(children).some(([id, s]) => s !== 'c' && !stopSent.has(id)),
        );
      } else {
        const why = status.supersededBy
          ? { releaseId: status.supersededBy }
          : {
              reason: `fleet rollout ${release.id} cancelled${status.cancel?.reason ? `: ${status.cancel.reason}` : ''}`,
              by: status.cancel?.by,
            };
        await tracked(
          targets.map((id) => async () => {
            stopSent.add(id);
            const child = getExternalWorkflowHandle(upgradeWorkflowId(id, release.id));
            try {
              if (status.supersededBy)
                await child.signal(supersedeSignal, { releaseId: status.supersededBy, targets: release.targets });
              else await child.signal(cancelSignal, why as { reason: string; by?: string });
            } catch (err) {
              // Already closed: its outcome report is on its way or was lost with it; stop waiting for it.
              log.warn('stop signal not delivered', { id, error: errorMessage(err) });
              if (childWave[id]) {
                const wave = childWave[id];
                setChild(id, undefined);
                delete childWave[id];
                status.waves[wave].finished++;
              }
            }
          }),
        );
        refresh();
      }
      if (shouldContinueAsNew()) await continueAsNewNow();
    }
  }

  upsertSearchAttributes([
    { key: SA.ReleaseId, value: release.id },
    { key: SA.TargetVersion, value: release.targets.gateway },
  ]);
  refresh();
  // Not cancellable: a Temporal cancellation stops the rollout through `work`; these stop when quiescing.
  const background = [CancellationScope.nonCancellable(dispatchSlots), CancellationScope.nonCancellable(pageOnHalt)];

  try {
    await work.run(rollOut);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    if (!stopping()) status.cancel = { reason: 'Temporal cancellation request', at: nowIso() };
  }
  if (stopping()) {
    await CancellationScope.nonCancellable(stopChildren);
    const outcome = status.supersededBy ? 'superseded' : 'cancelled';
    setStage(outcome);
    quiescing = true;
    await Promise.all(background);
    return { outcome, status };
  }
  // The last failures may have spent the budget as the rollout ended: the SRE still hears of it.
  if (status.halted) await condition(() => carried.pagedFor === status.halted?.at);
  quiescing = true;
  await Promise.all(background);
  return { outcome: 'completed', status };
}

function isFailure(outcome: UpgradeOutcome): boolean {
  return outcome === 'rolled-back' || outcome === 'failed';
}
