// `npm run bench`: how fast the domain plans a large fleet (eligibility + window search for every control plane),
// the work the fleet rollout does for 10,000 control planes. Prints per-control-plane cost and heap growth.
import { performance } from 'node:perf_hooks';
import { ControlPlaneSchema, type ControlPlane } from '../domain/inventory';
import { DEFAULT_POLICY } from '../domain/policy';
import type { Release } from '../domain/release';
import { planFleet } from '../cli/plan';

const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Adelaide', 'Pacific/Auckland', 'UTC'];
const N = Number(process.env.BENCH_CONTROL_PLANES ?? 10_000);

function fleet(n: number): ControlPlane[] {
  return Array.from({ length: n }, (_, i) =>
    ControlPlaneSchema.parse({
      id: `cp-${i}`,
      orgId: `org-${i % 500}`,
      tier: (['production', 'staging', 'development'] as const)[i % 3],
      autoUpgrade: i % 10 !== 0,
      dashboard: { version: '5.3.4' },
      gateway: { version: '5.3.4' },
      dataPlanes: [{ id: 'dp-1', version: '5.3.4' }],
      window:
        i % 2 === 0
          ? {
              timeZone: ZONES[i % ZONES.length],
              start: '01:00',
              durationMinutes: 240,
              weekly: { days: ['sat', 'sun'] },
            }
          : { timeZone: ZONES[i % ZONES.length], start: '02:30', durationMinutes: 180, monthly: 'last saturday' },
      blackouts: i % 7 === 0 ? [{ from: '2026-12-20', to: '2027-01-04' }] : [],
    }),
  );
}

const release: Release = {
  id: 'lts-5.8.2',
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes',
};
const cps = fleet(N);
const now = new Date('2026-11-24T12:00:00Z');
planFleet(cps.slice(0, 200), release, DEFAULT_POLICY, now); // warm-up
global.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const t0 = performance.now();
const rows = planFleet(cps, release, DEFAULT_POLICY, now);
const ms = performance.now() - t0;
const heapAfter = process.memoryUsage().heapUsed;
const planned = rows.filter((r) => r.window).length;
console.log(`planned ${N} control planes (${planned} with a window) in ${ms.toFixed(0)} ms`);
console.log(
  `  ${((ms * 1000) / N).toFixed(1)} µs per control plane; heap +${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB`,
);
