// End to end on the real Temporal dev server: the same wiring `npm run worker` uses (configuration from
// environment variables, in-process simulated fleet over HTTP, outbox, alert log), one upgrade, and the search
// attributes an SRE filters on in the UI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { loadConfig } from '../../workers/config';
import { createWorker, wireAdapters, type Wiring } from '../../workers/worker';
import { controlPlaneUpgrade } from '../../workflows';
import { statusQuery, upgradeWorkflowId } from '../../workflows/messages';
import { ControlPlaneId, ReleaseId, TargetVersion, UpgradeStage } from '../../workflows/searchAttributes';
import { readOutbox } from '../../integrations/outboxNotifier';
import { devServerEnv } from '../helpers/temporalServers';
import { controlPlane, LTS_RELEASE, org } from '../helpers/fleetHarness';

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

it('upgrades a control plane end to end over HTTP and is findable by search attributes', async () => {
  expect(await hello('cp-e2e', 'gateway')).toMatchObject({ status: 'pass', version: 'v5.3.4' });
  const handle = await env.client.workflow.start(controlPlaneUpgrade, {
    workflowId: upgradeWorkflowId('cp-e2e', LTS_RELEASE.id),
    taskQueue: 'e2e',
    args: [{ controlPlaneId: 'cp-e2e', release: LTS_RELEASE }],
    staticSummary: 'Upgrade cp-e2e 5.3.4 → 5.8.2',
  });
  const result = await handle.result();
  expect(result.outcome).toBe('completed');
  for (const c of ['dashboard', 'gateway', 'dp-eu']) {
    expect(await hello('cp-e2e', c)).toMatchObject({ status: 'pass', version: 'v5.8.2' });
  }
  const notices = await readOutbox(path.join(dir, 'outbox.jsonl'));
  expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'completed']);
  expect((await handle.query(statusQuery)).stage).toBe('completed');

  const desc = await handle.describe();
  expect(desc.typedSearchAttributes.get(ControlPlaneId)).toBe('cp-e2e');
  expect(desc.typedSearchAttributes.get(ReleaseId)).toBe('lts-5.8.2');
  expect(desc.typedSearchAttributes.get(TargetVersion)).toBe('5.8.2');
  expect(desc.typedSearchAttributes.get(UpgradeStage)).toBe('completed');
  expect(await desc.staticSummary()).toBe('Upgrade cp-e2e 5.3.4 → 5.8.2');

  // Visibility is eventually consistent: poll the query an SRE would type in the UI.
  const query = `WorkflowType = 'controlPlaneUpgrade' AND UpgradeStage = 'completed' AND ControlPlaneId = 'cp-e2e'`;
  let found: string[] = [];
  for (let i = 0; i < 50 && found.length === 0; i++) {
    found = [];
    for await (const wf of env.client.workflow.list({ query })) found.push(wf.workflowId);
    if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
  }
  expect(found).toEqual([upgradeWorkflowId('cp-e2e', LTS_RELEASE.id)]);
});
