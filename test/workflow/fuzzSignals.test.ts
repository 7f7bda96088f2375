// Fuzzed signals and updates sent as raw JSON to a running fleetRollout and a running controlPlane, the way the Web UI
// and `temporal workflow signal` send them (one json/plain payload, or none), on the time-skipping server. Payloads are
// generated (test/helpers/fuzz.ts): valid ones mutated at a random field, wrong types, huge strings, unicode, prototype
// keys, deep nesting, and unknown signal names. Whatever arrives, the workflow neither fails a workflow task nor wedges:
// its status query answers after every batch, and an update is accepted or rejected with an answer. The parsers
// themselves are fuzzed in test/unit/fuzzEntryPoints.test.ts; the hand-written cases are in malformedSignals.test.ts.
//
// A payload that would validly end the workflow under test (a valid cancel, supersede, reconcile, withdraw, report or
// forget of the one control plane the fleet waits for) is not sent: the point is to keep sending to a live workflow. No test here lets
// server time skip.
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import fc from 'fast-check';
import { createActivities } from '../../activities';
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
  parseForget,
  parseReleaseOffer,
  parseSupersede,
  parseUpgradeReport,
  parseWithdrawal,
} from '../../workflows/messages';
import { parseOperatorRequest, PayloadReader } from '../../workflows/operatorRequests';
import { controlPlane, FleetHarness, LTS_RELEASE, org, weekdayIn } from '../helpers/fleetHarness';
import { CaseCounter, FUZZ_SEED, mutate, mutations, nastyString, nastyValue } from '../helpers/fuzz';
import { timeSkippingEnv } from '../helpers/temporalServers';

const TASK_QUEUE = 'fuzz-signals-test';
const DAY = 24 * 60 * 60_000;
const GHOST = 'cp-ghost';
const CP = 'fz-01';
const RELEASE_ID = 'lts-5.8.2-fuzz';

let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
let harness: FleetHarness;
const counter = new CaseCounter();

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const bundle = await bundleWorkflowCode(workflowBundleOptions(workflowsPath(), new DefaultLogger('ERROR')));
  const sixDaysOut = weekdayIn(Date.now() + 6 * DAY, 'America/New_York');
  const window = { timeZone: 'America/New_York', start: '02:00', durationMinutes: 240, weekly: { days: [sixDaysOut] } };
  harness = new FleetHarness({ orgs: [org()], controlPlanes: [controlPlane(CP, { window })] });
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
      // The fleet lists one control plane that is never offered anything: it waits for its report.
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
  console.log(counter.report('fuzz: raw signals and updates sent to running workflows'));
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await harness?.close();
});

const withDeadline = <T>(fn: () => Promise<T>, ms = 5000) => env.client.withDeadline(Date.now() + ms, fn);

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await read();
      if (ok(v)) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('never matched');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function eventTypes(h: WorkflowHandle): Promise<string[]> {
  const history = await h.fetchHistory();
  return (history.events ?? []).map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType));
}

/** Why each workflow task of the run failed (empty: none did). */
async function taskFailures(h: WorkflowHandle): Promise<string[]> {
  const history = await h.fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.workflowTaskFailedEventAttributes)
    .map((e) => String(e.workflowTaskFailedEventAttributes?.failure?.message));
}

/** Waits until the last signal has been through a completed (or failed) workflow task; returns why tasks failed. */
async function settled(h: WorkflowHandle): Promise<string[]> {
  await until(
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
  return taskFailures(h);
}

/** Sends a batch of signals; on a failed task, names the batch (seed and signals) with the failure. */
async function sendBatch(h: WorkflowHandle, batch: SignalCase[]): Promise<void> {
  for (const c of batch) await rawSignal(h, c.name, c.args);
  const failures = await settled(h);
  if (failures.length > 0)
    throw new Error(
      `workflow task failed (seed ${FUZZ_SEED}): ${failures[0]}\nbatch: ${batch.map((c) => `${c.name} ${JSON.stringify(c.args).slice(0, 200)}`).join('\n       ')}`,
    );
}

async function rawSignal(h: WorkflowHandle, name: string, args: unknown[]): Promise<void> {
  await (h.signal as (name: string, ...a: unknown[]) => Promise<void>)(name, ...args);
}

/** JSON as the UI sends it: what does not survive JSON (undefined inside, NaN) is what the workflow would get. */
const asJson = (v: unknown): unknown[] => (v === undefined ? [] : [JSON.parse(JSON.stringify(v) ?? 'null')]);

/** Whether `parse` accepts the payload (then a signal that would end the workflow is not sent). */
function valid(parse: (raw: unknown, r: PayloadReader) => unknown, args: unknown[]): boolean {
  try {
    parse(args[0], new PayloadReader());
    return true;
  } catch {
    return false;
  }
}

interface SignalCase {
  name: string;
  args: unknown[];
}

/** Signals of a workflow type, each with a valid base payload to mutate; unknown names too. */
function signalCases(bases: Record<string, unknown>, n: number, seed: number): SignalCase[] {
  const names = [...Object.keys(bases), 'no-such-signal', '__proto__', 'constructor'];
  const arb = fc.constantFrom(...names).chain((name) => {
    const base = Object.hasOwn(bases, name) ? bases[name] : {};
    const payload = fc.oneof(
      { weight: 4, arbitrary: fc.array(mutations(base), { minLength: 1, maxLength: 3 }).map((ms) => mutate(base, ms)) },
      { weight: 2, arbitrary: nastyValue },
      { weight: 1, arbitrary: fc.jsonValue() },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: nastyString },
    );
    return payload.map((p) => ({ name, args: asJson(p) }));
  });
  return fc.sample(arb, { numRuns: n, seed });
}

describe('fuzzed raw signals to a running fleetRollout', () => {
  it('no workflow task fails, the status query answers after every batch', async () => {
    const handle = await env.client.workflow.start(fleetRollout, {
      workflowId: fleetWorkflowId(RELEASE_ID),
      taskQueue: TASK_QUEUE,
      args: [
        {
          release: { ...LTS_RELEASE, id: RELEASE_ID },
          rollout: parseRolloutPolicy({ canary: { labels: ['canary'] }, bakeMinutes: 0 }),
        },
      ],
    });
    await until(
      () => withDeadline(() => handle.query(fleetStatusQuery)),
      (s) => s.stage === 'canary' && s.inFlight.waitingForWindow === 1,
    );
    const request = { reason: 'fuzz', by: 'sre-fuzz' };
    const bases: Record<string, unknown> = {
      'ask-slot': { controlPlaneId: GHOST, releaseId: RELEASE_ID, until: '2999-01-01T00:00:00Z' },
      'return-slot': { controlPlaneId: GHOST, releaseId: RELEASE_ID },
      report: {
        controlPlaneId: GHOST,
        releaseId: RELEASE_ID,
        outcome: 'completed',
        changed: true,
        at: '2026-01-01T00:00:00Z',
      },
      forget: { controlPlaneId: GHOST, ...request },
      reconcile: request,
      pause: request,
      resume: request,
      approve: request,
      freeze: { until: '2999-01-01T00:00:00Z', ...request },
      unfreeze: request,
      cancel: request,
      supersede: { releaseId: 'lts-5.8.9', targets: { dashboard: '5.8.9', gateway: '5.8.9' } },
    };
    const ending: Record<string, (raw: unknown, r: PayloadReader) => unknown> = {
      cancel: parseOperatorRequest,
      supersede: parseSupersede,
      // Reconciling finds that the control plane it waits for has no workflow (it was never offered): counted lost.
      reconcile: parseOperatorRequest,
      // A report or forget of another control plane is counted nowhere; only the one it waits for would end it.
      report: (raw, r) => (parseUpgradeReport(raw, r).controlPlaneId === GHOST ? true : notTheOne()),
      forget: (raw, r) => (parseForget(raw, r).controlPlaneId === GHOST ? true : notTheOne()),
    };
    const cases = signalCases(bases, 120, FUZZ_SEED).filter((c) => !(ending[c.name] && valid(ending[c.name]!, c.args)));
    for (let i = 0; i < cases.length; i += 20) {
      const batch = cases.slice(i, i + 20);
      await sendBatch(handle, batch);
      const s = await withDeadline(() => handle.query(fleetStatusQuery));
      if (s.stage === 'completed')
        throw new Error(
          `completed: ${JSON.stringify({ outcomes: s.outcomes, lost: s.lost, failures: s.failures })}\nbatch: ${batch.map((c) => `${c.name} ${JSON.stringify(c.args).slice(0, 300)}`).join('\n       ')}`,
        );
    }
    counter.add('fleetRollout signals', cases.length);
    expect(await taskFailures(handle)).toEqual([]);
  });
});

function notTheOne(): never {
  throw new Error('not the one');
}

describe('fuzzed raw signals and updates to a running controlPlane', () => {
  let handle: WorkflowHandle;
  beforeAll(async () => {
    const messenger = harness.deps.messenger!;
    await messenger.offer([CP], { release: LTS_RELEASE, source: 'sre', offeredAt: new Date().toISOString() });
    handle = env.client.workflow.getHandle(controlPlaneWorkflowId(CP));
    await until(
      () => withDeadline(() => handle.query(controlPlaneStatusQuery)),
      (s) => s.upgrade?.stage === 'waiting-for-window' && s.upgrade.notices.length === 1,
    );
  });

  it('signals: no workflow task fails, the status query answers after every batch', async () => {
    const request = { reason: 'fuzz', by: 'sre-fuzz' };
    const offer = {
      release: LTS_RELEASE,
      source: 'sre',
      offeredAt: '2026-11-24T12:00:00Z',
      fleet: { workflowId: 'fleet/x', wave: 'main' },
    };
    const bases: Record<string, unknown> = {
      offer,
      withdraw: { releaseId: LTS_RELEASE.id, ...request },
      grant: { releaseId: LTS_RELEASE.id, grantedAt: '2026-11-24T12:00:00Z' },
      pause: request,
      resume: request,
      cancel: request,
      'retry-rollback': request,
      'abandon-rollback': request,
    };
    const ending: Record<string, (raw: unknown, r: PayloadReader) => unknown> = {
      cancel: parseOperatorRequest,
      withdraw: parseWithdrawal,
      offer: parseReleaseOffer,
    };
    const cases = signalCases(bases, 120, FUZZ_SEED + 1).filter(
      (c) => !(ending[c.name] && valid(ending[c.name]!, c.args)),
    );
    for (let i = 0; i < cases.length; i += 20) {
      await sendBatch(handle, cases.slice(i, i + 20));
      const s = await withDeadline(() => handle.query(controlPlaneStatusQuery));
      expect(s.upgrade?.releaseId).toBe(LTS_RELEASE.id);
    }
    counter.add('controlPlane signals', cases.length);
  });

  it('updates: each is answered (accepted or rejected with a reason), and no workflow task fails', async () => {
    const execute = handle.executeUpdate.bind(handle) as (name: string, o: { args: unknown[] }) => Promise<unknown>;
    const bases: Record<string, unknown> = {
      defer: { days: 1, reason: 'busy', by: 'customer' },
      upgradeNow: { reason: 'x' },
    };
    const cases = signalCases(bases, 60, FUZZ_SEED + 2).filter(
      // A valid upgradeNow would start changing now: the point here is the answers to bad ones.
      (c) => !(c.name === 'upgradeNow' && valid(parseOperatorRequest, c.args)),
    );
    let rejected = 0;
    for (const c of cases) {
      try {
        await withDeadline(() => execute(c.name, { args: c.args }), 15_000);
      } catch (err) {
        expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
        const message = String((err as WorkflowUpdateFailedError).cause?.message);
        expect(message).not.toMatch(/\n\s+at\s/);
        expect(message.length).toBeGreaterThan(0);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(cases.length / 2);
    expect(await taskFailures(handle)).toEqual([]);
    const s = await withDeadline(() => handle.query(controlPlaneStatusQuery));
    expect(s.upgrade?.stage).toBe('waiting-for-window');
    counter.add('controlPlane updates', cases.length);
  });
});
