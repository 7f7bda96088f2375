// `npm run release -- --release <file.json|yaml> [rollout overrides] [--dry-run]`
// `npm run release -- --id <id> --kind lts|security --dashboard <v> --gateway <v> --notes-url <https> [--affected <range>]`
// Starts the release's fleet rollout (workflow `fleet/<releaseId>`), at most once per release id.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ReleaseSchema, type Release } from '../domain/release';
import { RolloutPolicySchema, type RolloutPolicy, type RolloutPolicyInput } from '../domain/rollout';
import { parseWith, ValidationError } from '../domain/validation';
import { decimal, parseFlags, UsageError, wholeNumber } from './cliArgs';
import { loadConfig } from '../config/config';
import { fleetInput, startFleetUpgrade, type FleetStartResult } from '../client/startFleet';
import { connectClient, webUiLink } from '../client/temporalClient';
import { fleetWorkflowId } from '../workflows/messages';

export interface ReleaseCommand {
  release: Release;
  /** Passed to startFleetUpgrade: undefined when neither --rollout nor an override flag was given. */
  rollout?: RolloutPolicyInput;
  /** What the fleet will run with. */
  resolved: RolloutPolicy;
  dryRun: boolean;
}

const OPTIONS = {
  release: { type: 'string' },
  id: { type: 'string' },
  kind: { type: 'string' },
  dashboard: { type: 'string' },
  gateway: { type: 'string' },
  'notes-url': { type: 'string' },
  affected: { type: 'string' },
  rollout: { type: 'string' },
  'canary-label': { type: 'string', multiple: true },
  'canary-tier': { type: 'string', multiple: true },
  canary: { type: 'string', multiple: true },
  bake: { type: 'string' },
  'max-concurrent': { type: 'string' },
  'max-failures': { type: 'string' },
  'max-failure-ratio': { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
} as const;

const RELEASE_FLAGS: Record<string, string> = {
  id: '--id',
  kind: '--kind',
  'targets.dashboard': '--dashboard',
  'targets.gateway': '--gateway',
  notesUrl: '--notes-url',
  affected: '--affected',
};

type ReadFile = (file: string) => string;
const readText: ReadFile = (file) => fs.readFileSync(file, 'utf8');

/** Reads a .json, .yaml or .yml file given with `flag`; the errors name the flag and the file. */
function readDataFile(flag: string, file: string, read: ReadFile): unknown {
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `${flag} = ${JSON.stringify(file)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  const ext = path.extname(file).toLowerCase();
  const yaml = ext === '.yaml' || ext === '.yml';
  try {
    return yaml ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    throw new UsageError(`${flag} = ${JSON.stringify(file)}: not ${yaml ? 'YAML' : 'JSON'} (${first})`);
  }
}

function releaseFromFlags(v: Record<string, unknown>): Release {
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

function rolloutOverrides(v: Record<string, unknown>): RolloutOverrides {
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

export function parseReleaseArgs(argv: string[], read: ReadFile = readText): ReleaseCommand {
  const { values: v, positionals } = parseFlags(argv, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const releaseFlags = ['id', 'kind', 'dashboard', 'gateway', 'notes-url', 'affected'].filter(
    (f) => v[f as keyof typeof v] !== undefined,
  );
  let release: Release;
  if (v.release !== undefined) {
    if (releaseFlags.length > 0)
      throw new UsageError(`--release <file> and --${releaseFlags[0]} do not mix: give the release one way`);
    release = parseWith(ReleaseSchema, readDataFile('--release', v.release, read), `release ${v.release}`);
  } else if (releaseFlags.length > 0) {
    release = releaseFromFlags(v);
  } else {
    throw new UsageError(
      'no release: give --release <file.json|yaml>, or --id, --kind, --dashboard, --gateway and --notes-url',
    );
  }

  const fromFile =
    v.rollout !== undefined
      ? parseWith(RolloutPolicySchema, readDataFile('--rollout', v.rollout, read) ?? {}, `rollout ${v.rollout}`)
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
  return { release, rollout, resolved: fleetInput(release, rollout).rollout, dryRun: v['dry-run'] };
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

async function main(): Promise<number> {
  const cmd = parseReleaseArgs(process.argv.slice(2));
  if (cmd.dryRun) {
    console.log(
      JSON.stringify(
        { workflowId: fleetWorkflowId(cmd.release.id), release: cmd.release, rollout: cmd.resolved },
        null,
        2,
      ),
    );
    return 0;
  }
  const config = loadConfig();
  const { client, close } = await connectClient(config);
  try {
    const result = await startFleetUpgrade(client, {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      release: cmd.release,
      rollout: cmd.rollout,
      requestedBy: 'npm run release',
    });
    console.log(describeStart(result));
    const link = webUiLink(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, result.workflowId);
    console.log(link ? `Web UI: ${link}` : `workflow id: ${result.workflowId}`);
    return 0;
  } finally {
    await close();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      const usage =
        err instanceof UsageError ||
        err instanceof ValidationError ||
        (err instanceof Error && err.message.startsWith('configuration:'));
      console.error(`release: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(usage ? 2 : 1);
    },
  );
}
