// One time-skipping server per scenario file. Each test runs a worker of its own (its own task queue) with the mocked
// activities it declares, as samples-typescript's workflows-mocks test does: Worker.create({ activities }) and
// worker.runUntil(the scenario). Time skipping is global to the server, so a file's tests run one after another.
//
// The controlPlane workflow never ends by itself: it continues as new after each attempt and waits for the next offer.
// A scenario reads the end of an attempt from the input of the run that follows (server side, no query racing the
// continue-as-new: see the notes at the top of test/workflow/controlPlane.test.ts), and ends the workflow with a
// Temporal cancellation request, whose answer (its status) is the workflow's result.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Activities } from '../../../activities';
import { workflowsPath } from '../../../worker/worker';
import { recordHistory } from '../../helpers/recordHistory';
import { workflowBundleOptions } from '../../../worker/workflowBundle';
import type { controlPlane as controlPlaneWorkflow } from '../../../workflows/controlPlane';
import {
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  offerSignal,
  type AttemptRecord,
  type ControlPlaneInput,
  type ControlPlaneStatus,
  type ReleaseOffer,
} from '../../../workflows/messages';
import { bounded, runGuarded, throwIfAttemptAbandoned } from '../../helpers/stallGuard';
import { timeSkippingEnv } from '../../helpers/temporalServers';
import { logOf } from './builders';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The workflow bundle, built once for all scenario files of a run (bundling takes seconds on a loaded machine): kept
 * in the temp dir under a hash of everything it is built from (workflows/ and domain/, the only code workflows may
 * import, and the lock file).
 */
async function workflowBundle(): Promise<WorkflowBundle> {
  const root = path.resolve(__dirname, '../../..');
  const hash = crypto.createHash('sha256');
  for (const dir of ['workflows', 'domain'])
    for (const name of fs.readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' }).sort()) {
      const file = path.join(root, dir, name);
      if (!fs.statSync(file).isFile()) continue;
      hash.update(`${dir}/${name}\0`).update(fs.readFileSync(file));
    }
  hash.update(fs.readFileSync(path.join(root, 'package-lock.json')));
  const cached = path.join(os.tmpdir(), 'nightshift-scenario-bundles', `${hash.digest('hex').slice(0, 24)}.js`);
  if (fs.existsSync(cached)) return { code: fs.readFileSync(cached, 'utf8') };
  const bundle = await bundleWorkflowCode(workflowBundleOptions(workflowsPath(), new DefaultLogger('ERROR')));
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  const partial = `${cached}.${process.pid}`;
  fs.writeFileSync(partial, bundle.code);
  fs.renameSync(partial, cached);
  return bundle;
}

/** A control plane's workflow as a scenario drives it. */
export class ControlPlaneRun {
  constructor(
    private readonly env: TestWorkflowEnvironment,
    readonly handle: WorkflowHandle<typeof controlPlaneWorkflow>,
  ) {}

  /** The `status` query, with a deadline and a few tries (see controlPlane.test.ts on unanswered queries). */
  async status(): Promise<ControlPlaneStatus> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await bounded(this.env, 3000, () => this.handle.query(controlPlaneStatusQuery));
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }
  }

  /** Polls the status in real time (server time stands still meanwhile) until `predicate` holds. */
  async waitFor(predicate: (s: ControlPlaneStatus) => boolean, what: string): Promise<ControlPlaneStatus> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      throwIfAttemptAbandoned();
      const s = await this.status();
      if (predicate(s)) return s;
      if (Date.now() > deadline) throw new Error(`${what}: never seen; last status ${JSON.stringify(s)}`);
      await pause(25);
    }
  }

  /** The attempts that have ended, as the latest run was started with them (continue-as-new carries them). */
  async attempts(): Promise<AttemptRecord[]> {
    const history = await this.env.client.workflow.getHandle(this.handle.workflowId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    return defaultPayloadConverter.fromPayload<ControlPlaneInput>(payload!).carried?.recent ?? [];
  }

  /** Waits (real time) until `n` attempts have ended; returns them. */
  async attemptsEnded(n = 1): Promise<AttemptRecord[]> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      throwIfAttemptAbandoned();
      const recent = await this.attempts();
      if (recent.length >= n) return recent;
      if (Date.now() > deadline)
        throw new Error(`attempt ${n} never ended; status ${JSON.stringify(await this.status())}`);
      await pause(25);
    }
  }

  /** Records, for the replay suite, the latest run that scheduled an activity of `activityType`. */
  async record(name: string, activityType: string): Promise<void> {
    if (!process.env.RECORD_HISTORIES) return;
    let runId: string | undefined;
    for (;;) {
      const handle = this.env.client.workflow.getHandle(this.handle.workflowId, runId);
      const events = (await handle.fetchHistory()).events ?? [];
      if (events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType))
        return recordHistory(handle, name);
      runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
      if (!runId) throw new Error(`${this.handle.workflowId}: no run scheduled ${activityType}`);
    }
  }

  /** Ends the workflow with a Temporal cancellation request and returns its result (read from its history). */
  async close(): Promise<ControlPlaneStatus> {
    await this.handle.cancel();
    const deadline = Date.now() + 15_000;
    for (;;) {
      throwIfAttemptAbandoned();
      const { status } = await this.handle.describe();
      if (status.name !== 'RUNNING') break;
      if (Date.now() > deadline) throw new Error(`${this.handle.workflowId} still running after cancel`);
      await pause(25);
    }
    const history = await this.env.client.workflow.getHandle(this.handle.workflowId).fetchHistory();
    const closed = history.events?.at(-1)?.workflowExecutionCompletedEventAttributes;
    const payload = closed?.result?.payloads?.[0];
    if (!payload) throw new Error(`${this.handle.workflowId} closed without a result: ${JSON.stringify(closed)}`);
    return defaultPayloadConverter.fromPayload<ControlPlaneStatus>(payload);
  }
}

export interface Scenario {
  env: TestWorkflowEnvironment;
  /**
   * Runs a worker of its own (a fresh task queue) that registers `activities` until `body` ends, then checks that no
   * activity was called that the scenario did not mock.
   */
  withWorker<T>(activities: Activities, body: (offer: Offer) => Promise<T>): Promise<T>;
  /** Lets server time run to `ms` (timers due by then fire on the way). */
  skipTo(ms: number): Promise<void>;
}

/** Offers a release the way fleets and SREs do: signal-with-start of `control-plane/<id>`. */
export type Offer = (controlPlaneId: string, offer: Omit<ReleaseOffer, 'offeredAt'>) => Promise<ControlPlaneRun>;

/**
 * Sets up the file's server (before all its tests) and returns `it` for its scenarios, each run under the stall guard
 * (test/helpers/stallGuard.ts): a server that stops answering runs the scenario once more, on a fresh server.
 */
export function scenarioServer(): { it(name: string, body: (s: Scenario) => Promise<void>, budgetMs?: number): void } {
  let bundle: WorkflowBundle;
  let env: TestWorkflowEnvironment;
  let worker: Worker | undefined;
  let driven: ControlPlaneRun[] = [];
  let queues = 0;

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    bundle = await workflowBundle();
    env = await timeSkippingEnv();
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  });

  /** Where the scenario's workflows ended up (read from the server: by now their worker has stopped). */
  async function diagnose(): Promise<string> {
    const lines: string[] = [];
    for (const run of driven) {
      const where = await bounded(env, 3000, async () => {
        const { status } = await run.handle.describe();
        const attempts = await run.attempts();
        return `${status.name}; attempts ended: ${attempts.map((a) => `${a.releaseId} ${a.outcome}`).join(', ') || 'none'}`;
      }).catch((e: Error) => e.message);
      lines.push(`${run.handle.workflowId}: ${where}`);
    }
    return lines.join('\n');
  }

  async function withWorker<T>(activities: Activities, body: (offer: Offer) => Promise<T>): Promise<T> {
    const taskQueue = `scenario-${++queues}`;
    const offer: Offer = async (controlPlaneId, o) => {
      const offeredAt = new Date(await env.currentTimeMs()).toISOString();
      await env.client.workflow.signalWithStart<typeof controlPlaneWorkflow, [ReleaseOffer]>('controlPlane', {
        workflowId: controlPlaneWorkflowId(controlPlaneId),
        taskQueue,
        args: [{ controlPlaneId }],
        signal: offerSignal,
        signalArgs: [{ ...o, offeredAt }],
      });
      const run = new ControlPlaneRun(env, env.client.workflow.getHandle(controlPlaneWorkflowId(controlPlaneId)));
      driven.push(run);
      return run;
    };
    worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
    try {
      const result = await worker.runUntil(async () => {
        try {
          return await body(offer);
        } finally {
          await cancelLeftovers();
        }
      });
      const unexpected = logOf(activities)?.unexpected ?? [];
      if (unexpected.length)
        throw new Error(`activities this scenario did not mock were called:\n- ${unexpected.join('\n- ')}`);
      return result;
    } finally {
      // The worker has stopped: nothing of these workflows is in flight any more.
      for (const run of await stillRunning()) await run.handle.terminate('the scenario ended without closing it');
    }
  }

  async function stillRunning(): Promise<ControlPlaneRun[]> {
    const open: ControlPlaneRun[] = [];
    for (const run of driven)
      if ((await bounded(env, 3000, () => run.handle.describe())).status.name === 'RUNNING') open.push(run);
    return open;
  }

  /**
   * A scenario that failed half-way leaves its workflow running (its timers then fire with no worker on its task
   * queue); once, the next scenario's time skip then hung. So it is cancelled while the worker still runs (and
   * terminated after the worker has stopped if that was not enough: a termination racing a workflow task can wedge
   * the server).
   */
  async function cancelLeftovers(): Promise<void> {
    const open = await stillRunning();
    for (const run of open) await run.handle.cancel();
    const deadline = Date.now() + 5000;
    while (open.length && (await stillRunning()).length && Date.now() < deadline) await pause(50);
  }

  return {
    it(name, body, budgetMs = 30_000) {
      it(
        name,
        () =>
          runGuarded(
            {
              env: () => env,
              budgetMs,
              freshServer: async () => {
                // The stalled attempt's worker and server are abandoned (its activities were mocks).
                if (worker?.getState() === 'RUNNING') worker.shutdown();
                await env.teardown().catch(() => undefined);
                env = await timeSkippingEnv();
              },
              diagnose,
            },
            () => {
              driven = [];
              return body({
                env,
                withWorker,
                skipTo: async (ms) => env.sleep(Math.max(0, ms - (await env.currentTimeMs()))),
              });
            },
          ),
        2 * budgetMs + 60_000,
      );
    },
  };
}
