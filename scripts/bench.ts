// `npm run bench [-- --control-planes 100000] [--out .data/bench.json]`
// Planning: N control planes (default 100,000; a seeded, varied fleet) through the domain planner; the cost per
// control plane of each part and planFleet end to end, each measured cold in a fresh process. Prints a table and the
// machine, and writes the figures as JSON. (The Temporal benchmarks of issue 14 — end to end against bare workflows,
// fan-out, history, memory, pause latency — are not built yet.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { measureParts, measurePlanFleet, type PlanningResult } from './bench/planning';

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

function main(): void {
  const { values } = parseArgs({
    options: {
      'control-planes': { type: 'string', default: '100000' },
      out: { type: 'string', default: '.data/bench.json' },
      child: { type: 'string' },
    },
  });
  const n = Number(values['control-planes']);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--control-planes = ${JSON.stringify(values['control-planes'])}: a whole number ≥ 1`);
    process.exit(2);
  }
  if (values.child === 'parts') return void console.log(JSON.stringify(measureParts(n)));
  if (values.child === 'planFleet') return void console.log(JSON.stringify(measurePlanFleet(n)));

  const started = new Date().toISOString();
  const parts = child('parts', n) as Omit<PlanningResult, 'planFleetMs'>;
  const planFleetMs = child('planFleet', n) as number;
  const planning: PlanningResult = { ...parts, planFleetMs };
  const target = Math.round((TARGET_PLAN_MS_100K * n) / 100_000);
  const rows: [string, string][] = [
    [
      'control planes (with a window)',
      `${n} (${planning.withWindow}); ${planning.distinctWindowSpecs} distinct window specs`,
    ],
    ...Object.entries(planning.microsPerControlPlane).map(
      ([part, us]) => [`  ${part}`, `${us} µs per control plane`] as [string, string],
    ),
    [
      'planFleet, end to end, cold',
      `${planFleetMs} ms (target ≤ ${target} ms: ${planFleetMs <= target ? 'met' : 'missed'})`,
    ],
    ['heap growth (parts run)', `${planning.heapGrowthMb} MB`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('planning');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  const m = machine();
  console.log(`machine: ${m.cpus}, ${m.memoryGiB} GiB, load ${m.loadAverage.join(' ')}, Node ${m.node}, ${m.platform}`);
  const out = path.resolve(ROOT, values.out!);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ started, machine: m, planning }, null, 2)}\n`);
  console.log(`figures: ${path.relative(ROOT, out)}`);
}

main();
