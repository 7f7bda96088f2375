// A fault at every step (issue 12): for each activity of an upgrade and each kind of fault, the upgrade, run by the
// real controlPlane workflow inside a real fleetRollout on the time-skipping server with real adapters (simulated
// fleet over HTTP, outbox, alert log, file inventory), must end with every component either on the target (verified)
// or exactly on its previous version and configuration, no component upgraded or restored twice and no rollout
// superseding another, an SRE alert for every upgrade that did not complete (none for one that did), and the fleet's
// counts matching what the control planes did. The verdict is read from the simulated fleet's own audit log and state,
// not from the workflows' status.
//
// Faults are injected by wrapping one activity function (activities/index.ts createActivities) for one control plane:
// the first activity of that name (and component) its workflow schedules takes the fault.
//   retryable      attempt 1 does its work, then fails retryably (the reply was lost); attempt 2 fails retryably
//                  before doing anything; attempt 3 runs normally.
//   non-retryable  every attempt fails for good: before doing anything, except a platform change (upgrade, restore),
//                  which is requested first and goes on (the worst case for a rollback: the component did change).
//   timeout        attempt 1 does its work, then hangs without heartbeating or answering until the server times it out
//                  (heartbeat timeout where the activity has one, else start-to-close).
//   worker-killed  attempt 1 starts its work, and the worker is shut down while it is in flight: it polls no more,
//                  running activities are cancelled after 20 ms, and the attempt never answers (as after a SIGKILL);
//                  a fresh worker takes over and the server retries the attempt once it times out. A platform rollout
//                  the attempt started goes on.
// A given-up attempt is let go only after a later attempt of its activity has finished (its late answer is refused),
// so the killed workers can drain and the file ends cleanly.
//
// The Java test server does not skip time while an activity runs, so every timeout costs its real duration (1 minute,
// 2 for a notice). All 40 cases therefore run at once, in one fleet rollout (maxConcurrent 100, a failure budget that
// never halts), with a notice period of 0 and a window that is open: their timeouts overlap, and the matrix takes about
// three minutes. The worker is killed once every worker-killed case still waiting has its attempt in flight, or 8 s
// after the first of them has (later steps get a kill of their own); each kill also interrupts whatever else runs.
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type Activities, type ActivityDeps } from '../../activities';
import type { SimulatedAuditEntry } from '../../integrations/simulatedFleet/wire';
import type { ComponentRef } from '../../domain/model';
import type { Release } from '../../domain/release';
import { parseRolloutPolicy } from '../../domain/rollout';
import { TemporalMessenger } from '../../integrations/temporalMessenger';
import { workflowsPath } from '../../worker/worker';
import { workflowBundleOptions } from '../../worker/workflowBundle';
import { fleetRollout } from '../../workflows';
import {
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  type AttemptRecord,
  type FleetUpgradeResult,
} from '../../workflows/messages';
import { controlPlane, FleetHarness, LTS_RELEASE, org, TEST_POLICY } from '../helpers/fleetHarness';
import type { UpgradePolicy } from '../../domain/policy';
import { bounded, runGuarded } from '../helpers/stallGuard';
import { timeSkippingEnv } from '../helpers/temporalServers';

const TASK_QUEUE = 'fault-matrix';
const TARGET = '5.8.2';
const COMPONENTS = ['dashboard', 'gateway', 'dp-eu'] as const;

const FAULTS = ['retryable', 'non-retryable', 'timeout', 'worker-killed'] as const;
type Fault = (typeof FAULTS)[number];
type Outcome = AttemptRecord['outcome'];

interface Row {
  /** The step, as the matrix names it. */
  step: string;
  activity: keyof Activities;
  /** Only the activity for this component (upgrade, verify, restore). */
  component?: string;
  /** Simulated faults of the row's control planes (the restore row needs a rollback to happen). */
  simulate?: Record<string, string>;
  /** What the upgrade must end as, per fault. */
  expect: Record<Fault, Outcome>;
}

const recovers = (failed: Outcome): Record<Fault, Outcome> => ({
  retryable: 'completed',
  'non-retryable': failed,
  timeout: 'completed',
  'worker-killed': 'completed',
});

const ROWS: Row[] = [
  { step: 'assess', activity: 'assessControlPlane', expect: recovers('failed-before-change') },
  { step: 'plan', activity: 'planWindow', expect: recovers('failed-before-change') },
  { step: 'notify', activity: 'sendNotice', expect: recovers('failed-before-change') },
  { step: 'pre-flight', activity: 'probeComponents', expect: recovers('failed-before-change') },
  { step: 'snapshot', activity: 'snapshotComponents', expect: recovers('failed-before-change') },
  {
    step: 'upgrade dashboard',
    activity: 'upgradeComponent',
    component: 'dashboard',
    expect: recovers('rolled-back'),
  },
  { step: 'upgrade gateway', activity: 'upgradeComponent', component: 'gateway', expect: recovers('rolled-back') },
  { step: 'upgrade data plane', activity: 'upgradeComponent', component: 'dp-eu', expect: recovers('rolled-back') },
  { step: 'verify gateway', activity: 'verifyComponent', component: 'gateway', expect: recovers('rolled-back') },
  {
    // The data plane fails its verification, so the upgrade rolls back; the fault hits the first restore.
    step: 'restore data plane',
    activity: 'restoreComponent',
    component: 'dp-eu',
    simulate: { 'dp-eu': 'fail-after-upgrade' },
    expect: {
      retryable: 'rolled-back',
      'non-retryable': 'rolled-back',
      timeout: 'rolled-back',
      'worker-killed': 'rolled-back',
    },
  },
];

/** Customers are told, and the upgrade starts at once: every case runs at the same time, so their timeouts overlap. */
const POLICY: UpgradePolicy = {
  ...TEST_POLICY,
  noticeLeadMinutes: { production: 0, staging: 0, development: 0 },
};
const HOUR = 60 * 60_000;
/** A window every day that opened an hour ago and is open for a day. */
const WINDOW = {
  timeZone: 'Europe/Berlin',
  start: new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Berlin',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(Date.now() - HOUR)),
  durationMinutes: 1440,
  weekly: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
};
const RELEASE: Release = { ...LTS_RELEASE, id: 'lts-5.8.2-fault-matrix' };

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
const cpId = (row: Row, fault: Fault) => `fm-${slug(row.step)}-${fault}`;

/** Every control plane of the matrix; each fleet rollout sees only its own (see useFleet). */
const ALL = ROWS.flatMap((row) =>
  FAULTS.map((fault) =>
    controlPlane(cpId(row, fault), { window: WINDOW, ...(row.simulate ? { simulate: { faults: row.simulate } } : {}) }),
  ),
);

// ---- fault injection ----

interface Injection {
  row: Row;
  fault: Fault;
  /** The activity (by id) that takes the fault: the first one of its name and component the workflow scheduled. */
  activityId?: string;
  attempts: number;
}

/** Control plane id → the fault its workflow meets (rebuilt for every run of the matrix). */
let injections = new Map<string, Injection>();

function componentOf(activity: string, args: unknown[]): string | undefined {
  const input = args[0] as { component?: { id?: string } } | undefined;
  return activity === 'upgradeComponent' || activity === 'verifyComponent' || activity === 'restoreComponent'
    ? input?.component?.id
    : undefined;
}

/**
 * Attempts that never answer, by activity id. One is let go only once a later attempt of its activity has finished:
 * its late answer then reaches a server that has already moved on (it is refused), and its worker can drain.
 */
const hung = new Map<string, (() => void)[]>();

/** An attempt that does not answer, and ignores cancellation (a stuck call, or a worker that is gone). */
function hang(activityId: string): Promise<never> {
  return new Promise<never>((_, reject) =>
    hung.set(activityId, [
      ...(hung.get(activityId) ?? []),
      () => reject(new Error('the late answer of an attempt that was given up')),
    ]),
  );
}

function letGo(activityId?: string): void {
  for (const [id, releases] of hung)
    if (activityId === undefined || id === activityId) {
      hung.delete(id);
      for (const release of releases) release();
    }
}

/**
 * The activities, with each control plane's fault applied to its activity. `inFlightForKill` is called when a
 * worker-killed case has its attempt under way: the worker is killed once every such case is (one kill for all).
 */
function faultyActivities(deps: ActivityDeps, inFlightForKill: (controlPlaneId: string) => void): Activities {
  const real = createActivities(deps);
  const wrapped: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(real) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = async (...args: unknown[]) => {
      const info = Context.current().info;
      const cp = (info.workflowExecution?.workflowId ?? '').replace(/^control-plane\//, '');
      const inj = injections.get(cp);
      if (!inj || inj.row.activity !== name) return fn(...args);
      if (inj.row.component && componentOf(name, args) !== inj.row.component) return fn(...args);
      inj.activityId ??= info.activityId;
      if (inj.activityId !== info.activityId) return fn(...args);
      inj.attempts = Math.max(inj.attempts, info.attempt);
      const platformChange = name === 'upgradeComponent' || name === 'restoreComponent';
      /** A later attempt: runs normally, then lets the given-up one go. */
      const later = async () => {
        try {
          return await fn(...args);
        } finally {
          const id = info.activityId;
          setTimeout(() => letGo(id), 100);
        }
      };
      switch (inj.fault) {
        case 'retryable':
          if (info.attempt === 1) {
            await fn(...args);
            throw ApplicationFailure.retryable(`${name}: connection reset after the request (test)`, 'TestFault');
          }
          if (info.attempt === 2) throw ApplicationFailure.retryable(`${name}: connection refused (test)`, 'TestFault');
          return fn(...args);
        case 'non-retryable':
          // Every attempt of this activity: an attempt lost with the killed worker must not turn it into a success.
          if (platformChange) await fn(...args);
          throw ApplicationFailure.nonRetryable(`${name}: refused for good (test)`, 'TestFault');
        case 'timeout':
          if (info.attempt > 1) return later();
          await fn(...args).catch(() => undefined);
          return hang(info.activityId);
        case 'worker-killed':
          if (info.attempt > 1) return later();
          void fn(...args).catch(() => undefined);
          // Let the work get under way (a platform rollout takes 150 ms here) before the worker may die.
          await new Promise((r) => setTimeout(r, 30));
          inFlightForKill(cp);
          return hang(info.activityId);
      }
    };
  }
  return wrapped as unknown as Activities;
}

// ---- servers and workers ----

let bundle: WorkflowBundle;
let harness: FleetHarness;
let baseDeps: ActivityDeps;
let env: TestWorkflowEnvironment;
let worker: Worker | undefined;
let workerRun: Promise<void> | undefined;
const auditLog = () => path.join(harness.dir, 'audit.jsonl');

/**
 * The worker-killed cases: those still to be killed, those with their attempt in flight now, and the kills so far
 * (each with the cases it interrupted). The worker is killed once every remaining case is in flight, or 8 s after the
 * first of a batch is: cases whose activity comes later in the upgrade get a kill of their own.
 */
let kill: {
  waiting: Set<string>;
  inFlight: Set<string>;
  batches: string[][];
  killing: boolean;
  timer?: NodeJS.Timeout;
};

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  bundle = await bundleWorkflowCode(workflowBundleOptions(workflowsPath(), new DefaultLogger('ERROR')));
  harness = new FleetHarness({ orgs: [org()], controlPlanes: ALL });
  await harness.start({ rolloutMs: 150, policy: POLICY, auditLog: path.join(harness.dir, 'audit.jsonl') });
  baseDeps = { ...harness.deps };
});

afterAll(async () => {
  clearTimeout(kill?.timer);
  await closeServer();
  await harness?.close();
  printMatrix();
});

async function startWorker(): Promise<void> {
  const deps: ActivityDeps = { ...baseDeps, messenger: new TemporalMessenger(env.client, { taskQueue: TASK_QUEUE }) };
  const w = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    activities: faultyActivities(deps, (cp) => inFlightForKill(cp)),
    maxConcurrentActivityTaskExecutions: 200,
    // No sticky cache: a worker that dies leaves no workflow behind on a queue only it polled.
    maxCachedWorkflows: 0,
    // The kill: running activities are told at once (and ignore it if they hang); the worker drains in the background.
    shutdownGraceTime: '20ms',
  });
  worker = w;
  workerRun = w.run();
}

function inFlightForKill(cp: string): void {
  kill.inFlight.add(cp);
  if (kill.killing) return;
  kill.timer ??= setTimeout(() => void killWorker(), 8_000);
  if ([...kill.waiting].every((id) => kill.inFlight.has(id))) void killWorker();
}

/** The worker dies with the attempts in flight (they never answer, as after a SIGKILL); a fresh one starts. */
async function killWorker(): Promise<void> {
  if (kill.killing || !worker) return;
  kill.killing = true;
  clearTimeout(kill.timer);
  kill.timer = undefined;
  const [w, run] = [worker, workerRun];
  worker = undefined;
  w.shutdown();
  // It polls no more, and its hung attempts never answer while they count: the server retries them after they time
  // out, on the fresh worker. (It drains only once those retries have finished and let the hung attempts go.)
  draining.push(run!.catch(() => undefined));
  const batch = [...kill.inFlight];
  kill.batches.push(batch);
  for (const cp of batch) kill.waiting.delete(cp);
  kill.inFlight.clear();
  await startWorker();
  kill.killing = false;
}

/** Workers shut down by a kill, still draining. */
const draining: Promise<void>[] = [];

async function closeServer(): Promise<void> {
  const w = worker;
  worker = undefined;
  if (w?.getState() === 'RUNNING') w.shutdown();
  letGo();
  await workerRun?.catch(() => undefined);
  await Promise.all(draining.splice(0));
  workerRun = undefined;
  await env?.teardown();
}

// ---- fixtures ----

/** Every component of `ids` back on 5.3.4 with its first configuration (a stall retry starts from a clean fleet). */
async function resetComponents(ids: string[]): Promise<void> {
  for (const cp of ids)
    for (const id of COMPONENTS) {
      const kind: ComponentRef['kind'] = id === 'dp-eu' ? 'data-plane' : id;
      const ref: ComponentRef = { controlPlaneId: cp, kind, id };
      const c = harness.fleet.component(cp, id)!;
      if (c.version !== '5.3.4' || c.rollout || JSON.stringify(c.config) !== '{}')
        await harness.platform.restore(
          ref,
          { component: ref, version: '5.3.4', takenAt: new Date().toISOString(), config: {}, data: {} },
          () => undefined,
          new AbortController().signal,
        );
    }
}

function componentState(cp: string, id: string): ComponentState & { rolling: boolean } {
  const c = harness.fleet.component(cp, id);
  if (!c) throw new Error(`no component ${cp}/${id}`);
  return { version: c.version, config: c.config, rolling: c.rollout !== null };
}

interface ComponentState {
  version: string;
  config: Record<string, unknown>;
}

function auditOf(cp: string): SimulatedAuditEntry[] {
  if (!fs.existsSync(auditLog())) return [];
  return fs
    .readFileSync(auditLog(), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SimulatedAuditEntry)
    .filter((e) => e.controlPlaneId === cp);
}

/** A fresh server, clean components, empty logs and fresh injections: the state every run of the matrix starts in. */
async function freshStart(): Promise<void> {
  clearTimeout(kill?.timer);
  await closeServer();
  const ids = ALL.map((cp) => String(cp.id));
  await resetComponents(ids);
  if (fs.existsSync(auditLog())) fs.truncateSync(auditLog(), 0);
  harness.clearMessages();
  injections = new Map(
    ROWS.flatMap((row) => FAULTS.map((fault) => [cpId(row, fault), { row, fault, attempts: 0 }] as const)),
  );
  kill = {
    waiting: new Set(ROWS.map((row) => cpId(row, 'worker-killed'))),
    inFlight: new Set(),
    batches: [],
    killing: false,
  };
  env = await timeSkippingEnv();
  await startWorker();
}

// ---- driving the fleet ----

let driven: WorkflowHandle<typeof fleetRollout> | undefined;

async function diagnose(): Promise<string> {
  const lines: string[] = [
    `worker kills: ${JSON.stringify(kill.batches)}; in flight now: ${[...kill.inFlight].join(', ')}`,
  ];
  if (driven) {
    const s = await bounded(env, 3000, () => driven!.query(fleetStatusQuery)).catch((e: Error) => e.message);
    lines.push(
      `fleet ${driven.workflowId}: ` +
        (typeof s === 'string' ? s : JSON.stringify({ stage: s.stage, inFlight: s.inFlight, outcomes: s.outcomes })),
    );
  }
  for (const cp of ALL.map((c) => String(c.id))) {
    const s = await bounded(env, 3000, () =>
      env.client.workflow.getHandle(controlPlaneWorkflowId(cp)).query(controlPlaneStatusQuery),
    ).catch((e: Error) => e.message);
    if (typeof s !== 'string' && s.recent.some((r) => r.releaseId === RELEASE.id)) continue;
    lines.push(
      `  ${cp}: ` +
        (typeof s === 'string'
          ? s
          : JSON.stringify({
              stage: s.upgrade?.stage,
              steps: s.upgrade?.steps.map((x) => `${x.name}:${x.status}`),
              whyNot: s.whyNot?.map((w) => w.detail),
            })),
    );
  }
  return lines.join('\n');
}

// ---- the verdict on one case ----

interface Cell {
  outcome: string;
  attempts: number;
  alerts: number;
  problems: string[];
}

const matrix = new Map<string, Partial<Record<Fault, Cell>>>();
let fleetProblems: string[] | undefined;

async function judge(
  row: Row,
  fault: Fault,
  before: Map<string, ComponentState>,
  result: FleetUpgradeResult,
): Promise<Cell> {
  const cp = cpId(row, fault);
  const problems: string[] = [];
  // The fleet hears first; the control plane's record of the attempt follows its best-effort alert and email.
  const deadline = Date.now() + 30_000;
  let status = await attemptStatus(cp);
  while (!status.recent.some((r) => r.releaseId === RELEASE.id) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    status = await attemptStatus(cp);
  }
  const attempt = status.recent.filter((r) => r.releaseId === RELEASE.id).at(-1);
  const outcome = attempt?.outcome ?? `none (${status.upgrade?.stage ?? 'idle'})`;
  const inj = injections.get(cp)!;
  if (!inj.activityId) problems.push(`the fault was never injected: no ${row.activity} ran`);
  if (outcome !== row.expect[fault])
    problems.push(`ended ${outcome}, expected ${row.expect[fault]}${attempt?.reason ? ` (${attempt.reason})` : ''}`);
  // The fault played out as designed: retried twice, failed for good, timed out once, lost with a killed worker.
  const attempts = { retryable: [3], 'non-retryable': [1, 2], timeout: [2], 'worker-killed': [2] }[fault];
  if (inj.activityId && !attempts.includes(inj.attempts))
    problems.push(`${row.activity} ran ${inj.attempts} attempt(s), expected ${attempts.join(' or ')}`);
  if (fault === 'worker-killed' && !kill.batches.some((b) => b.includes(cp)))
    problems.push(`the worker was never killed while ${row.activity} ran`);

  // The platform: on the target, or exactly as before; no rollout left running.
  const upgraded = outcome === 'completed';
  for (const id of COMPONENTS) {
    const now = componentState(cp, id);
    const was = before.get(`${cp}/${id}`)!;
    if (now.rolling) problems.push(`${id} still rolling out`);
    if (upgraded && now.version !== TARGET) problems.push(`${id} on ${now.version} after a completed upgrade`);
    if (!upgraded && now.version !== was.version) problems.push(`${id} on ${now.version}, was ${was.version}`);
    if (!upgraded && JSON.stringify(now.config) !== JSON.stringify(was.config))
      problems.push(`${id} config ${JSON.stringify(now.config)}, was ${JSON.stringify(was.config)}`);
  }

  // The fleet's own audit log: who changed what, how often, and never two rollouts of one component at once.
  const audit = auditOf(cp);
  for (const id of COMPONENTS) {
    const started = audit.filter(
      (e): e is Extract<SimulatedAuditEntry, { event: 'deploy' }> =>
        e.event === 'deploy' && e.componentId === id && e.result === 'started',
    );
    const ups = started.filter((e) => e.to === TARGET);
    const downs = started.filter((e) => e.to !== TARGET);
    if (ups.length > 1) problems.push(`${id} upgraded ${ups.length} times`);
    if (downs.length > 1) problems.push(`${id} restored ${downs.length} times`);
    if (upgraded && downs.length > 0) problems.push(`${id} restored after a completed upgrade`);
    if (outcome === 'failed-before-change' && started.length > 0) problems.push(`${id} changed before any change`);
    for (const e of started) {
      if (e.supersedes !== undefined) problems.push(`${id}: deploy to ${e.to} superseded a rollout in progress`);
      if (e.requestedBy?.workflowId !== controlPlaneWorkflowId(cp))
        problems.push(`${id}: deploy to ${e.to} asked by ${e.requestedBy?.workflowId ?? 'nobody'}`);
    }
  }

  // A change the attempt under test asked for was under way when that attempt was given up.
  const platformChange = row.activity === 'upgradeComponent' || row.activity === 'restoreComponent';
  if (platformChange && (fault === 'timeout' || fault === 'worker-killed')) {
    const first = audit.find(
      (e) => e.event === 'deploy' && e.componentId === row.component && e.requestedBy?.activityType === row.activity,
    );
    if (first?.event !== 'deploy' || first.result !== 'started' || first.requestedBy?.attempt !== 1)
      problems.push(
        `attempt 1 of ${row.activity} did not start the ${row.component} rollout: ${JSON.stringify(first)}`,
      );
  }

  // The customer is told how it ended (once told of the window); no email twice.
  const notices = (await harness.notices(cp)).filter((n) => n.properties.release_id === RELEASE.id);
  const kinds = notices.map((n) => n.noticeKind);
  if (new Set(notices.map((n) => n.key)).size !== notices.length) problems.push(`an email sent twice: ${kinds}`);
  const told =
    outcome === 'completed'
      ? kinds.at(-1) === 'completed'
      : outcome === 'rolled-back'
        ? kinds.at(-1) === 'rolled-back'
        : !kinds.includes('scheduled') || kinds.at(-1) === 'cancelled';
  if (!told) problems.push(`customer told ${JSON.stringify(kinds)} after ${outcome}`);

  // SREs hear of every upgrade that did not complete; a completed one pages nobody.
  const all = harness.alerts(cp);
  const alerts = all.filter((a) => a.action !== 'resolve');
  const serious = alerts.filter((a) => a.severity === 'error' || a.severity === 'critical');
  if (!upgraded && serious.length === 0) problems.push(`no SRE alert for ${outcome}`);
  if (upgraded && serious.length > 0) problems.push(`alerted after a completed upgrade: ${serious[0]!.summary}`);
  const triggered = new Set(all.filter((a) => a.action === 'trigger').map((a) => a.dedupKey));
  for (const r of all.filter((a) => a.action === 'resolve'))
    if (!triggered.has(r.dedupKey)) problems.push(`resolve without a trigger: ${r.dedupKey}`);

  // The fleet knows how it ended.
  const failure = result.status.failures.find((f) => f.controlPlaneId === cp);
  if ((outcome === 'rolled-back' || outcome === 'failed') !== (failure !== undefined))
    problems.push(`fleet failures list ${failure ? 'has' : 'lacks'} it after ${outcome}`);
  return { outcome, attempts: inj.attempts, alerts: alerts.length, problems };
}

function attemptStatus(cp: string) {
  return bounded(env, 10_000, () =>
    env.client.workflow.getHandle(controlPlaneWorkflowId(cp)).query(controlPlaneStatusQuery),
  );
}

function checkFleetCounts(result: FleetUpgradeResult, cells: Cell[]): string[] {
  const problems: string[] = [];
  const s = result.status;
  const expected: Record<string, number> = {};
  for (const c of cells) expected[c.outcome] = (expected[c.outcome] ?? 0) + 1;
  if (result.outcome !== 'completed') problems.push(`fleet ended ${result.outcome}`);
  const sorted = (o: Record<string, number | undefined>) => JSON.stringify(Object.entries(o).sort());
  if (sorted(s.outcomes) !== sorted(expected))
    problems.push(`fleet outcomes ${JSON.stringify(s.outcomes)}, the control planes ended ${JSON.stringify(expected)}`);
  const harmed = cells.filter((c) => c.outcome === 'rolled-back' || c.outcome === 'failed').length;
  if (s.failureCount !== harmed) problems.push(`fleet failureCount ${s.failureCount}, ${harmed} did harm`);
  const beforeChange = cells.filter((c) => c.outcome === 'failed-before-change').length;
  if ((s.beforeChangeCount ?? 0) !== beforeChange)
    problems.push(`fleet beforeChangeCount ${s.beforeChangeCount ?? 0}, ${beforeChange} stopped before a change`);
  if (s.inFlight.waitingForWindow + s.inFlight.waitingForSlot + s.inFlight.changing !== 0)
    problems.push(`fleet still counts ${JSON.stringify(s.inFlight)} in flight`);
  if ((s.lostCount ?? 0) !== 0) problems.push(`fleet lost ${s.lostCount}`);
  if (s.eligibility.eligible !== ALL.length) problems.push(`fleet found ${s.eligibility.eligible} eligible`);
  return problems;
}

/** One fleet rollout of every case at once; judges each. */
async function runMatrix(): Promise<void> {
  const before = new Map<string, ComponentState>();
  for (const cp of ALL.map((c) => String(c.id)))
    for (const id of COMPONENTS) {
      const { version, config } = componentState(cp, id);
      before.set(`${cp}/${id}`, { version, config });
    }
  driven = await env.client.workflow.start(fleetRollout, {
    workflowId: fleetWorkflowId(RELEASE.id),
    taskQueue: TASK_QUEUE,
    args: [
      {
        release: RELEASE,
        rollout: parseRolloutPolicy({
          bakeMinutes: 0,
          maxConcurrent: 100,
          failureBudget: { maxFailures: 100, minSample: 100 },
        }),
      },
    ],
  });
  const startedAt = Date.now();
  // The server skips time while the client waits for the result (and no activity is running).
  const result = await driven.result();
  elapsedMs = Date.now() - startedAt;
  const cells: Cell[] = [];
  matrix.clear();
  for (const row of ROWS)
    for (const fault of FAULTS) {
      const cell = await judge(row, fault, before, result);
      cells.push(cell);
      matrix.set(row.step, { ...matrix.get(row.step), [fault]: cell });
    }
  fleetProblems = checkFleetCounts(result, cells);
}

let elapsedMs = 0;

function printMatrix(): void {
  const pad = (s: string, n: number) => s.padEnd(n);
  const lines = [
    'fault matrix: outcome, attempts of the faulty activity (×n), SRE alerts (aN); ✗ = a problem (see the test)',
    pad('step', 20) + FAULTS.map((f) => pad(f, 32)).join(''),
  ];
  for (const row of ROWS) {
    const cells = matrix.get(row.step) ?? {};
    lines.push(
      pad(row.step, 20) +
        FAULTS.map((f) => {
          const c = cells[f];
          return pad(c ? `${c.problems.length ? '✗' : '✓'} ${c.outcome} ×${c.attempts} a${c.alerts}` : '(not run)', 32);
        }).join(''),
    );
  }
  const kills = (kill?.batches ?? []).map((b) => b.map((cp) => cp.replace(/^fm-|-worker-killed$/g, '')).join(', '));
  lines.push(`worker kills: ${kills.map((k, i) => `#${i + 1} (${k})`).join('; ') || 'none'}`);
  lines.push(`fleet rollout took ${Math.round(elapsedMs / 1000)}s of real time`);
  if (fleetProblems?.length) lines.push(`fleet: ${fleetProblems.join('; ')}`);
  console.log(lines.join('\n'));
}

describe('a fault at every step (time-skipping server)', () => {
  it(`one fleet rollout of ${ALL.length} control planes, one fault each, ends with every one upgraded or restored`, async () => {
    await freshStart();
    await runGuarded({ env: () => env, budgetMs: 330_000, freshServer: freshStart, diagnose }, async () => {
      await runMatrix();
      expect(fleetProblems).toEqual([]);
    });
  }, 700_000);

  it.each(ROWS.map((row) => [row.step, row] as const))(
    '%s: every fault ends upgraded or exactly restored, alerted when not upgraded, counted by the fleet',
    (_step, row) => {
      const cells = matrix.get(row.step);
      expect(cells).toBeDefined();
      const problems = FAULTS.flatMap((f) => (cells?.[f]?.problems ?? ['not run']).map((p) => `${f}: ${p}`));
      expect(problems).toEqual([]);
    },
  );
});
