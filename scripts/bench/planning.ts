// Planning benchmark: N control planes through the domain planner (what `nightshift plan` and the fleet's listing do),
// cost per control plane of each part, measured cold in a fresh process, in pipeline order: parsing the inventory,
// eligibility, the window search, the window texts, and formatting the table and the JSON. Deterministic fleet (seeded).
import { performance } from 'node:perf_hooks';
import { formatPlan, planFleet } from '../../cli/plan';
import { assessEligibility } from '../../domain/eligibility';
import { ControlPlaneSchema, type ControlPlane } from '../../domain/inventory';
import { DEFAULT_POLICY, noticeLeadMinutes, requiredMinutes } from '../../domain/policy';
import type { Release } from '../../domain/release';
import { parseRolloutPolicy } from '../../domain/rollout';
import { NoWindowError, nextWindow, toWindowPlan, type WindowChoice } from '../../domain/window';

export interface PlanningResult {
  controlPlanes: number;
  withWindow: number;
  distinctWindowSpecs: number;
  /** Microseconds per control plane, each part measured once, cold, in pipeline order. */
  microsPerControlPlane: Record<
    'parse' | 'eligibility' | 'windowSearch' | 'windowTexts' | 'formatText' | 'formatJson',
    number
  >;
  /** planFleet end to end (eligibility, window, texts, rows) in a fresh process: what `nightshift plan` pays. */
  planFleetMs: number;
  heapGrowthMb: number;
}

const ZONES = [
  'Europe/Berlin',
  'Europe/London',
  'Europe/Paris',
  'Europe/Madrid',
  'Europe/Warsaw',
  'Europe/Istanbul',
  'America/New_York',
  'America/Chicago',
  'America/Denver',
  'America/Los_Angeles',
  'America/Sao_Paulo',
  'America/Toronto',
  'America/Mexico_City',
  'America/St_Johns',
  'Asia/Kolkata',
  'Asia/Tokyo',
  'Asia/Singapore',
  'Asia/Shanghai',
  'Asia/Dubai',
  'Asia/Kathmandu',
  'Australia/Sydney',
  'Australia/Adelaide',
  'Pacific/Auckland',
  'Africa/Johannesburg',
  'Africa/Lagos',
  'UTC',
];
const VERSIONS = ['5.0.14', '5.3.2', '5.3.4', '5.3.9', '5.8.1', '5.8.2', '5.5.0'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const MONTHLY = ['first sunday', 'second saturday', 'last saturday', 'last sunday', 'day 15', 'third wednesday'];

/** mulberry32: a small seeded generator, so every run plans the same fleet. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Raw inventory rows (before schema parsing): zones, start times, lengths, patterns and versions vary. */
export function benchFleetInput(n: number, seed = 42): unknown[] {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const version = pick(VERSIONS);
    const start = `${String(Math.floor(rnd() * 24)).padStart(2, '0')}:${pick(['00', '15', '30', '45'])}`;
    const days = DAYS.filter(() => rnd() < 0.3);
    return {
      id: `cp-${i}`,
      orgId: `org-${i % 500}`,
      tier: pick(['production', 'staging', 'development'] as const),
      autoUpgrade: rnd() < 0.9,
      hybrid: rnd() < 0.02,
      dashboard: { version },
      gateway: { version: rnd() < 0.9 ? version : pick(VERSIONS) },
      dataPlanes: Array.from({ length: Math.floor(rnd() * 3) }, (_, d) => ({ id: `dp-${d}`, version })),
      window:
        rnd() < 0.7
          ? {
              timeZone: pick(ZONES),
              start,
              durationMinutes: pick([120, 180, 240, 360]),
              weekly: { days: days.length ? days : ['sun'] },
            }
          : { timeZone: pick(ZONES), start, durationMinutes: pick([180, 240]), monthly: pick(MONTHLY) },
      blackouts: rnd() < 0.15 ? [{ from: '2026-12-20', to: '2027-01-04' }] : [],
    };
  });
}

export const BENCH_RELEASE: Release = {
  id: 'lts-5.8.2',
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes',
};
export const BENCH_NOW = new Date('2026-11-24T12:00:00Z');

function timed<T>(f: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = f();
  return { ms: performance.now() - t0, value };
}

/** The parts, in pipeline order, each over the whole fleet. Run in a fresh process for cold caches. */
export function measureParts(n: number): Omit<PlanningResult, 'planFleetMs'> {
  const input = benchFleetInput(n);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const parse = timed(() => input.map((row) => ControlPlaneSchema.parse(row)));
  const cps: ControlPlane[] = parse.value;
  const eligibility = timed(() => cps.map((cp) => assessEligibility(cp, BENCH_RELEASE)));
  const eligible = cps.flatMap((cp, i) => {
    const d = eligibility.value[i]!;
    return d.eligible ? [{ cp, changes: d.changes }] : [];
  });
  const search = timed(() =>
    eligible.map(({ cp, changes }) => {
      const lead = noticeLeadMinutes(DEFAULT_POLICY, cp.tier, BENCH_RELEASE.kind);
      const required = requiredMinutes(DEFAULT_POLICY, changes);
      try {
        return {
          cp,
          lead,
          required,
          choice: nextWindow(cp.window, cp.blackouts, { now: BENCH_NOW, leadMinutes: lead, requiredMinutes: required }),
        };
      } catch (err) {
        if (err instanceof NoWindowError) return undefined;
        throw err;
      }
    }),
  );
  const found = search.value.filter(
    (x): x is { cp: ControlPlane; lead: number; required: number; choice: WindowChoice } => !!x,
  );
  const texts = timed(() => found.map((f) => toWindowPlan(f.choice, f.cp.window, f.lead, f.required)));
  const rows = planFleet(cps, BENCH_RELEASE, DEFAULT_POLICY, BENCH_NOW); // warm now: only to have rows to format
  const rollout = parseRolloutPolicy({}, 'rollout');
  const formatText = timed(() => formatPlan(rows, rollout).length);
  const formatJson = timed(() => JSON.stringify(rows).length);
  const heapAfter = process.memoryUsage().heapUsed;
  const per = (ms: number) => Math.round((ms * 1000 * 100) / n) / 100;
  const specs = new Set(cps.map((cp) => JSON.stringify([cp.window, cp.blackouts])));
  return {
    controlPlanes: n,
    withWindow: found.length,
    distinctWindowSpecs: specs.size,
    microsPerControlPlane: {
      parse: per(parse.ms),
      eligibility: per(eligibility.ms),
      windowSearch: per(search.ms),
      windowTexts: per(texts.ms),
      formatText: per(formatText.ms),
      formatJson: per(formatJson.ms),
    },
    heapGrowthMb: Math.round((heapAfter - heapBefore) / 1e5) / 10,
  };
}

/** planFleet alone, end to end, on an already parsed fleet: run in a fresh process for cold caches. */
export function measurePlanFleet(n: number): number {
  const cps = benchFleetInput(n).map((row) => ControlPlaneSchema.parse(row));
  return Math.round(timed(() => planFleet(cps, BENCH_RELEASE, DEFAULT_POLICY, BENCH_NOW)).ms);
}
