// Malformed signals and updates, as `temporal workflow signal` or the Web UI send them (raw JSON: no payload, null,
// {}, wrong types, extra fields), to a running fleetRollout and a running controlPlane, on the time-skipping server.
// Each must be refused or ignored with a log line that names the field and the value; the workflow goes on: no
// workflow task fails, its status query answers, nothing about it changes, and the next valid signal takes effect.
//
// No test here lets server time skip (no env.sleep, no result()): the fleets wait for a control plane that never
// reports, the control planes for a window six days away. So one server serves the whole file, each case on its own
// workflow, and none is terminated (see the time-skipping server traps at the top of controlPlane.test.ts).
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type LogEntry } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { Release } from '../../domain/release';
import { parseRolloutPolicy } from '../../domain/rollout';
import { TemporalMessenger } from '../../integrations/temporalMessenger';
import { workflowsPath } from '../../worker/worker';
import { workflowBundleOptions } from '../../worker/workflowBundle';
import { fleetRollout } from '../../workflows';
import {
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  deferUpdate,
  fleetStatusQuery,
  fleetWorkflowId,
  type ControlPlaneStatus,
  type FleetStatus,
} from '../../workflows/messages';
import { controlPlane, FleetHarness, LTS_RELEASE, org, weekdayIn } from '../helpers/fleetHarness';
import { timeSkippingEnv } from '../helpers/temporalServers';

const TASK_QUEUE = 'malformed-signals-test';
const DAY = 24 * 60 * 60_000;
/** The control plane every test fleet waits for: it is never offered anything, so it never reports. */
const GHOST = 'cp-ghost';
const FAR_FUTURE = '2999-01-01T00:00:00.000Z';

let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
let harness: FleetHarness;
const logs: LogEntry[] = [];

const CONTROL_PLANES = Array.from({ length: 40 }, (_, i) => `mc-${String(i + 1).padStart(2, '0')}`);

beforeAll(async () => {
  // Workflow log lines (log.warn from '@temporalio/workflow') reach the runtime's logger: kept to be read.
  Runtime.install({ logger: new DefaultLogger('WARN', (entry) => logs.push(entry)) });
  const bundle = await bundleWorkflowCode(workflowBundleOptions(workflowsPath(), new DefaultLogger('ERROR')));
  const sixDaysOut = weekdayIn(Date.now() + 6 * DAY, 'America/New_York');
  const window = { timeZone: 'America/New_York', start: '02:00', durationMinutes: 240, weekly: { days: [sixDaysOut] } };
  harness = new FleetHarness({
    orgs: [org()],
    controlPlanes: CONTROL_PLANES.map((id) => controlPlane(id, { window })),
  });
  await harness.start({ rolloutMs: 20 });
  env = await timeSkippingEnv();
  harness.deps.messenger = new TemporalMessenger(env.client, { taskQueue: TASK_QUEUE });
  const real = createActivities(harness.deps);
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    activities: {
      ...real,
      // The fleets here list one control plane in the canary wave and offer it nothing: they wait for its report.
      offerFleetPage: async (input: Parameters<typeof real.offerFleetPage>[0]) => ({
        offered: input.wave === 'canary' ? [GHOST] : [],
        failed: [],
        reasons: input.countEligibility ? { eligible: 1 } : {},
        listed: input.countEligibility ? 1 : 0,
        nextCursor: undefined,
      }),
      findSupersededRollouts: async () => [],
    },
  });
  workerRun = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await harness?.close();
});

// ---- helpers ----

const withDeadline = <T>(fn: () => Promise<T>, ms = 3000) => env.client.withDeadline(Date.now() + ms, fn);

async function until<T>(read: () => Promise<T>, predicate: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let error: unknown;
  for (;;) {
    try {
      last = await read();
      if (predicate(last)) return last;
    } catch (err) {
      error = err;
    }
    if (Date.now() > deadline)
      throw new Error(`never matched; last: ${JSON.stringify(last)}${error ? `; last error: ${String(error)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function eventTypes(h: WorkflowHandle): Promise<string[]> {
  const history = await h.fetchHistory();
  return (history.events ?? []).map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType));
}

/**
 * Waits until a workflow task that started after the last signal has completed or failed, and returns the failures
 * in the whole history (a workflow task failed: the signal handler threw, and the run is stuck on it).
 */
async function signalProcessed(h: WorkflowHandle): Promise<string[]> {
  const types = await until(
    () => eventTypes(h),
    (t) => {
      const signalled = t.lastIndexOf('EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
      const started = t.indexOf('EVENT_TYPE_WORKFLOW_TASK_STARTED', signalled);
      return (
        started > signalled &&
        t
          .slice(started)
          .some((x) => x === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED' || x === 'EVENT_TYPE_WORKFLOW_TASK_FAILED')
      );
    },
  );
  return types.filter((t) => t === 'EVENT_TYPE_WORKFLOW_TASK_FAILED');
}

/** Warnings the workflow logged (not the worker's own lines about failing tasks). */
function warnings(workflowId: string): string[] {
  return logs
    .filter((l) => l.meta?.workflowId === workflowId && l.meta?.sdkComponent === 'workflow' && l.level === 'WARN')
    .map((l) => l.message);
}

/** Sends a signal by name with the raw arguments given (none: no payload at all, as the CLI does without --input). */
async function rawSignal(h: WorkflowHandle, name: string, args: unknown[]): Promise<void> {
  await (h.signal as (name: string, ...a: unknown[]) => Promise<void>)(name, ...args);
}

/** A case: the signal, its raw arguments, and what the warning must name (the field, then the value). */
type Case = [name: string, args: unknown[], field: string, value: string];

// ---- fleetRollout ----

const REL = (id: string): Release => ({ ...LTS_RELEASE, id });
let fleetSeq = 0;

async function startFleet(): Promise<{ handle: WorkflowHandle; releaseId: string }> {
  const releaseId = `lts-5.8.2-m${++fleetSeq}`;
  const handle = await env.client.workflow.start(fleetRollout, {
    workflowId: fleetWorkflowId(releaseId),
    taskQueue: TASK_QUEUE,
    args: [
      { release: REL(releaseId), rollout: parseRolloutPolicy({ canary: { labels: ['canary'] }, bakeMinutes: 0 }) },
    ],
  });
  await until(
    () => withDeadline(() => handle.query(fleetStatusQuery)),
    (s) => s.stage === 'canary' && s.inFlight.waitingForWindow === 1,
  );
  return { handle, releaseId };
}

const fleetStatus = (h: WorkflowHandle) => withDeadline(() => h.query(fleetStatusQuery));

/** What a malformed signal must not change (the fleet keeps waiting for its one control plane). */
function fleetUnchanged(s: FleetStatus): void {
  expect(s.stage).toBe('canary');
  expect(s.inFlight).toEqual({ waitingForWindow: 1, waitingForSlot: 0, changing: 0 });
  expect(s.outcomes).toEqual({});
  expect(s.cancel).toBeUndefined();
  expect(s.supersededBy).toBeUndefined();
  expect(s.freeze).toBeUndefined();
  expect(s.lostCount ?? 0).toBe(0);
  expect(s.halted).toBeUndefined();
}

/** `$rel` in a payload is replaced by the fleet's release id. */
function withRelease(args: unknown[], releaseId: string): unknown[] {
  return JSON.parse(JSON.stringify(args).replaceAll('$rel', releaseId)) as unknown[];
}

const FLEET_CASES: Case[] = [
  ['report', [], 'payload', 'missing'],
  ['report', [null], 'payload', 'null'],
  ['report', [{}], 'controlPlaneId', 'missing'],
  ['report', [{ controlPlaneId: 42, releaseId: '$rel', outcome: 'completed', changed: true }], 'controlPlaneId', '42'],
  [
    'report',
    [{ controlPlaneId: GHOST, releaseId: '$rel', outcome: 'exploded', changed: true }],
    'outcome',
    '"exploded"',
  ],
  ['report', [{ controlPlaneId: GHOST, releaseId: '$rel', outcome: 'failed', changed: 'yes' }], 'changed', '"yes"'],
  ['ask-slot', [], 'payload', 'missing'],
  ['ask-slot', [{ controlPlaneId: GHOST, releaseId: '$rel', until: 'soon' }], 'until', '"soon"'],
  ['return-slot', [], 'payload', 'missing'],
  ['return-slot', [{ controlPlaneId: 7, releaseId: '$rel' }], 'controlPlaneId', '7'],
  ['forget', [], 'payload', 'missing'],
  ['forget', [{}], 'controlPlaneId', 'missing'],
  ['forget', [{ controlPlaneId: 42 }], 'controlPlaneId', '42'],
  ['forget', [{ controlPlaneId: GHOST, reason: 42 }], 'reason', '42'],
  ['supersede', [], 'payload', 'missing'],
  ['supersede', [null], 'payload', 'null'],
  ['supersede', [{}], 'releaseId', 'missing'],
  ['supersede', [{ releaseId: 5 }], 'releaseId', '5'],
  ['freeze', [], 'payload', 'missing'],
  ['freeze', [{}], 'until', 'missing'],
  ['freeze', [{ until: 'tomorrow' }], 'until', '"tomorrow"'],
  ['freeze', [{ until: 1767225600 }], 'until', '1767225600'],
  ['freeze', [{ until: '2999-12-01 06:00' }], 'until', '"2999-12-01 06:00"'],
  ['freeze', [{ until: '2999-02-30T00:00:00Z' }], 'until', '"2999-02-30T00:00:00Z"'],
  ['freeze', [{ until: '2001-01-01T00:00:00Z' }], 'until', '"2001-01-01T00:00:00Z"'],
  ['freeze', [{ until: FAR_FUTURE, reason: 42 }], 'reason', '42'],
  ['pause', [{ reason: 42 }], 'reason', '42'],
  ['pause', [17], 'payload', '17'],
  ['pause', [{ by: ['jo'] }], 'by', '["jo"]'],
  ['approve', [{ reason: true }], 'reason', 'true'],
  ['unfreeze', [{ by: 1 }], 'by', '1'],
  ['cancel', [{ reason: 42 }], 'reason', '42'],
  ['cancel', [[]], 'payload', '[]'],
  ['reconcile', [{ reason: {} }], 'reason', '{}'],
];

/** The workflow logged exactly one warning, naming the signal, the field and the value. */
async function expectOneWarning(workflowId: string, name: string, field: string, value: string): Promise<void> {
  const warned = await until(
    async () => warnings(workflowId),
    (w) => w.length > 0,
    5000,
  ).catch(() => warnings(workflowId));
  expect(warned).toEqual([expect.stringContaining(name)]);
  expect(warned[0]).toContain(field);
  expect(warned[0]).toContain(value);
}

describe('fleetRollout: malformed signals are ignored with a warning naming the field and the value', () => {
  it.each(FLEET_CASES)('%s %j: %s = %s', async (name, args, field, value) => {
    const { handle, releaseId } = await startFleet();
    await rawSignal(handle, name, withRelease(args, releaseId));
    expect(await signalProcessed(handle)).toEqual([]);
    fleetUnchanged(await fleetStatus(handle));
    await expectOneWarning(handle.workflowId, name, field, value);
    // It goes on: the next valid signal takes effect (a pause, or a freeze after a malformed pause).
    if (name === 'pause') {
      await rawSignal(handle, 'freeze', [{ until: FAR_FUTURE, reason: 'after the malformed one', by: 'sre-jo' }]);
      await until(
        () => fleetStatus(handle),
        (s) => s.freeze?.reason === 'after the malformed one',
      );
    } else {
      await rawSignal(handle, 'pause', [{ reason: 'after the malformed one', by: 'sre-jo' }]);
      await until(
        () => fleetStatus(handle),
        (s) => s.pause?.reason === 'after the malformed one',
      );
    }
    expect(await signalProcessed(handle)).toEqual([]);
  });

  it('a resume with a malformed payload does not resume', async () => {
    const { handle } = await startFleet();
    await rawSignal(handle, 'pause', [{ reason: 'incident', by: 'sre-jo' }]);
    await rawSignal(handle, 'resume', [{ reason: 42 }]);
    expect(await signalProcessed(handle)).toEqual([]);
    expect(await fleetStatus(handle)).toMatchObject({ paused: true, pause: { reason: 'incident' } });
    expect(warnings(handle.workflowId)).toEqual([expect.stringMatching(/resume.*reason = 42/)]);
    await rawSignal(handle, 'resume', [{ reason: 'over', by: 'sre-jo' }]);
    await until(
      () => fleetStatus(handle),
      (s) => !s.paused,
    );
  });

  it('extra fields are ignored with a warning that names them; the signal itself takes effect', async () => {
    const { handle } = await startFleet();
    await rawSignal(handle, 'pause', [{ reason: 'incident', by: 'sre-jo', ticket: 'INC-9' }]);
    const s = await until(
      () => fleetStatus(handle),
      (x) => x.paused,
    );
    expect(s.pause).toMatchObject({ reason: 'incident', by: 'sre-jo' });
    expect(await signalProcessed(handle)).toEqual([]);
    expect(warnings(handle.workflowId)).toEqual([expect.stringMatching(/pause.*ticket = "INC-9"/)]);
  });

  it('valid signals without the optional payload still work: pause with none, cancel with {}', async () => {
    const { handle } = await startFleet();
    await rawSignal(handle, 'pause', []);
    await until(
      () => fleetStatus(handle),
      (s) => s.paused,
    );
    await rawSignal(handle, 'cancel', [{}]);
    await until(
      () => fleetStatus(handle),
      (s) => s.cancel !== undefined,
    );
    expect(await signalProcessed(handle)).toEqual([]);
    expect(warnings(handle.workflowId)).toEqual([]);
  });
});

// ---- controlPlane ----

let cpSeq = 0;

/** A control plane whose upgrade to LTS_RELEASE waits for its window (six days away). */
async function waitingControlPlane(): Promise<{ handle: WorkflowHandle; id: string }> {
  const id = CONTROL_PLANES[cpSeq++]!;
  const messenger = harness.deps.messenger!;
  const r = await messenger.offer([id], { release: LTS_RELEASE, source: 'sre', offeredAt: new Date().toISOString() });
  expect(r).toEqual({ offered: [id], failed: [] });
  const handle = env.client.workflow.getHandle(controlPlaneWorkflowId(id));
  await until(
    () => cpStatus(handle),
    (s) => s.upgrade?.stage === 'waiting-for-window' && s.upgrade.notices.length === 1,
  );
  return { handle, id };
}

const cpStatus = (h: WorkflowHandle): Promise<ControlPlaneStatus> =>
  withDeadline(() => h.query(controlPlaneStatusQuery));

function cpUnchanged(s: ControlPlaneStatus): void {
  expect(s.upgrade).toMatchObject({ releaseId: LTS_RELEASE.id, stage: 'waiting-for-window', paused: false });
  expect(s.upgrade?.cancel).toBeUndefined();
  expect(s.upgrade?.supersededBy).toBeUndefined();
  expect(s.pending).toBeUndefined();
  expect(s.recent).toEqual([]);
}

const offer = { release: LTS_RELEASE, source: 'sre', offeredAt: '2026-11-24T12:00:00Z' };
const CP_CASES: Case[] = [
  ['offer', [], 'payload', 'missing'],
  ['offer', [null], 'payload', 'null'],
  ['offer', [{}], 'release', 'missing'],
  ['offer', [{ ...offer, release: { id: 'lts-9.9.9' } }], 'release.kind', 'missing'],
  [
    'offer',
    [{ ...offer, release: { ...LTS_RELEASE, id: 'lts-9.9.9', targets: { dashboard: '9.9.9', gateway: 'five' } } }],
    'release.targets.gateway',
    '"five"',
  ],
  ['offer', [{ ...offer, release: { ...LTS_RELEASE, id: 'lts 9' } }], 'release.id', '"lts 9"'],
  ['offer', [{ ...offer, source: 'martians' }], 'source', '"martians"'],
  ['offer', [{ ...offer, offeredAt: undefined }], 'offeredAt', 'missing'],
  ['offer', [{ ...offer, fleet: { workflowId: 5, wave: 'main' } }], 'fleet.workflowId', '5'],
  ['offer', [{ ...offer, fleet: { workflowId: 'fleet/x', wave: 'last' } }], 'fleet.wave', '"last"'],
  ['offer', [{ ...offer, statusOnly: 'yes' }], 'statusOnly', '"yes"'],
  ['withdraw', [], 'payload', 'missing'],
  ['withdraw', [{}], 'releaseId', 'missing'],
  ['withdraw', [{ releaseId: 5 }], 'releaseId', '5'],
  ['withdraw', [{ releaseId: LTS_RELEASE.id, supersededBy: 7 }], 'supersededBy', '7'],
  ['withdraw', [{ releaseId: LTS_RELEASE.id, reason: 42 }], 'reason', '42'],
  ['grant', [], 'payload', 'missing'],
  ['grant', [{}], 'releaseId', 'missing'],
  ['grant', [{ releaseId: 9 }], 'releaseId', '9'],
  ['pause', [{ reason: 42 }], 'reason', '42'],
  ['pause', [false], 'payload', 'false'],
  ['cancel', [{ reason: 42 }], 'reason', '42'],
  ['cancel', [{ by: { name: 'jo' } }], 'by', '{"name":"jo"}'],
];

describe('controlPlane: malformed signals are ignored with a warning naming the field and the value', () => {
  it.each(CP_CASES)('%s %j: %s = %s', async (name, args, field, value) => {
    const { handle } = await waitingControlPlane();
    await rawSignal(handle, name, args);
    expect(await signalProcessed(handle)).toEqual([]);
    cpUnchanged(await cpStatus(handle));
    await expectOneWarning(handle.workflowId, name, field, value);
    // It goes on: the next valid signal takes effect.
    await rawSignal(handle, 'pause', [{ reason: 'after the malformed one', by: 'sre-jo' }]);
    await until(
      () => cpStatus(handle),
      (s) => s.upgrade?.pause?.reason === 'after the malformed one',
    );
    expect(await signalProcessed(handle)).toEqual([]);
  });

  it('a resume with a malformed payload does not resume', async () => {
    const { handle } = await waitingControlPlane();
    await rawSignal(handle, 'pause', [{ reason: 'incident', by: 'sre-jo' }]);
    await rawSignal(handle, 'resume', [{ by: 3 }]);
    expect(await signalProcessed(handle)).toEqual([]);
    expect((await cpStatus(handle)).upgrade).toMatchObject({ paused: true, pause: { reason: 'incident' } });
    expect(warnings(handle.workflowId)).toEqual([expect.stringMatching(/resume.*by = 3/)]);
  });
});

// ---- updates ----

/** The update's rejection message (fails the test if it was accepted). */
async function rejection(h: WorkflowHandle, name: string, args: unknown[]): Promise<string> {
  const execute = h.executeUpdate.bind(h) as (name: string, options: { args: unknown[] }) => Promise<unknown>;
  try {
    await withDeadline(() => execute(name, { args }), 10_000);
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    return String((err as WorkflowUpdateFailedError).cause?.message);
  }
  throw new Error(`update ${name} ${JSON.stringify(args)} was accepted`);
}

const UPDATE_CASES: Case[] = [
  ['defer', [], 'payload', 'missing'],
  ['defer', [null], 'payload', 'null'],
  ['defer', [{}], 'days', 'missing'],
  ['defer', [{ days: '3' }], 'days', '"3"'],
  ['defer', [{ days: 3, reason: 42 }], 'reason', '42'],
  ['defer', [{ days: 3, by: false }], 'by', 'false'],
  ['defer', [{ days: 3, weeks: 1 }], 'weeks', '1'],
  ['upgradeNow', [{ reason: 7 }], 'reason', '7'],
  ['upgradeNow', [{ reason: 'incident', by: ['a', 'b'] }], 'by', '["a","b"]'],
  ['upgradeNow', [{ reason: 'incident', when: 'now' }], 'when', '"now"'],
  ['upgradeNow', [12], 'payload', '12'],
];

describe('controlPlane updates: a malformed payload is rejected, naming the field and the value', () => {
  let cp: WorkflowHandle;
  beforeAll(async () => {
    cp = (await waitingControlPlane()).handle;
  });

  it.each(UPDATE_CASES)('%s %j: %s = %s', async (name, args, field, value) => {
    const message = await rejection(cp, name, args);
    expect(message).toContain(field);
    expect(message).toContain(value);
    const s = await cpStatus(cp);
    cpUnchanged(s);
    expect(s.upgrade?.deferrals).toEqual([]);
    expect(s.upgrade?.override).toBeUndefined();
  });

  it('after them, no workflow task failed and a valid deferral is accepted', async () => {
    const types = await eventTypes(cp);
    expect(types.filter((t) => t === 'EVENT_TYPE_WORKFLOW_TASK_FAILED')).toEqual([]);
    const result = await withDeadline(() => cp.executeUpdate(deferUpdate, { args: [{ days: 1, by: 'jo' }] }), 20_000);
    expect(result.deferralsLeft).toBe(1);
    expect((await cpStatus(cp)).upgrade?.deferrals).toEqual([expect.objectContaining({ days: 1, by: 'jo' })]);
  });
});
