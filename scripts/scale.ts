// `npm run scale -- [--control-planes 10000] [--max-concurrent 200] [--page-size 500] [--data-planes 0] [--parked]`
// One release across N simulated control planes on a local dev server (in memory, no UI): windows open now, instant
// rollouts, real workflows, activities, HTTP health checks and outbox emails. Prints progress, then the run time and
// the fleet workflow's largest history length over all its runs (continue-as-new), and writes them to
// .data/scale-result.json. With --parked the control planes are production tier with windows a week away: the run
// ends once every one is parked on its window (nothing may fail), and reports the worker's peak RSS.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Release } from '../domain/release';
import { SimulatedFleet } from '../integrations/simulatedFleet/server';
import { InventorySchema } from '../domain/inventory';
import { loadConfig } from '../config/config';
import { startDevServer } from './devServer';
import { openWindow } from './bench/windows';
import { startFleetUpgrade } from '../client/startFleet';
import { connectClient } from '../client/temporalClient';
import { connectWorker, createWorkers, wireAdapters } from '../worker/worker';
import type { fleetRollout } from '../workflows';
import { fleetStatusQuery, fleetWorkflowId, type FleetStatus } from '../workflows/messages';

const ROOT = path.resolve(__dirname, '..');
const PARKED_QUERY = `WorkflowType = 'controlPlane' AND ExecutionStatus = 'Running' AND UpgradeStage = 'waiting-for-window'`;

function flags() {
  const { values } = parseArgs({
    options: {
      'control-planes': { type: 'string', default: '10000' },
      'max-concurrent': { type: 'string', default: '200' },
      'page-size': { type: 'string', default: '500' },
      'data-planes': { type: 'string', default: '0' },
      port: { type: 'string', default: '7299' },
      parked: { type: 'boolean', default: false },
    },
  });
  const int = (name: keyof typeof values, min: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} = ${JSON.stringify(values[name])}: a whole number ≥ ${min}`);
    return n;
  };
  return {
    controlPlanes: int('control-planes', 1),
    maxConcurrent: int('max-concurrent', 1),
    pageSize: int('page-size', 1),
    dataPlanes: int('data-planes', 0),
    port: int('port', 1),
    parked: values.parked ?? false,
  };
}

function inventory(n: number, dataPlanes: number, parked: boolean) {
  const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  // Parked: production (a week's notice) with one window a week, on yesterday's weekday: 6 days from now at the
  // earliest, so the first window with a week's notice is 13 days away.
  const yesterday = new Date(Date.now() - 86_400_000).toLocaleDateString('en-US', {
    weekday: 'short',
    timeZone: 'UTC',
  });
  return {
    orgs: [{ id: 'org-scale', name: 'Scale Test', admin: { email: 'ops@scale.example', name: 'Scale Admin' } }],
    controlPlanes: Array.from({ length: n }, (_, i) => ({
      id: `cp-${String(i + 1).padStart(5, '0')}`,
      orgId: 'org-scale',
      tier: parked ? 'production' : 'development',
      autoUpgrade: true,
      labels: !parked && i < 50 ? ['canary'] : [],
      dashboard: { version: '5.3.4' },
      gateway: { version: '5.3.4' },
      dataPlanes: Array.from({ length: dataPlanes }, (_, d) => ({ id: `dp-${d + 1}`, version: '5.3.4' })),
      window: parked
        ? {
            timeZone: 'UTC',
            start: '02:00',
            durationMinutes: 240,
            weekly: { days: [yesterday.toLowerCase().slice(0, 3)] },
          }
        : openWindow(everyDay),
    })),
  };
}

async function main(): Promise<void> {
  const opts = flags();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-scale-'));
  const inventoryFile = path.join(dir, 'fleet.json');
  const inv = inventory(opts.controlPlanes, opts.dataPlanes, opts.parked);
  fs.writeFileSync(inventoryFile, JSON.stringify(inv));
  const address = `127.0.0.1:${opts.port}`;
  Runtime.install({ logger: new DefaultLogger('ERROR') });

  console.log(`Starting an in-memory dev server on ${address}...`);
  const server: ChildProcess = await startDevServer(address);
  // No state file: persisting 10,000 components' state on every change would measure the disk, not Temporal.
  const fleet = await SimulatedFleet.start({ inventory: InventorySchema.parse(inv), rolloutMs: 0, checkDurationMs: 1 });
  const config = loadConfig({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: 'nightshift-scale',
    NIGHTSHIFT_INVENTORY: inventoryFile,
    NIGHTSHIFT_SIM_URL: fleet.baseUrl,
    NIGHTSHIFT_OUTBOX: path.join(dir, 'outbox.jsonl'),
    NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
    NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
    NIGHTSHIFT_VERIFY_PASSES: '1',
    NIGHTSHIFT_VERIFY_INTERVAL_MS: '1',
    NIGHTSHIFT_VERIFY_SOAK_MS: '0',
    NIGHTSHIFT_VERIFY_TIMEOUT_MS: '30000',
    NIGHTSHIFT_TYK_CHECK_DURATION_MS: '1',
  });
  const wiring = await wireAdapters(config, () => undefined);
  const connection = await connectWorker(config);
  const worker = await createWorkers({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    fleetTaskQueue: config.fleetTaskQueue,
    deps: wiring.deps,
    extra: {
      maxConcurrentWorkflowTaskExecutions: 200,
      maxConcurrentActivityTaskExecutions: 400,
      maxCachedWorkflows: config.NIGHTSHIFT_WORKFLOW_CACHE_SIZE,
    },
  });
  const running = worker.run();
  const { client, close } = await connectClient(config);

  const release: Release = {
    id: `lts-5.8.2-scale-${opts.controlPlanes}`,
    kind: 'lts',
    targets: { dashboard: '5.8.2', gateway: '5.8.2' },
    notesUrl: 'https://tyk.io/docs/release-notes/5.8.2',
  };
  const started = Date.now();
  const start = await startFleetUpgrade(client, {
    taskQueue: config.fleetTaskQueue,
    release,
    rollout: { bakeMinutes: 0, maxConcurrent: opts.maxConcurrent, pageSize: opts.pageSize },
  });
  console.log(
    `${start.result}: ${start.workflowId} — ${opts.controlPlanes} control planes, ${opts.maxConcurrent} at once`,
  );
  const handle = client.workflow.getHandle<typeof fleetRollout>(fleetWorkflowId(release.id));
  // Aborted before the connection closes: a parked run never ends, and its long poll would retry on a closed channel.
  const stopWaiting = new AbortController();
  const result = client.withAbortSignal(stopWaiting.signal, () => handle.result());
  let done = false;
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 1000);
  void result.finally(() => (done = true)).catch(() => undefined);
  let last: FleetStatus | undefined;
  let offeredAt: number | undefined;
  while (!done) {
    await new Promise((r) => setTimeout(r, 5000));
    if (done) break;
    const s = await handle.query(fleetStatusQuery).catch(() => undefined);
    if (!s) continue;
    last = s;
    const f = s.inFlight;
    // Parked means the control plane's workflow started its window timer (it sets UpgradeStage in that task); the
    // fleet's waitingForWindow counts offers, which it makes before the control plane has run a step.
    if (opts.parked && s.stage === 'main' && f.waitingForWindow === s.eligibility.eligible) {
      const parked = (await client.workflow.count(PARKED_QUERY).catch(() => undefined))?.count;
      if (parked === s.eligibility.eligible) break;
      offeredAt ??= Date.now();
      console.log(`      offered all ${f.waitingForWindow}; parked ${parked ?? '?'}`);
      continue;
    }
    const finished = Object.values(s.outcomes).reduce((a, b) => a + (b ?? 0), 0);
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    console.log(
      `${secs.padStart(5)} s  ${s.stage.padEnd(14)} finished ${finished}/${s.eligibility.eligible || '?'}  ` +
        `starting ${f.starting ?? 0}  waiting ${f.waitingForWindow}  for slot ${f.waitingForSlot}  changing ${f.changing}  runs ${s.runs + 1}`,
    );
  }
  const seconds = (Date.now() - started) / 1000;
  clearInterval(rssTimer);
  const final = opts.parked ? { outcome: 'parked', status: last! } : await result;

  // Every run of the fleet workflow, and the longest history among them.
  const runs: { runId: string; status: string; historyLength: number }[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${fleetWorkflowId(release.id)}'` })) {
    // Visibility has no history length for a running run: describe it.
    const historyLength =
      wf.status.name === 'RUNNING'
        ? (await client.workflow.getHandle(wf.workflowId, wf.runId).describe()).historyLength
        : wf.historyLength;
    runs.push({ runId: wf.runId, status: wf.status.name, historyLength });
  }
  const maxHistory = Math.max(...runs.map((r) => r.historyLength));
  const summary = {
    at: new Date().toISOString(),
    controlPlanes: opts.controlPlanes,
    dataPlanesEach: opts.dataPlanes,
    maxConcurrent: opts.maxConcurrent,
    pageSize: opts.pageSize,
    outcome: final.outcome,
    outcomes: final.status.outcomes,
    seconds: Math.round(seconds),
    controlPlanesPerSecond: Number((opts.controlPlanes / seconds).toFixed(1)),
    fleetRuns: runs.length,
    fleetMaxHistoryLength: maxHistory,
    fleetHistoryLengths: runs.map((r) => r.historyLength),
    continueAsNewAfterEvents: final.status.rollout.continueAsNewAfterEvents,
    parked: opts.parked ? final.status.inFlight.waitingForWindow : undefined,
    /** Parked runs: when the fleet had offered the release to every control plane (before they all parked). */
    offeredSeconds: offeredAt ? Math.round((offeredAt - started) / 1000) : undefined,
    // The process hosts the worker, the simulated fleet's HTTP servers and this script.
    peakRssMiB: Math.round(peakRss / 1024 / 1024),
    node: process.version,
    cpus: os.cpus().length,
  };
  console.log(JSON.stringify(summary, null, 2));
  fs.mkdirSync(path.join(ROOT, '.data'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, '.data/scale-result.json'), JSON.stringify(summary, null, 2) + '\n');

  stopWaiting.abort();
  await result.catch(() => undefined);
  worker.shutdown();
  await running;
  await connection.close();
  await close();
  await wiring.close();
  await fleet.close();
  server.kill('SIGINT');
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(`npm run scale: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
