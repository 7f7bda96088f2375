// `npx tsx scripts/bench/throughput.ts --control-planes 200 [--port 7311] [--max-concurrent 200] [--pause-samples 50]
// [--bare-upserts 0] [--dump-fleet FILE]` (diagnostics: search-attribute upserts in each bare workflow; the fleet's
// runs written as JSON)
// Issue 14's end-to-end figures on one in-memory dev server, in ONE run, both sides at scale.ts's worker settings:
//   1. nightshift: one release through N control planes (development tier, windows open, instant simulated fleet),
//      plus one extra control plane whose Gateway fails its health after the change (rolled back); upgrades/s from
//      startFleetUpgrade to the fleet's result;
//   2. history: events of a sample of completed control planes (all runs) and of the rolled-back one, against the
//      minimum for the same activities and timers (historyCount.ts); the fleet's largest run;
//   3. bare: N workflows, each running K no-op activities one after another (K measured in 2), started from the
//      client; workflows/s. Ratio = nightshift / bare. Then the same with at most maxConcurrent in flight, as the
//      fleet's slots hold nightshift (ratioSameConcurrency);
//   4. pause latency: a second release (5.8.3) through the same fleet; SRE pauses (as `nightshift sre pause`) to
//      control planes that are waiting or changing, timed until their status query shows them paused; each is
//      resumed at once, and the rollout must finish.
// Prints the result as JSON.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { InventorySchema } from '../../domain/inventory';
import type { Release } from '../../domain/release';
import { loadConfig } from '../../config/config';
import { startFleetUpgrade } from '../../client/startFleet';
import { runSreCommand } from '../../client/sreCommands';
import { connectClient } from '../../client/temporalClient';
import { SimulatedFleet } from '../../integrations/simulatedFleet/server';
import { connectWorker, createWorkers, wireAdapters } from '../../worker/worker';
import type { fleetRollout } from '../../workflows';
import {
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  type ControlPlaneStatus,
  type FleetStatus,
  type FleetUpgradeResult,
} from '../../workflows/messages';
import { startDevServer } from '../devServer';
import * as bareActivities from './bare/activities';
import type { bareWorkflow } from './bare/workflows';
import { grantLatency, handOvers, type GrantLatency, type HandOver } from './fleetRuns';
import { countHistory, median, minimumEvents, percentile, type HistoryCounts } from './historyCount';

/** scale.ts's worker settings, for nightshift's workers and the bare worker alike. */
export const WORKER_SETTINGS = {
  maxConcurrentWorkflowTaskExecutions: 200,
  maxConcurrentActivityTaskExecutions: 400,
  maxCachedWorkflows: 2000,
} satisfies Partial<WorkerOptions>;

const ROLLBACK_CP = 'cp-rollback';
const HISTORY_SAMPLE = 20;
const BARE_START_BATCH = 100;

export interface HistoryFigures {
  events: number;
  minimum: number;
  ratio: number;
  runs: number;
  activities: number;
  timers: number;
  signals: number;
  markers: number;
  workflowTasks: number;
}

export interface ThroughputResult {
  at: string;
  controlPlanes: number;
  maxConcurrent: number;
  workerSettings: typeof WORKER_SETTINGS;
  nightshift: {
    seconds: number;
    upgradesPerSecond: number;
    /** The fleet's outcome counts: N completed, and the one rolled back on purpose. */
    outcomes: FleetStatus['outcomes'];
    allCompleted: boolean;
    /** Most control planes seen changing at once (fleet status every 5 s); the slots are maxConcurrent. */
    maxChangingSeen: number;
    cpu: CpuSeconds;
    fleetRuns: number;
    fleetHistoryLengths: number[];
    fleetMaxHistoryLength: number;
    /** Each continue-as-new of the fleet: how long no slot was granted, and the workflow tasks that failed. */
    fleetHandOvers: HandOver[];
    /** From a slot grant to the server's confirmation of its delivery (grants sent as signals to external workflows). */
    grantLatency?: GrantLatency;
  };
  bare: {
    workflows: number;
    /** K: ActivityTaskScheduled per completed control plane (all runs), median of the history sample. */
    activitiesEach: number;
    seconds: number;
    workflowsPerSecond: number;
    /** One bare workflow's history: the minimum for K activities. */
    historyEvents: number;
    cpu: CpuSeconds;
    /** The same N bare workflows with at most maxConcurrent in flight, as nightshift's slots allow it. */
    sameConcurrency: { maxInFlight: number; seconds: number; workflowsPerSecond: number; cpu: CpuSeconds };
  };
  /** nightshift upgrades/s ÷ bare workflows/s, all bare workflows started at once (issue 14's target: ≥ 0.8). */
  ratio: number;
  /** nightshift upgrades/s ÷ bare workflows/s with at most maxConcurrent bare workflows in flight. */
  ratioSameConcurrency: number;
  history: {
    sample: number;
    /** Medians over the sample, each figure separately. */
    completed: HistoryFigures & { activitiesRange: [number, number]; eventsRange: [number, number] };
    /** One completed control plane's events by type (the first of the sample). */
    completedByType: Record<string, number>;
    rolledBack: HistoryFigures & { controlPlaneId: string; outcome: string | undefined };
    rolledBackByType: Record<string, number>;
    /** Control planes met while sampling that did not complete (up to 10), with the reason their workflow gives. */
    notCompleted: { controlPlaneId: string; outcome?: string; reason?: string }[];
  };
  pause?: {
    samples: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /** Where the pause landed: on the upgrade in progress, or as a hold (the attempt had just ended). */
    heldIn: { upgrade: number; hold: number };
    /** The second rollout the pauses were sent during, which had to finish after the resumes. */
    rollout: { seconds: number; outcomes: FleetStatus['outcomes']; allCompleted: boolean };
  };
  machine: { cpus: string; loadAverage: number[]; node: string };
}

/** CPU time spent during a phase: this process (workers, simulated fleet, client) and the dev server. */
export interface CpuSeconds {
  thisProcess: number;
  devServer: number;
}

/** A stopwatch of CPU time for this process and the dev server (Linux /proc; the server's figure is 0 elsewhere). */
function cpuMeter(serverPid: number | undefined): () => CpuSeconds {
  const server = () => {
    try {
      // utime and stime, fields 14 and 15, in clock ticks (100 per second on Linux); the name may hold spaces.
      const fields = fs.readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return 0;
    }
  };
  const own0 = process.cpuUsage();
  const server0 = server();
  return () => {
    const own = process.cpuUsage(own0);
    return { thisProcess: round((own.user + own.system) / 1e6), devServer: round(server() - server0) };
  };
}

export interface ThroughputOptions {
  controlPlanes: number;
  port: number;
  maxConcurrent?: number;
  pauseSamples?: number;
  /** A diagnostic: search-attribute upserts each bare workflow makes (default 0: the bare baseline has none). */
  bareUpserts?: number;
  /** Give up on a rollout after this long (default 30 minutes). */
  timeoutMs?: number;
  /** A diagnostic: write the fleet's runs (events, oldest run first) to this JSON file. */
  dumpFleet?: string;
  log?: (line: string) => void;
}

const cpId = (i: number) => `cp-${String(i + 1).padStart(5, '0')}`;

/**
 * scale.ts's inventory, N development control planes, plus one whose Gateway fails after a change. Windows of 23 hours
 * every day that opened an hour ago: open for the whole run at any hour (a 00:00–24:00 window has too little left late
 * in the UTC day, and the upgrades wait for midnight).
 */
export function benchInventory(n: number, now = new Date()) {
  const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  const opened = new Date(now.getTime() - 3_600_000);
  const start = `${String(opened.getUTCHours()).padStart(2, '0')}:${String(opened.getUTCMinutes() - (opened.getUTCMinutes() % 15)).padStart(2, '0')}`;
  const cp = (id: string, labels: string[]) => ({
    id,
    orgId: 'org-bench',
    tier: 'development',
    autoUpgrade: true,
    labels,
    dashboard: { version: '5.3.4' },
    gateway: { version: '5.3.4' },
    dataPlanes: [],
    window: { timeZone: 'UTC', start, durationMinutes: 23 * 60, weekly: { days: everyDay } },
  });
  return {
    orgs: [{ id: 'org-bench', name: 'Bench', admin: { email: 'ops@bench.example', name: 'Bench Admin' } }],
    controlPlanes: [
      ...Array.from({ length: n }, (_, i) => cp(cpId(i), i < 50 ? ['canary'] : [])),
      { ...cp(ROLLBACK_CP, []), simulate: { faults: { gateway: 'fail-after-upgrade' } } },
    ],
  };
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Every run of a workflow id, newest first: walks back from the latest run along continuedExecutionRunId. */
export async function historiesOf(client: Client, workflowId: string): Promise<HistoryEvent[][]> {
  const runs: HistoryEvent[][] = [];
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    runs.push(events);
    const prev = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!prev) return runs;
    runId = prev;
  }
}

function figures(c: HistoryCounts): HistoryFigures {
  const minimum = minimumEvents(c);
  return {
    events: c.events,
    minimum,
    ratio: round(c.events / minimum, 2),
    runs: c.runs,
    activities: c.activities,
    timers: c.timers,
    signals: c.signals,
    markers: c.markers,
    workflowTasks: c.workflowTasks,
  };
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sum = (o: Record<string, number | undefined>) => Object.values(o).reduce<number>((a, b) => a + (b ?? 0), 0);

function installRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed in this process (another benchmark ran first): keep it.
  }
}

export async function benchThroughput(opts: ThroughputOptions): Promise<ThroughputResult> {
  const n = opts.controlPlanes;
  const maxConcurrent = opts.maxConcurrent ?? 200;
  const pauseSamples = opts.pauseSamples ?? 50;
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const log = opts.log ?? (() => undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-throughput-'));
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => fs.rmSync(dir, { recursive: true, force: true })];
  try {
    const inv = benchInventory(n);
    const inventoryFile = path.join(dir, 'fleet.json');
    fs.writeFileSync(inventoryFile, JSON.stringify(inv));
    const address = `127.0.0.1:${opts.port}`;
    installRuntime();

    log(`starting an in-memory dev server on ${address}`);
    const server: ChildProcess = await startDevServer(address);
    cleanups.push(() => server.kill('SIGINT'));
    const fleet = await SimulatedFleet.start({
      inventory: InventorySchema.parse(inv),
      rolloutMs: 0,
      checkDurationMs: 1,
    });
    cleanups.push(() => fleet.close());
    const config = loadConfig({
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TASK_QUEUE: 'nightshift-bench',
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
    cleanups.push(() => wiring.close());
    const connection = await connectWorker(config);
    cleanups.push(() => connection.close());
    const workers = await createWorkers({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      fleetTaskQueue: config.fleetTaskQueue,
      deps: wiring.deps,
      extra: WORKER_SETTINGS,
    });
    const running = workers.run();
    cleanups.push(async () => {
      workers.shutdown();
      await running;
    });
    const { client, close } = await connectClient(config);
    cleanups.push(close);
    // Bundled now, so that bundling is not timed.
    const bareBundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('./bare/workflows'),
      logger: Runtime.instance().logger,
    });

    const rollout = async (release: Release, during?: (done: () => boolean) => Promise<void>) => {
      const started = Date.now();
      const cpu = cpuMeter(server.pid);
      await startFleetUpgrade(client, {
        taskQueue: config.fleetTaskQueue,
        release,
        rollout: { bakeMinutes: 0, maxConcurrent, pageSize: 500 },
      });
      const handle = client.workflow.getHandle<typeof fleetRollout>(fleetWorkflowId(release.id));
      let done = false;
      const result = client
        .withDeadline(started + timeoutMs, () => handle.result())
        .catch((err: unknown) => {
          const late = Date.now() >= started + timeoutMs;
          throw late ? new Error(`${release.id} did not finish within ${Math.round(timeoutMs / 60_000)} min`) : err;
        })
        .finally(() => (done = true)) as Promise<FleetUpgradeResult>;
      let maxChanging = 0;
      const progress = (async () => {
        while (!done) {
          await sleep(5000);
          if (done) break;
          const s = await handle.query(fleetStatusQuery).catch(() => undefined);
          if (!s) continue;
          maxChanging = Math.max(maxChanging, s.inFlight.changing);
          log(
            `${release.id}: ${Math.round((Date.now() - started) / 1000)} s ${s.stage} finished ${sum(s.outcomes)}/` +
              `${s.eligibility.eligible || '?'} waiting ${s.inFlight.waitingForWindow} for slot ` +
              `${s.inFlight.waitingForSlot} changing ${s.inFlight.changing}`,
          );
        }
      })();
      const extra = during?.(() => done);
      const final = await result;
      const seconds = (Date.now() - started) / 1000;
      const cpuUsed = cpu();
      await progress;
      await extra;
      return { final, seconds, maxChanging, cpu: cpuUsed };
    };

    // ---- 1. nightshift end to end ----
    const release: Release = {
      id: `lts-5.8.2-bench-${n}`,
      kind: 'lts',
      targets: { dashboard: '5.8.2', gateway: '5.8.2' },
      notesUrl: 'https://tyk.io/docs/release-notes/5.8.2',
    };
    log(`1. nightshift: ${release.id} through ${n} control planes (+ ${ROLLBACK_CP}, which fails its health)`);
    const one = await rollout(release);
    const outcomes = one.final.status.outcomes;
    log(`   ${one.seconds.toFixed(1)} s, outcomes ${JSON.stringify(outcomes)}`);
    const fleetHistories = (await historiesOf(client, fleetWorkflowId(release.id))).reverse();
    const fleetRuns = fleetHistories.map((r) => r.length);
    const fleetHandOvers = handOvers(fleetHistories);
    if (opts.dumpFleet) fs.writeFileSync(opts.dumpFleet, JSON.stringify(fleetHistories));
    const grants = grantLatency(fleetHistories);
    if (grants)
      log(
        `   slot grants: ${grants.confirmed} delivered; from the grant to its delivery p50 ${grants.p50Seconds} s, ` +
          `p90 ${grants.p90Seconds} s, max ${grants.maxSeconds} s`,
      );
    for (const h of fleetHandOvers)
      log(
        `   fleet run ${h.run} → ${h.run + 1}: no grant for ${h.grantGapSeconds ?? '?'} s ` +
          `(${h.lastGrantToCloseSeconds ?? '?'} s of it before the run closed); failed tasks ${JSON.stringify(h.failedTasks)}`,
      );

    // ---- 2. history ----
    // The sample: completed control planes spread over the fleet (every step-th first); others met on the way are
    // named with their reason.
    const step = Math.max(1, Math.floor(n / HISTORY_SAMPLE));
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (a % step) - (b % step) || a - b);
    const counts: HistoryCounts[] = [];
    const notCompleted: { controlPlaneId: string; outcome?: string; reason?: string }[] = [];
    for (const i of order) {
      if (counts.length >= HISTORY_SAMPLE) break;
      const attempt = await attemptOf(client, cpId(i), release.id);
      if (attempt?.outcome !== 'completed') {
        if (notCompleted.length < 10) notCompleted.push({ controlPlaneId: cpId(i), ...attempt });
        continue;
      }
      counts.push(countHistory((await historiesOf(client, controlPlaneWorkflowId(cpId(i)))).flat()));
    }
    if (counts.length === 0) throw new Error(`no completed control plane found: ${JSON.stringify(notCompleted)}`);
    const rb = countHistory((await historiesOf(client, controlPlaneWorkflowId(ROLLBACK_CP))).flat());
    const rbAttempt = await attemptOf(client, ROLLBACK_CP, release.id);
    const med = (f: (c: HistoryFigures) => number) => median(counts.map((c) => f(figures(c))));
    const range = (f: (c: HistoryCounts) => number): [number, number] => [
      Math.min(...counts.map(f)),
      Math.max(...counts.map(f)),
    ];
    const k = Math.round(median(counts.map((c) => c.activities)));
    log(`2. history: K = ${k} activities per completed upgrade (range ${range((c) => c.activities).join('–')})`);

    // ---- 3. bare baseline ----
    const bareQueue = 'bench-bare';
    const bareWorker = await Worker.create({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: bareQueue,
      workflowBundle: bareBundle,
      activities: bareActivities,
      ...WORKER_SETTINGS,
    });
    const bareRunning = bareWorker.run();
    let bareSeconds: number;
    let bareCpu: CpuSeconds;
    let bareHistory: number;
    let windowed: { seconds: number; cpu: CpuSeconds };
    try {
      log(`3. bare: ${n} workflows × ${k} no-op activities, all started at once`);
      const tag = Date.now().toString(36);
      const start = (i: number) =>
        client.workflow.start<typeof bareWorkflow>('bareWorkflow', {
          taskQueue: bareQueue,
          workflowId: `bench-bare/${tag}/${i}`,
          args: [k, opts.bareUpserts ?? 0],
        });
      const bareStarted = Date.now();
      const cpu = cpuMeter(server.pid);
      const handles: WorkflowHandle<typeof bareWorkflow>[] = [];
      for (let i = 0; i < n; i += BARE_START_BATCH) {
        const batch = Array.from({ length: Math.min(BARE_START_BATCH, n - i) }, (_, j) => start(i + j));
        handles.push(...(await Promise.all(batch)));
      }
      await client.withDeadline(bareStarted + timeoutMs, () => Promise.all(handles.map((h) => h.result())));
      bareSeconds = (Date.now() - bareStarted) / 1000;
      bareCpu = cpu();
      bareHistory = ((await handles[0]!.fetchHistory()).events ?? []).length;
      log(`   ${bareSeconds.toFixed(1)} s`);
      // The same, at most maxConcurrent in flight (a new one starts as one ends), as the fleet's slots allow nightshift.
      log(`3b. bare: ${n} workflows, at most ${maxConcurrent} at once`);
      const windowStarted = Date.now();
      const windowCpu = cpuMeter(server.pid);
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < n) {
          const h = await start(n + next++);
          await h.result();
        }
      };
      await client.withDeadline(windowStarted + timeoutMs, () =>
        Promise.all(Array.from({ length: Math.min(maxConcurrent, n) }, lane)),
      );
      windowed = { seconds: (Date.now() - windowStarted) / 1000, cpu: windowCpu() };
      log(`   ${windowed.seconds.toFixed(1)} s`);
    } finally {
      bareWorker.shutdown();
      await bareRunning;
    }

    // ---- 4. pause latency, during a second rollout ----
    let pause: ThroughputResult['pause'];
    if (pauseSamples > 0) {
      fleet.setFault(ROLLBACK_CP, 'gateway', null);
      const second: Release = {
        id: `lts-5.8.3-bench-pause-${n}`,
        kind: 'lts',
        targets: { dashboard: '5.8.3', gateway: '5.8.3' },
        notesUrl: 'https://tyk.io/docs/release-notes/5.8.3',
      };
      log(`4. pause latency: ${pauseSamples} pauses during ${second.id}`);
      const latencies: number[] = [];
      const heldIn = { upgrade: 0, hold: 0 };
      const sampler = (done: () => boolean) =>
        samplePauses(
          client,
          Array.from({ length: n }, (_, i) => cpId(i)),
          pauseSamples,
          done,
          (ms, where) => {
            latencies.push(ms);
            heldIn[where]++;
          },
        );
      const two = await rollout(second, sampler);
      const expected = n + 1;
      pause = {
        samples: latencies.length,
        p50Ms: Math.round(percentile(latencies, 50)),
        p99Ms: Math.round(percentile(latencies, 99)),
        maxMs: Math.round(Math.max(...latencies)),
        heldIn,
        rollout: {
          seconds: round(two.seconds),
          outcomes: two.final.status.outcomes,
          allCompleted: two.final.status.outcomes.completed === expected,
        },
      };
      log(`   ${JSON.stringify(pause)}`);
    }

    const upgradesPerSecond = (outcomes.completed ?? 0) / one.seconds;
    const workflowsPerSecond = n / bareSeconds;
    return {
      at: new Date().toISOString(),
      controlPlanes: n,
      maxConcurrent,
      workerSettings: WORKER_SETTINGS,
      nightshift: {
        seconds: round(one.seconds),
        upgradesPerSecond: round(upgradesPerSecond, 2),
        outcomes,
        allCompleted: outcomes.completed === n && outcomes['rolled-back'] === 1 && sum(outcomes) === n + 1,
        maxChangingSeen: one.maxChanging,
        cpu: one.cpu,
        fleetRuns: fleetRuns.length,
        fleetHistoryLengths: fleetRuns,
        fleetMaxHistoryLength: Math.max(...fleetRuns),
        fleetHandOvers,
        ...(grants ? { grantLatency: grants } : {}),
      },
      bare: {
        workflows: n,
        activitiesEach: k,
        seconds: round(bareSeconds),
        workflowsPerSecond: round(workflowsPerSecond, 2),
        historyEvents: bareHistory,
        cpu: bareCpu,
        sameConcurrency: {
          maxInFlight: Math.min(maxConcurrent, n),
          seconds: round(windowed.seconds),
          workflowsPerSecond: round(n / windowed.seconds, 2),
          cpu: windowed.cpu,
        },
      },
      ratio: round(upgradesPerSecond / workflowsPerSecond, 2),
      ratioSameConcurrency: round(upgradesPerSecond / (n / windowed.seconds), 2),
      history: {
        sample: counts.length,
        completed: {
          events: med((f) => f.events),
          minimum: med((f) => f.minimum),
          ratio: round(
            med((f) => f.ratio),
            2,
          ),
          runs: med((f) => f.runs),
          activities: med((f) => f.activities),
          timers: med((f) => f.timers),
          signals: med((f) => f.signals),
          markers: med((f) => f.markers),
          workflowTasks: med((f) => f.workflowTasks),
          activitiesRange: range((c) => c.activities),
          eventsRange: range((c) => c.events),
        },
        completedByType: counts[0]!.byType,
        rolledBack: {
          controlPlaneId: ROLLBACK_CP,
          outcome: rbAttempt?.outcome,
          ...figures(rb),
        },
        rolledBackByType: rb.byType,
        notCompleted,
      },
      ...(pause ? { pause } : {}),
      machine: {
        cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
        loadAverage: os.loadavg().map((l) => round(l, 2)),
        node: process.version,
      },
    };
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  }
}

/** How a control plane's attempt at `releaseId` ended, from its status query (its recent attempts). */
async function attemptOf(
  client: Client,
  controlPlaneId: string,
  releaseId: string,
): Promise<{ outcome?: string; reason?: string } | undefined> {
  const s = await client.workflow
    .getHandle(controlPlaneWorkflowId(controlPlaneId))
    .query(controlPlaneStatusQuery)
    .catch(() => undefined);
  const r = s?.recent.find((a) => a.releaseId === releaseId);
  return r && { outcome: r.outcome, ...(r.reason !== undefined ? { reason: r.reason } : {}) };
}

const isPaused = (s: ControlPlaneStatus): 'upgrade' | 'hold' | undefined =>
  s.upgrade?.paused && s.state !== 'idle' ? 'upgrade' : s.whyNot.some((r) => r.code === 'paused') ? 'hold' : undefined;

/**
 * Pauses control planes that are waiting or changing, as `nightshift sre pause` does (runSreCommand), and times each
 * from just before the signal to the first status query that shows it paused; then resumes it (`sre resume`). Goes
 * round the candidates, a few at once, until it has `samples` or the rollout is done.
 */
async function samplePauses(
  client: Client,
  ids: string[],
  samples: number,
  done: () => boolean,
  record: (ms: number, where: 'upgrade' | 'hold') => void,
): Promise<void> {
  const request = { reason: 'bench: pause latency', by: 'bench' };
  const left = new Set(ids);
  let taken = 0;
  const one = async (id: string): Promise<void> => {
    const target = { kind: 'control-plane', controlPlaneId: id } as const;
    const s = await client.workflow
      .getHandle(controlPlaneWorkflowId(id))
      .query(controlPlaneStatusQuery)
      .catch(() => undefined);
    if (!s || (s.state !== 'waiting' && s.state !== 'changing') || taken >= samples) return;
    taken++;
    left.delete(id);
    const t0 = performance.now();
    await runSreCommand(client, { name: 'pause', target, request });
    for (;;) {
      const r = await runSreCommand(client, { name: 'status', target });
      const where = r.command === 'status' && r.kind === 'control-plane' ? isPaused(r.status) : undefined;
      if (where) {
        record(performance.now() - t0, where);
        break;
      }
      await sleep(20);
    }
    await runSreCommand(client, { name: 'resume', target, request });
  };
  const CONCURRENT = 8;
  while (taken < samples && !done() && left.size > 0) {
    const round = [...left];
    for (let i = 0; i < round.length && taken < samples && !done(); i += CONCURRENT)
      await Promise.all(round.slice(i, i + CONCURRENT).map(one));
    await sleep(50);
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      'control-planes': { type: 'string', default: '200' },
      port: { type: 'string', default: '7311' },
      'max-concurrent': { type: 'string', default: '200' },
      'pause-samples': { type: 'string', default: '50' },
      'bare-upserts': { type: 'string', default: '0' },
      'dump-fleet': { type: 'string' },
    },
  });
  const int = (name: keyof typeof values, min: number, max = Infinity): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min || v > max) {
      console.error(`--${name} = ${JSON.stringify(values[name])}: a whole number from ${min} to ${max}`);
      process.exit(2);
    }
    return v;
  };
  const opts: ThroughputOptions = {
    controlPlanes: int('control-planes', 1),
    port: int('port', 1, 65535),
    maxConcurrent: int('max-concurrent', 1, 1000),
    pauseSamples: int('pause-samples', 0),
    bareUpserts: int('bare-upserts', 0, 100),
    ...(values['dump-fleet'] ? { dumpFleet: values['dump-fleet'] } : {}),
    log: (line) => console.error(`${(performance.now() / 1000).toFixed(1).padStart(6)} s  ${line}`),
  };
  benchThroughput(opts).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(`bench throughput: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}

if (require.main === module) main();
