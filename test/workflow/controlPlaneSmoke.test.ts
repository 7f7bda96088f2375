// The long-lived control-plane workflow takes an offer, upgrades, and continues as new idle. Records the first run's
// history (replay suite). The full suites are being written (test/wip/).
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import { controlPlane as controlPlaneWf } from '../../workflows';
import { controlPlaneStatusQuery, controlPlaneWorkflowId, offerSignal } from '../../workflows/messages';
import { TemporalMessenger } from '../../integrations/temporalMessenger';
import { recordHistory } from '../helpers/recordHistory';
import { timeSkippingEnv } from '../helpers/temporalServers';
import { controlPlane, FleetHarness, LTS_RELEASE, org } from '../helpers/fleetHarness';

const TASK_QUEUE = 'cp-smoke';
let env: TestWorkflowEnvironment;
let worker: Worker;
let harness: FleetHarness;
let workerRun: Promise<void>;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await timeSkippingEnv();
  harness = new FleetHarness({ orgs: [org()], controlPlanes: [controlPlane('cp-a')] });
  await harness.start({ rolloutMs: 50, messenger: new TemporalMessenger(env.client, { taskQueue: TASK_QUEUE }) });
  worker = await harness.createWorker(env, TASK_QUEUE);
  workerRun = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await harness?.close();
});

it('upgrades on an offer and goes idle', async () => {
  const h = await env.client.workflow.signalWithStart(controlPlaneWf, {
    workflowId: controlPlaneWorkflowId('cp-a'),
    taskQueue: TASK_QUEUE,
    args: [{ controlPlaneId: 'cp-a' }],
    signal: offerSignal,
    signalArgs: [{ release: LTS_RELEASE, source: 'sre', offeredAt: new Date().toISOString() }],
  });
  let s = await h.query(controlPlaneStatusQuery);
  for (let i = 0; i < 200 && !(s.recent.length && s.state === 'idle'); i++) {
    await env.sleep('2 hours');
    s = await h.query(controlPlaneStatusQuery);
  }
  for (let i = 0; i < 50 && s.runs === 0; i++) {
    await env.sleep('1 minute');
    s = await h.query(controlPlaneStatusQuery);
  }
  expect(s.recent.at(-1)?.outcome).toBe('completed');
  expect(s.runs).toBe(1);
  expect(s.whyNot[0]?.code).toBe('already-at-target');
  expect(await harness.version('cp-a', 'gateway')).toBe('5.8.2');
  await recordHistory(env.client.workflow.getHandle(h.workflowId, h.signaledRunId), 'completed');
});
