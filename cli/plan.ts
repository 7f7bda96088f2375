// `npm run plan -- --inventory <file> --release <file> [--rollout <file>] [--now <ISO instant>] [--json]`
// Dry run: for every control plane, its eligibility and reason, the wave it falls in, the window it would use and
// when its notice would go out. Uses the same domain code as the activities, and the worker's policy settings
// (NIGHTSHIFT_* variables).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { describeMigration } from '../domain/compatibility';
import { assessEligibility } from '../domain/eligibility';
import type { ControlPlane } from '../domain/inventory';
import type { WindowPlan } from '../domain/model';
import { noticeLeadMinutes, requiredMinutes, type UpgradePolicy } from '../domain/policy';
import { ReleaseSchema, type Release } from '../domain/release';
import { parseRolloutPolicy, waveOf, WAVES, type RolloutPolicy, type Wave } from '../domain/rollout';
import { parseWith, ValidationError } from '../domain/validation';
import { NoWindowError, nextWindow, toWindowPlan } from '../domain/window';
import { loadInventoryFile } from '../integrations/fileInventory';
import { loadConfig } from '../config/config';

export interface PlanRow {
  controlPlaneId: string;
  orgId: string;
  tier: string;
  eligible: boolean;
  reason?: string;
  detail: string;
  changes: string[];
  /**
   * The rollout wave the fleet would start it in: eligible control planes, and those blocked by `config-incompatible`
   * (the fleet starts them too, to send the customer an action-needed notice). Absent for the other skipped ones.
   */
  wave?: Wave;
  noticeAt?: string;
  window?: WindowPlan;
  windowError?: string;
}

/** Skip reasons the fleet still starts an upgrade for (the workflow tells the customer); see activities/fleet.ts. */
const STARTED_ANYWAY = new Set<string>(['config-incompatible']);

/** The rollout policy the fleet would use: the given one, else the release's own, else the defaults. */
export function resolveRollout(release: Release, rollout?: RolloutPolicy): RolloutPolicy {
  return rollout ?? release.rollout ?? parseRolloutPolicy({});
}

export function planFleet(
  controlPlanes: ControlPlane[],
  release: Release,
  policy: UpgradePolicy,
  now: Date,
  rollout: RolloutPolicy = resolveRollout(release),
): PlanRow[] {
  return controlPlanes.map((cp) => {
    const decision = assessEligibility(cp, release);
    const base = { controlPlaneId: cp.id, orgId: cp.orgId, tier: cp.tier };
    if (!decision.eligible) {
      const wave = STARTED_ANYWAY.has(decision.reason) ? { wave: waveOf(cp, rollout) } : {};
      return { ...base, eligible: false, reason: decision.reason, detail: decision.detail, changes: [], ...wave };
    }
    const wave = waveOf(cp, rollout);
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
      return { ...base, eligible: true, detail: 'eligible', changes, wave, noticeAt: now.toISOString(), window };
    } catch (err) {
      if (!(err instanceof NoWindowError)) throw err;
      return {
        ...base,
        eligible: true,
        detail: 'eligible, but no window fits',
        changes,
        wave,
        windowError: err.message,
      };
    }
  });
}

/** Control planes per wave (only those that get one). */
export function waveCounts(rows: PlanRow[]): Record<Wave, number> {
  const counts = Object.fromEntries(WAVES.map((w) => [w, 0])) as Record<Wave, number>;
  for (const r of rows) if (r.wave) counts[r.wave]++;
  return counts;
}

export function formatPlan(rows: PlanRow[], rollout: RolloutPolicy): string {
  const lines = rows.map((r) =>
    [
      r.controlPlaneId,
      r.tier,
      r.wave ?? '-',
      r.eligible ? 'upgrade' : `skip: ${r.reason}`,
      r.window ? `${r.window.localText} | ${r.window.utcText}` : (r.windowError ?? r.detail),
      r.noticeAt ? `notice ${r.noticeAt}` : '',
      r.changes.join(', '),
    ].join('  ·  '),
  );
  const upgrades = rows.filter((r) => r.eligible).length;
  const waves = waveCounts(rows);
  const { canary } = rollout;
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : '-');
  return [
    ...lines,
    '',
    `${upgrades} to upgrade, ${rows.length - upgrades} skipped`,
    `waves: canary ${waves.canary}, main ${waves.main} (canary = labels ${list(canary.labels)}; tiers ` +
      `${list(canary.tiers)}; control planes ${list(canary.controlPlaneIds)})`,
  ].join('\n');
}

/** A .json, .yaml or .yml file; errors name the flag and the file. */
function readDataFile(flag: string, file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  const yaml = ['.yaml', '.yml'].includes(path.extname(file).toLowerCase());
  try {
    return yaml ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    throw new Error(`${flag} ${file}: not ${yaml ? 'YAML' : 'JSON'} (${first})`, { cause: err });
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      inventory: { type: 'string', default: 'examples/fleet.yaml' },
      release: { type: 'string' },
      rollout: { type: 'string' },
      now: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.release)
    throw new Error(
      '--release <file> is required (a release event, JSON or YAML, e.g. examples/release-lts-5.8.2.json)',
    );
  const now = values.now ? new Date(values.now) : new Date();
  if (Number.isNaN(now.getTime())) throw new Error(`--now: '${values.now}' is not an ISO-8601 instant`);
  const release = parseWith(ReleaseSchema, readDataFile('--release', values.release), `release ${values.release}`);
  const rollout = resolveRollout(
    release,
    values.rollout
      ? parseRolloutPolicy(readDataFile('--rollout', values.rollout), `rollout ${values.rollout}`)
      : undefined,
  );
  const inventory = loadInventoryFile(values.inventory!);
  const rows = planFleet(inventory.controlPlanes, release, loadConfig().policy, now, rollout);
  console.log(
    values.json
      ? JSON.stringify(
          { release: release.id, now: now.toISOString(), rollout, waves: waveCounts(rows), controlPlanes: rows },
          null,
          2,
        )
      : formatPlan(rows, rollout),
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
