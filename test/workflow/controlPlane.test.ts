// controlPlane (one long-lived workflow per control plane) on the real time-skipping test server, with real adapters
// (simulated fleet over HTTP, outbox, alert log, file inventory) and the Temporal messenger.
//
// The workflow never completes by itself, so these tests never await its result (a result() lets the test server
// skip time without bound): they move server time with env.sleep, in steps, and read the `status` query in between.
// The time-skipping server has no visibility, so the follow-up lookup after a completed upgrade fails (the workflow
// gives up after three tries, by design); scenarios that need visibility and fleet reports are in the dev-server
// suites.
//
// Two traps of the Java time-skipping server shape the helpers below (both seen here and reproduced in isolation):
// - a workflow task whose completion the server refuses with "workflow execution already completed" leaves time
//   skipping locked for good: every later env.sleep hangs. Terminating a workflow while its task is in flight does it,
//   and so did a status query that raced the task that continues as new (the query was never answered either).
//   So each test gets a fresh server (the workflows never end by themselves, and are not terminated), queries have a
//   deadline, and the end of an attempt is read from the inputs of the runs (server side), not from the query.
// - result() lets the server skip time without bound (to a 10-year run timeout once), so a closed workflow's result
//   is read from its history.
import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type {
  AlerterPort,
  AlertOptions,
  EmailMessage,
  HealthPort,
  NotifierPort,
  PlatformPort,
} from '../../activities/ports';
import type { ComponentRef, HealthReport, SreAlert } from '../../domain/model';
import type { Release } from '../../domain/release';
import { TemporalMessenger } from '../../integrations/temporalMessenger';
import {
  abandonRollbackSignal,
  cancelSignal,
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  deferUpdate,
  pauseSignal,
  resumeSignal,
  retryRollbackSignal,
  upgradeNowUpdate,
  type AttemptRecord,
  type ControlPlaneInput,
  type ControlPlaneStatus,
  type OfferSource,
} from '../../workflows/messages';
import { UpgradeStage } from '../../workflows/searchAttributes';
import { controlPlane, FleetHarness, LTS_RELEASE, org, weekdayIn } from '../helpers/fleetHarness';
import { tookUpgradeNow, type WindowOverride } from '../helpers/invariants';
import { recordHistory } from '../helpers/recordHistory';
import { timeSkippingEnv } from '../helpers/temporalServers';
import { workflowsPath } from '../../worker/worker';
import { workflowBundleOptions } from '../../worker/workflowBundle';

const TASK_QUEUE = 'control-plane-test';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ALL = ['dashboard', 'gateway', 'dp-eu'];

const LTS_581: Release = {
  id: 'lts-5.8.1',
  kind: 'lts',
  targets: { dashboard: '5.8.1', gateway: '5.8.1' },
  notesUrl: 'https://tyk.io/docs/release-notes/5.8.1',
};
const LTS_582: Release = LTS_RELEASE;
const SECURITY: Release = {
  id: 'sec-5.3.9',
  kind: 'security',
  targets: { dashboard: '5.3.9', gateway: '5.3.9' },
  affected: '>=5.3.5 <5.3.9',
  notesUrl: 'https://tyk.io/docs/release-notes/5.3.9',
};

/**
 * The outbox, with switches: `fail` refuses a notice kind for a control plane (a retryable error, before anything is
 * sent), `loseReply` delivers one and then throws once (the reply got lost: the retry must not email twice).
 */
class TestNotifier implements NotifierPort {
  readonly channel = 'outbox';
  readonly failing = new Set<string>();
  readonly losingReply = new Set<string>();
  readonly refused: string[] = [];
  constructor(private readonly inner: NotifierPort) {}

  /** `<cp>/<kind>` → server time (epoch ms) before which its attempts fail: the notice is delivered late. */
  readonly heldUntil = new Map<string, number>();

  async send(message: EmailMessage): Promise<{ duplicate: boolean }> {
    const key = `${message.properties.control_plane_id}/${message.noticeKind}`;
    const until = this.heldUntil.get(key);
    // The attempt's scheduled time is the server's clock, which the test skips: the delay is in server time.
    if (until !== undefined && Context.current().info.currentAttemptScheduledTimestampMs < until)
      throw new Error(`mail relay slow (test) for ${key}`);
    if (until !== undefined) this.heldUntil.delete(key);
    if (this.failing.has(key)) {
      this.refused.push(key);
      throw new Error(`mail relay unavailable (test) for ${key}`);
    }
    const sent = await this.inner.send(message);
    if (this.losingReply.delete(key)) throw new Error(`connection reset after sending (test) for ${key}`);
    return sent;
  }
}

/** The alert log, with a switch: `heldTriggers` holds a control plane's page triggers until the test lets them go. */
class TestAlerter implements AlerterPort {
  readonly channel = 'alert-log';
  readonly heldTriggers = new Map<string, Promise<void>>();
  constructor(private readonly inner: AlerterPort) {}

  async alert(alert: SreAlert, options?: AlertOptions): Promise<void> {
    const hold = alert.action === 'trigger' ? this.heldTriggers.get(alert.controlPlaneId) : undefined;
    if (hold) await hold;
    return this.inner.alert(alert, options);
  }
}

/** The Tyk health probes, with a switch: `heldProbes` holds a control plane's probes until the test lets them go. */
class TestHealth implements HealthPort {
  readonly heldProbes = new Map<string, Promise<void>>();
  constructor(private readonly inner: HealthPort) {}

  async probe(component: ComponentRef, signal?: AbortSignal): Promise<HealthReport> {
    const hold = this.heldProbes.get(component.controlPlaneId);
    if (hold) await hold;
    return this.inner.probe(component, signal);
  }
}

/** The platform, with a switch: `restoreDown` makes every restore of a control plane fail (its API is down). */
class TestPlatform implements PlatformPort {
  readonly name = 'simulated';
  readonly restoreDown = new Set<string>();
  constructor(private readonly inner: PlatformPort) {}
  currentVersion(c: ComponentRef) {
    return this.inner.currentVersion(c);
  }
  snapshot(c: ComponentRef) {
    return this.inner.snapshot(c);
  }
  upgrade(...args: Parameters<PlatformPort['upgrade']>) {
    return this.inner.upgrade(...args);
  }
  async restore(...args: Parameters<PlatformPort['restore']>) {
    if (this.restoreDown.has(args[0].controlPlaneId)) throw new Error('platform API unavailable (test): 503');
    return this.inner.restore(...args);
  }
}

let bundle: WorkflowBundle;
let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
let harness: FleetHarness;
let messenger: TemporalMessenger;
let notifier: TestNotifier;
let alerter: TestAlerter;
let health: TestHealth;
let platform: TestPlatform;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  bundle = await bundleWorkflowCode(workflowBundleOptions(workflowsPath(), new DefaultLogger('ERROR')));
  const sixDaysOut = weekdayIn(Date.now() + 6 * DAY, 'America/New_York');
  const warnGateway = { simulate: { faults: { gateway: 'warn-after-upgrade' } } };
  harness = new FleetHarness({
    orgs: [org()],
    controlPlanes: [
      controlPlane('cp-six-days', {
        window: { timeZone: 'America/New_York', start: '02:00', durationMinutes: 240, weekly: { days: [sixDaysOut] } },
      }),
      controlPlane('cp-pause'),
      controlPlane('cp-pause-mid'),
      controlPlane('cp-hold'),
      controlPlane('cp-cancel-early'),
      controlPlane('cp-cancel-late'),
      controlPlane('cp-tc-idle'),
      controlPlane('cp-tc-wait'),
      controlPlane('cp-tc-change'),
      controlPlane('cp-finished'),
      controlPlane('cp-finished-signal'),
      controlPlane('cp-fail-dashboard', { simulate: { faults: { dashboard: 'fail-after-upgrade' } } }),
      controlPlane('cp-fail-gateway', { simulate: { faults: { gateway: 'fail-after-upgrade' } } }),
      controlPlane('cp-fail-dp', {
        dataPlanes: [
          { id: 'dp-us', version: '5.3.4' },
          { id: 'dp-ap', version: '5.3.4' },
        ],
        simulate: { faults: { 'dp-ap': 'fail-after-upgrade' } },
      }),
      controlPlane('cp-rollout-error', { simulate: { faults: { gateway: 'upgrade-error' } } }),
      controlPlane('cp-warn', warnGateway),
      controlPlane('cp-warn-cancel', warnGateway),
      controlPlane('cp-degraded-restore', { simulate: { faults: { 'dp-eu': 'fail-after-upgrade' } } }),
      controlPlane('cp-gone-at-end'),
      controlPlane('cp-unhealthy', { simulate: { faults: { 'dp-eu': 'unreachable' } } }),
      controlPlane('cp-moved', {
        window: { timeZone: 'Asia/Kolkata', start: '01:30', durationMinutes: 180, weekly: { days: [sixDaysOut] } },
      }),
      controlPlane('cp-opt-out-later'),
      controlPlane('cp-not-opted', { autoUpgrade: false }),
      controlPlane('cp-hybrid', { hybrid: true }),
      controlPlane('cp-plugins', { plugins: true }),
      controlPlane('cp-current', { dashboard: { version: '5.8.2' }, gateway: { version: '5.8.2' }, dataPlanes: [] }),
      controlPlane('cp-non-lts', { dashboard: { version: '5.5.1' }, gateway: { version: '5.5.1' }, dataPlanes: [] }),
      controlPlane('cp-patched', { dashboard: { version: '5.3.2' }, gateway: { version: '5.3.2' }, dataPlanes: [] }),
      controlPlane('cp-blocked', { config: { use_db_app_configs: true } }),
      controlPlane('cp-migrated', { config: { analytics_config: { enable_geo_ip: true } } }),
      controlPlane('cp-defer'),
      controlPlane('cp-defer-security', { dashboard: { version: '5.3.5' }, gateway: { version: '5.3.5' } }),
      controlPlane('cp-now', { tier: 'production' }),
      controlPlane('cp-notices'),
      controlPlane('cp-two-waiting'),
      controlPlane('cp-two-changing'),
      controlPlane('cp-two-warn-resume', warnGateway),
      controlPlane('cp-two-warn-cancel', warnGateway),
      controlPlane('cp-two-older'),
      controlPlane('cp-two-same'),
      controlPlane('cp-same-targets'),
      controlPlane('cp-can'),
      controlPlane('cp-late-notice'),
      controlPlane('cp-restore-blocked', { simulate: { faults: { gateway: 'fail-after-upgrade' } } }),
      controlPlane('cp-restore-abandoned', { simulate: { faults: { gateway: 'fail-after-upgrade' } } }),
      controlPlane('cp-cancel-mid-rollout', { simulate: { faults: { gateway: 'slow-rollout' } } }),
      controlPlane('cp-pause-preflight', {
        window: { timeZone: 'America/New_York', start: '02:00', durationMinutes: 240, weekly: { days: [sixDaysOut] } },
      }),
      controlPlane('cp-warn-slow-page', warnGateway),
    ],
  });
  await harness.start({ rolloutMs: 150 });
  notifier = new TestNotifier(harness.deps.notifier);
  harness.deps.notifier = notifier;
  alerter = new TestAlerter(harness.deps.alerter);
  harness.deps.alerter = alerter;
  health = new TestHealth(harness.deps.health);
  harness.deps.health = health;
  platform = new TestPlatform(harness.deps.platform);
  harness.deps.platform = platform;
});

beforeEach(async () => {
  // What the fleet runs now is each test's initial state; the changes from here on are judged after the test.
  harness.markInvariants();
  env = await timeSkippingEnv();
  // The activities read deps.messenger when they run: point it at this test's server.
  messenger = new TemporalMessenger(env.client, { taskQueue: TASK_QUEUE });
  harness.deps.messenger = messenger;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    activities: createActivities(harness.deps),
  });
  workerRun = worker.run();
});

afterEach(async () => {
  notifier.failing.clear();
  notifier.losingReply.clear();
  notifier.heldUntil.clear();
  alerter.heldTriggers.clear();
  health.heldProbes.clear();
  platform.restoreDown.clear();
  // The runs an SRE started with upgradeNow (their window is exempt), read while the server is up.
  const overrides = await upgradeNowRuns(harness.changedSinceMark()).catch((err: Error) => err);
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  if (overrides instanceof Error)
    throw new Error(`could not read the histories for the invariants: ${overrides.message}`);
  // Every change inside its window, after the notice and its lead; every component old or on the target.
  harness.assertInvariants({ releases: [LTS_581, LTS_582, SECURITY], overrides });
});

/** Every run, of these control planes' workflows, that took an SRE's upgradeNow. */
async function upgradeNowRuns(controlPlaneIds: string[]): Promise<WindowOverride[]> {
  const found: WindowOverride[] = [];
  for (const controlPlaneId of controlPlaneIds) {
    const runs = await env.client.withDeadline(Date.now() + 10_000, () => runsOf(controlPlaneId));
    for (const run of runs) if (tookUpgradeNow(run.events)) found.push({ controlPlaneId, runId: run.runId });
  }
  return found;
}

afterAll(async () => {
  await harness?.close();
});

// ---- driving the workflow ----

type Handle = WorkflowHandle;

/** Offers a release the way fleets and the catch-up schedule do (signal-with-start through the messenger). */
async function offer(controlPlaneId: string, release: Release = LTS_582, source: OfferSource = 'sre'): Promise<Handle> {
  const r = await messenger.offer([controlPlaneId], { release, source, offeredAt: new Date().toISOString() });
  expect(r).toEqual({ offered: [controlPlaneId], failed: [] });
  return env.client.workflow.getHandle(controlPlaneWorkflowId(controlPlaneId));
}

/**
 * The status query, with a deadline and a few retries: a query that reaches the Java test server while the workflow
 * task that continues as new is in flight was seen never to be answered (the worker's completion of that task then
 * fails with "workflow execution already completed"); asked again, the new run answers.
 */
async function status(handle: Handle): Promise<ControlPlaneStatus> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await env.client.withDeadline(Date.now() + 3000, () => handle.query(controlPlaneStatusQuery));
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

/** Polls the status in real time (server time is not skipped meanwhile) until `predicate` holds. */
async function waitFor(
  handle: Handle,
  predicate: (s: ControlPlaneStatus) => boolean,
  timeoutMs = 30_000,
): Promise<ControlPlaneStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(handle);
    if (predicate(s)) return s;
    if (Date.now() > deadline) throw new Error(`status never matched; last: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Moves server time forward in steps until `predicate` holds. */
async function advanceUntil(
  handle: Handle,
  predicate: (s: ControlPlaneStatus) => boolean,
  step = HOUR,
  maxSteps = 400,
): Promise<ControlPlaneStatus> {
  for (let i = 0; ; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const s = await status(handle);
    if (predicate(s)) return s;
    if (i >= maxSteps) throw new Error(`status never matched in ${maxSteps} steps; last: ${JSON.stringify(s)}`);
    await env.sleep(step);
  }
}

/** What the latest run was started with (read from its history: the server answers, not the worker). */
async function latestInput(handle: Handle): Promise<ControlPlaneInput> {
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return defaultPayloadConverter.fromPayload<ControlPlaneInput>(payload!);
}

/**
 * Moves server time forward in steps until the workflow has ended its `n`-th attempt and continued as new (it does
 * after every attempt), then returns the new run's status. It watches the runs' inputs rather than the status query:
 * a query that races the workflow task that continues as new was seen to wedge the Java test server (the worker's
 * completion of that task fails with "workflow execution already completed", and time skipping stays locked).
 */
async function attemptsEnded(handle: Handle, n = 1, step = HOUR, maxSteps = 400): Promise<ControlPlaneStatus> {
  for (let i = 0; ; i++) {
    const input = await latestInput(handle);
    if ((input.carried?.recent.length ?? 0) >= n) return status(handle);
    if (i >= maxSteps) throw new Error(`attempt ${n} not ended in ${maxSteps} steps; input ${JSON.stringify(input)}`);
    await env.sleep(step);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The attempt in progress is waiting for its window (the one for `releaseId`, when given). */
function waitingForWindow(handle: Handle, releaseId?: string): Promise<ControlPlaneStatus> {
  return waitFor(
    handle,
    (s) => s.upgrade?.stage === 'waiting-for-window' && (!releaseId || s.upgrade.releaseId === releaseId),
  );
}

/**
 * Lets server time run into the planned window while the test watches: skips to a minute before the start, then
 * returns a running two-minute skip (a pause, which has no timer, cannot make the server jump further).
 */
async function skipIntoWindow(handle: Handle, releaseId?: string): Promise<void> {
  const planned = (await waitingForWindow(handle, releaseId)).upgrade!;
  await env.sleep(Date.parse(planned.window!.startAt) - (await env.currentTimeMs()) - MINUTE);
  return env.sleep(2 * MINUTE);
}

const stepDone = (prefix: string) => (s: ControlPlaneStatus) =>
  !!s.upgrade?.steps.some((x) => x.name.startsWith(prefix) && x.status === 'done');

/** Pauses the attempt once its Dashboard step has started; resolves when that step is done and nothing else runs. */
async function pauseAfterDashboard(handle: Handle, skipping: Promise<void>): Promise<ControlPlaneStatus> {
  await waitFor(handle, (s) => s.upgrade?.stage === 'dashboard');
  await handle.signal(pauseSignal, { reason: 'hold after the dashboard', by: 'sre-jo' });
  await waitFor(handle, stepDone('upgrade dashboard'));
  await skipping;
  return status(handle);
}

function lastAttempt(s: ControlPlaneStatus): AttemptRecord {
  const last = s.recent.at(-1);
  if (!last) throw new Error(`no attempt has ended: ${JSON.stringify(s)}`);
  return last;
}

async function versions(controlPlaneId: string, ids = ALL): Promise<string[]> {
  return Promise.all(ids.map((id) => harness.version(controlPlaneId, id)));
}

async function noticeKinds(controlPlaneId: string): Promise<string[]> {
  return (await harness.notices(controlPlaneId)).map((n) => n.noticeKind);
}

/** The reason a rejected Update gives (the validator's message), or fails the test if it was accepted. */
async function rejection(update: Promise<unknown>): Promise<string> {
  const err = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return String(((err as Error).cause as Error | undefined)?.message);
}

// ---- reading histories ----

interface Run {
  runId: string;
  events: temporal.api.history.v1.IHistoryEvent[];
}

/** Every run of a control plane's workflow, oldest first (following continue-as-new back from the latest). */
async function runsOf(controlPlaneId: string): Promise<Run[]> {
  const workflowId = controlPlaneWorkflowId(controlPlaneId);
  const runs: Run[] = [];
  let runId: string | undefined = (await env.client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const history: temporal.api.history.v1.IHistory = await env.client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    const events: temporal.api.history.v1.IHistoryEvent[] = history.events ?? [];
    const own = events[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId;
    if (own !== runId) throw new Error(`asked for the history of run ${runId}, got run ${own}`);
    runs.unshift({ runId, events });
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
  }
  return runs;
}

interface ActivityCall {
  type: string;
  args: unknown[];
}

/** The activities a control plane's workflow scheduled, over all its runs, in order. */
async function activityCalls(controlPlaneId: string, type?: string): Promise<ActivityCall[]> {
  const calls: ActivityCall[] = [];
  for (const run of await runsOf(controlPlaneId))
    for (const e of run.events) {
      const a = e.activityTaskScheduledEventAttributes;
      if (!a?.activityType?.name || (type && a.activityType.name !== type)) continue;
      const args = (a.input?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p));
      calls.push({ type: a.activityType.name, args });
    }
  return calls;
}

/** `[component id, version]` of each upgrade (or restore) the workflow scheduled, in order. */
async function changesMade(controlPlaneId: string, type: 'upgradeComponent' | 'restoreComponent') {
  return (await activityCalls(controlPlaneId, type)).map((c) => {
    const input = c.args[0] as { component: { id: string }; targetVersion?: string; version?: string };
    return [input.component.id, input.targetVersion ?? input.version];
  });
}

/** Records the history of the run in which `pick` holds (default: the latest run) for the replay suite. */
async function record(controlPlaneId: string, name: string, pick?: (run: Run) => boolean): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const runs = await runsOf(controlPlaneId);
  const run = pick ? runs.find(pick) : runs.at(-1);
  if (!run) throw new Error(`${controlPlaneId}: no run to record as ${name}`);
  await recordHistory(env.client.workflow.getHandle(controlPlaneWorkflowId(controlPlaneId), run.runId), name);
}

/** The run in which an activity of `type` was scheduled. */
const scheduled = (type: string) => (run: Run) =>
  run.events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type);

/** Waits until a Temporal cancellation request has closed the workflow; returns how, and the status it returned. */
async function closedWith(handle: Handle): Promise<{ execution: string; result: ControlPlaneStatus }> {
  const deadline = Date.now() + 30_000;
  let execution = 'RUNNING';
  while (execution === 'RUNNING') {
    if (Date.now() > deadline) throw new Error(`${handle.workflowId} still running`);
    await new Promise((r) => setTimeout(r, 50));
    execution = (await handle.describe()).status.name;
  }
  const history = await handle.fetchHistory();
  const closed = history.events?.at(-1)?.workflowExecutionCompletedEventAttributes;
  const payload = closed?.result?.payloads?.[0];
  if (!payload) throw new Error(`${handle.workflowId} ${execution} without a result`);
  return { execution, result: defaultPayloadConverter.fromPayload<ControlPlaneStatus>(payload) };
}

describe('controlPlane (time-skipping server)', () => {
  // ---- the upgrade itself ----

  it('waits six days for the window, changes nothing before it, notices ahead, then upgrades in order', async () => {
    const startMs = await env.currentTimeMs();
    const handle = await offer('cp-six-days');
    await env.sleep('5 days');
    const waiting = await status(handle);
    expect(waiting.state).toBe('waiting');
    expect(waiting.upgrade?.stage).toBe('waiting-for-window');
    expect(await versions('cp-six-days')).toEqual(['5.3.4', '5.3.4', '5.3.4']);
    expect(await noticeKinds('cp-six-days')).toEqual(['scheduled']);
    const notice = (await harness.notices('cp-six-days'))[0]!;
    expect(notice.text).toContain('America/New_York');
    expect(notice.text).toContain('UTC');
    // The notice went out at least the development tier's one-day lead before the window.
    const windowStart = Date.parse(waiting.upgrade!.window!.startAt);
    expect(windowStart - startMs).toBeGreaterThan(5 * DAY);
    expect(waiting.whyNot[0]).toMatchObject({ code: 'waiting-for-window', until: waiting.upgrade!.window!.startAt });
    expect(waiting.nextChanceAt).toBe(waiting.upgrade!.window!.startAt);

    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ releaseId: 'lts-5.8.2', outcome: 'completed', changed: true });
    expect(lastAttempt(done).versions).toEqual({ dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2' });
    expect(done.installed).toEqual({ dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2' });
    expect(Date.parse(lastAttempt(done).endedAt)).toBeGreaterThanOrEqual(windowStart);
    expect(await versions('cp-six-days')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    expect(await changesMade('cp-six-days', 'upgradeComponent')).toEqual([
      ['dashboard', '5.8.2'],
      ['gateway', '5.8.2'],
      ['dp-eu', '5.8.2'],
    ]);
    expect(await changesMade('cp-six-days', 'restoreComponent')).toEqual([]);
    expect(await noticeKinds('cp-six-days')).toEqual(['scheduled', 'completed']);
    expect(done.whyNot).toEqual([expect.objectContaining({ code: 'already-at-target' })]);
    expect(done.runs).toBe(1);
    expect(done.state).toBe('idle');
    expect((await handle.describe()).typedSearchAttributes.get(UpgradeStage)).toBe('idle');
    await record('cp-six-days', 'completed.v2', scheduled('upgradeComponent'));
  });

  it('holds at the window while paused and continues on resume', async () => {
    const handle = await offer('cp-pause');
    const planned = (await waitingForWindow(handle)).upgrade!;
    await handle.signal(pauseSignal, { reason: 'customer asked', by: 'sre-jo' });
    await env.sleep(Date.parse(planned.window!.startAt) - (await env.currentTimeMs()) + MINUTE);
    const held = await waitFor(handle, (s) => s.upgrade?.paused === true);
    expect(held.upgrade!.pause).toMatchObject({ reason: 'customer asked', by: 'sre-jo' });
    expect(held.whyNot[0]).toMatchObject({ code: 'paused' });
    expect(held.whyNot[0]!.detail).toContain('sre-jo');
    expect(held.whyNot[0]!.detail).toContain('customer asked');
    expect(held.upgrade!.steps.some((s) => s.name.startsWith('upgrade'))).toBe(false);
    expect(await versions('cp-pause')).toEqual(['5.3.4', '5.3.4', '5.3.4']);

    await handle.signal(resumeSignal, {});
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done).outcome).toBe('completed');
    expect(await versions('cp-pause')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
  });

  it('a pause during a step lets that step finish and holds before the next', async () => {
    const handle = await offer('cp-pause-mid');
    const held = await pauseAfterDashboard(handle, skipIntoWindow(handle));
    await new Promise((r) => setTimeout(r, 500));
    const still = await status(handle);
    expect(still.state).toBe('changing');
    expect(still.upgrade!.paused).toBe(true);
    expect(held.upgrade!.pause?.reason).toBe('hold after the dashboard');
    expect(still.upgrade!.steps.some((s) => s.name.startsWith('upgrade gateway'))).toBe(false);
    expect(still.installed).toMatchObject({ dashboard: '5.8.2', gateway: '5.3.4' });
    expect(await versions('cp-pause-mid', ['dashboard', 'gateway'])).toEqual(['5.8.2', '5.3.4']);
    await handle.signal(resumeSignal);
    expect(lastAttempt(await attemptsEnded(handle)).outcome).toBe('completed');
  });

  it('a pause while no upgrade runs holds the next one until resumed', async () => {
    const handle = await offer('cp-hold', LTS_581);
    await waitingForWindow(handle);
    await handle.signal(cancelSignal, 'not this one');
    await attemptsEnded(handle);
    await handle.signal(pauseSignal, { reason: 'change freeze', by: 'sre-kim' });
    const held = await waitFor(handle, (s) => s.whyNot[0]?.code === 'paused');
    expect(held.state).toBe('idle');
    expect(held.whyNot[0]!.detail).toContain('sre-kim');

    await offer('cp-hold', LTS_582);
    const next = await waitingForWindow(handle, 'lts-5.8.2');
    expect(next.upgrade!.paused).toBe(true);
    expect(next.upgrade!.pause).toMatchObject({ reason: 'change freeze', by: 'sre-kim' });
    expect(next.whyNot.map((r) => r.code)).toEqual(['paused', 'waiting-for-window']);
    await env.sleep(Date.parse(next.upgrade!.window!.startAt) - (await env.currentTimeMs()) + HOUR);
    expect(await versions('cp-hold')).toEqual(['5.3.4', '5.3.4', '5.3.4']);
    await handle.signal(resumeSignal);
    expect(lastAttempt(await attemptsEnded(handle, 2))).toMatchObject({ releaseId: 'lts-5.8.2', outcome: 'completed' });
  });

  // ---- cancellation ----

  it('a cancel signal before any change ends cleanly and tells the customer', async () => {
    const handle = await offer('cp-cancel-early');
    await waitingForWindow(handle);
    await handle.signal(cancelSignal, { reason: 'customer migration freeze', by: 'sre-jo' });
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'cancelled', changed: false });
    expect(lastAttempt(done).reason).toBe('cancelled by sre-jo: customer migration freeze');
    expect(done.whyNot[0]).toMatchObject({ code: 'cancelled' });
    expect(await changesMade('cp-cancel-early', 'restoreComponent')).toEqual([]);
    const notices = await harness.notices('cp-cancel-early');
    expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'cancelled']);
    expect(notices[1]!.text).toContain('customer migration freeze');
    expect(harness.alerts('cp-cancel-early')).toEqual([]);
    await record('cp-cancel-early', 'cancelled-before-change', scheduled('planWindow'));
  });

  it('a cancel signal after a change rolls back first', async () => {
    const handle = await offer('cp-cancel-late');
    await pauseAfterDashboard(handle, skipIntoWindow(handle));
    expect(await harness.version('cp-cancel-late', 'dashboard')).toBe('5.8.2');
    await handle.signal(cancelSignal, { reason: 'bad timing' });
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'cancelled', changed: true, reason: 'cancelled: bad timing' });
    expect(await changesMade('cp-cancel-late', 'restoreComponent')).toEqual([['dashboard', '5.3.4']]);
    expect(await versions('cp-cancel-late')).toEqual(['5.3.4', '5.3.4', '5.3.4']);
    expect(done.installed).toEqual({ dashboard: '5.3.4', gateway: '5.3.4', 'dp-eu': '5.3.4' });
    expect(await noticeKinds('cp-cancel-late')).toEqual(['scheduled', 'cancelled']);
    expect(harness.alerts('cp-cancel-late').map((a) => a.severity)).toEqual(['info']);
  });

  it('a Temporal cancellation while idle closes the workflow with its status', async () => {
    const handle = await offer('cp-tc-idle', LTS_581);
    await waitingForWindow(handle);
    await handle.signal(cancelSignal);
    await attemptsEnded(handle);
    await handle.cancel();
    const { execution, result } = await closedWith(handle);
    expect(execution).toBe('COMPLETED');
    expect(result.state).toBe('idle');
    expect(result.recent.map((r) => r.outcome)).toEqual(['cancelled']);
  });

  it('a Temporal cancellation while waiting for the window: nothing to undo, the customer hears it is off', async () => {
    const handle = await offer('cp-tc-wait');
    await waitingForWindow(handle);
    await handle.cancel();
    const { execution, result } = await closedWith(handle);
    expect(execution).toBe('COMPLETED');
    expect(result.upgrade).toBeUndefined();
    expect(lastAttempt(result)).toMatchObject({
      outcome: 'cancelled',
      changed: false,
      reason: 'cancelled via Temporal',
    });
    expect(await changesMade('cp-tc-wait', 'upgradeComponent')).toEqual([]);
    expect(await changesMade('cp-tc-wait', 'restoreComponent')).toEqual([]);
    const notices = await harness.notices('cp-tc-wait');
    expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'cancelled']);
    expect(notices[1]!.text).toContain('Nothing was changed');
    expect(harness.alerts('cp-tc-wait')).toEqual([]);
  });

  it('a Temporal cancellation mid-change rolls back newest first and says so', async () => {
    const handle = await offer('cp-tc-change');
    const skipping = skipIntoWindow(handle);
    await waitFor(handle, (s) => s.upgrade?.stage === 'gateway');
    await handle.cancel();
    await skipping;
    const { execution, result } = await closedWith(handle);
    expect(execution).toBe('COMPLETED');
    expect(lastAttempt(result)).toMatchObject({ outcome: 'cancelled', changed: true });
    expect(lastAttempt(result).reason).toContain('cancelled via Temporal');
    expect(await changesMade('cp-tc-change', 'restoreComponent')).toEqual([
      ['gateway', '5.3.4'],
      ['dashboard', '5.3.4'],
    ]);
    expect(await versions('cp-tc-change')).toEqual(['5.3.4', '5.3.4', '5.3.4']);
    expect(result.installed).toEqual({ dashboard: '5.3.4', gateway: '5.3.4', 'dp-eu': '5.3.4' });
    expect(await noticeKinds('cp-tc-change')).toEqual(['scheduled', 'cancelled']);
    expect(harness.alerts('cp-tc-change').map((a) => a.severity)).toEqual(['info']);
    await record('cp-tc-change', 'cancelled-after-change');
  });

  // ---- finished means finished (issue #10) ----

  it('after the last verification a Temporal cancellation only ends the wait for the completion email', async () => {
    notifier.failing.add('cp-finished/completed');
    const handle = await offer('cp-finished');
    const skipping = skipIntoWindow(handle);
    const finished = await waitFor(handle, (s) => s.upgrade?.outcome === 'completed');
    await skipping;
    await waitFor(handle, () => notifier.refused.includes('cp-finished/completed'));
    expect(finished.state).toBe('ending');
    expect(await versions('cp-finished')).toEqual(['5.8.2', '5.8.2', '5.8.2']);

    // The cancel signal first: too late, ignored.
    await handle.signal(cancelSignal, { reason: 'changed my mind', by: 'sre-jo' });
    await new Promise((r) => setTimeout(r, 300));
    const after = await status(handle);
    expect(after.upgrade).toMatchObject({ outcome: 'completed', stage: 'completed' });
    expect(after.upgrade!.cancel).toBeUndefined();

    // Then Temporal's own cancellation: the workflow closes; the upgrade stays finished.
    await handle.cancel();
    const { execution, result } = await closedWith(handle);
    expect(execution).toBe('COMPLETED');
    expect(lastAttempt(result)).toMatchObject({ releaseId: 'lts-5.8.2', outcome: 'completed', changed: true });
    expect(result.installed).toEqual({ dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2' });
    expect(await versions('cp-finished')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    expect(await changesMade('cp-finished', 'restoreComponent')).toEqual([]);
    expect(harness.alerts('cp-finished')).toEqual([]);
    expect(await noticeKinds('cp-finished')).toEqual(['scheduled']);
    await record('cp-finished', 'finished-then-cancelled');
  });

  it('after the last verification the cancel signal is ignored and the completion email still goes out', async () => {
    notifier.failing.add('cp-finished-signal/completed');
    const handle = await offer('cp-finished-signal');
    const skipping = skipIntoWindow(handle);
    await waitFor(handle, (s) => s.upgrade?.outcome === 'completed');
    await skipping;
    await waitFor(handle, () => notifier.refused.includes('cp-finished-signal/completed'));
    await handle.signal(cancelSignal, { reason: 'changed my mind', by: 'sre-jo' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await status(handle)).upgrade!.cancel).toBeUndefined();
    // The mail relay recovers: the retried email goes out once, and nothing was undone.
    notifier.failing.clear();
    const done = await attemptsEnded(handle, 1);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'completed', changed: true });
    expect(await versions('cp-finished-signal')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    expect(await changesMade('cp-finished-signal', 'restoreComponent')).toEqual([]);
    expect(harness.alerts('cp-finished-signal')).toEqual([]);
    expect(await noticeKinds('cp-finished-signal')).toEqual(['scheduled', 'completed']);
  });

  // ---- failures ----

  // A Gateway on 5.8.2 (a Tyk build that always answers 200) whose checks all fail answers `fail`: compensation starts
  // at once. The Dashboard's /hello is liveness only: broken, it stops answering, and the soak times out.
  const gatewayFailed = { status: 'fail', version: '5.8.2', httpStatus: 200 };
  const gatewaySaid = 'answered fail on 5.8.2: redis: fail';
  it.each([
    [
      'cp-fail-dashboard',
      'upgrade dashboard 5.3.4 → 5.8.2',
      [['dashboard', '5.3.4']],
      { status: 'unreachable', httpStatus: 503 },
      'did not answer pass on 5.8.2 2 times in a row',
    ],
    [
      'cp-fail-gateway',
      'upgrade gateway 5.3.4 → 5.8.2',
      [
        ['gateway', '5.3.4'],
        ['dashboard', '5.3.4'],
      ],
      gatewayFailed,
      gatewaySaid,
    ],
    [
      'cp-fail-dp',
      'upgrade data plane dp-ap 5.3.4 → 5.8.2',
      [
        ['dp-ap', '5.3.4'],
        ['dp-us', '5.3.4'],
        ['gateway', '5.3.4'],
        ['dashboard', '5.3.4'],
      ],
      gatewayFailed,
      gatewaySaid,
    ],
  ] as const)(
    '%s: a failed verification rolls back newest first, alerts and tells the customer',
    async (cpId, step, undo, lastProbe, why) => {
      // The rolled-back email is held back for a while, so the attempt's own status can be read before it ends.
      notifier.failing.add(`${cpId}/rolled-back`);
      const handle = await offer(cpId);
      const ending = (await advanceUntil(handle, (s) => s.upgrade?.outcome === 'rolled-back')).upgrade!;
      expect(ending.stage).toBe('rolled-back');
      const failed = ending.steps.find((s) => s.name === step)!;
      expect(failed.status).toBe('failed');
      expect(failed.evidence?.at(-1)).toMatchObject(lastProbe);
      const rollbacks = ending.steps.filter((s) => s.name.startsWith('roll back'));
      expect(rollbacks.map((s) => s.status)).toEqual(undo.map(() => 'done'));
      notifier.failing.clear();
      const done = await attemptsEnded(handle);
      const last = lastAttempt(done);
      expect(last).toMatchObject({ outcome: 'rolled-back', changed: true });
      expect(last.reason).toContain(`${step} failed`);
      expect(last.reason).toContain(why);
      expect(await changesMade(cpId, 'restoreComponent')).toEqual(undo.map((u) => [...u]));
      const ids = ['dashboard', 'gateway', ...(cpId === 'cp-fail-dp' ? ['dp-us', 'dp-ap'] : ['dp-eu'])];
      expect(new Set(await versions(cpId, ids))).toEqual(new Set(['5.3.4']));
      expect(new Set(Object.values(last.versions))).toEqual(new Set(['5.3.4']));
      const alerts = harness.alerts(cpId);
      expect(alerts.map((a) => a.severity)).toEqual(['error']);
      expect(alerts[0]!.summary).toContain('rolled back');
      expect(await noticeKinds(cpId)).toEqual(['scheduled', 'rolled-back']);
      expect(done.whyNot[0]).toMatchObject({ code: 'last-upgrade-failed' });
      expect(done.whyNot[0]!.detail).toContain('an SRE decides');
      if (cpId === 'cp-fail-gateway') await record(cpId, 'rolled-back', scheduled('restoreComponent'));
    },
  );

  it('a rollout the platform reports failed is not retried and is rolled back', async () => {
    const handle = await offer('cp-rollout-error');
    const last = lastAttempt(await attemptsEnded(handle));
    expect(last.outcome).toBe('rolled-back');
    expect(last.reason).toContain('upgrade gateway 5.3.4 → 5.8.2 failed');
    expect(last.reason).toContain('progress deadline exceeded');
    // One attempt only: RolloutFailed is non-retryable.
    const runs = await runsOf('cp-rollout-error');
    const events = runs.flatMap((r) => r.events);
    const gatewayUpgrade = events.find(
      (e) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name === 'upgradeComponent' &&
        defaultPayloadConverter.fromPayload<{ component: { id: string } }>(
          e.activityTaskScheduledEventAttributes.input!.payloads![0]!,
        ).component.id === 'gateway',
    )!;
    const startedAttempts = events
      .filter((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(gatewayUpgrade.eventId))
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(startedAttempts).toEqual([1]);
    expect(await changesMade('cp-rollout-error', 'restoreComponent')).toEqual([
      ['gateway', '5.3.4'],
      ['dashboard', '5.3.4'],
    ]);
    expect(await versions('cp-rollout-error')).toEqual(['5.3.4', '5.3.4', '5.3.4']);
  });

  it('a Tyk warn after a step pauses the upgrade and pages; resume re-verifies, continues and resolves the page', async () => {
    const handle = await offer('cp-warn');
    const skipping = skipIntoWindow(handle);
    const paused = await waitFor(handle, (s) => !!s.upgrade?.paused && s.upgrade.stage === 'gateway');
    await skipping;
    expect(paused.upgrade!.pause).toMatchObject({ by: 'nightshift health check' });
    expect(paused.upgrade!.pause!.reason).toContain(
      'health check warn after upgrading gateway to 5.8.2: warn on 5.8.2: redis: fail (simulated fault warn-after-upgrade: redis slow since v5.8.2)',
    );
    expect(paused.whyNot[0]).toMatchObject({ code: 'health-warn' });
    expect(paused.whyNot[0]!.detail).toContain('redis: fail');
    const gatewayStep = paused.upgrade!.steps.find((s) => s.name === 'upgrade gateway 5.3.4 → 5.8.2')!;
    expect(gatewayStep.status).toBe('running');
    expect(gatewayStep.evidence?.at(-1)).toMatchObject({ status: 'warn', version: '5.8.2' });
    // Held: nothing after the gateway starts, nothing is rolled back, the SRE is paged once.
    await new Promise((r) => setTimeout(r, 300));
    const held = await status(handle);
    expect(
      held.upgrade!.steps.some((s) => s.name.startsWith('upgrade data plane') || s.name.startsWith('roll back')),
    ).toBe(false);
    expect(await versions('cp-warn')).toEqual(['5.8.2', '5.8.2', '5.3.4']);
    const page = harness.alerts('cp-warn');
    expect(page).toEqual([expect.objectContaining({ severity: 'critical', action: 'trigger' })]);
    expect(page[0]!.summary).toContain('PAUSED');

    // The SRE fixes redis and resumes: the soak runs again, passes, and the page is resolved with the same key.
    harness.fleet.setFault('cp-warn', 'gateway', null);
    await handle.signal(resumeSignal, { reason: 'redis fixed', by: 'sre-jo' });
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done).outcome).toBe('completed');
    // Its own incident, keyed by attempt: a later failure of the same upgrade pages afresh.
    const healthKey = `${controlPlaneWorkflowId('cp-warn')}/a1/health`;
    expect(harness.alerts('cp-warn').map((a) => [a.action, a.severity, a.dedupKey])).toEqual([
      ['trigger', 'critical', healthKey],
      ['resolve', 'critical', healthKey],
    ]);
    expect(await versions('cp-warn')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    await record('cp-warn', 'health-warn-resumed', scheduled('upgradeComponent'));
  });

  it('cancel while paused on a Tyk warn rolls back and resolves the page', async () => {
    const handle = await offer('cp-warn-cancel');
    const skipping = skipIntoWindow(handle);
    await waitFor(handle, (s) => !!s.upgrade?.paused && s.upgrade.stage === 'gateway');
    await skipping;
    await handle.signal(cancelSignal, { reason: 'redis degraded, not now', by: 'sre-jo' });
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'cancelled', changed: true });
    expect(await changesMade('cp-warn-cancel', 'restoreComponent')).toEqual([
      ['gateway', '5.3.4'],
      ['dashboard', '5.3.4'],
    ]);
    expect(await versions('cp-warn-cancel', ['dashboard', 'gateway'])).toEqual(['5.3.4', '5.3.4']);
    const key = `${controlPlaneWorkflowId('cp-warn-cancel')}/a1`;
    expect(harness.alerts('cp-warn-cancel').map((a) => [a.action, a.severity, a.dedupKey])).toEqual([
      ['trigger', 'critical', `${key}/health`],
      ['resolve', 'critical', `${key}/health`],
      ['trigger', 'info', key],
    ]);
  });

  it('a cancel while the page trigger is still being sent: the resolve goes after the trigger, never before', async () => {
    // PagerDuty opens a new incident for a trigger that arrives after its resolve (same dedup_key).
    let letGo!: () => void;
    alerter.heldTriggers.set('cp-warn-slow-page', new Promise<void>((resolve) => (letGo = resolve)));
    const handle = await offer('cp-warn-slow-page');
    const skipping = skipIntoWindow(handle);
    await waitFor(handle, (s) => !!s.upgrade?.paused && s.upgrade.stage === 'gateway');
    await skipping;
    await handle.signal(cancelSignal, { reason: 'redis degraded, not now', by: 'sre-jo' });
    // The trigger is still on its way when the rollback ends; it arrives a little later.
    await waitFor(handle, stepDone('roll back dashboard'), 50_000);
    await new Promise((r) => setTimeout(r, 2000));
    letGo();
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'cancelled', changed: true });
    const page = `${controlPlaneWorkflowId('cp-warn-slow-page')}/a1/health`;
    const pageEvents = harness.alerts('cp-warn-slow-page').filter((a) => a.dedupKey === page);
    expect(pageEvents.map((a) => a.action)).toEqual(['trigger', 'resolve']);
    await record('cp-warn-slow-page', 'page-held-then-cancelled.v2', scheduled('restoreComponent'));
  });

  it('a cancel during a component rollout restores it only after that rollout activity has stopped', async () => {
    const handle = await offer('cp-cancel-mid-rollout');
    const skipping = skipIntoWindow(handle);
    await waitFor(handle, (s) => s.upgrade?.stage === 'gateway' && s.upgrade.steps.at(-1)?.status === 'running');
    await handle.signal(cancelSignal, { reason: 'stop now', by: 'sre-jo' });
    await skipping;
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'cancelled', changed: true });
    expect(await changesMade('cp-cancel-mid-rollout', 'restoreComponent')).toEqual([
      ['gateway', '5.3.4'],
      ['dashboard', '5.3.4'],
    ]);
    // In the history: the Gateway's restore was scheduled after its rollout activity had closed (cancelled).
    const events = (await runsOf('cp-cancel-mid-rollout')).flatMap((r) => r.events);
    const isGateway = (e: (typeof events)[number], type: string) => {
      const a = e.activityTaskScheduledEventAttributes;
      if (a?.activityType?.name !== type) return false;
      const input = defaultPayloadConverter.fromPayload<{ component?: { id: string } }>(a.input!.payloads![0]!);
      return input.component?.id === 'gateway';
    };
    const rollout = events.find((e) => isGateway(e, 'upgradeComponent'))!;
    const restore = events.find((e) => isGateway(e, 'restoreComponent'))!;
    const closed = events.find((e) =>
      [
        e.activityTaskCanceledEventAttributes,
        e.activityTaskCompletedEventAttributes,
        e.activityTaskFailedEventAttributes,
        e.activityTaskTimedOutEventAttributes,
      ].some((a) => a?.scheduledEventId?.toString() === rollout.eventId?.toString()),
    );
    expect(closed).toBeDefined();
    expect(Number(restore.eventId)).toBeGreaterThan(Number(closed!.eventId));
    // Long after the slow rollout would have finished, the Gateway is still on its old version.
    await new Promise((r) => setTimeout(r, 7000));
    expect(await versions('cp-cancel-mid-rollout', ['dashboard', 'gateway'])).toEqual(['5.3.4', '5.3.4']);
  });

  it('paused during pre-flight and resumed after the window closed: rescheduled with a notice, nothing changed', async () => {
    let letGo!: () => void;
    health.heldProbes.set('cp-pause-preflight', new Promise<void>((resolve) => (letGo = resolve)));
    const handle = await offer('cp-pause-preflight');
    const planned = (await waitingForWindow(handle)).upgrade!.window!;
    await env.sleep(Date.parse(planned.startAt) - (await env.currentTimeMs()) - MINUTE);
    // A held activity keeps the server from skipping time: this skip ends once pre-flight is over.
    const skipping = env.sleep(2 * MINUTE);
    await waitFor(handle, (s) => s.upgrade?.stage === 'preflight');
    await handle.signal(pauseSignal, { reason: 'hold on', by: 'sre-jo' });
    letGo();
    await waitFor(handle, stepDone('pre-flight'));
    await skipping;
    // The window closes while it is paused; the SRE resumes afterwards.
    await env.sleep(Date.parse(planned.closesAt) - (await env.currentTimeMs()) + MINUTE);
    await handle.signal(resumeSignal, { by: 'sre-jo' });
    const moved = await waitFor(
      handle,
      (s) => s.upgrade?.stage === 'waiting-for-window' && s.upgrade.window!.startAt !== planned.startAt,
    );
    expect(Date.parse(moved.upgrade!.window!.startAt)).toBeGreaterThan(Date.parse(planned.closesAt));
    expect(await changesMade('cp-pause-preflight', 'upgradeComponent')).toEqual([]);
    expect(await noticeKinds('cp-pause-preflight')).toEqual(['scheduled', 'rescheduled']);
    expect(await versions('cp-pause-preflight')).toEqual(['5.3.4', '5.3.4', '5.3.4']);
    await record('cp-pause-preflight', 'window-closed-while-paused.v2');
  });

  it('a restore that keeps failing blocks, pages once, retries, and finishes on retry-rollback', async () => {
    platform.restoreDown.add('cp-restore-blocked');
    const handle = await offer('cp-restore-blocked');
    await skipIntoWindow(handle);
    const blocked = await advanceUntil(handle, (s) => !!s.upgrade?.rollbackBlocked, MINUTE, 60);
    expect(blocked.upgrade!.stage).toBe('rolling-back');
    expect(blocked.upgrade!.rollbackBlocked).toMatchObject({ component: 'gateway', rounds: 1 });
    expect(blocked.upgrade!.rollbackBlocked!.why).toContain('platform API unavailable');
    expect(blocked.whyNot.map((r) => r.code)).toContain('rollback-blocked');
    // Half an hour later it is still trying by itself, and has paged once.
    await env.sleep(35 * MINUTE);
    const later = await waitFor(handle, (s) => (s.upgrade?.rollbackBlocked?.rounds ?? 0) >= 3);
    expect(later.upgrade!.stage).toBe('rolling-back');
    const key = `${controlPlaneWorkflowId('cp-restore-blocked')}/a1`;
    const pages = () => harness.alerts('cp-restore-blocked').filter((a) => a.dedupKey === `${key}/rollback`);
    expect(pages().map((a) => [a.action, a.severity])).toEqual([['trigger', 'critical']]);
    expect(await versions('cp-restore-blocked', ['dashboard', 'gateway'])).toEqual(['5.8.2', '5.8.2']);

    platform.restoreDown.delete('cp-restore-blocked');
    await handle.signal(retryRollbackSignal, { reason: 'the API is back', by: 'sre-jo' });
    const done = await attemptsEnded(handle, 1, MINUTE);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'rolled-back', changed: true });
    expect(await versions('cp-restore-blocked', ['dashboard', 'gateway'])).toEqual(['5.3.4', '5.3.4']);
    expect(pages().map((a) => a.action)).toEqual(['trigger', 'resolve']);
    await record('cp-restore-blocked', 'rollback-blocked-then-retried.v2', scheduled('restoreComponent'));
  });

  it('abandon-rollback ends a blocked restore, recorded with who and why; the other components are restored', async () => {
    platform.restoreDown.add('cp-restore-abandoned');
    const handle = await offer('cp-restore-abandoned');
    await skipIntoWindow(handle);
    await advanceUntil(handle, (s) => !!s.upgrade?.rollbackBlocked, MINUTE, 60);
    // Only the Gateway's restore is down from here: the Dashboard's may go through once the Gateway is abandoned.
    platform.restoreDown.delete('cp-restore-abandoned');
    const inner = platform.restore.bind(platform);
    platform.restore = async (c, ...rest) => {
      if (c.id === 'gateway') throw new Error('platform API unavailable (test): 503');
      return inner(c, ...rest);
    };
    try {
      await handle.signal(abandonRollbackSignal, { reason: 'restoring it by hand', by: 'sre-kim' });
      const decided = await waitFor(handle, (s) => (s.upgrade?.rollbackDecisions?.length ?? 0) === 1);
      expect(decided.upgrade!.rollbackDecisions![0]).toMatchObject({
        decision: 'abandon',
        component: 'gateway',
        by: 'sre-kim',
        reason: 'restoring it by hand',
      });
      const done = await attemptsEnded(handle, 1, MINUTE);
      expect(lastAttempt(done)).toMatchObject({ outcome: 'failed', changed: true });
      expect(await versions('cp-restore-abandoned', ['dashboard', 'gateway'])).toEqual(['5.3.4', '5.8.2']);
      const incomplete = harness.alerts('cp-restore-abandoned').find((a) => a.summary.includes('ROLLBACK INCOMPLETE'));
      expect(incomplete?.summary).toContain('restore abandoned by sre-kim: restoring it by hand');
    } finally {
      platform.restore = inner;
    }
  });

  it('the notice period counts from delivery: a notice delivered late moves the upgrade to a later window', async () => {
    // A window that opens 1 day 3 hours from now (the development tier's lead is 1 day) and lasts 2 hours; the
    // scheduled notice reaches the customer 20 hours after it was planned.
    const t0 = await env.currentTimeMs();
    const opens = new Date(Math.ceil((t0 + DAY + 3 * HOUR) / (15 * MINUTE)) * 15 * MINUTE);
    const hhmm = opens.toISOString().slice(11, 16);
    harness.updateControlPlane('cp-late-notice', {
      window: { timeZone: 'UTC', start: hhmm, durationMinutes: 120, weekly: { days: [weekdayIn(+opens, 'UTC')] } },
    });
    notifier.heldUntil.set('cp-late-notice/scheduled', t0 + 20 * HOUR);
    const handle = await offer('cp-late-notice');
    const told = await advanceUntil(
      handle,
      (s) => s.upgrade?.stage === 'waiting-for-window' && !s.upgrade.steps.some((x) => x.status === 'running'),
      HOUR,
      60,
    );
    const notified = told.upgrade!.steps.filter((x) => x.name.startsWith('notify:'));
    const lastToldAt = Date.parse(notified.at(-1)!.endedAt!);
    expect(Date.parse(notified[0]!.endedAt!)).toBeGreaterThanOrEqual(t0 + 20 * HOUR);
    // What the customer was last told leaves them at least the lead before the start.
    expect(Date.parse(told.upgrade!.window!.startAt)).toBeGreaterThanOrEqual(lastToldAt + DAY);
    expect(Date.parse(told.upgrade!.window!.startAt)).toBeGreaterThan(+opens + DAY);
    expect(told.upgrade!.window!.noticeDeliveredAt).toBe(new Date(lastToldAt).toISOString());
    expect(await noticeKinds('cp-late-notice')).toEqual(['scheduled', 'rescheduled']);
    const rescheduled = (await harness.notices('cp-late-notice'))[1]!;
    expect(rescheduled.text).toContain('reached you later than planned');

    const done = await attemptsEnded(handle, 1, 6 * HOUR, 100);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'completed', changed: true });
    // The first change (server time of its scheduling) came at least the lead after the last notice's delivery.
    const upgrades = (await runsOf('cp-late-notice'))
      .flatMap((r) => r.events)
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'upgradeComponent');
    expect(upgrades).toHaveLength(3);
    const firstChangeAt = Number(upgrades[0]!.eventTime!.seconds) * 1000;
    expect(firstChangeAt).toBeGreaterThanOrEqual(lastToldAt + DAY);
    await record('cp-late-notice', 'late-notice-replanned.v2', scheduled('upgradeComponent'));
  });

  it('a component restored to its old version that answers warn is rolled back, and the alert says so', async () => {
    const handle = await offer('cp-degraded-restore');
    const skipping = skipIntoWindow(handle);
    await waitFor(handle, (s) => s.upgrade?.stage === 'data-planes');
    // Redis behind the Gateway degrades while the data plane is upgraded (and fails): the Gateway's rollback lands
    // on a component that is back on 5.3.4 but answers warn.
    notifier.failing.add('cp-degraded-restore/rolled-back');
    harness.fleet.setFault('cp-degraded-restore', 'gateway', 'degraded');
    const rolledBack = await waitFor(handle, (s) => s.upgrade?.outcome === 'rolled-back');
    await skipping;
    expect(rolledBack.upgrade!.steps.find((s) => s.name === 'roll back gateway to 5.3.4')).toMatchObject({
      status: 'done',
      detail: 'restored to 5.3.4, but health is warn on 5.3.4: redis: fail (simulated fault degraded: redis slow)',
    });
    notifier.failing.clear();
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done).outcome).toBe('rolled-back');
    const alerts = harness.alerts('cp-degraded-restore');
    expect(alerts.map((a) => a.severity)).toEqual(['error']);
    expect(alerts[0]!.summary).toContain('failed and was rolled back');
    expect(alerts[0]!.summary).toContain('after the rollback gateway restored to 5.3.4, but health is warn');
    expect(alerts[0]!.summary).not.toContain('ROLLBACK INCOMPLETE');
    const notices = await harness.notices('cp-degraded-restore');
    expect(notices.at(-1)!.text).toContain('The previous versions are running again.');
  });

  it('an email that cannot be delivered after the change neither rolls back nor stops the upgrade', async () => {
    const handle = await offer('cp-gone-at-end');
    await pauseAfterDashboard(handle, skipIntoWindow(handle));
    // The customer's record disappears mid-upgrade: the completed notice has nobody to go to.
    harness.removeControlPlane('cp-gone-at-end');
    await handle.signal(resumeSignal);
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'completed', changed: true });
    expect(await changesMade('cp-gone-at-end', 'restoreComponent')).toEqual([]);
    expect(await versions('cp-gone-at-end')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    expect(await noticeKinds('cp-gone-at-end')).toEqual(['scheduled']);
  });

  it('an unhealthy component at pre-flight stops the upgrade before any change', async () => {
    const handle = await offer('cp-unhealthy');
    const done = await attemptsEnded(handle);
    const last = lastAttempt(done);
    expect(last).toMatchObject({ outcome: 'failed-before-change', changed: false });
    expect(last.reason).toContain('pre-flight');
    expect(last.reason).toContain('dp-eu: unreachable');
    expect(await changesMade('cp-unhealthy', 'upgradeComponent')).toEqual([]);
    expect(await changesMade('cp-unhealthy', 'restoreComponent')).toEqual([]);
    expect(harness.alerts('cp-unhealthy').map((a) => [a.severity, a.summary.includes('before any change')])).toEqual([
      ['error', true],
    ]);
    const notices = await harness.notices('cp-unhealthy');
    expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'cancelled']);
    expect(notices[1]!.text).toContain('Nothing was changed');
    expect(await versions('cp-unhealthy', ['dashboard', 'gateway'])).toEqual(['5.3.4', '5.3.4']);
    // Why not: it may be tried again, six hours after it stopped.
    expect(done.whyNot[0]).toMatchObject({
      code: 'retry-later',
      until: new Date(Date.parse(last.endedAt) + 6 * HOUR).toISOString(),
    });
    expect(done.whyNot[0]!.detail).toContain('dp-eu: unreachable');
    expect(done.nextChanceAt).toBe(done.whyNot[0]!.until);
    await record('cp-unhealthy', 'failed-before-change', scheduled('probeComponents'));
  });

  // ---- the customer's settings change while it waits ----

  it('re-plans and re-notifies when the customer moves the window while it waits', async () => {
    const handle = await offer('cp-moved');
    const first = (await waitingForWindow(handle)).upgrade!;
    const now = await env.currentTimeMs();
    const newDay = weekdayIn(now + 3 * DAY, 'Asia/Kolkata');
    harness.updateControlPlane('cp-moved', {
      window: { timeZone: 'Asia/Kolkata', start: '22:00', durationMinutes: 180, weekly: { days: [newDay] } },
    });
    await env.sleep('13 hours');
    const moved = (await waitFor(handle, (s) => !!s.upgrade?.notices.some((n) => n.kind === 'rescheduled'))).upgrade!;
    expect(moved.window!.startAt).not.toBe(first.window!.startAt);
    expect(moved.window!.localText).toContain('22:00');
    expect(moved.reason).toContain('does not leave');
    expect(lastAttempt(await attemptsEnded(handle)).outcome).toBe('completed');
    expect(await noticeKinds('cp-moved')).toEqual(['scheduled', 'rescheduled', 'completed']);
  });

  it('stops with a reason and tells the customer when Auto Upgrade is turned off while it waits', async () => {
    const handle = await offer('cp-opt-out-later');
    await waitingForWindow(handle);
    harness.updateControlPlane('cp-opt-out-later', { autoUpgrade: false });
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'skipped', skipReason: 'not-opted-in', changed: false });
    expect(done.whyNot[0]).toMatchObject({ code: 'not-opted-in' });
    expect(await noticeKinds('cp-opt-out-later')).toEqual(['scheduled', 'cancelled']);
    expect(await harness.version('cp-opt-out-later', 'dashboard')).toBe('5.3.4');
  });

  // ---- why not ----

  it.each([
    ['cp-not-opted', LTS_582, 'not-opted-in', 'autoUpgrade: false'],
    ['cp-hybrid', LTS_582, 'hybrid', 'hybrid deployment'],
    ['cp-plugins', LTS_582, 'plugins', 'plugins enabled'],
    ['cp-current', LTS_582, 'already-at-target', '5.8.2'],
    ['cp-non-lts', LTS_582, 'not-on-older-lts-line', 'is on an older LTS line (5.0, 5.3, 5.8): dashboard 5.5.1'],
    ['cp-patched', SECURITY, 'not-affected', 'is in its affected range ">=5.3.5 <5.3.9": dashboard 5.3.2'],
    ['cp-missing', LTS_582, 'control-plane-not-found', 'not in the inventory'],
  ] as const)('%s is skipped (%s): no change, no email, and whyNot says why', async (cpId, release, reason, words) => {
    const handle = await offer(cpId, release);
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ releaseId: release.id, outcome: 'skipped', skipReason: reason });
    expect(lastAttempt(done).changed).toBe(false);
    expect(done.whyNot).toHaveLength(1);
    expect(done.whyNot[0]!.code).toBe(reason);
    expect(done.whyNot[0]!.detail).toContain(words);
    expect(done.whyNot[0]!.evidence).toMatchObject({ releaseId: release.id, outcome: 'skipped' });
    expect(await harness.notices(cpId)).toEqual([]);
    expect(await activityCalls(cpId, 'snapshotComponents')).toEqual([]);
    if (reason === 'hybrid') await record(cpId, 'skipped', scheduled('assessControlPlane'));
  });

  it('a removed configuration key blocks the upgrade: nothing changes, the customer and SRE are told what to do', async () => {
    const handle = await offer('cp-blocked');
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done)).toMatchObject({ outcome: 'skipped', skipReason: 'config-incompatible' });
    expect(lastAttempt(done).reason).toContain('use_db_app_configs');
    expect(done.whyNot[0]!.code).toBe('config-incompatible');
    expect(done.whyNot[0]!.detail).toContain('use_db_app_configs');
    const notices = await harness.notices('cp-blocked');
    expect(notices.map((n) => n.noticeKind)).toEqual(['action-needed']);
    expect(notices[0]!.text).toContain('use_db_app_configs');
    expect(harness.alerts('cp-blocked')).toEqual([expect.objectContaining({ severity: 'warning' })]);
    expect(await harness.version('cp-blocked', 'gateway')).toBe('5.3.4');
  });

  it('a renamed configuration key is migrated with the gateway upgrade', async () => {
    const handle = await offer('cp-migrated');
    expect(lastAttempt(await attemptsEnded(handle)).outcome).toBe('completed');
    const gateway = (await activityCalls('cp-migrated', 'upgradeComponent'))
      .map((c) => c.args[0] as { component: { id: string }; configMigrations?: unknown[] })
      .find((i) => i.component.id === 'gateway')!;
    expect(gateway.configMigrations).toEqual([
      expect.objectContaining({ key: 'analytics_config.enable_geo_ip', to: 'analytics_config.geo_ip.enabled' }),
    ]);
    const snap = await harness.platform.snapshot({ controlPlaneId: 'cp-migrated', kind: 'gateway', id: 'gateway' });
    expect(snap.config).toEqual({ analytics_config: { geo_ip: { enabled: true } } });
  });

  // ---- customer and SRE requests ----

  it('a customer deferral re-plans past the deferred days, re-notifies and is limited to two for LTS', async () => {
    const handle = await offer('cp-defer');
    const first = (await waitingForWindow(handle)).upgrade!;
    const before = Date.parse(first.window!.startAt);
    const accepted = await handle.executeUpdate(deferUpdate, { args: [{ days: 3, reason: 'launch week', by: 'ada' }] });
    expect(Date.parse(accepted.window.startAt)).toBeGreaterThanOrEqual(before + 3 * DAY);
    expect(accepted.deferralsLeft).toBe(1);
    expect(await rejection(handle.executeUpdate(deferUpdate, { args: [{ days: 9 }] }))).toBe(
      'days = 9: a whole number of days from 1 to 7',
    );
    await handle.executeUpdate(deferUpdate, { args: [{ days: 1 }] });
    expect(await rejection(handle.executeUpdate(deferUpdate, { args: [{ days: 1 }] }))).toBe(
      'no deferrals left: all 2 allowed for this release are used',
    );
    const deferred = await status(handle);
    expect(deferred.upgrade!.deferrals).toEqual([
      expect.objectContaining({ days: 3, reason: 'launch week', by: 'ada' }),
      expect.objectContaining({ days: 1 }),
    ]);
    expect(deferred.whyNot.map((r) => r.code)).toEqual(['deferred', 'waiting-for-window']);
    expect(deferred.whyNot[1]!.until).toBe(deferred.upgrade!.window!.startAt);
    expect(Date.parse(deferred.upgrade!.window!.startAt)).toBeGreaterThanOrEqual(before + 4 * DAY);
    expect(await noticeKinds('cp-defer')).toEqual(['scheduled', 'rescheduled', 'rescheduled']);
    expect((await harness.notices('cp-defer'))[1]!.text).toContain('Deferred by 3 day(s) at your request: launch week');
    const done = await attemptsEnded(handle);
    expect(lastAttempt(done).outcome).toBe('completed');
    expect(Date.parse(lastAttempt(done).endedAt)).toBeGreaterThanOrEqual(Date.parse(deferred.upgrade!.window!.startAt));
    await record('cp-defer', 'deferred', scheduled('upgradeComponent'));
  });

  it('security releases cannot be deferred; the caller gets the reason and nothing changes', async () => {
    const handle = await offer('cp-defer-security', SECURITY);
    const planned = (await waitingForWindow(handle)).upgrade!;
    expect(await rejection(handle.executeUpdate(deferUpdate, { args: [{ days: 1 }] }))).toBe(
      'security releases cannot be deferred (sec-5.3.9 is security)',
    );
    const after = (await status(handle)).upgrade!;
    expect(after.window).toEqual(planned.window);
    expect(after.deferrals).toEqual([]);
    await handle.signal(cancelSignal, 'test over');
    expect(lastAttempt(await attemptsEnded(handle)).outcome).toBe('cancelled');
  });

  it('upgradeNow skips a production week of notice, sends a starting notice first and records who asked', async () => {
    const handle = await offer('cp-now');
    const planned = (await waitingForWindow(handle)).upgrade!;
    expect(Date.parse(planned.window!.startAt) - (await env.currentTimeMs())).toBeGreaterThan(6 * DAY);
    const ack = await handle.executeUpdate(upgradeNowUpdate, { args: [{ reason: 'CVE-2026-1234', by: 'sre-kim' }] });
    expect(ack).toEqual({ accepted: true, from: 'waiting-for-window' });
    const overridden = await waitFor(handle, (s) => !!s.upgrade?.override);
    expect(overridden.upgrade!.override).toMatchObject({ reason: 'CVE-2026-1234', by: 'sre-kim' });
    const done = await attemptsEnded(handle, 1);
    expect(lastAttempt(done).outcome).toBe('completed');
    // Upgraded well before the planned window (server time may have moved on since, so compare the attempt's end).
    expect(Date.parse(planned.window!.startAt) - Date.parse(lastAttempt(done).endedAt)).toBeGreaterThan(5 * DAY);
    const notices = await harness.notices('cp-now');
    expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'starting', 'completed']);
    expect(notices[1]!.text).toContain('CVE-2026-1234');
    await record('cp-now', 'upgrade-now', scheduled('upgradeComponent'));
    // Nothing in progress takes no overrides.
    expect(await rejection(handle.executeUpdate(upgradeNowUpdate, { args: [{ by: 'x' }] }))).toBe(
      'no upgrade of cp-now is in progress to start now',
    );
  });

  it('notices carry idempotency keys per attempt: a lost reply is not emailed twice, a new attempt is emailed anew', async () => {
    notifier.losingReply.add('cp-notices/scheduled');
    const handle = await offer('cp-notices', LTS_581);
    const first = await advanceUntil(handle, (s) => s.upgrade?.stage === 'waiting-for-window', MINUTE);
    const key = `${controlPlaneWorkflowId('cp-notices')}/a1`;
    // Delivered, reply lost, retried: one email, and the retry saw it as a duplicate.
    expect(first.upgrade!.notices).toEqual([
      expect.objectContaining({ kind: 'scheduled', key: `${key}/scheduled/1`, duplicate: true }),
    ]);
    await handle.signal(cancelSignal, 'wrong release');
    await attemptsEnded(handle);
    await offer('cp-notices', LTS_582);
    await waitingForWindow(handle, 'lts-5.8.2');
    const notices = await harness.notices('cp-notices');
    expect(notices.map((n) => [n.noticeKind, n.key])).toEqual([
      ['scheduled', `${key}/scheduled/1`],
      ['cancelled', `${key}/cancelled/2`],
      ['scheduled', `${controlPlaneWorkflowId('cp-notices')}/a2/scheduled/1`],
    ]);
  });

  // ---- two releases, one control plane (issue #10) ----

  it('a newer release offered while the older waits for its window replaces it', async () => {
    const handle = await offer('cp-two-waiting', LTS_581);
    await waitingForWindow(handle, 'lts-5.8.1');
    await offer('cp-two-waiting', LTS_582);
    await attemptsEnded(handle, 1, MINUTE);
    const replaced = await waitingForWindow(handle, 'lts-5.8.2');
    expect(replaced.recent).toEqual([
      expect.objectContaining({ releaseId: 'lts-5.8.1', outcome: 'superseded', changed: false }),
    ]);
    expect(replaced.recent[0]!.reason).toBe('superseded by release lts-5.8.2 before anything changed');
    expect(replaced.runs).toBe(1);
    expect(replaced.pending).toBeUndefined();
    const done = await attemptsEnded(handle, 2);
    expect(lastAttempt(done)).toMatchObject({ releaseId: 'lts-5.8.2', outcome: 'completed' });
    expect(await changesMade('cp-two-waiting', 'upgradeComponent')).toEqual([
      ['dashboard', '5.8.2'],
      ['gateway', '5.8.2'],
      ['dp-eu', '5.8.2'],
    ]);
    expect(await versions('cp-two-waiting')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    expect(await noticeKinds('cp-two-waiting')).toEqual(['scheduled', 'scheduled', 'completed']);
    await record('cp-two-waiting', 'superseded-by-newer', (run) =>
      run.events.some((e) => e.workflowExecutionContinuedAsNewEventAttributes),
    );
  });

  it('a newer release offered while the older is changing waits, then is assessed against what is installed', async () => {
    const handle = await offer('cp-two-changing', LTS_581);
    await pauseAfterDashboard(handle, skipIntoWindow(handle));
    await offer('cp-two-changing', LTS_582);
    const both = await waitFor(handle, (s) => s.pending?.releaseId === 'lts-5.8.2');
    expect(both.upgrade).toMatchObject({ releaseId: 'lts-5.8.1', stage: 'dashboard', paused: true });
    expect(both.pending).toMatchObject({ targets: LTS_582.targets, source: 'sre' });
    expect(both.state).toBe('changing');
    // The product's inventory reports what runs once the older upgrade is through.
    harness.updateControlPlane('cp-two-changing', {
      dashboard: { version: '5.8.1' },
      gateway: { version: '5.8.1' },
      dataPlanes: [{ id: 'dp-eu', version: '5.8.1' }],
    });
    await handle.signal(resumeSignal);
    const older = await attemptsEnded(handle, 1, MINUTE);
    expect(older.recent[0]).toMatchObject({ releaseId: 'lts-5.8.1', outcome: 'completed' });
    const newer = await waitingForWindow(handle, 'lts-5.8.2');
    expect(newer.installed).toEqual({ dashboard: '5.8.1', gateway: '5.8.1', 'dp-eu': '5.8.1' });
    expect(newer.upgrade!.changes.map((c) => `${c.component.id} ${c.from} → ${c.to}`)).toEqual([
      'dashboard 5.8.1 → 5.8.2',
      'gateway 5.8.1 → 5.8.2',
      'dp-eu 5.8.1 → 5.8.2',
    ]);
    const done = await attemptsEnded(handle, 2);
    expect(done.recent.map((r) => [r.releaseId, r.outcome])).toEqual([
      ['lts-5.8.1', 'completed'],
      ['lts-5.8.2', 'completed'],
    ]);
    expect(await changesMade('cp-two-changing', 'upgradeComponent')).toEqual([
      ['dashboard', '5.8.1'],
      ['gateway', '5.8.1'],
      ['dp-eu', '5.8.1'],
      ['dashboard', '5.8.2'],
      ['gateway', '5.8.2'],
      ['dp-eu', '5.8.2'],
    ]);
    expect(await versions('cp-two-changing')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    await record(
      'cp-two-changing',
      'pending-while-changing',
      (run) => run.events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'offer').length > 1,
    );
  });

  it.each([
    ['resumed', 'cp-two-warn-resume'],
    ['cancelled', 'cp-two-warn-cancel'],
  ])(
    'a newer release offered while the older is paused on a health warn waits; older %s, the newer is never undone',
    async (how, cpId) => {
      const handle = await offer(cpId, LTS_581);
      const skipping = skipIntoWindow(handle);
      await waitFor(handle, (s) => !!s.upgrade?.paused && s.upgrade.stage === 'gateway');
      await skipping;
      await offer(cpId, LTS_582);
      const waiting = await waitFor(handle, (s) => s.pending?.releaseId === 'lts-5.8.2');
      expect(waiting.upgrade).toMatchObject({ releaseId: 'lts-5.8.1', paused: true });
      expect(waiting.whyNot[0]!.code).toBe('health-warn');
      // Redis is fixed either way, so the newer release can pass its own soak.
      harness.fleet.setFault(cpId, 'gateway', null);
      if (how === 'resumed') await handle.signal(resumeSignal, { by: 'sre-jo' });
      else await handle.signal(cancelSignal, { reason: 'not during the incident', by: 'sre-jo' });
      const older = await attemptsEnded(handle, 1, MINUTE);
      expect(older.recent[0]).toMatchObject({
        releaseId: 'lts-5.8.1',
        outcome: how === 'resumed' ? 'completed' : 'cancelled',
      });
      const done = await attemptsEnded(handle, 2);
      expect(lastAttempt(done)).toMatchObject({ releaseId: 'lts-5.8.2', outcome: 'completed' });
      expect(await versions(cpId)).toEqual(['5.8.2', '5.8.2', '5.8.2']);
      expect(done.installed).toEqual({ dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2' });
      // Every restore (of the older's snapshot) happened before the newer release changed anything.
      const calls = (await activityCalls(cpId)).filter((c) => /^(upgrade|restore)Component$/.test(c.type));
      const firstNewer = calls.findIndex((c) => (c.args[0] as { targetVersion?: string }).targetVersion === '5.8.2');
      const restores = calls.map((c, i) => [c.type, i] as const).filter(([t]) => t === 'restoreComponent');
      expect(restores.every(([, i]) => i < firstNewer)).toBe(true);
      expect(await changesMade(cpId, 'restoreComponent')).toEqual(
        how === 'resumed'
          ? []
          : [
              ['gateway', '5.3.4'],
              ['dashboard', '5.3.4'],
            ],
      );
    },
  );

  it('an older release offered while a newer one runs is ignored', async () => {
    const handle = await offer('cp-two-older', LTS_582);
    await waitingForWindow(handle, 'lts-5.8.2');
    await offer('cp-two-older', LTS_581);
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await status(handle);
    expect(waiting.upgrade).toMatchObject({ releaseId: 'lts-5.8.2', stage: 'waiting-for-window' });
    expect(waiting.pending).toBeUndefined();
    expect(waiting.recent).toEqual([]);
    // Also while it changes.
    await pauseAfterDashboard(handle, skipIntoWindow(handle));
    await offer('cp-two-older', LTS_581);
    await new Promise((r) => setTimeout(r, 300));
    const changing = await status(handle);
    expect(changing.upgrade!.releaseId).toBe('lts-5.8.2');
    expect(changing.pending).toBeUndefined();
    await handle.signal(resumeSignal);
    const done = await attemptsEnded(handle);
    await env.sleep('2 days');
    const later = await status(handle);
    expect(later.recent.map((r) => [r.releaseId, r.outcome])).toEqual([['lts-5.8.2', 'completed']]);
    expect(later.upgrade).toBeUndefined();
    expect(done.pending).toBeUndefined();
    expect(await changesMade('cp-two-older', 'upgradeComponent')).toEqual([
      ['dashboard', '5.8.2'],
      ['gateway', '5.8.2'],
      ['dp-eu', '5.8.2'],
    ]);
    expect(await versions('cp-two-older')).toEqual(['5.8.2', '5.8.2', '5.8.2']);
  });

  it('the same release offered again while it is in progress makes one attempt', async () => {
    const handle = await offer('cp-two-same', LTS_582);
    await waitingForWindow(handle);
    await offer('cp-two-same', LTS_582);
    await offer('cp-two-same', LTS_582, 'catch-up');
    await pauseAfterDashboard(handle, skipIntoWindow(handle));
    await offer('cp-two-same', LTS_582);
    expect((await status(handle)).pending).toBeUndefined();
    await handle.signal(resumeSignal);
    await attemptsEnded(handle);
    await env.sleep('2 days');
    const later = await status(handle);
    expect(later.recent.map((r) => [r.releaseId, r.outcome])).toEqual([['lts-5.8.2', 'completed']]);
    expect(await activityCalls('cp-two-same', 'planWindow')).toHaveLength(1);
    expect(await noticeKinds('cp-two-same')).toEqual(['scheduled', 'completed']);
  });

  it('another release with the targets nightshift just installed changes nothing and tells no one', async () => {
    // The inventory lags: it still lists what ran before the upgrade, so only the workflow knows what is installed.
    const handle = await offer('cp-same-targets', LTS_582);
    await attemptsEnded(handle);
    const reissued: Release = { ...LTS_582, id: 'lts-5.8.2-reissued' };
    await offer('cp-same-targets', reissued, 'follow-up');
    await offer('cp-same-targets', reissued, 'catch-up');
    await env.sleep('2 days');
    const later = await status(handle);
    expect(later.recent.map((r) => [r.releaseId, r.outcome])).toEqual([['lts-5.8.2', 'completed']]);
    expect(later.upgrade).toBeUndefined();
    expect(later.pending).toBeUndefined();
    expect(await activityCalls('cp-same-targets', 'planWindow')).toHaveLength(1);
    expect(await noticeKinds('cp-same-targets')).toEqual(['scheduled', 'completed']);
    // An SRE may still ask for it (after a change by hand, say): that offer is assessed and runs.
    await offer('cp-same-targets', reissued, 'sre');
    const sre = await attemptsEnded(handle, 2);
    expect(lastAttempt(sre).releaseId).toBe('lts-5.8.2-reissued');
    await record(
      'cp-same-targets',
      'same-targets-declined',
      (run) => run.events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'offer').length > 1,
    );
  });

  // ---- continue-as-new ----

  it('continues as new after each attempt with a small history, carrying recent attempts and installed versions', async () => {
    const handle = await offer('cp-can', LTS_581);
    const afterFirst = await attemptsEnded(handle, 1);
    expect(lastAttempt(afterFirst)).toMatchObject({ releaseId: 'lts-5.8.1', outcome: 'completed' });
    expect(afterFirst.runs).toBe(1);
    expect(afterFirst.installed).toEqual({ dashboard: '5.8.1', gateway: '5.8.1', 'dp-eu': '5.8.1' });
    let runs = await runsOf('cp-can');
    expect(runs).toHaveLength(2);
    expect(runs.at(-1)!.events.length).toBeLessThan(200);
    expect(runs[0]!.events.at(-1)!.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();

    harness.updateControlPlane('cp-can', {
      dashboard: { version: '5.8.1' },
      gateway: { version: '5.8.1' },
      dataPlanes: [{ id: 'dp-eu', version: '5.8.1' }],
    });
    await offer('cp-can', LTS_582);
    const afterSecond = await attemptsEnded(handle, 2);
    expect(afterSecond.runs).toBe(2);
    expect(afterSecond.recent.map((r) => [r.releaseId, r.outcome])).toEqual([
      ['lts-5.8.1', 'completed'],
      ['lts-5.8.2', 'completed'],
    ]);
    expect(afterSecond.installed).toEqual({ dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2' });
    runs = await runsOf('cp-can');
    expect(runs).toHaveLength(3);
    for (const run of runs) expect(run.events.length).toBeLessThan(200);
    const latest = await handle.fetchHistory();
    expect(latest.events!.length).toBeLessThan(200);
  });
});
