// Fan-out and memory benchmark (issue 14), in one run on one local dev server:
// 1. nightshift: one release to N production-tier control planes whose windows are more than a week away, until every
//    one is parked on its window (the fleet's inFlight.waitingForWindow equals its eligible count). The worker is its
//    own process (`node dist/cli/nightshift.js worker` after `npm run build`, configured by environment variables); the simulated
//    fleet runs in this process. Parked per second, and the worker process's VmHWM and VmRSS at the end.
// 2. bare baseline: N bare workflows (parked/workflows.ts) running K no-op activities one after another, then a timer a
//    week away, K being the ActivityTaskScheduled events of one parked control-plane workflow (all its runs) measured
//    in step 1; on a bare worker process (parked/worker.ts) with the same SDK defaults. The K-th activity of each
//    workflow POSTs to this process, which takes the time of the N-th.
// `npx tsx scripts/bench/fanout.ts [--control-planes 300] [--port 7322]` prints progress on stderr, the JSON on stdout.
// Both worker processes run with the image's NODE_OPTIONS (its heap cap) and MALLOC_ARENA_MAX, read from the
// Dockerfile; BENCH_WORKER_NODE_OPTIONS replaces NODE_OPTIONS for both (`''`: no heap cap). BENCH_WORKFLOW_CACHE_SIZE
// sets the nightshift worker's NIGHTSHIFT_WORKFLOW_CACHE_SIZE (else its default).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import type { Release } from '../../domain/release';
import { InventorySchema } from '../../domain/inventory';
import { SimulatedFleet } from '../../integrations/simulatedFleet/server';
import { startFleetUpgrade } from '../../client/startFleet';
import { FLEET_CACHED_WORKFLOWS } from '../../worker/worker';
import { readDockerfile, runtimeEnv } from '../dockerfile';
import type { fleetRollout } from '../../workflows';
import { controlPlaneWorkflowId, fleetStatusQuery, fleetWorkflowId, type FleetStatus } from '../../workflows/messages';
import { reachable, startDevServer } from '../devServer';
import { procCpuSeconds, procMemory, type ProcMemory } from './procStats';
import { freePort } from '../../test/helpers/ports';

const ROOT = path.resolve(__dirname, '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Resolves undefined after `ms`, without keeping the process alive for it. */
const deadline = (ms: number) => new Promise<undefined>((r) => setTimeout(r, ms, undefined).unref());

// --- Shared with cluster.ts ------------------------------------------------------------------------------------------

/** A production (parked) or development (window open now) inventory of `n` control planes with ids `<prefix>NNNNN`. */
export function benchInventory(n: number, opts: { parked: boolean; prefix?: string; dataPlanes?: number }) {
  const prefix = opts.prefix ?? 'cp-';
  // Parked: a week's notice and one window a week on yesterday's weekday, so the first window is 13 days away.
  const yesterday = new Date(Date.now() - 86_400_000)
    .toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' })
    .toLowerCase()
    .slice(0, 3);
  // Open: a day long, every day, opened at the start of the previous UTC hour: 22 hours or more left whenever the run
  // starts (a window from 00:00 leaves too little room late in the UTC day, and the upgrade waits for tomorrow's).
  const openSince = `${String((new Date().getUTCHours() + 23) % 24).padStart(2, '0')}:00`;
  return {
    orgs: [{ id: 'org-bench', name: 'Bench', admin: { email: 'ops@bench.example', name: 'Bench Admin' } }],
    controlPlanes: Array.from({ length: n }, (_, i) => ({
      id: `${prefix}${String(i + 1).padStart(5, '0')}`,
      orgId: 'org-bench',
      tier: opts.parked ? 'production' : 'development',
      autoUpgrade: true,
      labels: [],
      dashboard: { version: '5.3.4' },
      gateway: { version: '5.3.4' },
      dataPlanes: Array.from({ length: opts.dataPlanes ?? 0 }, (_, d) => ({ id: `dp-${d + 1}`, version: '5.3.4' })),
      window: opts.parked
        ? { timeZone: 'UTC', start: '02:00', durationMinutes: 240, weekly: { days: [yesterday] } }
        : {
            timeZone: 'UTC',
            start: openSince,
            durationMinutes: 1440,
            weekly: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
          },
    })),
  };
}

export const BENCH_RELEASE: Omit<Release, 'id'> = {
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes/5.8.2',
};

/** The settings scripts/scale.ts gives its worker: no notice for development, one quick verification. */
export const FAST_VERIFY = {
  NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
  NIGHTSHIFT_VERIFY_PASSES: '1',
  NIGHTSHIFT_VERIFY_INTERVAL_MS: '1',
  NIGHTSHIFT_VERIFY_SOAK_MS: '0',
  NIGHTSHIFT_VERIFY_TIMEOUT_MS: '30000',
  NIGHTSHIFT_TYK_CHECK_DURATION_MS: '1',
};

/** An environment without Temporal, nightshift or bench settings or NODE_OPTIONS: only the bench's reach a child. */
function cleanEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const ours = /^(TEMPORAL_|NIGHTSHIFT_|BENCH_)|^NODE_OPTIONS$/;
  return Object.fromEntries(Object.entries(env).filter(([k]) => !ours.test(k)));
}

/**
 * The environment of a worker process: `env` without TEMPORAL_*, NIGHTSHIFT_*, BENCH_* and NODE_OPTIONS, plus the
 * image's NODE_OPTIONS (the heap cap) and MALLOC_ARENA_MAX, read from the Dockerfile's runtime stage, so the workers
 * run as the image runs the worker. BENCH_WORKER_NODE_OPTIONS replaces NODE_OPTIONS (e.g. `''`: no heap cap),
 * MALLOC_ARENA_MAX in `env` replaces the image's. Both worker processes, nightshift's and the bare one, get the same.
 */
export function workerEnv(
  env: NodeJS.ProcessEnv = process.env,
  image: Record<string, string> = runtimeEnv(readDockerfile()),
): NodeJS.ProcessEnv {
  const nodeOptions = env.BENCH_WORKER_NODE_OPTIONS ?? image.NODE_OPTIONS;
  const arenas = env.MALLOC_ARENA_MAX ?? image.MALLOC_ARENA_MAX;
  return {
    ...cleanEnv(env),
    ...(arenas !== undefined ? { MALLOC_ARENA_MAX: arenas } : {}),
    ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
  };
}

export interface ChildWorker {
  pid: number;
  child: ChildProcess;
  log: string;
  /** Memory and CPU when it became ready (after bundling the workflow code and connecting). */
  atReady: ProcMemory & { cpuSeconds: number };
  /** Set when the process exited. */
  exited(): string | undefined;
  stats(): (ProcMemory & { cpuSeconds: number }) | undefined;
  /** SIGTERM, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** The worker's Prometheus metrics (NIGHTSHIFT_METRICS_ADDRESS), when it was started with them. */
  metrics?(): Promise<string>;
}

function watch(child: ChildProcess, log: string, name: string) {
  let exited: string | undefined;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `${name} exited with ${code ?? signal}`;
      resolve();
    }),
  );
  const stats = () => {
    const mem = procMemory(child.pid!);
    const cpu = procCpuSeconds(child.pid!);
    return mem && cpu !== undefined ? { ...mem, cpuSeconds: cpu } : undefined;
  };
  const stop = async (graceMs = 20_000) => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  };
  const fail = (what: string) => {
    const tail = fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
    return new Error(`${exited ?? `${name} did not ${what}`}; its log (${log}):\n${tail}`);
  };
  return { exited: () => exited, stats, stop, fail };
}

const BUILT_CLI = path.join(ROOT, 'dist', 'cli', 'nightshift.js');
let building: Promise<void> | undefined;

/**
 * `npm run build`, once per bench process: the workers run as the image runs them (compiled, with the prebuilt workflow
 * bundle), so their memory is not webpack's (bundling at start-up left 561 MiB resident before any workflow ran).
 */
function buildOnce(): Promise<void> {
  building ??= new Promise<void>((resolve, reject) => {
    const child = spawn('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && fs.existsSync(BUILT_CLI)) resolve();
      else reject(new Error(`npm run build exited ${code}:\n${out.trimEnd().split('\n').slice(-15).join('\n')}`));
    });
  });
  return building;
}

/**
 * `node dist/cli/nightshift.js worker` (built first, see buildOnce) with `env` (plus a health address and, with
 * `withMetrics`, a Prometheus metrics address: not for the fan-out, whose bare worker exports none), logging to `log`;
 * resolves once its /readyz answers 200 (within `timeoutMs`).
 */
export async function spawnNightshiftWorker(
  env: Record<string, string>,
  log: string,
  timeoutMs = 180_000,
  withMetrics = false,
): Promise<ChildWorker> {
  await buildOnce();
  const health = `127.0.0.1:${await freePort()}`;
  const metricsAddress = withMetrics ? `127.0.0.1:${await freePort()}` : undefined;
  const fd = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [BUILT_CLI, 'worker'], {
    cwd: ROOT,
    env: {
      ...workerEnv(),
      ...env,
      NIGHTSHIFT_HEALTH_ADDRESS: health,
      ...(metricsAddress ? { NIGHTSHIFT_METRICS_ADDRESS: metricsAddress } : {}),
    },
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const w = watch(child, log, `nightshift worker ${child.pid}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (w.exited()) throw w.fail('start');
    const ok = await fetch(`http://${health}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await w.stop(1000);
      throw w.fail(`become ready within ${timeoutMs / 1000} s`);
    }
    await sleep(200);
  }
  const metrics = async () => {
    const res = await fetch(`http://${metricsAddress}/metrics`);
    if (!res.ok) throw new Error(`GET http://${metricsAddress}/metrics answered ${res.status}`);
    return res.text();
  };
  const { stats, exited, stop } = w;
  return {
    pid: child.pid!,
    child,
    log,
    atReady: stats()!,
    exited,
    stats,
    stop,
    ...(metricsAddress ? { metrics } : {}),
  };
}

let bareBundle: Promise<string> | undefined;

/** The bare workflows bundled once, to a file (as the nightshift worker loads its prebuilt bundle). */
function bareBundleFile(dir: string): Promise<string> {
  bareBundle ??= (async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('./parked/workflows'),
      logger: new DefaultLogger('WARN'),
    });
    const file = path.join(dir, 'bare-workflow-bundle.js');
    fs.writeFileSync(file, code);
    return file;
  })();
  return bareBundle;
}

/** The bare worker process (parked/worker.ts); resolves once it printed its ready line. */
async function spawnBareWorker(
  env: Record<string, string>,
  log: string,
  timeoutMs = 180_000,
): Promise<ChildWorker & { maxCachedWorkflows: number }> {
  const fd = fs.openSync(log, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/parked/worker.ts'], {
    cwd: ROOT,
    env: { ...workerEnv(), ...env },
    stdio: ['ignore', 'pipe', fd],
  });
  fs.closeSync(fd);
  const w = watch(child, log, `bare worker ${child.pid}`);
  const ready = new Promise<number>((resolve) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      fs.appendFileSync(log, `${line}\n`);
      const m = /^\{"ready":\{"maxCachedWorkflows":(\d+)\}\}$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  const maxCachedWorkflows = await Promise.race([ready, deadline(timeoutMs)]);
  if (maxCachedWorkflows === undefined || w.exited()) {
    await w.stop(1000);
    throw w.fail('become ready');
  }
  return {
    pid: child.pid!,
    child,
    log,
    atReady: w.stats()!,
    exited: w.exited,
    stats: w.stats,
    stop: w.stop,
    maxCachedWorkflows,
  };
}

/** The SDK's default maxCachedWorkflows for a Node process with this V8 heap limit (worker-options.js, reuseV8Context). */
function sdkDefaultMaxCachedWorkflows(heapLimitMiB: number): number {
  return Math.max(Math.floor((Math.max(heapLimitMiB - 200, 0) * 600) / 1024), 10);
}

// --- The benchmark ---------------------------------------------------------------------------------------------------

interface WorkerFigures {
  /** VmHWM and VmRSS (MiB) and CPU seconds of the worker process once ready (workflow code bundled, connected). */
  atReady: ProcMemory & { cpuSeconds: number };
  /** The same once all N were parked: VmHWM is the process's peak over its whole life. */
  atEnd: ProcMemory & { cpuSeconds: number };
}

export interface FanoutResult {
  at: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string };
  controlPlanes: number;
  /** The SDK's default workflow cache size in these worker processes (neither sets maxCachedWorkflows). */
  defaultMaxCachedWorkflows: number;
  /** NODE_OPTIONS of both worker processes: the image's, or BENCH_WORKER_NODE_OPTIONS. */
  workerNodeOptions: string;
  nightshift: {
    parked: number;
    seconds: number;
    parkedPerSecond: number;
    /** The machine's 1-minute load average when the last one parked (2 CPUs: above 2, processes waited for a CPU). */
    loadAverage1m: number;
    /** When the fleet's inFlight.waitingForWindow reached N (offered, not yet parked), seconds from the start. */
    offeredSeconds?: number;
    /** How often visibility was asked how many had parked (the time's resolution). */
    pollMs: number;
    /** ActivityTaskScheduled events over all runs of one parked control-plane workflow, by activity type. */
    activitiesPerControlPlane: number;
    activityTypes: Record<string, number>;
    /** History events and runs of the sampled control-plane workflows (first, middle, last). */
    sampled: {
      workflowId: string;
      runs: number;
      activities: number;
      /** Scheduled and not closed when counted: 0 when parked. */
      openActivities: number;
      events: number;
      /** The last event of the newest run (TimerStarted when parked on the window). */
      lastEvent: string;
    }[];
    worker: WorkerFigures & { fleetMaxCachedWorkflows: number };
  };
  bare: {
    parked: number;
    activitiesEach: number;
    seconds: number;
    parkedPerSecond: number;
    loadAverage1m: number;
    worker: WorkerFigures & { maxCachedWorkflows: number };
  };
  /** nightshift / bare, measured in this run. */
  ratios: { parkedPerSecond: number; peakRss: number; rssAtEnd: number };
  targets: { parkedPerSecondRatio: number; nightshiftPeakRssMiBAt10000: number };
}

const POLL_MS = 200;

export async function benchFanout(opts: {
  controlPlanes: number;
  port: number;
  log?: (line: string) => void;
  /** Give up on a step after this long (default 20 min). */
  timeoutMs?: number;
}): Promise<FanoutResult> {
  const log = opts.log ?? (() => undefined);
  const n = opts.controlPlanes;
  const timeoutMs = opts.timeoutMs ?? 20 * 60_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-fanout-'));
  const address = `127.0.0.1:${opts.port}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    if (await reachable(address)) throw new Error(`--port ${opts.port}: something already listens on ${address}`);
    log(`fanout: dev server on ${address} (in memory); logs in ${dir}`);
    const server = await startDevServer(address);
    cleanups.push(async () => {
      const gone = new Promise((r) => server.once('exit', r));
      server.kill('SIGINT');
      await gone;
    });
    const connection = await Connection.connect({ address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection });

    const ns = await runNightshift(client, { dir, address, n, log, timeoutMs, cleanups });
    const bare = await runBare(client, { dir, address, n, k: ns.activitiesPerControlPlane, log, timeoutMs, cleanups });
    const heapLimitMiB =
      Number(
        (
          await runNode(['-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'])
        ).trim(),
      ) /
      (1024 * 1024);
    const defaultMaxCachedWorkflows = sdkDefaultMaxCachedWorkflows(heapLimitMiB);
    if (defaultMaxCachedWorkflows !== bare.worker.maxCachedWorkflows)
      log(
        `fanout: note: bare worker's cache ${bare.worker.maxCachedWorkflows} ≠ SDK default ${defaultMaxCachedWorkflows}`,
      );
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    return {
      at: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
      },
      controlPlanes: n,
      defaultMaxCachedWorkflows,
      workerNodeOptions: workerEnv().NODE_OPTIONS ?? '',
      nightshift: ns,
      bare,
      ratios: {
        parkedPerSecond: ratio(ns.parkedPerSecond, bare.parkedPerSecond),
        peakRss: ratio(ns.worker.atEnd.peakRssMiB, bare.worker.atEnd.peakRssMiB),
        rssAtEnd: ratio(ns.worker.atEnd.rssMiB, bare.worker.atEnd.rssMiB),
      },
      targets: { parkedPerSecondRatio: 0.8, nightshiftPeakRssMiBAt10000: 512 },
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `node <args>` with this process's execPath; its stdout. */
function runNode(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`node ${args[0]} exited ${code}`))));
  });
}

interface StepContext {
  dir: string;
  address: string;
  n: number;
  log: (line: string) => void;
  timeoutMs: number;
  cleanups: (() => Promise<unknown>)[];
}

async function runNightshift(client: Client, ctx: StepContext): Promise<FanoutResult['nightshift']> {
  const { dir, address, n, log } = ctx;
  const inventory = benchInventory(n, { parked: true });
  const inventoryFile = path.join(dir, 'fleet.json');
  fs.writeFileSync(inventoryFile, JSON.stringify(inventory));
  const fleet = await SimulatedFleet.start({
    inventory: InventorySchema.parse(inventory),
    rolloutMs: 0,
    checkDurationMs: 1,
  });
  ctx.cleanups.push(() => fleet.close());
  const taskQueue = 'bench-fanout';
  log('fanout: starting the nightshift worker process');
  const worker = await spawnNightshiftWorker(
    {
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      NIGHTSHIFT_INVENTORY: inventoryFile,
      NIGHTSHIFT_SIM_URL: fleet.baseUrl,
      NIGHTSHIFT_OUTBOX: path.join(dir, 'outbox.jsonl'),
      NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
      ...FAST_VERIFY,
      // The worker's own default unless BENCH_WORKFLOW_CACHE_SIZE names one (to measure what the cache costs).
      ...(process.env.BENCH_WORKFLOW_CACHE_SIZE
        ? { NIGHTSHIFT_WORKFLOW_CACHE_SIZE: process.env.BENCH_WORKFLOW_CACHE_SIZE }
        : {}),
    },
    path.join(dir, 'nightshift-worker.log'),
  );
  ctx.cleanups.push(() => worker.stop());
  log(`fanout: nightshift worker ${worker.pid} ready (VmHWM ${worker.atReady.peakRssMiB} MiB)`);

  const release: Release = { ...BENCH_RELEASE, id: `lts-5.8.2-fanout-${n}-${Date.now()}` };
  const started = Date.now();
  await startFleetUpgrade(client, {
    taskQueue: `${taskQueue}-fleet`,
    release,
    rollout: { bakeMinutes: 0, maxConcurrent: 200, pageSize: 500 },
  });
  const handle = client.workflow.getHandle<typeof fleetRollout>(fleetWorkflowId(release.id));
  // Parked: the control-plane workflow set UpgradeStage waiting-for-window, in the workflow task that starts its window
  // timer. The fleet's inFlight.waitingForWindow (what scale.ts waits for) counts control planes offered the release,
  // before they have run anything: its time is reported too, as `offeredSeconds`.
  const parkedQuery = `WorkflowType = 'controlPlane' AND ExecutionStatus = 'Running' AND UpgradeStage = 'waiting-for-window'`;
  let last: FleetStatus | undefined;
  let offeredAt: number | undefined;
  let parked: number;
  let lastLog = started;
  for (;;) {
    if (worker.exited()) throw new Error(`${worker.exited()} (log ${worker.log})`);
    const s = await handle.query(fleetStatusQuery).catch(() => undefined);
    if (s) {
      last = s;
      if (['completed', 'halted', 'cancelled', 'superseded'].includes(s.stage) || s.failureCount > 0)
        throw new Error(`the rollout ended or failed before parking: ${JSON.stringify(s.outcomes)} at ${s.stage}`);
      if (offeredAt === undefined && s.stage === 'main' && s.inFlight.waitingForWindow === n) offeredAt = Date.now();
    }
    parked = (await client.workflow.count(parkedQuery)).count;
    if (parked === n) break;
    if (Date.now() - lastLog >= 5000) {
      lastLog = Date.now();
      log(
        `fanout: nightshift ${Math.round((Date.now() - started) / 1000)} s: fleet ${last?.stage ?? '?'}, ` +
          `offered ${last?.inFlight.waitingForWindow ?? 0}/${n}, parked ${parked}/${n}`,
      );
    }
    if (Date.now() - started > ctx.timeoutMs)
      throw new Error(`nightshift: ${parked}/${n} parked after ${ctx.timeoutMs} ms`);
    await sleep(POLL_MS);
  }
  const seconds = (Date.now() - started) / 1000;
  const atEnd = worker.stats()!;
  const loadAverage1m = round(os.loadavg()[0]!, 1);
  log(`fanout: nightshift parked ${n} in ${seconds.toFixed(1)} s; worker VmHWM ${atEnd.peakRssMiB} MiB`);

  // K: the activities one parked control plane ran, over all its runs; sampled first, middle and last.
  const ids = [0, Math.floor(n / 2), n - 1].map((i) => controlPlaneWorkflowId(inventory.controlPlanes[i]!.id));
  const sampled: FanoutResult['nightshift']['sampled'] = [];
  let activityTypes: Record<string, number> = {};
  for (const workflowId of [...new Set(ids)]) {
    const counted = await activitiesOf(client, workflowId);
    const { types: _, ...figures } = counted;
    sampled.push({ workflowId, ...figures });
    if (sampled.length === 1) activityTypes = counted.types;
  }
  log(`fanout: sampled control planes: ${JSON.stringify(sampled)}; activities ${JSON.stringify(activityTypes)}`);
  const k = sampled[0]!.activities;
  if (sampled.some((x) => x.openActivities > 0 || x.lastEvent !== 'TIMER_STARTED'))
    log(`fanout: note: a sampled control plane is not parked on a timer with no activity open`);
  if (k === 0) throw new Error(`no ActivityTaskScheduled event in ${sampled[0]!.workflowId}'s history`);
  if (sampled.some((s) => s.activities !== k))
    log(`fanout: note: the sampled control planes ran different numbers of activities: ${JSON.stringify(sampled)}`);
  await worker.stop();
  return {
    parked,
    seconds: round(seconds, 1),
    offeredSeconds: offeredAt === undefined ? undefined : round((offeredAt - started) / 1000, 1),
    parkedPerSecond: round(n / seconds, 1),
    loadAverage1m,
    pollMs: POLL_MS,
    activitiesPerControlPlane: k,
    activityTypes,
    sampled,
    worker: { atReady: worker.atReady, atEnd, fleetMaxCachedWorkflows: FLEET_CACHED_WORKFLOWS },
  };
}

/** ActivityTaskScheduled events (by type), events and runs of every run of `workflowId`. */
async function activitiesOf(client: Client, workflowId: string) {
  const current = (await client.workflow.getHandle(workflowId).describe()).runId;
  const runIds = [current];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
    if (wf.runId !== current) runIds.push(wf.runId);
  const types: Record<string, number> = {};
  let activities = 0;
  let closedActivities = 0;
  let events = 0;
  let lastEvent = '';
  for (const runId of runIds) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    for (const e of history.events ?? []) {
      events++;
      if (runId === current) lastEvent = eventName(e.eventType);
      if (
        e.activityTaskCompletedEventAttributes ||
        e.activityTaskFailedEventAttributes ||
        e.activityTaskTimedOutEventAttributes ||
        e.activityTaskCanceledEventAttributes
      )
        closedActivities++;
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (!scheduled) continue;
      activities++;
      const type = scheduled.activityType?.name ?? '?';
      types[type] = (types[type] ?? 0) + 1;
    }
  }
  return { runs: runIds.length, activities, openActivities: activities - closedActivities, events, lastEvent, types };
}

async function runBare(client: Client, ctx: StepContext & { k: number }): Promise<FanoutResult['bare']> {
  const { dir, address, n, k, log } = ctx;
  // The K-th activity of each workflow reports here; the time of the N-th distinct one ends the step.
  const reported = new Set<string>();
  let allParked: (at: number) => void = () => undefined;
  const parked = new Promise<number>((resolve) => (allParked = resolve));
  const reports = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      reported.add(body);
      res.writeHead(204).end();
      if (reported.size === n) allParked(Date.now());
    });
  });
  await new Promise<void>((resolve) => reports.listen(0, '127.0.0.1', resolve));
  ctx.cleanups.push(() => new Promise((r) => reports.close(r)));
  const reportUrl = `http://127.0.0.1:${(reports.address() as AddressInfo).port}/parked`;

  const taskQueue = 'bench-bare';
  log('fanout: starting the bare worker process');
  const worker = await spawnBareWorker(
    {
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      BENCH_REPORT_URL: reportUrl,
      BENCH_WORKFLOW_BUNDLE: await bareBundleFile(dir),
    },
    path.join(dir, 'bare-worker.log'),
  );
  ctx.cleanups.push(() => worker.stop());
  log(
    `fanout: bare worker ${worker.pid} ready (VmHWM ${worker.atReady.peakRssMiB} MiB); ${n} workflows × ${k} activities`,
  );

  const started = Date.now();
  const ids = Array.from({ length: n }, (_, i) => `bare/${String(i + 1).padStart(5, '0')}`);
  // Started 50 at a time by this process, as fast as the server takes them.
  const starting = (async () => {
    for (let i = 0; i < ids.length; i += 50)
      await Promise.all(
        ids
          .slice(i, i + 50)
          .map((workflowId) => client.workflow.start('parkedBare', { workflowId, taskQueue, args: [k] })),
      );
  })();
  const progress = setInterval(
    () => log(`fanout: bare ${Math.round((Date.now() - started) / 1000)} s: parked ${reported.size}/${n}`),
    5000,
  );
  let doneAt: number;
  try {
    await starting;
    const timeout = deadline(ctx.timeoutMs);
    const exited = (async () => {
      while (!worker.exited()) await sleep(500);
    })();
    const at = await Promise.race([parked, timeout, exited]);
    if (at === undefined)
      throw new Error(worker.exited() ?? `bare: ${reported.size}/${n} parked after ${ctx.timeoutMs} ms`);
    doneAt = at;
  } finally {
    clearInterval(progress);
  }
  const seconds = (doneAt - started) / 1000;
  // The K-th activity's completion and the timer's start follow the report: let them land before reading memory.
  await sleep(1000);
  const atEnd = worker.stats()!;
  const loadAverage1m = round(os.loadavg()[0]!, 1);
  log(`fanout: bare parked ${n} in ${seconds.toFixed(1)} s; worker VmHWM ${atEnd.peakRssMiB} MiB`);
  await worker.stop();
  return {
    parked: reported.size,
    activitiesEach: k,
    seconds: round(seconds, 1),
    parkedPerSecond: round(n / seconds, 1),
    loadAverage1m,
    worker: { atReady: worker.atReady, atEnd, maxCachedWorkflows: worker.maxCachedWorkflows },
  };
}

/** `EVENT_TYPE_TIMER_STARTED` → `TIMER_STARTED`. */
function eventName(type: unknown): string {
  const name = typeof type === 'number' ? temporal.api.enums.v1.EventType[type] : String(type);
  return (name ?? String(type)).replace(/^EVENT_TYPE_/, '');
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// --- CLI -------------------------------------------------------------------------------------------------------------

/** Parses `--name N` flags as whole numbers ≥ min; bad input prints one line naming the flag and exits 2. */
export function intFlags<K extends string>(
  spec: Record<K, { default: string; min: number; max?: number }>,
  argv = process.argv.slice(2),
): Record<K, number> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(spec).map(([k, v]) => [k, { type: 'string', default: (v as { default: string }).default }]),
      ),
    }).values as Record<string, string | undefined>;
  } catch (err) {
    console.error((err as Error).message.split('\n')[0]);
    process.exit(2);
  }
  const out = {} as Record<K, number>;
  for (const [name, { min, max = Infinity }] of Object.entries(spec) as [K, { min: number; max?: number }][]) {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max) {
      const range = max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`;
      console.error(`--${name} = ${JSON.stringify(values[name])}: must be a whole number ${range}`);
      process.exit(2);
    }
    out[name] = n;
  }
  return out;
}

if (require.main === module) {
  const flags = intFlags({
    'control-planes': { default: '300', min: 1 },
    port: { default: '7322', min: 1, max: 65535 },
  });
  benchFanout({ controlPlanes: flags['control-planes'], port: flags.port, log: (l) => console.error(l) }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(`fanout: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
