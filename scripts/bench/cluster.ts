// Multi-worker benchmark (issue 14) on the real Temporal cluster: Temporal Server on PostgreSQL, started by
// test/helpers/temporalCluster.ts from the build scripts/setupTemporalCluster.js caches. For each worker count W: W
// `nightshift worker` processes (as in fanout.ts) on a task queue of their own, one release to N development control
// planes with windows open and an instant simulated fleet (in this process, with an audit log), fresh control-plane
// ids per W. Upgrades completed per second, the speed-up against the first W, and, from the fleet's audit log, that
// every component of every control plane was deployed to the target exactly once.
// `npx tsx scripts/bench/cluster.ts [--control-planes 200] [--workers 1,2,4] [--max-concurrent 200] [--data-planes 0]`
// prints progress on stderr, the JSON on stdout.
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { componentsOf } from '../../domain/eligibility';
import { InventorySchema, type Inventory } from '../../domain/inventory';
import type { Release } from '../../domain/release';
import { normalizeVersion } from '../../domain/versions';
import { SimulatedFleet } from '../../integrations/simulatedFleet/server';
import type { SimulatedAuditEntry } from '../../integrations/simulatedFleet/wire';
import { startFleetUpgrade } from '../../client/startFleet';
import type { fleetRollout } from '../../workflows';
import {
  controlPlaneWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  type FleetUpgradeResult,
} from '../../workflows/messages';
import { startTemporalCluster, temporalClusterAvailability } from '../../test/helpers/temporalCluster';
import { BENCH_RELEASE, FAST_VERIFY, benchInventory, spawnNightshiftWorker, type ChildWorker } from './fanout';
import { countHistory, median } from './historyCount';
import { historiesOf } from './throughput';
import { workflowTaskFigures, type WorkflowTaskFigures } from './workerMetrics';

export interface ExactlyOnce {
  /** Components in the inventory (Dashboard, Gateway, data planes of every control plane). */
  components: number;
  /** Components with exactly one deploy request that started a rollout to the target, and none to anything else. */
  deployedOnce: number;
  /** Components whose rollout to the target finished `succeeded`. */
  succeeded: number;
  /** Deploy requests that started a second rollout to the target, or one to another version (a rollback). */
  extraRollouts: number;
  /** Deploy requests that changed nothing (the same version again), and requests from an activity's retry. */
  noOpRequests: number;
  retriedRequests: number;
  /** Up to 10 components that were not deployed exactly once, with what the audit log says. */
  problems: string[];
  /** Every component deployed to the target exactly once, and every rollout succeeded. */
  ok: boolean;
}

export interface ClusterRun {
  workers: number;
  releaseId: string;
  taskQueue: string;
  outcome: string;
  outcomes: FleetUpgradeResult['status']['outcomes'];
  completed: number;
  seconds: number;
  upgradesPerSecond: number;
  /** upgradesPerSecond / that of the first worker count measured (W=1 when listed first). */
  speedUp: number;
  exactlyOnce: ExactlyOnce;
  /** The machine's 1-minute load average at the end (2 CPUs: above 2, everything waited for a CPU). */
  loadAverage1m: number;
  /** Histories: a sample of the control planes (all runs of each) and the fleet's, to see where workflow tasks came from. */
  history: ClusterHistory;
  /**
   * Per worker process at the end: VmHWM, VmRSS (MiB), CPU seconds spent during the rollout, and where its workflow
   * tasks went during the rollout (its SDK metrics: tasks, sticky cache hits and misses, evictions, wait to start).
   */
  workerProcesses: {
    pid: number;
    peakRssMiB: number;
    rssMiB: number;
    rolloutCpuSeconds: number;
    workflowTasks?: WorkflowTaskFigures;
  }[];
}

export interface ClusterHistory {
  sample: number;
  /** Per control plane in the sample: events and workflow tasks, median. */
  medianEvents: number;
  medianWorkflowTasks: number;
  /** Events per type, summed over the sample. */
  byType: Record<string, number>;
  /** The fleet's events, per run. */
  fleetEvents: number[];
}

export interface ClusterResult {
  at: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string };
  server: { version: string; persistence: string; visibility: string; historyShards: number; startupSeconds: number };
  controlPlanes: number;
  dataPlanesEach: number;
  maxConcurrent: number;
  runs: ClusterRun[];
}

/** A rollout with nothing finishing, changing or waiting for a slot for this long has stalled (windows closed?). */
const STALL_MS = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchCluster(opts: {
  controlPlanes: number;
  workers: number[];
  maxConcurrent?: number;
  dataPlanes?: number;
  log?: (line: string) => void;
  /** Give up on one worker count's rollout after this long (default 15 min). */
  timeoutMs?: number;
}): Promise<ClusterResult> {
  const log = opts.log ?? (() => undefined);
  const availability = temporalClusterAvailability();
  if (!availability.available) throw new Error(`the real Temporal cluster is not available: ${availability.why}`);
  const n = opts.controlPlanes;
  const maxConcurrent = opts.maxConcurrent ?? 200;
  const dataPlanes = opts.dataPlanes ?? 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-cluster-'));
  log(`cluster: starting PostgreSQL and Temporal Server ${availability.version}; logs in ${dir}`);
  const cluster = await startTemporalCluster();
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: cluster.address });
    const client = new Client({ connection, namespace: cluster.namespace });
    const info = await connection.workflowService.getClusterInfo({});
    const server = {
      version: info.serverVersion ?? cluster.version,
      persistence: info.persistenceStore ?? '?',
      visibility: info.visibilityStore ?? '?',
      historyShards: info.historyShardCount ?? 0,
      startupSeconds: Math.round(cluster.startupMs / 100) / 10,
    };
    log(`cluster: up at ${cluster.address} (${JSON.stringify(server)})`);
    const runs: ClusterRun[] = [];
    for (const w of opts.workers) {
      const run = await runOnce(client, {
        address: cluster.address,
        namespace: cluster.namespace,
        dir: fs.mkdtempSync(path.join(dir, `w${w}-`)),
        n,
        workers: w,
        maxConcurrent,
        dataPlanes,
        log,
        timeoutMs: opts.timeoutMs ?? 15 * 60_000,
        baseline: runs[0]?.upgradesPerSecond,
      });
      runs.push(run);
      log(
        `cluster: W=${w}: ${run.completed}/${n} completed in ${run.seconds} s, ${run.upgradesPerSecond}/s ` +
          `(×${run.speedUp}); exactly once: ${run.exactlyOnce.ok}`,
      );
      const h = run.history;
      log(
        `cluster: W=${w}: control planes (median of ${h.sample}) ${h.medianEvents} events, ${h.medianWorkflowTasks} ` +
          `workflow tasks; fleet ${h.fleetEvents.join(' + ')} events; sample by type ${JSON.stringify(h.byType)}`,
      );
      for (const p of run.workerProcesses)
        if (p.workflowTasks)
          log(
            `cluster: W=${w}: worker ${p.pid}: ${p.rolloutCpuSeconds} CPU-s; workflow tasks ${describeTasks(p.workflowTasks)}`,
          );
    }
    return {
      at: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
      },
      server,
      controlPlanes: n,
      dataPlanesEach: dataPlanes,
      maxConcurrent,
      runs,
    };
  } finally {
    await connection?.close();
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface RunContext {
  address: string;
  namespace: string;
  dir: string;
  n: number;
  workers: number;
  maxConcurrent: number;
  dataPlanes: number;
  log: (line: string) => void;
  timeoutMs: number;
  baseline?: number;
}

async function runOnce(client: Client, ctx: RunContext): Promise<ClusterRun> {
  const { dir, n, workers, log } = ctx;
  const stamp = Date.now().toString(36);
  // Fresh ids per worker count: the control planes of an earlier count are on the target already.
  const raw = benchInventory(n, { parked: false, prefix: `w${workers}-${stamp}-cp-`, dataPlanes: ctx.dataPlanes });
  const inventory = InventorySchema.parse(raw);
  const inventoryFile = path.join(dir, 'fleet.json');
  fs.writeFileSync(inventoryFile, JSON.stringify(raw));
  const auditLog = path.join(dir, 'audit.jsonl');
  const fleet = await SimulatedFleet.start({ inventory, rolloutMs: 0, checkDurationMs: 1, auditLog });
  const taskQueue = `bench-cluster-w${workers}-${stamp}`;
  const procs: ChildWorker[] = [];
  try {
    log(`cluster: W=${workers}: starting ${workers} nightshift worker process(es) on ${taskQueue}`);
    const started = await Promise.allSettled(
      Array.from({ length: workers }, (_, i) =>
        spawnNightshiftWorker(
          {
            TEMPORAL_ADDRESS: ctx.address,
            TEMPORAL_NAMESPACE: ctx.namespace,
            TEMPORAL_TASK_QUEUE: taskQueue,
            NIGHTSHIFT_INVENTORY: inventoryFile,
            NIGHTSHIFT_SIM_URL: fleet.baseUrl,
            NIGHTSHIFT_OUTBOX: path.join(dir, `outbox-${i + 1}.jsonl`),
            NIGHTSHIFT_ALERT_LOG: path.join(dir, `alerts-${i + 1}.jsonl`),
            ...FAST_VERIFY,
          },
          path.join(dir, `worker-${i + 1}.log`),
          300_000,
          true,
        ),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') procs.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const cpuBefore = procs.map((p) => p.stats()?.cpuSeconds ?? 0);
    const metricsBefore = await Promise.all(procs.map((p) => scrape(p)));

    const release: Release = { ...BENCH_RELEASE, id: `lts-5.8.2-cluster-w${workers}-${stamp}` };
    const t0 = Date.now();
    await startFleetUpgrade(client, {
      taskQueue: `${taskQueue}-fleet`,
      release,
      rollout: { bakeMinutes: 0, maxConcurrent: ctx.maxConcurrent, pageSize: 500 },
      requestedBy: 'scripts/bench/cluster.ts',
    });
    const handle = client.workflow.getHandle<typeof fleetRollout>(fleetWorkflowId(release.id));
    const stopWaiting = new AbortController();
    setMaxListeners(0, stopWaiting.signal); // each long poll of the result adds a listener
    const result = client.withAbortSignal(stopWaiting.signal, () => handle.result());
    let finished: FleetUpgradeResult | undefined;
    let failure: unknown;
    void result.then(
      (r) => (finished = r),
      (err: unknown) => (failure = err),
    );
    let lastLog = t0;
    let lastDone = -1;
    let progressAt = t0;
    while (!finished && !failure) {
      const gone = procs.find((p) => p.exited());
      if (gone) throw new Error(`${gone.exited()} (log ${gone.log})`);
      if (Date.now() - t0 > ctx.timeoutMs) throw new Error(`W=${workers}: not finished after ${ctx.timeoutMs} ms`);
      if (Date.now() - lastLog >= 5000) {
        lastLog = Date.now();
        const s = await handle.query(fleetStatusQuery).catch(() => undefined);
        const done = s ? Object.values(s.outcomes).reduce((a, b) => a + (b ?? 0), 0) : '?';
        const busy = s ? s.inFlight.changing + s.inFlight.waitingForSlot : 0;
        if (done !== lastDone || busy > 0) [lastDone, progressAt] = [typeof done === 'number' ? done : -1, Date.now()];
        else if (Date.now() - progressAt > STALL_MS)
          throw new Error(`W=${workers}: no progress for ${STALL_MS / 1000} s: ${JSON.stringify(s?.inFlight)}`);
        log(
          `cluster: W=${workers} ${Math.round((Date.now() - t0) / 1000)} s: ${s?.stage ?? '?'}, finished ${done}/${n}, ` +
            `changing ${s?.inFlight.changing ?? '?'}, waiting for a slot ${s?.inFlight.waitingForSlot ?? '?'}`,
        );
      }
      await sleep(100);
    }
    stopWaiting.abort();
    if (failure) throw failure;
    const seconds = (Date.now() - t0) / 1000;
    const final = finished!;
    const completed = final.status.outcomes.completed ?? 0;
    const upgradesPerSecond = round(completed / seconds, 2);
    const metricsAfter = await Promise.all(procs.map((p) => scrape(p)));
    const history = await sampleHistories(client, inventory, release);
    const workerProcesses = procs.map((p, i) => {
      const s = p.stats();
      const [before, after] = [metricsBefore[i], metricsAfter[i]];
      return {
        pid: p.pid,
        peakRssMiB: s?.peakRssMiB ?? NaN,
        rssMiB: s?.rssMiB ?? NaN,
        rolloutCpuSeconds: round((s?.cpuSeconds ?? NaN) - cpuBefore[i]!, 1),
        ...(before !== undefined && after !== undefined ? { workflowTasks: workflowTaskFigures(before, after) } : {}),
      };
    });
    return {
      workers,
      releaseId: release.id,
      taskQueue,
      outcome: final.outcome,
      outcomes: final.status.outcomes,
      completed,
      seconds: round(seconds, 1),
      upgradesPerSecond,
      speedUp: ctx.baseline ? round(upgradesPerSecond / ctx.baseline, 2) : 1,
      exactlyOnce: checkExactlyOnce(inventory, release, auditLog),
      history,
      loadAverage1m: round(os.loadavg()[0]!, 1),
      workerProcesses,
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await fleet.close();
  }
}

function describeTasks(t: WorkflowTaskFigures): string {
  return (
    `${t.workflowTasks}: sticky cache hits ${t.stickyCacheHits}, misses ${t.stickyCacheMisses}, forced evictions ` +
    `${t.forcedEvictions}; scheduled → started ${t.scheduleToStartMeanMs} ms on average`
  );
}

const HISTORY_SAMPLE = 10;

/** Every run of HISTORY_SAMPLE control planes spread over the inventory, and of the fleet. */
async function sampleHistories(client: Client, inventory: Inventory, release: Release): Promise<ClusterHistory> {
  const cps = inventory.controlPlanes;
  const step = Math.max(1, Math.floor(cps.length / HISTORY_SAMPLE));
  const picked = cps.filter((_, i) => i % step === 0).slice(0, HISTORY_SAMPLE);
  const counts = await Promise.all(
    picked.map(async (cp) => countHistory((await historiesOf(client, controlPlaneWorkflowId(cp.id))).flat())),
  );
  const byType: Record<string, number> = {};
  for (const c of counts) for (const [k, v] of Object.entries(c.byType)) byType[k] = (byType[k] ?? 0) + v;
  const fleet = await historiesOf(client, fleetWorkflowId(release.id));
  return {
    sample: counts.length,
    medianEvents: median(counts.map((c) => c.events)),
    medianWorkflowTasks: median(counts.map((c) => c.workflowTasks)),
    byType,
    fleetEvents: fleet.map((run) => run.length).reverse(),
  };
}

/** A worker's metrics, or undefined (logged) when they cannot be read: the figures are a diagnosis, not the result. */
async function scrape(p: ChildWorker): Promise<string | undefined> {
  try {
    return await p.metrics?.();
  } catch (err) {
    console.error(`cluster: worker ${p.pid}: metrics not read: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/** From the simulated fleet's audit log: each component deployed to its target exactly once, and nothing else. */
export function checkExactlyOnce(inventory: Inventory, release: Release, auditLog: string): ExactlyOnce {
  const entries = fs.existsSync(auditLog)
    ? fs
        .readFileSync(auditLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as SimulatedAuditEntry)
    : [];
  const byComponent = new Map<string, SimulatedAuditEntry[]>();
  for (const e of entries) {
    const key = `${e.controlPlaneId}/${e.componentId}`;
    byComponent.set(key, [...(byComponent.get(key) ?? []), e]);
  }
  const out: ExactlyOnce = {
    components: 0,
    deployedOnce: 0,
    succeeded: 0,
    extraRollouts: 0,
    noOpRequests: 0,
    retriedRequests: 0,
    problems: [],
    ok: false,
  };
  for (const cp of inventory.controlPlanes) {
    for (const { component } of componentsOf(cp)) {
      out.components++;
      const target = normalizeVersion(
        component.kind === 'dashboard' ? release.targets.dashboard : release.targets.gateway,
      );
      const key = `${cp.id}/${component.id}`;
      const log = byComponent.get(key) ?? [];
      const deploys = log.filter((e) => e.event === 'deploy');
      const started = deploys.filter((e) => e.result === 'started');
      const toTarget = started.filter((e) => e.to === target);
      out.noOpRequests += deploys.filter((e) => e.result === 'no-op').length;
      out.retriedRequests += deploys.filter((e) => (e.requestedBy?.attempt ?? 1) > 1).length;
      out.extraRollouts += started.length - Math.min(toTarget.length, 1);
      const once = toTarget.length === 1 && started.length === 1;
      if (once) out.deployedOnce++;
      const ok = log.some((e) => e.event === 'finished' && e.outcome === 'succeeded' && e.version === target);
      if (ok) out.succeeded++;
      if ((!once || !ok) && out.problems.length < 10)
        out.problems.push(
          `${key}: ${started.length} rollout(s) started (${toTarget.length} to ${target}), ` +
            `${deploys.length - started.length} no-op request(s), ${ok ? '' : 'no '}succeeded rollout to ${target}`,
        );
    }
  }
  out.ok = out.deployedOnce === out.components && out.succeeded === out.components;
  return out;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// --- CLI -------------------------------------------------------------------------------------------------------------

function flags(argv = process.argv.slice(2)) {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        'control-planes': { type: 'string', default: '200' },
        workers: { type: 'string', default: '1,2,4' },
        'max-concurrent': { type: 'string', default: '200' },
        'data-planes': { type: 'string', default: '0' },
      },
    }).values;
  } catch (err) {
    return bad((err as Error).message.split('\n')[0]!);
  }
  const int = (name: string, min: number, max: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max)
      bad(`--${name} = ${JSON.stringify(values[name])}: must be a whole number from ${min} to ${max}`);
    return n;
  };
  const workers = (values.workers ?? '').split(',').map((w) => Number(w.trim()));
  if (workers.length === 0 || workers.some((w) => !Number.isInteger(w) || w < 1 || w > 16))
    bad(`--workers = ${JSON.stringify(values.workers)}: must be worker counts from 1 to 16, comma-separated`);
  return {
    controlPlanes: int('control-planes', 1, 100_000),
    workers,
    maxConcurrent: int('max-concurrent', 1, 1000),
    dataPlanes: int('data-planes', 0, 20),
  };
}

function bad(line: string): never {
  console.error(line);
  process.exit(2);
}

if (require.main === module) {
  const f = flags();
  benchCluster({ ...f, log: (l) => console.error(l) }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
