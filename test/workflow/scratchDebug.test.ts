// fleetRollout on the real time-skipping test server with real adapters and real control-plane workflows: waves,
// bake, slots against windows, freeze, the failure budget (harm only) with halt and approve, cancel, continue-as-new
// with control planes in flight, reconciliation of lost control planes, `forget`, reports before best-effort email,
// no child workflows, and control planes whose fleet is gone. The time-skipping server has no visibility API
// (ListWorkflowExecutions is unimplemented), so supersede, the follow-up and catch-up are tested against the dev
// server in test/integration/fleetRollout.test.ts.
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import type { ComponentRef } from '../../domain/model';
import type { Release } from '../../domain/release';
import { parseRolloutPolicy, type RolloutPolicyInput } from '../../domain/rollout';
import { TemporalMessenger } from '../../integrations/temporalMessenger';
import { workflowsPath } from '../../workers/worker';
import { fleetRollout } from '../../workflows';
import {
  approveSignal,
  cancelSignal,
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  forgetSignal,
  freezeSignal,
  type AttemptRecord,
  type ControlPlaneStatus,
  type FleetStatus,
} from '../../workflows/messages';
import { UpgradeStage } from '../../workflows/searchAttributes';
import { controlPlane, FleetHarness, LTS_RELEASE, org, weekdayIn } from '../helpers/fleetHarness';
import { recordHistory } from '../helpers/recordHistory';
import { timeSkippingEnv } from '../helpers/temporalServers';

const TASK_QUEUE = 'fleet-rollout-test';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

let env: TestWorkflowEnvironment;
let worker: Worker;
let harness: FleetHarness;
let workerRun: Promise<void>;
let bundle: WorkflowBundle;
/** The adapters as the harness built them; a test may wrap one for its own run (restored after each test). */
let baseDeps: ActivityDeps;
let deps: ActivityDeps;

const canary = (id: string, extra: Record<string, unknown> = {}) => controlPlane(id, { labels: ['canary'], ...extra });
const twoHourWindow = {
  timeZone: 'Europe/Berlin',
  start: '02:00',
  durationMinutes: 120,
  weekly: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
};
/** A window only on the weekday four days from now: later than any every-day window's first opening. */
const lateWindow = {
  timeZone: 'Europe/Berlin',
  start: '00:00',
  durationMinutes: 1440,
  weekly: { days: [weekdayIn(Date.now() + 4 * DAY, 'Europe/Berlin')] },
};
const unreachableDataPlane = { simulate: { faults: { 'dp-eu': 'unreachable' } } };
const many = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => controlPlane(`${prefix}${String(i + 1).padStart(3, '0')}`, { dataPlanes: [] }));

/** Every control plane of every test; each test shows the fleet only its own (see useFleet). */
const ALL = [
  canary('w-canary-1'),
  canary('w-canary-2'),
  controlPlane('w-main-1'),
  controlPlane('w-main-2'),
  controlPlane('w-main-3'),
  controlPlane('w-hybrid', { hybrid: true }),
  controlPlane('w-opted-out', { autoUpgrade: false }),
  controlPlane('f-frozen', { window: twoHourWindow }),
  canary('h-canary-fail', { simulate: { faults: { gateway: 'fail-after-upgrade' } } }),
  controlPlane('h-main-1'),
  controlPlane('h-main-2'),
  controlPlane('b-fail', { simulate: { faults: { dashboard: 'fail-after-upgrade' } } }),
  controlPlane('b-ok-1', { window: lateWindow }),
  controlPlane('b-ok-2', { window: lateWindow }),
  controlPlane('x-1'),
  controlPlane('x-2'),
  controlPlane('x-3'),
  controlPlane('t-1'),
  controlPlane('t-2'),
  controlPlane('l-far', { window: lateWindow }),
  controlPlane('l-near'),
  controlPlane('g-1', { window: lateWindow }),
  controlPlane('g-2'),
  controlPlane('p-1', unreachableDataPlane),
  controlPlane('p-2', unreachableDataPlane),
  controlPlane('p-3', unreachableDataPlane),
  controlPlane('q-1', unreachableDataPlane),
  controlPlane('q-2', { window: lateWindow }),
  controlPlane('e-mail-fails'),
  controlPlane('e-other', { window: { ...lateWindow, weekly: { days: [weekdayIn(Date.now() + DAY, 'Europe/Berlin')] } } }),
  controlPlane('o-orphan', { window: lateWindow }),
  ...many('m-', 60),
  ...many('n-', 70),
];

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  bundle = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
  harness = new FleetHarness({ orgs: [org()], controlPlanes: ALL });
  await harness.start({ rolloutMs: 20 });
  baseDeps = { ...harness.deps };
});

// A fresh time-skipping server per test: time is global to a server, and the control-plane workflows live on after
// their upgrade (waiting for the next offer), so one test's timers would otherwise fire in another's.
beforeEach(async () => {
  await resetVersions();
  env = await timeSkippingEnv();
  deps = { ...baseDeps, messenger: new TemporalMessenger(env.client, { taskQueue: TASK_QUEUE }) };
  await startWorker();
});

async function startWorker(): Promise<void> {
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    activities: createActivities(deps),
    maxConcurrentActivityTaskExecutions: 50,
  });
  workerRun = worker.run();
}

afterEach(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
});

afterAll(async () => {
  await harness?.close();
});

/** Every component back on its inventory version (a no-op unless an earlier test changed some). */
async function resetVersions(): Promise<void> {
  for (const cp of ALL) {
    const versions: [string, ComponentRef['kind'], string][] = [
      ['dashboard', 'dashboard', (cp.dashboard as { version: string }).version],
      ['gateway', 'gateway', (cp.gateway as { version: string }).version],
      ...((cp.dataPlanes ?? []) as { id: string; version: string }[]).map(
        (dp): [string, ComponentRef['kind'], string] => [dp.id, 'data-plane', dp.version],
      ),
    ];
    for (const [id, kind, version] of versions) {
      const ref: ComponentRef = { controlPlaneId: String(cp.id), kind, id };
      if ((await harness.version(String(cp.id), id)) !== version)
        await harness.platform.upgrade(ref, version, () => undefined, new AbortController().signal);
    }
  }
}

/** The inventory the fleet lists: only this test's control planes (the simulated platform knows them all). */
function useFleet(prefix: string): string[] {
  const cps = ALL.filter((cp) => String(cp.id).startsWith(prefix));
  harness.writeInventory({ orgs: [org()], controlPlanes: cps });
  return cps.map((cp) => String(cp.id));
}

function rollout(overrides: RolloutPolicyInput = {}) {
  return parseRolloutPolicy({ canary: { labels: ['canary'] }, bakeMinutes: 0, ...overrides });
}

function release(id: string, version = '5.8.2'): Release {
  return { ...LTS_RELEASE, id, targets: { dashboard: version, gateway: version } };
}

function startFleet(rel: Release, policy: RolloutPolicyInput = {}): Promise<WorkflowHandle<typeof fleetRollout>> {
  return env.client.workflow.start(fleetRollout, {
    workflowId: fleetWorkflowId(rel.id),
    taskQueue: TASK_QUEUE,
    args: [{ release: rel, rollout: rollout(policy) }],
  });
}

const cpHandle = (id: string) => env.client.workflow.getHandle(controlPlaneWorkflowId(id));
const cpStatus = (id: string): Promise<ControlPlaneStatus> => cpHandle(id).query(controlPlaneStatusQuery);

/** The control plane's last finished attempt at `releaseId`. */
async function attempt(id: string, releaseId: string): Promise<AttemptRecord | undefined> {
  return (await cpStatus(id)).recent.filter((r) => r.releaseId === releaseId).at(-1);
}

/** Polls (in real time, which does not skip server time) until the predicate holds. */
async function until<T>(read: () => Promise<T>, predicate: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read().catch(() => undefined);
    if (last !== undefined && predicate(last)) return last;
    if (Date.now() > deadline) throw new Error(`never matched; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const fleetStatus = (h: WorkflowHandle) => () => h.query(fleetStatusQuery);

/** Waits until the control plane waits for its window for `releaseId`, with its scheduled notice sent. */
const waitingForWindow = (id: string, releaseId: string) =>
  until(
    () => cpStatus(id),
    (s) =>
      s.upgrade?.releaseId === releaseId && s.upgrade.stage === 'waiting-for-window' && s.upgrade.notices.length === 1,
  );

/** Moves server time forward in steps until `done` holds. */
async function advanceUntil(done: () => Promise<boolean>, step = 3 * 60 * MINUTE, maxSteps = 200): Promise<void> {
  for (let i = 0; i < maxSteps; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (await done().catch(() => false)) return;
    await env.sleep(step);
  }
  throw new Error(`not done after ${maxSteps} steps of ${step / MINUTE} min`);
}

async function noticeKinds(id: string, releaseId: string): Promise<string[]> {
  return (await harness.notices(id)).filter((n) => n.properties.release_id === releaseId).map((n) => n.noticeKind);
}

/** Event type names of a history, e.g. 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED'. */
async function eventTypes(h: WorkflowHandle): Promise<string[]> {
  const { temporal } = await import('@temporalio/proto');
  const history = await h.fetchHistory();
  return (history.events ?? []).map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType));
}

function peakOverlap(intervals: (readonly [number, number])[]): number {
  const edges = intervals.flatMap(([a, b]) => [
    [a, 1],
    [b, -1],
  ]);
  edges.sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
  let open = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (open += d!));
  return peak;
}


it('debug', async () => {
  useFleet('w-');
  const handle = await startFleet(LTS_RELEASE, { bakeMinutes: 120, maxConcurrent: 2 });
  const res = handle.result();
  let done = false;
  res.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 40 && !done; i++) {
    await new Promise((r) => setTimeout(r, 3000));
    const s = await handle.query(fleetStatusQuery).catch((e) => String(e));
    const now = await env.currentTimeMs();
    console.log(new Date(now).toISOString(), JSON.stringify(typeof s === 'string' ? s : { stage: s.stage, inFlight: s.inFlight, outcomes: s.outcomes, waves: s.waves }));
    for (const id of ['w-canary-1', 'w-main-1']) {
      const c = await cpStatus(id).catch((e) => String(e));
      console.log(id, JSON.stringify(typeof c === 'string' ? c : { state: c.state, stage: c.upgrade?.stage, whyNot: c.whyNot, recent: c.recent.length }));
    }
  }
  console.log(done);
}, 200_000);
