// `npm run plan -- --inventory <file> --release <file> [--now <ISO instant>] [--json]`
// Dry run: for every control plane, its eligibility and reason, the window it would use and when its notice would
// go out. Uses the same domain code as the activities, and the worker's policy settings (NIGHTSHIFT_* variables).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { describeMigration } from '../domain/compatibility';
import { assessEligibility } from '../domain/eligibility';
import type { ControlPlane } from '../domain/inventory';
import type { WindowPlan } from '../domain/model';
import { noticeLeadMinutes, requiredMinutes, type UpgradePolicy } from '../domain/policy';
import { ReleaseSchema, type Release } from '../domain/release';
import { parseWith, ValidationError } from '../domain/validation';
import { NoWindowError, nextWindow, toWindowPlan } from '../domain/window';
import { loadInventoryFile } from '../integrations/fileInventory';
import { loadConfig } from '../workers/config';

export interface PlanRow {
  controlPlaneId: string;
  orgId: string;
  tier: string;
  eligible: boolean;
  reason?: string;
  detail: string;
  changes: string[];
  noticeAt?: string;
  window?: WindowPlan;
  windowError?: string;
}

export function planFleet(
  controlPlanes: ControlPlane[],
  release: Release,
  policy: UpgradePolicy,
  now: Date,
): PlanRow[] {
  return controlPlanes.map((cp) => {
    const decision = assessEligibility(cp, release);
    const base = { controlPlaneId: cp.id, orgId: cp.orgId, tier: cp.tier };
    if (!decision.eligible)
      return { ...base, eligible: false, reason: decision.reason, detail: decision.detail, changes: [] };
    const changes = decision.changes.map(
      (c) =>
        `${c.component.id} ${c.from}→${c.to}` +
        (c.configMigrations ? ` [config ${c.configMigrations.map(describeMigration).join(', ')}]` : ''),
    );
    const lead = noticeLeadMinutes(policy, cp.tier, release.kind);
    const required = requiredMinutes(policy, decision.changes);
    try {
      const choice = nextWindow(cp.window, cp.blackouts, { now, leadMinutes: lead, requiredMinutes: required });
      const window = toWindowPlan(choice, cp.window, lead, required);
      return { ...base, eligible: true, detail: 'eligible', changes, noticeAt: now.toISOString(), window };
    } catch (err) {
      if (!(err instanceof NoWindowError)) throw err;
      return { ...base, eligible: true, detail: 'eligible, but no window fits', changes, windowError: err.message };
    }
  });
}

function table(rows: PlanRow[]): string {
  const lines = rows.map((r) =>
    [
      r.controlPlaneId,
      r.tier,
      r.eligible ? 'upgrade' : `skip: ${r.reason}`,
      r.window ? `${r.window.localText} | ${r.window.utcText}` : (r.windowError ?? r.detail),
      r.noticeAt ? `notice ${r.noticeAt}` : '',
      r.changes.join(', '),
    ].join('  ·  '),
  );
  const upgrades = rows.filter((r) => r.eligible).length;
  return [...lines, '', `${upgrades} to upgrade, ${rows.length - upgrades} skipped`].join('\n');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      inventory: { type: 'string', default: 'examples/fleet.yaml' },
      release: { type: 'string' },
      now: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.release)
    throw new Error('--release <file> is required (a release event JSON, e.g. examples/release-lts-5.8.2.json)');
  const now = values.now ? new Date(values.now) : new Date();
  if (Number.isNaN(now.getTime())) throw new Error(`--now: '${values.now}' is not an ISO-8601 instant`);
  const releaseText = fs.readFileSync(values.release, 'utf8');
  let releaseJson: unknown;
  try {
    releaseJson = JSON.parse(releaseText);
  } catch (err) {
    throw new Error(`release ${values.release}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const release = parseWith(ReleaseSchema, releaseJson, `release ${values.release}`);
  const inventory = loadInventoryFile(values.inventory!);
  const rows = planFleet(inventory.controlPlanes, release, loadConfig().policy, now);
  console.log(
    values.json
      ? JSON.stringify({ release: release.id, now: now.toISOString(), controlPlanes: rows }, null, 2)
      : table(rows),
  );
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    const known = err instanceof ValidationError || (err instanceof Error && !(err instanceof TypeError));
    console.error(`plan: ${known ? (err as Error).message : String(err)}`);
    process.exit(2);
  }
}
