// `nightshift release --release <file.json|yaml> [rollout overrides] [--dry-run]`
// `nightshift release --id <id> --kind lts|security --dashboard <v> --gateway <v> --notes-url <https> [--affected <range>]`
// Starts the release's fleet rollout (workflow `fleet/<releaseId>`), at most once per release id.
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { ReleaseSchema, type Release } from '../domain/release';
import { RolloutPolicySchema, type RolloutPolicy, type RolloutPolicyInput } from '../domain/rollout';
import { parseWith, ValidationError } from '../domain/validation';
import { fleetInput, startFleetUpgrade, type FleetStartResult } from '../client/startFleet';
import { fleetWorkflowId } from '../workflows/messages';
import {
  decimal,
  jsonOption,
  outputFormat,
  outputOption,
  readDataFile,
  readText,
  UsageError,
  wholeNumber,
  type OutputFormat,
  type ReadFile,
} from './cliArgs';

export interface ReleaseCommand {
  release: Release;
  /** Passed to startFleetUpgrade: undefined when neither --rollout nor an override flag was given. */
  rollout?: RolloutPolicyInput;
  /** What the fleet will run with. */
  resolved: RolloutPolicy;
  dryRun: boolean;
  output: OutputFormat;
}

/** The values commander parsed, by flag name. */
type Values = Record<string, string | string[] | boolean | undefined>;

const RELEASE_FLAGS: Record<string, string> = {
  id: '--id',
  kind: '--kind',
  'targets.dashboard': '--dashboard',
  'targets.gateway': '--gateway',
  notesUrl: '--notes-url',
  affected: '--affected',
};

function releaseFromFlags(v: Values): Release {
  const given = (name: string) => (typeof v[name] === 'string' ? v[name] : undefined);
  const input = {
    id: given('id'),
    kind: given('kind'),
    targets: { dashboard: given('dashboard'), gateway: given('gateway') },
    notesUrl: given('notes-url'),
    ...(given('affected') !== undefined ? { affected: given('affected') } : {}),
  };
  try {
    return parseWith(ReleaseSchema, input, 'release (command line)');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    // Name the flag, not the field: `--gateway = "five": not a semantic version`.
    const issues = err.issues.map((issue) => {
      const field = Object.keys(RELEASE_FLAGS).find((f) => issue.startsWith(`${f} = `));
      return field ? `${RELEASE_FLAGS[field]}${issue.slice(field.length)}` : issue;
    });
    throw new ValidationError(err.source, issues);
  }
}

/** Checks one override against the rollout schema alone, so the message names the flag rather than a field. */
function checkOverride(flag: string, texts: string[], partial: Record<string, unknown>): void {
  const result = RolloutPolicySchema.safeParse(partial);
  if (result.success) return;
  const issue = result.error.issues[0]!;
  const index = issue.path.at(-1);
  const text = typeof index === 'number' ? texts[index] : texts[0];
  throw new UsageError(`${flag} = ${JSON.stringify(text)}: ${issue.message}`);
}

type RolloutOverrides = Partial<Omit<RolloutPolicy, 'failureBudget'>> & {
  failureBudget?: Partial<RolloutPolicy['failureBudget']>;
};

function rolloutOverrides(v: Values): RolloutOverrides {
  const list = (name: string) => (v[name] as string[] | undefined) ?? [];
  const one = (name: string) => v[name] as string | undefined;
  const out: RolloutOverrides = {};
  const labels = list('canary-label');
  const tiers = list('canary-tier');
  const ids = list('canary');
  if (labels.length + tiers.length + ids.length > 0) {
    const canary = { labels, tiers, controlPlaneIds: ids };
    checkOverride('--canary-label', labels, { canary: { labels } });
    checkOverride('--canary-tier', tiers, { canary: { tiers } });
    checkOverride('--canary', ids, { canary: { controlPlaneIds: ids } });
    out.canary = canary as RolloutPolicy['canary'];
  }
  const bake = one('bake');
  if (bake !== undefined) {
    out.bakeMinutes = wholeNumber('--bake', bake);
    checkOverride('--bake', [bake], { bakeMinutes: out.bakeMinutes });
  }
  const maxConcurrent = one('max-concurrent');
  if (maxConcurrent !== undefined) {
    out.maxConcurrent = wholeNumber('--max-concurrent', maxConcurrent);
    checkOverride('--max-concurrent', [maxConcurrent], { maxConcurrent: out.maxConcurrent });
  }
  const maxFailures = one('max-failures');
  const maxRatio = one('max-failure-ratio');
  if (maxFailures !== undefined || maxRatio !== undefined) {
    const budget: Partial<RolloutPolicy['failureBudget']> = {};
    if (maxFailures !== undefined) {
      budget.maxFailures = wholeNumber('--max-failures', maxFailures);
      checkOverride('--max-failures', [maxFailures], { failureBudget: { maxFailures: budget.maxFailures } });
    }
    if (maxRatio !== undefined) {
      budget.maxRatio = decimal('--max-failure-ratio', maxRatio);
      checkOverride('--max-failure-ratio', [maxRatio], { failureBudget: { maxRatio: budget.maxRatio } });
    }
    out.failureBudget = budget;
  }
  return out;
}

/** The command a parsed command line asks for (`v` by flag name); every message names the flag and the value. */
function buildReleaseCommand(v: Values, read: ReadFile): ReleaseCommand {
  const file = (name: string) => v[name] as string | undefined;
  const releaseFlags = ['id', 'kind', 'dashboard', 'gateway', 'notes-url', 'affected'].filter(
    (f) => v[f] !== undefined,
  );
  let release: Release;
  const releaseFile = file('release');
  if (releaseFile !== undefined) {
    if (releaseFlags.length > 0)
      throw new UsageError(`--release <file> and --${releaseFlags[0]} do not mix: give the release one way`);
    release = parseWith(ReleaseSchema, readDataFile('--release', releaseFile, read), `release ${releaseFile}`);
  } else if (releaseFlags.length > 0) {
    release = releaseFromFlags(v);
  } else {
    throw new UsageError(
      'no release: give --release <file.json|yaml>, or --id, --kind, --dashboard, --gateway and --notes-url',
    );
  }

  const rolloutFile = file('rollout');
  const fromFile =
    rolloutFile !== undefined
      ? parseWith(RolloutPolicySchema, readDataFile('--rollout', rolloutFile, read) ?? {}, `rollout ${rolloutFile}`)
      : undefined;
  const overrides = rolloutOverrides(v);
  let rollout: RolloutPolicyInput | undefined = fromFile;
  if (Object.keys(overrides).length > 0) {
    const base = fromFile ?? release.rollout ?? parseWith(RolloutPolicySchema, {}, 'rollout');
    rollout = {
      ...base,
      ...overrides,
      failureBudget: { ...base.failureBudget, ...overrides.failureBudget },
    };
  }
  return {
    release,
    rollout,
    resolved: fleetInput(release, rollout).rollout,
    dryRun: v['dry-run'] === true,
    output: outputFormat({ output: v.output as string | undefined, json: v.json === true }),
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Adds `release` to `program`; a parsed command line is handed to `done`. */
export function addReleaseCommand(
  program: Command,
  done: (command: ReleaseCommand) => void,
  read: ReadFile = readText,
): Command {
  const options: Option[] = [
    new Option('--release <file>', 'the release: a JSON or YAML file (may carry its own rollout)'),
    new Option('--id <id>', 'release id (instead of a file)'),
    new Option('--kind <kind>', 'lts or security'),
    new Option('--dashboard <version>', 'target Dashboard version'),
    new Option('--gateway <version>', 'target Gateway version'),
    new Option('--notes-url <https-url>', 'release notes'),
    new Option('--affected <range>', 'security releases: the affected version range, e.g. ">=5.3.0 <5.3.9"'),
    new Option('--rollout <file>', "a rollout policy (JSON/YAML); replaces the release's own"),
    new Option('--canary-label <label>', 'canary wave: control planes with this label (repeat)').argParser(collect),
    new Option('--canary-tier <tier>', 'canary wave: a whole tier (repeat)').argParser(collect),
    new Option('--canary <control-plane>', 'canary wave: one control plane (repeat)').argParser(collect),
    new Option('--bake <minutes>', 'wait after the canary wave before the main wave (default 60)'),
    new Option('--max-concurrent <n>', 'control planes changing at once across the fleet (default 10)'),
    new Option('--max-failures <n>', 'halt after more than n failed upgrades (default 3)'),
    new Option('--max-failure-ratio <0..1>', 'halt above this share of failures (default 0.1)'),
    new Option('--dry-run', 'print the validated release and the resolved rollout as JSON; do not connect'),
    outputOption(),
    jsonOption(),
  ];
  const release = program
    .command('release')
    .description("start a release's fleet rollout (workflow fleet/<release-id>), at most once per release id");
  for (const option of options) release.addOption(option);
  release.allowExcessArguments(true).action((...args: unknown[]) => {
    const self = args.at(-1) as Command;
    if (self.args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(self.args[0])}`);
    const camel = self.opts();
    // By flag name, as the messages say them.
    const v: Values = Object.fromEntries(options.map((o) => [o.long!.slice(2), camel[o.attributeName()]]));
    done(buildReleaseCommand(v, read));
  });
  return release;
}

export function describeStart(r: FleetStartResult): string {
  const run = r.runId ? ` (run ${r.runId})` : '';
  switch (r.result) {
    case 'started':
      return `${r.workflowId}: started${run}`;
    case 'already-running':
      return `${r.workflowId}: already running${run}; this release's rollout was started before, nothing new started`;
    case 'already-finished':
      return (
        `${r.workflowId}: already finished${r.status ? ` (${r.status})` : ''}${run}; a release id rolls out once, ` +
        'nothing new started'
      );
  }
}

export interface ReleaseRunIo {
  stdout(text: string): void;
}

/** What `-o json` prints after a start. */
export interface ReleaseStartJson extends FleetStartResult {
  action: 'start';
  webUi?: string;
}

/** The dry run's output: what would start, validated, without connecting. */
export function dryRunJson(cmd: ReleaseCommand) {
  return { workflowId: fleetWorkflowId(cmd.release.id), release: cmd.release, rollout: cmd.resolved };
}

/** Starts the rollout and prints what happened to the start. */
export async function runRelease(
  client: Client,
  cmd: ReleaseCommand,
  io: ReleaseRunIo,
  opts: { taskQueue: string; webUi?: (workflowId: string) => string | undefined },
): Promise<void> {
  const result = await startFleetUpgrade(client, {
    taskQueue: opts.taskQueue,
    release: cmd.release,
    rollout: cmd.rollout,
    requestedBy: 'nightshift release',
  });
  const link = opts.webUi?.(result.workflowId);
  if (cmd.output === 'json') {
    const json: ReleaseStartJson = { action: 'start', ...result, ...(link ? { webUi: link } : {}) };
    io.stdout(JSON.stringify(json, null, 2));
  } else io.stdout([describeStart(result), link ? `Web UI: ${link}` : `workflow id: ${result.workflowId}`].join('\n'));
}
