// `nightshift sre <command>`: the operator's commands, one commander subcommand each. Parsing and printing live
// here; the calls to Temporal, and the structured results they return, in client/sreCommands.ts.
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { ControlPlaneSchema } from '../domain/inventory';
import { ReleaseSchema } from '../domain/release';
import { parseMinutes } from '../config/duration';
import { CATCH_UP_EVERY_DEFAULT, CATCH_UP_SCHEDULE_ID, catchUpInterval } from '../client/catchUpSchedule';
import {
  runSreCommand,
  type ControlPlaneTarget,
  type FleetTarget,
  type ListFilter,
  type SreCommand,
  type SreOptions,
  type Target,
} from '../client/sreCommands';
import { FLEET_STAGES, UPGRADE_STAGES, type OperatorRequest } from '../workflows/messages';
import { jsonOption, outputFormat, outputOption, UsageError, wholeNumber, type OutputFormat } from './cliArgs';
import { formatSreResult, sreResultJson } from './sreFormat';

export interface SreParseContext {
  now: Date;
  /** Default for --by: the operator's OS user name. */
  user: string;
}

export interface SreInvocation {
  command: SreCommand;
  output: OutputFormat;
}

type Flag = 'reason' | 'by' | 'until' | 'days' | 'stage' | 'release' | 'org' | 'every' | 'delete';

interface CommandSpec {
  /**
   * What it addresses: a fleet (`--fleet <release-id>`), a control plane (`<control-plane>`), either, a control plane
   * within a fleet (both), or none.
   */
  target: 'fleet' | 'control-plane' | 'either' | 'both' | 'none';
  flags: Flag[];
  required?: Flag[];
  description: string;
}

const REQUEST_FLAGS: Flag[] = ['reason', 'by'];
const COMMANDS: Record<SreCommand['name'], CommandSpec> = {
  status: {
    target: 'either',
    flags: [],
    description: 'a control plane’s upgrade and why it waits; a fleet rollout’s waves and failures',
  },
  pause: { target: 'either', flags: REQUEST_FLAGS, description: 'pause a control plane’s upgrade or a fleet rollout' },
  resume: { target: 'either', flags: REQUEST_FLAGS, description: 'resume what pause stopped' },
  cancel: {
    target: 'either',
    flags: REQUEST_FLAGS,
    description: 'cancel an upgrade (rolls back what changed) or a fleet rollout',
  },
  approve: { target: 'fleet', flags: REQUEST_FLAGS, description: 'continue a halted fleet rollout' },
  freeze: {
    target: 'fleet',
    flags: [...REQUEST_FLAGS, 'until'],
    required: ['until', 'reason'],
    description: 'no new starts in the fleet rollout until then',
  },
  unfreeze: { target: 'fleet', flags: REQUEST_FLAGS, description: 'end a freeze early' },
  defer: {
    target: 'control-plane',
    flags: [...REQUEST_FLAGS, 'days'],
    required: ['days'],
    description: 'move a control plane’s upgrade by whole days (LTS only)',
  },
  'upgrade-now': {
    target: 'control-plane',
    flags: REQUEST_FLAGS,
    required: ['reason'],
    description: 'skip the wait for the window (still tells the customer first)',
  },
  'retry-rollback': {
    target: 'control-plane',
    flags: REQUEST_FLAGS,
    description: 'a blocked rollback: try the restore again now',
  },
  'abandon-rollback': {
    target: 'control-plane',
    flags: REQUEST_FLAGS,
    required: ['reason'],
    description: 'a blocked rollback: stop; you restore it by hand',
  },
  forget: {
    target: 'both',
    flags: REQUEST_FLAGS,
    description: 'a fleet rollout stops counting that control plane as in flight',
  },
  reconcile: {
    target: 'fleet',
    flags: REQUEST_FLAGS,
    description: 'a fleet rollout asks the control planes in flight for their state now',
  },
  list: {
    target: 'none',
    flags: ['stage', 'release', 'org'],
    description: 'running fleet rollouts, and control planes with an upgrade in progress or pending',
  },
  schedule: {
    target: 'none',
    flags: ['every', 'delete'],
    description: `create, update or delete the catch-up schedule ${CATCH_UP_SCHEDULE_ID}`,
  },
};

const LIST_STAGES = [...new Set<string>(['idle', ...UPGRADE_STAGES, ...FLEET_STAGES])];

const FLAG_OPTIONS: Record<Flag, () => Option> = {
  reason: () => new Option('--reason <text>', 'why (recorded with the request)'),
  by: () => new Option('--by <name>', 'who asks (default: your OS user name)'),
  until: () => new Option('--until <when>', 'an ISO instant with a zone (2026-12-01T06:00:00Z) or a duration (4h, 2d)'),
  days: () => new Option('--days <n>', 'whole days'),
  stage: () => new Option('--stage <stage>', `only this stage (idle: idle control planes): ${LIST_STAGES.join(', ')}`),
  release: () => new Option('--release <release-id>', 'only this release'),
  org: () => new Option('--org <org-id>', 'only control planes of this org'),
  every: () => new Option('--every <duration>', `how often: 30m, 1h, 1d (default ${CATCH_UP_EVERY_DEFAULT})`),
  delete: () => new Option('--delete', 'delete the schedule'),
};

function checkId(what: string, flag: string, value: string, schema: { safeParse(v: unknown): { success: boolean } }) {
  if (!schema.safeParse(value).success)
    throw new UsageError(`${flag} = ${JSON.stringify(value)}: not ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} id`);
  return value;
}
const releaseId = (flag: string, v: string) => checkId('release', flag, v, ReleaseSchema.shape.id);
const controlPlaneId = (v: string) => checkId('control plane', '<control-plane>', v, ControlPlaneSchema.shape.id);
const orgId = (v: string) => checkId('org', '--org', v, ControlPlaneSchema.shape.orgId);

/** `--until`: an ISO-8601 instant with a zone, or a duration from now (`90m`, `4h`, `2d`); must be in the future. */
export function parseUntil(text: string, now: Date): string {
  const minutes = /[smhd]\s*$/.test(text) ? parseMinutes(text) : undefined;
  let until: Date;
  if (minutes !== undefined) until = new Date(now.getTime() + minutes * 60_000);
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(text)) until = new Date(text);
  else
    throw new UsageError(
      `--until = ${JSON.stringify(text)}: not an ISO instant (2026-12-01T06:00:00Z) or a duration (4h, 2d)`,
    );
  if (Number.isNaN(until.getTime())) throw new UsageError(`--until = ${JSON.stringify(text)}: not a real instant`);
  if (until.getTime() <= now.getTime()) throw new UsageError(`--until = ${JSON.stringify(text)}: not in the future`);
  return until.toISOString();
}

type Values = Partial<Record<Exclude<Flag, 'delete'> | 'fleet', string>> & { delete?: boolean };

/** The command a parsed command line asks for; every message names the flag (or argument) and the value. */
function buildCommand(
  name: SreCommand['name'],
  subject: string | undefined,
  v: Values,
  ctx: SreParseContext,
): SreCommand {
  const spec = COMMANDS[name];
  // Before the redesign a control plane had one workflow per release: say so rather than "unknown option".
  if (v.release !== undefined && spec.target !== 'none')
    throw new UsageError(
      `${name}: --release no longer applies: a control plane's commands address its one workflow, ` +
        'control-plane/<id>, and a fleet is named by --fleet <release-id>',
    );
  for (const flag of spec.required ?? [])
    if (v[flag] === undefined) throw new UsageError(`${name}: --${flag} is required`);

  let target: Target | undefined;
  if (spec.target === 'both') {
    if (subject === undefined || v.fleet === undefined)
      throw new UsageError(`${name}: needs <control-plane> and --fleet <release-id>`);
    target = { kind: 'fleet', releaseId: releaseId('--fleet', v.fleet) };
  } else if (spec.target !== 'none') {
    if (v.fleet !== undefined && subject !== undefined)
      throw new UsageError(`${name}: give either <control-plane> or --fleet <release-id>, not both`);
    if (v.fleet !== undefined) target = { kind: 'fleet', releaseId: releaseId('--fleet', v.fleet) };
    else if (subject !== undefined) {
      if (spec.target === 'fleet') throw new UsageError(`${name}: needs --fleet <release-id>, not a control plane`);
      target = { kind: 'control-plane', controlPlaneId: controlPlaneId(subject) };
    } else {
      const wanted = { fleet: '--fleet <release-id>', 'control-plane': '<control-plane>' } as const;
      throw new UsageError(
        `${name}: needs ${spec.target === 'either' ? `<control-plane> or ${wanted.fleet}` : wanted[spec.target]}`,
      );
    }
  }

  const by = v.by ?? ctx.user;
  if (by.trim() === '') throw new UsageError(`--by = ${JSON.stringify(by)}: name who is asking`);
  if (v.reason !== undefined && v.reason.trim() === '')
    throw new UsageError(`--reason = ${JSON.stringify(v.reason)}: say why`);
  const request: OperatorRequest = { ...(v.reason !== undefined ? { reason: v.reason } : {}), by };

  switch (name) {
    case 'status':
      return { name, target: target! };
    case 'pause':
    case 'resume':
    case 'cancel':
      return { name, target: target!, request };
    case 'approve':
    case 'unfreeze':
    case 'reconcile':
      return { name, target: target as FleetTarget, request };
    case 'retry-rollback':
    case 'abandon-rollback':
    case 'upgrade-now':
      return { name, target: target as ControlPlaneTarget, request };
    case 'freeze':
      return { name, target: target as FleetTarget, request: { ...request, until: parseUntil(v.until!, ctx.now) } };
    case 'forget':
      return { name, target: target as FleetTarget, controlPlaneId: controlPlaneId(subject!), request };
    case 'defer': {
      const days = wholeNumber('--days', v.days!);
      if (days < 1) throw new UsageError(`--days = ${JSON.stringify(v.days)}: defer by at least 1 day`);
      return { name, target: target as ControlPlaneTarget, request: { ...request, days } };
    }
    case 'list': {
      const filter: ListFilter = {};
      if (v.stage !== undefined) {
        if (!LIST_STAGES.includes(v.stage))
          throw new UsageError(`--stage = ${JSON.stringify(v.stage)}: one of ${LIST_STAGES.join(', ')}`);
        filter.stage = v.stage;
      }
      if (v.release !== undefined) filter.releaseId = releaseId('--release', v.release);
      if (v.org !== undefined) filter.orgId = orgId(v.org);
      return { name, filter };
    }
    case 'schedule': {
      if (v.delete) {
        if (v.every !== undefined) throw new UsageError('schedule: --every and --delete do not go together');
        return { name, action: 'delete' };
      }
      const every = v.every ?? CATCH_UP_EVERY_DEFAULT;
      const minutes = catchUpInterval(every);
      if (typeof minutes === 'string') throw new UsageError(`--every = ${JSON.stringify(every)}: ${minutes}`);
      return { name, action: 'ensure', every };
    }
  }
}

/** Adds `sre` and its subcommands to `program`; a parsed command line is handed to `done`. */
export function addSreCommand(
  program: Command,
  ctx: SreParseContext,
  done: (invocation: SreInvocation) => void,
): Command {
  const sre = program
    .command('sre')
    .description('operate rollouts: status, pause/resume/cancel, approve, freeze, defer, upgrade-now, list, schedule')
    .addHelpText(
      'after',
      "\nA control plane's commands address its one workflow, control-plane/<id>; a fleet rollout is fleet/<release-id>.\n" +
        'Every command takes -o text|json. Exit codes: 0 done, 1 Temporal said no (unknown or finished workflow, update\n' +
        'rejected, no answer within 30 s), 2 bad command line or configuration.',
    );
  for (const [name, spec] of Object.entries(COMMANDS) as [SreCommand['name'], CommandSpec][]) {
    const sub = sre.command(name).description(spec.description);
    if (spec.target === 'control-plane' || spec.target === 'either' || spec.target === 'both')
      sub.argument(
        spec.target === 'either' ? '[control-plane]' : '<control-plane>',
        'control plane id, e.g. cp-acme-eu',
      );
    if (spec.target === 'fleet' || spec.target === 'either' || spec.target === 'both')
      sub.addOption(new Option('--fleet <release-id>', 'the release whose fleet rollout to address'));
    for (const flag of spec.flags) sub.addOption(FLAG_OPTIONS[flag]());
    // Extra arguments are named in the message (a control plane given to a fleet's command is answered in words).
    sub.allowExcessArguments(true);
    // `list --release` filters; elsewhere --release is the pre-redesign flag: hidden, and explained when given.
    if (spec.target !== 'none') sub.addOption(new Option('--release <release-id>').hideHelp());
    sub.addOption(outputOption()).addOption(jsonOption());
    sub.action((...args: unknown[]) => {
      const self = args.at(-1) as Command;
      const values = self.opts<Values & { output?: string; json?: boolean }>();
      const [subject, extra] = self.args;
      const unexpected = spec.target === 'none' ? subject : extra;
      if (unexpected !== undefined) throw new UsageError(`${name}: unexpected argument ${JSON.stringify(unexpected)}`);
      done({ command: buildCommand(name, subject, values, ctx), output: outputFormat(values) });
    });
  }
  return sre;
}

export interface SreRunIo {
  stdout(text: string): void;
}

/** Runs a parsed command against Temporal and prints its result: text, or `-o json` (one JSON document). */
export async function runSre(client: Client, invocation: SreInvocation, io: SreRunIo, opts: SreOptions): Promise<void> {
  const result = await runSreCommand(client, invocation.command, opts);
  io.stdout(
    invocation.output === 'json' ? JSON.stringify(sreResultJson(result), null, 2) : formatSreResult(result).join('\n'),
  );
}
