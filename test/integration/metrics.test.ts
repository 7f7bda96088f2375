// Prometheus metrics end to end on the real Temporal dev server: the runtime installed the way `npm run worker`
// installs it (NIGHTSHIFT_METRICS_ADDRESS → worker/metrics.ts), one upgrade (a release offered to the control
// plane's long-lived workflow), then a scrape of /metrics showing the SDK's metrics and nightshift's own, emitted from
// workflow code (workflows/upgrade.ts through workflows/metrics.ts).
//
// Runtime.install: the SDK keeps its runtime singleton in a JS module, and jest gives each test file a fresh module
// registry, so a runtime installed by another test file earlier in the same jest worker process does not make this
// install throw (checked with `--runInBand`, which runs every file in one process). The exporter gets its own port.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { loadConfig } from '../../config/config';
import { metricsTelemetry, metricsUrl } from '../../worker/metrics';
import { createWorker, wireAdapters, type Wiring } from '../../worker/worker';
import { freePort } from '../helpers/ports';
import { devServerEnv } from '../helpers/temporalServers';
import { controlPlane, LTS_RELEASE, org } from '../helpers/fleetHarness';
import { offerRelease, waitForAttempt } from '../helpers/controlPlaneRuns';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-metrics-'));
let env: TestWorkflowEnvironment;
let wiring: Wiring;
let worker: Worker;
let running: Promise<void>;
let url: string;

beforeAll(async () => {
  const inventory = path.join(dir, 'fleet.json');
  fs.writeFileSync(inventory, JSON.stringify({ orgs: [org()], controlPlanes: [controlPlane('cp-metrics')] }));
  const config = loadConfig({
    NIGHTSHIFT_METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
    TEMPORAL_TASK_QUEUE: 'metrics',
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
  // Before the dev server's connection: that would otherwise create a default runtime without metrics.
  Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: metricsTelemetry(config) });
  url = metricsUrl(config.NIGHTSHIFT_METRICS_ADDRESS!);
  env = await devServerEnv();
  wiring = await wireAdapters({ ...config, TEMPORAL_ADDRESS: env.address }, () => undefined);
  worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: 'metrics',
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

/** Metric lines (no # HELP / # TYPE) whose name starts with `name`. */
function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name));
}

it('serves the SDK metrics and nightshift_* metrics in Prometheus format', async () => {
  const handle = await offerRelease(env.client, {
    controlPlaneId: 'cp-metrics',
    release: LTS_RELEASE,
    taskQueue: 'metrics',
  });
  expect((await waitForAttempt(handle)).record.outcome).toBe('completed');

  // The workflow never completes: after the attempt it continues as new (reported by the worker once that workflow
  // task completes, a moment after the attempt shows in the status): poll briefly.
  let text = '';
  for (let i = 0; i < 50; i++) {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    text = await res.text();
    if (series(text, 'temporal_workflow_continue_as_new').length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (process.env.PRINT_METRICS) console.log(text);

  // The SDK's own: the control plane's workflow continued as new once (it did not complete), and the activities'
  // execution latency, by task queue.
  expect(series(text, 'temporal_workflow_continue_as_new')).toEqual([
    expect.stringMatching(
      /^temporal_workflow_continue_as_new\{.*task_queue="metrics".*workflow_type="controlPlane".*\} 1$/,
    ),
  ]);
  expect(series(text, 'temporal_workflow_completed').filter((l) => l.includes('workflow_type="controlPlane"'))).toEqual(
    [],
  );
  expect(series(text, 'temporal_activity_execution_latency_count{').join('\n')).toMatch(
    /activity_type="upgradeComponent".*task_queue="metrics"/,
  );

  // nightshift's, as the exporter prints them: no temporal_ prefix, no _total suffix, and the workflow meter's own
  // tag names (namespace, taskQueue, workflowType). One upgrade started and finished completed, and one step
  // duration (ms of workflow time) per upgraded component.
  expect(series(text, 'nightshift_upgrades_started')).toEqual([expect.stringMatching(/ 1$/)]);
  expect(series(text, 'nightshift_upgrades_finished')).toEqual([
    expect.stringMatching(
      /^nightshift_upgrades_finished\{.*outcome="completed",taskQueue="metrics",workflowType="controlPlane"\} 1$/,
    ),
  ]);
  const counts = series(text, 'nightshift_step_duration_count');
  expect(counts.map((l) => /step="([^"]+)"/.exec(l)?.[1]).sort()).toEqual(['dashboard', 'data-plane', 'gateway']);
  for (const line of counts) expect(line).toMatch(/ 1$/);
  expect(series(text, 'nightshift_step_duration_bucket{').length).toBeGreaterThan(0);
  expect(series(text, 'nightshift_step_duration_sum{').length).toBe(3);
});
