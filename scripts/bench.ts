// `npm run bench [-- --parts planning,throughput,fanout,cluster] [--control-planes 100000] [--upgrades 1000]
//   [--parked 5000] [--cluster-control-planes 200] [--workers 1,2,4] [--out .data/bench.json]`
// Issue 14's figures, each beside its baseline measured in the same run:
// - planning: N control planes (a seeded, varied fleet) through the domain planner, each part cold in a fresh process;
// - throughput (dev server): upgrades/s against bare workflows running the same number of no-op activities, history
//   against its minimum (completed and rolled back), the fleet's largest history, SRE pause latency p50/p99;
// - fanout (dev server): control planes parked on windows a week away per second, and the worker process's peak RSS,
//   against bare workflows with the same activities parked on a timer by a bare worker process;
// - cluster (Temporal Server on PostgreSQL): 1, 2, 4 worker processes, upgrades/s, every component deployed once.
// Prints a table and the machine, and writes every figure as JSON.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchCluster, type ClusterResult } from './bench/cluster';
import { benchFanout, type FanoutResult } from './bench/fanout';
import { measureParts, measurePlanFleet, type PlanningResult } from './bench/planning';
import { benchThroughput, type ThroughputResult } from './bench/throughput';
import { freePort } from '../test/helpers/ports';

const ROOT = path.resolve(__dirname, '..');
const TARGET_PLAN_MS_100K = 1000;

function child(what: 'parts' | 'planFleet', n: number): unknown {
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', __filename, '--child', what, '--control-planes', String(n)],
    {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  if (run.status !== 0) throw new Error(`bench child ${what} exited ${run.status}: ${run.stderr.trim()}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!);
}

function machine() {
  return {
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

const PARTS = ['planning', 'throughput', 'fanout', 'cluster'] as const;
type Part = (typeof PARTS)[number];

function usage(line: string): never {
  console.error(`npm run bench: ${line}`);
  process.exit(2);
}

function flags() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        parts: { type: 'string', default: PARTS.join(',') },
        'control-planes': { type: 'string', default: '100000' },
        upgrades: { type: 'string', default: '1000' },
        parked: { type: 'string', default: '5000' },
        'cluster-control-planes': { type: 'string', default: '200' },
        workers: { type: 'string', default: '1,2,4' },
        'pause-samples': { type: 'string', default: '50' },
        out: { type: 'string', default: '.data/bench.json' },
        child: { type: 'string' },
      },
    }));
  } catch (err) {
    usage((err as Error).message.split('\n')[0]!);
  }
  const int = (name: keyof typeof values, min: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) usage(`--${name} = ${JSON.stringify(values[name])}: a whole number ≥ ${min}`);
    return n;
  };
  const parts = values.parts!.split(',').filter(Boolean);
  const unknown = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length || parts.length === 0)
    usage(`--parts = ${JSON.stringify(values.parts)}: a comma-separated list of ${PARTS.join(', ')}`);
  const workers = values.workers!.split(',').map(Number);
  if (workers.some((w) => !Number.isInteger(w) || w < 1 || w > 8))
    usage(`--workers = ${JSON.stringify(values.workers)}: comma-separated worker counts from 1 to 8`);
  return {
    parts: parts as Part[],
    controlPlanes: int('control-planes', 1),
    upgrades: int('upgrades', 1),
    parked: int('parked', 1),
    clusterControlPlanes: int('cluster-control-planes', 1),
    workers,
    pauseSamples: int('pause-samples', 0),
    out: values.out!,
    child: values.child,
  };
}

function planningPart(n: number): { planning: PlanningResult; rows: [string, string][] } {
  const parts = child('parts', n) as Omit<PlanningResult, 'planFleetMs'>;
  const planFleetMs = child('planFleet', n) as number;
  const planning: PlanningResult = { ...parts, planFleetMs };
  const target = Math.round((TARGET_PLAN_MS_100K * n) / 100_000);
  return {
    planning,
    rows: [
      [
        'planning: control planes (with a window)',
        `${n} (${planning.withWindow}); ${planning.distinctWindowSpecs} distinct window specs`,
      ],
      ...Object.entries(planning.microsPerControlPlane).map(
        ([part, us]) => [`  ${part}`, `${us} µs per control plane`] as [string, string],
      ),
      [
        '  planFleet, end to end, cold',
        `${planFleetMs} ms (target ≤ ${target} ms: ${planFleetMs <= target ? 'met' : 'missed'})`,
      ],
      ['  heap growth (parts run)', `${planning.heapGrowthMb} MB`],
    ],
  };
}

const met = (ok: boolean) => (ok ? 'met' : 'missed');

function throughputRows(t: ThroughputResult): [string, string][] {
  const h = t.history;
  const rows: [string, string][] = [
    [
      `throughput (dev server, ${t.controlPlanes} control planes)`,
      `${t.nightshift.upgradesPerSecond} upgrades/s against ${t.bare.workflowsPerSecond} bare workflows/s with ${t.bare.activitiesEach} activities each: ${t.ratio}× (target ≥ 0.8: ${met(t.ratio >= 0.8)})`,
    ],
    [
      `  bare at most ${t.bare.sameConcurrency.maxInFlight} at once (nightshift's slots)`,
      `${t.bare.sameConcurrency.workflowsPerSecond} bare workflows/s: ${t.ratioSameConcurrency}×`,
    ],
    [
      '  history, completed upgrade',
      `${h.completed.events} events against a minimum of ${h.completed.minimum}: ${h.completed.ratio}× (target ≤ 1.5: ${met(h.completed.ratio <= 1.5)})`,
    ],
    [
      '  history, rolled-back upgrade',
      `${h.rolledBack.events} events against a minimum of ${h.rolledBack.minimum}: ${h.rolledBack.ratio}×`,
    ],
    ['  fleet, largest history', `${t.nightshift.fleetMaxHistoryLength} events over ${t.nightshift.fleetRuns} run(s)`],
  ];
  if (t.pause)
    rows.push([
      '  SRE pause → held',
      `p50 ${t.pause.p50Ms} ms, p99 ${t.pause.p99Ms} ms (${t.pause.samples} pauses during a rollout)`,
    ]);
  return rows;
}

function fanoutRows(f: FanoutResult): [string, string][] {
  const peak = f.nightshift.worker.atEnd.peakRssMiB;
  return [
    [
      `fan-out (dev server, ${f.controlPlanes} parked a week away)`,
      `${f.nightshift.parkedPerSecond} parked/s against ${f.bare.parkedPerSecond} bare/s: ${f.ratios.parkedPerSecond}× (target ≥ 0.8: ${met(f.ratios.parkedPerSecond >= 0.8)})`,
    ],
    [
      `  worker peak RSS (NODE_OPTIONS ${f.workerNodeOptions || 'none'})`,
      `${peak} MiB (at ready ${f.nightshift.worker.atReady.peakRssMiB}) against ${f.bare.worker.atEnd.peakRssMiB} MiB bare: ${f.ratios.peakRss}×` +
        (f.controlPlanes >= 10_000
          ? ` (target ≤ 512 MiB: ${met(peak <= 512)})`
          : ' (the 512 MiB target is for 10,000)'),
    ],
  ];
}

function clusterRows(c: ClusterResult): [string, string][] {
  return [
    [
      `cluster (Temporal ${c.server.version}, ${c.server.persistence}, ${c.server.historyShards} shards)`,
      `${c.controlPlanes} control planes per worker count`,
    ],
    ...c.runs.map(
      (r) =>
        [
          `  ${r.workers} worker process(es)`,
          `${r.upgradesPerSecond} upgrades/s (×${r.speedUp}); deployed exactly once: ${r.exactlyOnce.ok ? 'yes' : `NO: ${r.exactlyOnce.problems.slice(0, 3).join('; ')}`}`,
        ] as [string, string],
    ),
  ];
}

async function main(): Promise<void> {
  const opts = flags();
  if (opts.child === 'parts') return void console.log(JSON.stringify(measureParts(opts.controlPlanes)));
  if (opts.child === 'planFleet') return void console.log(JSON.stringify(measurePlanFleet(opts.controlPlanes)));

  const started = new Date().toISOString();
  const log = (line: string) => console.error(line);
  const figures: Record<string, unknown> = {};
  const rows: [string, string][] = [];
  const failed: string[] = [];
  for (const part of opts.parts) {
    const t0 = Date.now();
    log(`bench: ${part}…`);
    try {
      if (part === 'planning') {
        const p = planningPart(opts.controlPlanes);
        figures.planning = p.planning;
        rows.push(...p.rows);
      } else if (part === 'throughput') {
        const t = await benchThroughput({
          controlPlanes: opts.upgrades,
          port: await freePort(),
          pauseSamples: opts.pauseSamples,
          log,
        });
        figures.throughput = t;
        rows.push(...throughputRows(t));
      } else if (part === 'fanout') {
        const f = await benchFanout({ controlPlanes: opts.parked, port: await freePort(), log });
        figures.fanout = f;
        rows.push(...fanoutRows(f));
      } else {
        const c = await benchCluster({ controlPlanes: opts.clusterControlPlanes, workers: opts.workers, log });
        figures.cluster = c;
        rows.push(...clusterRows(c));
      }
    } catch (err) {
      failed.push(part);
      const why = err instanceof Error ? err.message : String(err);
      rows.push([part, `FAILED: ${why.split('\n')[0]}`]);
      figures[part] = { error: why };
    }
    log(`bench: ${part} took ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  const m = machine();
  const seconds = Math.round((Date.now() - Date.parse(started)) / 1000);
  console.log(`machine: ${m.cpus}, ${m.memoryGiB} GiB, load ${m.loadAverage.join(' ')}, Node ${m.node}, ${m.platform}`);
  console.log(`whole bench: ${seconds} s`);
  const out = path.resolve(ROOT, opts.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ started, seconds, machine: m, ...figures }, null, 2)}\n`);
  console.log(`figures: ${path.relative(ROOT, out)}`);
  if (failed.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`npm run bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
