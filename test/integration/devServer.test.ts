// End to end on the real Temporal dev server: the same wiring `npm run worker` uses (configuration from
// environment variables, in-process simulated fleet over HTTP, outbox, alert log, the Temporal messenger), one
// release offered to a control plane's long-lived workflow and upgraded, and the search attributes an SRE filters
// on in the UI, while the upgrade runs and once the control plane is idle again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { loadConfig } from '../../config/config';
import { createWorker, wireAdapters, type Wiring } from '../../worker/worker';
import { controlPlaneStatusQuery, controlPlaneWorkflowId } from '../../workflows/messages';
import { ControlPlaneId, OrgId, ReleaseId, TargetVersion, UpgradeStage } from '../../workflows/searchAttributes';
import { readOutbox } from '../../integrations/outboxNotifier';
import { devServerEnv } from '../helpers/temporalServers';
import { controlPlane, LTS_RELEASE, org } from '../helpers/fleetHarness';
import { controlPlaneSummary } from '../../integrations/temporalMessenger';
import {
  offerRelease,
  upsertedSearchAttributes,
  waitForAttempt,
  waitForContinuedAsNew,
} from '../helpers/controlPlaneRuns';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-e2e-'));
let env: TestWorkflowEnvironment;
let wiring: Wiring;
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await devServerEnv();
  const inventory = path.join(dir, 'fleet.json');
  fs.writeFileSync(inventory, JSON.stringify({ orgs: [org()], controlPlanes: [controlPlane('cp-e2e')] }));
  const config = loadConfig({
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: 'e2e',
    NIGHTSHIFT_INVENTORY: inventory,
    NIGHTSHIFT_SIM_STATE: path.join(dir, 'state.json'),
    NIGHTSHIFT_SIM_ROLLOUT_MS: '200',
    NIGHTSHIFT_OUTBOX: path.join(dir, 'outbox.jsonl'),
    NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
    NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
    NIGHTSHIFT_VERIFY_PASSES: '2',
    NIGHTSHIFT_VERIFY_INTERVAL_MS: '100',
    NIGHTSHIFT_VERIFY_SOAK_MS: '100',
    NIGHTSHIFT_VERIFY_TIMEOUT_MS: '5000',
    NIGHTSHIFT_TYK_CHECK_DURATION_MS: '100',
  });
  wiring = await wireAdapters(config, () => undefined);
  worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: 'e2e',
    deps: wiring.deps,
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await wiring?.close();
  await env?.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function hello(cp: string, component: string): Promise<{ status: string; version: string }> {
  const res = await fetch(`${wiring.fleet!.baseUrl}/cp/${cp}/${component}/hello`);
  return (await res.json()) as { status: string; version: string };
}

const WORKFLOW_ID = controlPlaneWorkflowId('cp-e2e');
const SUMMARY = controlPlaneSummary('cp-e2e');

it('upgrades a control plane end to end over HTTP and is findable by search attributes', async () => {
  expect(await hello('cp-e2e', 'gateway')).toMatchObject({ status: 'pass', version: 'v5.3.4' });
  const handle = await offerRelease(env.client, {
    controlPlaneId: 'cp-e2e',
    release: LTS_RELEASE,
    taskQueue: 'e2e',
    staticSummary: SUMMARY,
  });
  const { status, record } = await waitForAttempt(handle);
  expect(record).toMatchObject({
    releaseId: 'lts-5.8.2',
    outcome: 'completed',
    changed: true,
    versions: { dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2' },
  });
  expect(status).toMatchObject({ controlPlaneId: 'cp-e2e', orgId: 'org-acme', state: 'idle' });
  expect(status.upgrade).toBeUndefined();
  // The Gateways answer Tyk's /hello with their version; the Dashboard's /hello is liveness only, as Tyk's is.
  for (const c of ['gateway', 'dp-eu']) {
    expect(await hello('cp-e2e', c)).toMatchObject({ status: 'pass', version: 'v5.8.2' });
  }
  expect(await hello('cp-e2e', 'dashboard')).toEqual({ status: 'ok' });
  // Notice keys carry the attempt: control-plane/<cp>/a<seq>/<kind>/<n>.
  const notices = await readOutbox(path.join(dir, 'outbox.jsonl'));
  expect(notices.map((n) => [n.noticeKind, n.key])).toEqual([
    ['scheduled', `${WORKFLOW_ID}/a1/scheduled/1`],
    ['completed', `${WORKFLOW_ID}/a1/completed/2`],
  ]);

  // After the attempt it continues as new and waits, idle, for the next offer.
  await waitForContinuedAsNew(env.client, WORKFLOW_ID, handle.signaledRunId);
  const latest = await handle.describe();
  expect(latest.runId).not.toBe(handle.signaledRunId);
  expect(latest.status.name).toBe('RUNNING');
  const idle = await handle.query(controlPlaneStatusQuery);
  expect(idle).toMatchObject({ state: 'idle', runs: 1, installed: { gateway: '5.8.2' } });
  expect(idle.recent.map((r) => r.outcome)).toEqual(['completed']);
  expect(idle.whyNot[0]?.code).toBe('already-at-target');
  expect(latest.typedSearchAttributes.get(ControlPlaneId)).toBe('cp-e2e');
  expect(latest.typedSearchAttributes.get(OrgId)).toBe('org-acme');
  expect(latest.typedSearchAttributes.get(UpgradeStage)).toBe('idle');
  expect(latest.typedSearchAttributes.get(ReleaseId)).toBeUndefined();
  expect(latest.typedSearchAttributes.get(TargetVersion)).toBeUndefined();

  // The run the offer started: closed by continue-as-new, with the summary it was started with (the start options'
  // static summary belongs to that run; continue-as-new does not carry it over).
  const first = env.client.workflow.getHandle(WORKFLOW_ID, handle.signaledRunId);
  const firstDesc = await first.describe();
  expect(firstDesc.status.name).toBe('CONTINUED_AS_NEW');
  expect(await firstDesc.staticSummary()).toBe(SUMMARY);

  // The steps taken while holding a slot go ahead of other control planes' first steps on the shared task queue.
  const firstHistory = await first.fetchHistory();
  const priorities = new Map<string, number | undefined>();
  for (const e of firstHistory.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name) priorities.set(a.activityType.name, a.priority?.priorityKey ?? undefined);
  }
  expect(Object.fromEntries(priorities)).toMatchObject({
    assessControlPlane: undefined,
    probeComponents: 1,
    snapshotComponents: 1,
    upgradeComponent: 1,
    verifyComponent: 1,
  });

  // While the upgrade ran, that run carried its release, target and stage (each change an upsert in its history).
  const upserts = upsertedSearchAttributes(firstHistory);
  const values = (name: string) => upserts.filter((u) => name in u).map((u) => u[name]);
  expect(values('ReleaseId')).toEqual(['lts-5.8.2', null]);
  expect(values('TargetVersion')).toEqual(['5.8.2', null]);
  const stages = values('UpgradeStage');
  expect(stages.filter((s) => s !== 'idle' && s !== 'waiting-for-window')).toEqual([
    'assessing',
    'preflight',
    'dashboard',
    'gateway',
    'data-planes',
  ]);
  expect(stages.at(-1)).toBe('idle');

  // Visibility is eventually consistent: poll the query an SRE would type in the UI.
  const query = `WorkflowType = 'controlPlane' AND ExecutionStatus = 'Running' AND UpgradeStage = 'idle' AND ControlPlaneId = 'cp-e2e'`;
  let found: string[] = [];
  for (let i = 0; i < 50 && found.length === 0; i++) {
    found = [];
    for await (const wf of env.client.workflow.list({ query })) found.push(wf.workflowId);
    if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
  }
  expect(found).toEqual([WORKFLOW_ID]);
});
