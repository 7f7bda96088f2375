// `nightshift plan --inventory <file> --release <file> [--rollout <file>] [--now <ISO instant>] [-o text|json]`
// Dry run: for every control plane, its eligibility and reason, the wave it falls in, the window it would use and
// when its notice would go out. Uses the same domain code as the activities, and the worker's policy settings
// (NIGHTSHIFT_* variables).
import { Command, Option } from 'commander';
import { describeMigration } from '../domain/compatibility';
import { assessEligibility } from '../domain/eligibility';
import type { ControlPlane } from '../domain/inventory';
import type { ComponentChange, WindowPlan } from '../domain/model';
import { noticeLeadMinutes, requiredMinutes, type UpgradePolicy } from '../domain/policy';
import { ReleaseSchema, type Release } from '../domain/release';
import { parseRolloutPolicy, waveOf, WAVES, type RolloutPolicy, type Wave } from '../domain/rollout';
import { parseWith } from '../domain/validation';
import { NoWindowError, nextWindow, toWindowPlan } from '../domain/window';
import { parseInventoryText } from '../integrations/fileInventory';
import {
  jsonOption,
  outputFormat,
  outputOption,
  readDataFile,
  readText,
  readTextFile,
  textTable,
  UsageError,
  type OutputFormat,
  type ReadFile,
} from './cliArgs';

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
  const context: PlanContext = { release, policy, now, noticeAt: now.toISOString(), rollout };
  return controlPlanes.map((cp) => planOne(cp, context));
}

interface PlanContext {
  release: Release;
  policy: UpgradePolicy;
  now: Date;
  noticeAt: string;
  rollout: RolloutPolicy;
}

/** One row. Rows are written as whole literals (no spreads): planning 100,000 control planes is bench-checked. */
function planOne(cp: ControlPlane, { release, policy, now, noticeAt, rollout }: PlanContext): PlanRow {
  const decision = assessEligibility(cp, release);
  const [controlPlaneId, orgId, tier] = [cp.id, cp.orgId, cp.tier];
  if (!decision.eligible) {
    const { reason, detail } = decision;
    return STARTED_ANYWAY.has(reason)
      ? { controlPlaneId, orgId, tier, eligible: false, reason, detail, changes: [], wave: waveOf(cp, rollout) }
      : { controlPlaneId, orgId, tier, eligible: false, reason, detail, changes: [] };
  }
  const wave = waveOf(cp, rollout);
  const changes = decision.changes.map(changeText);
  const lead = noticeLeadMinutes(policy, cp.tier, release.kind);
  const required = requiredMinutes(policy, decision.changes);
  try {
    const choice = nextWindow(cp.window, cp.blackouts, { now, leadMinutes: lead, requiredMinutes: required });
    const window = toWindowPlan(choice, cp.window, lead, required);
    return { controlPlaneId, orgId, tier, eligible: true, detail: 'eligible', changes, wave, noticeAt, window };
  } catch (err) {
    if (!(err instanceof NoWindowError)) throw err;
    const detail = 'eligible, but no window fits';
    return { controlPlaneId, orgId, tier, eligible: true, detail, changes, wave, windowError: err.message };
  }
}

function changeText(c: ComponentChange): string {
  const text = `${c.component.id} ${c.from}→${c.to}`;
  return c.configMigrations ? `${text} [config ${c.configMigrations.map(describeMigration).join(', ')}]` : text;
}

/** Control planes per wave (only those that get one). */
export function waveCounts(rows: PlanRow[]): Record<Wave, number> {
  const counts = Object.fromEntries(WAVES.map((w) => [w, 0])) as Record<Wave, number>;
  for (const r of rows) if (r.wave) counts[r.wave]++;
  return counts;
}

/** A table (control plane, tier, wave, decision, window or why not, notice, changes), then the totals. */
export function formatPlan(rows: PlanRow[], rollout: RolloutPolicy): string {
  const table = textTable(
    ['CONTROL PLANE', 'TIER', 'WAVE', 'DECISION', 'WINDOW', 'NOTICE', 'CHANGES'],
    rows.map((r) => [
      r.controlPlaneId,
      r.tier,
      r.wave,
      r.eligible ? 'upgrade' : `skip: ${r.reason}`,
      r.window ? `${r.window.localText}\n${r.window.utcText}` : (r.windowError ?? r.detail),
      r.noticeAt,
      r.changes.join('\n'),
    ]),
    { 3: 28, 4: 64, 6: 60 },
  );
  const upgrades = rows.filter((r) => r.eligible).length;
  const waves = waveCounts(rows);
  const { canary } = rollout;
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : '-');
  return [
    table,
    '',
    `${upgrades} to upgrade, ${rows.length - upgrades} skipped`,
    `waves: canary ${waves.canary}, main ${waves.main} (canary = labels ${list(canary.labels)}; tiers ` +
      `${list(canary.tiers)}; control planes ${list(canary.controlPlaneIds)})`,
  ].join('\n');
}

export interface PlanCommand {
  inventory: string;
  controlPlanes: ControlPlane[];
  release: Release;
  rollout?: RolloutPolicy;
  now: Date;
  output: OutputFormat;
}

/** Adds `plan` to `program`; a parsed command line (files read and validated) is handed to `done`. */
export function addPlanCommand(
  program: Command,
  done: (command: PlanCommand) => void,
  read: ReadFile = readText,
): Command {
  return program
    .command('plan')
    .description(
      'dry run, no Temporal: per control plane its eligibility, wave, window and notice time, with the policy settings of NIGHTSHIFT_* variables',
    )
    .addOption(new Option('--inventory <file>', 'the fleet inventory (JSON or YAML)').default('examples/fleet.yaml'))
    .addOption(new Option('--release <file>', 'a release event, JSON or YAML, e.g. examples/release-lts-5.8.2.json'))
    .addOption(new Option('--rollout <file>', "a rollout policy (JSON/YAML); replaces the release's own"))
    .addOption(new Option('--now <instant>', 'plan as of this ISO-8601 instant (default: now)'))
    .addOption(outputOption())
    .addOption(jsonOption())
    .allowExcessArguments(true)
    .action((...args: unknown[]) => {
      const self = args.at(-1) as Command;
      if (self.args.length > 0) throw new UsageError(`plan: unexpected argument ${JSON.stringify(self.args[0])}`);
      const o = self.opts<{
        inventory: string;
        release?: string;
        rollout?: string;
        now?: string;
        output?: string;
        json?: boolean;
      }>();
      if (o.release === undefined)
        throw new UsageError(
          'plan: --release <file> is required (a release event, e.g. examples/release-lts-5.8.2.json)',
        );
      const now = o.now !== undefined ? new Date(o.now) : new Date();
      if (Number.isNaN(now.getTime()))
        throw new UsageError(`--now = ${JSON.stringify(o.now)}: not an ISO-8601 instant`);
      const release = parseWith(ReleaseSchema, readDataFile('--release', o.release, read), `release ${o.release}`);
      const rollout =
        o.rollout !== undefined
          ? parseRolloutPolicy(readDataFile('--rollout', o.rollout, read), `rollout ${o.rollout}`)
          : undefined;
      const inventory = parseInventoryText(readTextFile('--inventory', o.inventory, read), o.inventory);
      done({
        inventory: o.inventory,
        controlPlanes: inventory.controlPlanes,
        release,
        rollout,
        now,
        output: outputFormat(o),
      });
    });
}

/** The plan as text (a table) or JSON. */
export function runPlan(cmd: PlanCommand, policy: UpgradePolicy, io: { stdout(text: string): void }): void {
  const rollout = resolveRollout(cmd.release, cmd.rollout);
  const rows = planFleet(cmd.controlPlanes, cmd.release, policy, cmd.now, rollout);
  io.stdout(
    cmd.output === 'json'
      ? JSON.stringify(
          {
            release: cmd.release.id,
            now: cmd.now.toISOString(),
            rollout,
            waves: waveCounts(rows),
            controlPlanes: rows,
          },
          null,
          2,
        )
      : formatPlan(rows, rollout),
  );
}
