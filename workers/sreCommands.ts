// `npm run sre -- <command>`: the operator CLI's parsing and commands, apart from the process (scripts/sre.ts), so
// tests can drive them with any Client. Signals, queries and updates are the contracts in workflows/messages.ts.
import {
  isGrpcDeadlineError,
  QueryNotRegisteredError,
  QueryRejectedError,
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ControlPlaneSchema } from '../domain/inventory';
import { ReleaseSchema } from '../domain/release';
import {
  approveSignal,
  cancelSignal,
  deferUpdate,
  fleetStatusQuery,
  fleetWorkflowId,
  freezeSignal,
  pauseSignal,
  resumeSignal,
  statusQuery,
  unfreezeSignal,
  upgradeNowUpdate,
  upgradeWorkflowId,
  UPGRADE_STAGES,
  type DeferRequest,
  type FleetStatus,
  type FreezeRequest,
  type OperatorRequest,
  type UpgradeStage as UpgradeStageName,
  type UpgradeStatus,
} from '../workflows/messages';
import { UpgradeStage, WindowOpensAt } from '../workflows/searchAttributes';
import { parseFlags, UsageError, wholeNumber } from './cliArgs';
import { parseMinutes } from './duration';

export { UsageError } from './cliArgs';

/** The command reached Temporal but could not do what was asked (not found, rejected, no answer). Exit code 1. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly exitCode = 1;
}

export type FleetTarget = { kind: 'fleet'; releaseId: string };
export type ControlPlaneTarget = { kind: 'control-plane'; controlPlaneId: string; releaseId?: string };
export type Target = FleetTarget | ControlPlaneTarget;

export type SreCommand =
  | { name: 'help' }
  | { name: 'status'; target: Target; json: boolean }
  | { name: 'pause' | 'resume' | 'cancel'; target: Target; request: OperatorRequest }
  | { name: 'approve' | 'unfreeze'; target: FleetTarget; request: OperatorRequest }
  | { name: 'freeze'; target: FleetTarget; request: FreezeRequest }
  | { name: 'defer'; target: ControlPlaneTarget; request: DeferRequest }
  | { name: 'upgrade-now'; target: ControlPlaneTarget; request: OperatorRequest }
  | { name: 'list'; stage?: UpgradeStageName; releaseId?: string; json: boolean };

export const SRE_USAGE = `usage: npm run sre -- <command> [options]

  status <control-plane> [--release <id>] [--json]     an upgrade's stage, window, steps, notices, last error
  status --fleet <release-id> [--json]                  a fleet rollout's stage, waves, outcomes, failures
  pause|resume|cancel <control-plane> [--release <id>] [--reason <text>] [--by <name>]
  pause|resume|cancel --fleet <release-id> [--reason <text>] [--by <name>]
  approve --fleet <release-id> [--reason <text>] [--by <name>]       continue a halted rollout
  freeze --fleet <release-id> --until <ISO instant|4h|2d> --reason <text> [--by <name>]
  unfreeze --fleet <release-id> [--reason <text>] [--by <name>]
  defer <control-plane> --days <n> [--release <id>] [--reason <text>] [--by <name>]
  upgrade-now <control-plane> --reason <text> [--release <id>] [--by <name>]
  list [--stage <stage>] [--release <id>] [--json]      running control-plane upgrades

Without --release, the control plane's one running upgrade is used. --by defaults to your user name.`;

const OPTIONS = {
  fleet: { type: 'string' },
  release: { type: 'string' },
  reason: { type: 'string' },
  by: { type: 'string' },
  until: { type: 'string' },
  days: { type: 'string' },
  stage: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
type Flag = keyof typeof OPTIONS;

interface CommandSpec {
  /** Whether it addresses a fleet (`--fleet <release-id>`), a control plane (`<control-plane>`), either, or none. */
  target: 'fleet' | 'control-plane' | 'either' | 'none';
  flags: Flag[];
  required?: Flag[];
}

const REQUEST_FLAGS: Flag[] = ['reason', 'by'];
const COMMANDS: Record<Exclude<SreCommand['name'], 'help'>, CommandSpec> = {
  status: { target: 'either', flags: ['json'] },
  pause: { target: 'either', flags: REQUEST_FLAGS },
  resume: { target: 'either', flags: REQUEST_FLAGS },
  cancel: { target: 'either', flags: REQUEST_FLAGS },
  approve: { target: 'fleet', flags: REQUEST_FLAGS },
  freeze: { target: 'fleet', flags: [...REQUEST_FLAGS, 'until'], required: ['until', 'reason'] },
  unfreeze: { target: 'fleet', flags: REQUEST_FLAGS },
  defer: { target: 'control-plane', flags: [...REQUEST_FLAGS, 'days'], required: ['days'] },
  'upgrade-now': { target: 'control-plane', flags: REQUEST_FLAGS, required: ['reason'] },
  list: { target: 'none', flags: ['stage', 'json'] },
};

export interface ParseContext {
  now: Date;
  /** Default for --by: the operator's OS user name. */
  user: string;
}

function checkId(what: string, flag: string, value: string, schema: { safeParse(v: unknown): { success: boolean } }) {
  if (!schema.safeParse(value).success) throw new UsageError(`${flag} = ${JSON.stringify(value)}: not a ${what} id`);
  return value;
}
const releaseId = (flag: string, v: string) => checkId('release', flag, v, ReleaseSchema.shape.id);
const controlPlaneId = (v: string) => checkId('control plane', '<control-plane>', v, ControlPlaneSchema.shape.id);

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

export function parseSreArgs(argv: string[], ctx: ParseContext): SreCommand {
  const { values: v, positionals } = parseFlags(argv, OPTIONS);
  const [name, subject, ...extra] = positionals;
  if (v.help || name === undefined || name === 'help') return { name: 'help' };
  if (!(name in COMMANDS))
    throw new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  const command = name as keyof typeof COMMANDS;
  const spec = COMMANDS[command];
  if (extra.length > 0) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(extra[0])}`);

  const targetFlags: Record<CommandSpec['target'], Flag[]> = {
    fleet: ['fleet'],
    'control-plane': ['release'],
    either: ['fleet', 'release'],
    none: ['release'],
  };
  const allowed = new Set<Flag>([...spec.flags, ...targetFlags[spec.target], 'help']);
  for (const flag of Object.keys(v) as Flag[])
    if (!allowed.has(flag)) throw new UsageError(`${command}: --${flag} does not apply here`);
  for (const flag of spec.required ?? [])
    if (v[flag] === undefined) throw new UsageError(`${command}: --${flag} is required`);

  let target: Target | undefined;
  if (spec.target !== 'none') {
    if (v.fleet !== undefined && subject !== undefined)
      throw new UsageError(`${command}: give either <control-plane> or --fleet <release-id>, not both`);
    if (v.fleet !== undefined) {
      if (v.release !== undefined)
        throw new UsageError(
          `${command}: --release names a control plane's upgrade; --fleet already names the release`,
        );
      target = { kind: 'fleet', releaseId: releaseId('--fleet', v.fleet) };
    } else if (subject !== undefined) {
      if (spec.target === 'fleet') throw new UsageError(`${command}: needs --fleet <release-id>, not a control plane`);
      target = {
        kind: 'control-plane',
        controlPlaneId: controlPlaneId(subject),
        ...(v.release !== undefined ? { releaseId: releaseId('--release', v.release) } : {}),
      };
    } else {
      const wanted = { fleet: '--fleet <release-id>', 'control-plane': '<control-plane>' } as const;
      throw new UsageError(
        `${command}: needs ${spec.target === 'either' ? `<control-plane> or ${wanted.fleet}` : wanted[spec.target]}`,
      );
    }
  } else if (subject !== undefined) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(subject)}`);

  const by = v.by ?? ctx.user;
  if (by.trim() === '') throw new UsageError(`--by = ${JSON.stringify(by)}: name who is asking`);
  if (v.reason !== undefined && v.reason.trim() === '')
    throw new UsageError(`--reason = ${JSON.stringify(v.reason)}: say why`);
  const request: OperatorRequest = { ...(v.reason !== undefined ? { reason: v.reason } : {}), by };

  switch (command) {
    case 'status':
      return { name: command, target: target!, json: v.json ?? false };
    case 'pause':
    case 'resume':
    case 'cancel':
      return { name: command, target: target!, request };
    case 'approve':
    case 'unfreeze':
      return { name: command, target: target as FleetTarget, request };
    case 'freeze':
      return {
        name: command,
        target: target as FleetTarget,
        request: { ...request, until: parseUntil(v.until!, ctx.now) },
      };
    case 'defer': {
      const days = wholeNumber('--days', v.days!);
      if (days < 1) throw new UsageError(`--days = ${JSON.stringify(v.days)}: defer by at least 1 day`);
      return { name: command, target: target as ControlPlaneTarget, request: { ...request, days } };
    }
    case 'upgrade-now':
      return { name: command, target: target as ControlPlaneTarget, request };
    case 'list': {
      const stage = v.stage;
      if (stage !== undefined && !(UPGRADE_STAGES as readonly string[]).includes(stage))
        throw new UsageError(`--stage = ${JSON.stringify(stage)}: one of ${UPGRADE_STAGES.join(', ')}`);
      return {
        name: command,
        json: v.json ?? false,
        ...(stage !== undefined ? { stage: stage as UpgradeStageName } : {}),
        ...(v.release !== undefined ? { releaseId: releaseId('--release', v.release) } : {}),
      };
    }
  }
}

// ---- running commands ----

export interface SreIo {
  out(line: string): void;
  /** Deadline for each command's calls to Temporal (default 30 s): without a worker, a query or update never answers. */
  timeoutMs?: number;
}

interface RunningUpgrade {
  workflowId: string;
  controlPlaneId?: string;
  releaseId?: string;
  stage?: string;
  windowOpensAt?: Date;
}

async function runningUpgrades(client: Client, conditions: string[]): Promise<RunningUpgrade[]> {
  const query = ["WorkflowType='controlPlaneUpgrade'", "ExecutionStatus='Running'", ...conditions].join(' AND ');
  const rows: RunningUpgrade[] = [];
  for await (const info of client.workflow.list({ query })) {
    const [, controlPlaneId, releaseId] = info.workflowId.split('/');
    rows.push({
      workflowId: info.workflowId,
      controlPlaneId,
      releaseId,
      stage: info.typedSearchAttributes.get(UpgradeStage),
      windowOpensAt: info.typedSearchAttributes.get(WindowOpensAt),
    });
  }
  return rows.sort((a, b) => a.workflowId.localeCompare(b.workflowId));
}

/** The workflow a target names; a control plane without --release is looked up among running upgrades. */
export async function resolveWorkflowId(client: Client, target: Target): Promise<string> {
  if (target.kind === 'fleet') return fleetWorkflowId(target.releaseId);
  if (target.releaseId) return upgradeWorkflowId(target.controlPlaneId, target.releaseId);
  const rows = await runningUpgrades(client, [`ControlPlaneId='${target.controlPlaneId}'`]);
  if (rows.length === 0)
    throw new CommandError(
      `no running upgrade for control plane ${target.controlPlaneId} (give --release <id> for a finished one)`,
    );
  if (rows.length > 1)
    throw new CommandError(
      `${target.controlPlaneId} has ${rows.length} running upgrades (${rows.map((r) => r.workflowId).join(', ')}); ` +
        'say which with --release <id>',
    );
  return rows[0]!.workflowId;
}

function describeWorkflow(workflowId: string): string {
  return workflowId.startsWith('fleet/') ? `fleet rollout ${workflowId}` : `upgrade workflow ${workflowId}`;
}

/** Turns what Temporal throws into one line an operator can act on; unknown errors pass through. */
export function explainError(err: unknown, workflowId: string, timeoutMs: number): unknown {
  if (err instanceof WorkflowNotFoundError) {
    if (/already (completed|finished)/i.test(err.message))
      return new CommandError(`${workflowId} has already finished: ${err.message}`);
    return new CommandError(`no ${describeWorkflow(workflowId)} (is the release id right?)`);
  }
  if (err instanceof WorkflowUpdateFailedError)
    return new CommandError(`${workflowId} rejected it: ${err.cause?.message ?? err.message}`);
  if (err instanceof QueryNotRegisteredError)
    return new CommandError(`${workflowId} does not answer this query: ${err.message}`);
  if (err instanceof QueryRejectedError) return new CommandError(`${workflowId} rejected the query: ${err.message}`);
  if (isGrpcDeadlineError(err) || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)
    return new CommandError(
      `no answer from ${workflowId} within ${Math.round(timeoutMs / 1000)}s: is a worker running on its task queue?`,
    );
  if (err instanceof ServiceError)
    return new CommandError(`${err.message}${err.cause ? `: ${err.cause.message}` : ''} (${workflowId})`);
  return err;
}

const when = (iso?: string) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '—');
const who = (r?: OperatorRequest & { at?: string }) =>
  r ? [r.by && `by ${r.by}`, r.reason && `"${r.reason}"`, r.at && `at ${when(r.at)}`].filter(Boolean).join(' ') : '';
const counts = (record: Record<string, number | undefined>) =>
  Object.entries(record)
    .filter(([, n]) => n)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

export function formatUpgradeStatus(s: UpgradeStatus): string[] {
  const lines = [
    `${s.workflowId}  ${s.releaseKind} release ${s.releaseId}: Dashboard ${s.targets.dashboard}, Gateway ${s.targets.gateway}`,
    `stage:      ${s.stage}${s.outcome ? ` (outcome ${s.outcome}${s.skipReason ? `: ${s.skipReason}` : ''})` : ''}`,
  ];
  if (s.reason) lines.push(`reason:     ${s.reason}`);
  lines.push(`paused:     ${s.paused ? `yes ${who(s.pause)}` : 'no'}`);
  if (s.cancel) lines.push(`cancelled:  ${who(s.cancel)}`);
  if (s.window) {
    lines.push(`window:     ${s.window.localText}`, `            ${s.window.utcText}`);
    if (s.window.startAt !== s.window.opensAt) lines.push(`            starts ${when(s.window.startAt)}`);
  } else lines.push('window:     not planned');
  const changes = s.changes.map((c) => `${c.component.id} ${c.from} → ${c.to}`);
  lines.push(`changes:    ${changes.join(', ') || 'none'}`);
  const now = Object.entries(s.versionsNow).map(([c, v]) => `${c}=${v}`);
  if (now.length) lines.push(`versions:   ${now.join(' ')}`);
  if (s.steps.length) {
    lines.push('steps:');
    for (const step of s.steps) {
      lines.push(
        `  ${step.status.padEnd(7)} ${step.name}  ${when(step.startedAt)}${step.endedAt ? ` → ${when(step.endedAt)}` : ''}${step.detail ? `  ${step.detail}` : ''}`,
      );
      const last = step.evidence?.at(-1);
      if (last)
        lines.push(
          `          health: ${step.evidence!.length} probe(s) kept; last ${when(last.at)}: ${last.status}${last.version ? ` on ${last.version}` : ''}${last.httpStatus ? ` (HTTP ${last.httpStatus})` : ''}${last.problems ? ` — ${last.problems}` : ''}`,
        );
    }
  }
  if (s.notices.length) {
    lines.push('notices:');
    for (const n of s.notices) lines.push(`  ${n.kind.padEnd(12)} ${when(n.at)}${n.duplicate ? ' (duplicate)' : ''}`);
  }
  for (const d of s.deferrals) lines.push(`deferred:   ${d.days} day(s) ${who(d)} → starts ${when(d.newStart)}`);
  if (s.override) lines.push(`upgrade-now: ${who(s.override)}`);
  if (s.fleet)
    lines.push(
      `fleet:      ${s.fleet.workflowId} (${s.fleet.wave} wave)${s.fleet.slotGrantedAt ? `, slot granted ${when(s.fleet.slotGrantedAt)}` : ''}`,
    );
  if (s.supersededBy) lines.push(`superseded by: ${s.supersededBy}`);
  for (const f of s.deliveryFailures ?? []) lines.push(`not delivered: ${f}`);
  if (s.overrunMinutes) lines.push(`overrun:    ${s.overrunMinutes} min past the window`);
  if (s.lastError) lines.push(`last error: ${s.lastError}`);
  return lines;
}

export function formatFleetStatus(s: FleetStatus): string[] {
  const wave = (name: 'canary' | 'main') => {
    const w = s.waves[name];
    return `${name} ${w.listed ? 'listed' : 'not listed yet'}, ${w.started} started, ${w.finished} finished, ${w.failed} failed`;
  };
  const { canary, failureBudget: budget } = s.rollout;
  const lines = [
    `${s.workflowId}  ${s.releaseKind} release ${s.releaseId}: Dashboard ${s.targets.dashboard}, Gateway ${s.targets.gateway}`,
    `stage:       ${s.stage}${s.bakeUntil ? ` (baking until ${when(s.bakeUntil)})` : ''}`,
    `paused:      ${s.paused ? `yes ${who(s.pause)}` : 'no'}`,
  ];
  if (s.halted) lines.push(`HALTED:      ${s.halted.reason} at ${when(s.halted.at)} (approve --fleet ${s.releaseId})`);
  if (s.freeze) lines.push(`frozen:      until ${when(s.freeze.until)} ${who(s.freeze)}`);
  if (s.cancel) lines.push(`cancelled:   ${who(s.cancel)}`);
  if (s.supersededBy) lines.push(`superseded by: ${s.supersededBy}`);
  lines.push(
    `eligibility: ${s.eligibility.listed} listed, ${s.eligibility.eligible} eligible; skipped: ${counts(s.eligibility.skipped)}`,
    `waves:       ${wave('canary')}`,
    `             ${wave('main')}`,
    `in flight:   ${s.inFlight.waitingForWindow} waiting for a window, ${s.inFlight.waitingForSlot} waiting for a slot, ${s.inFlight.changing} changing`,
    `outcomes:    ${counts(s.outcomes)}`,
    `failures:    ${s.failureCount}${s.failures.length < s.failureCount ? ` (latest ${s.failures.length})` : ''}`,
  );
  for (const f of s.failures)
    lines.push(`  ${f.controlPlaneId} ${f.outcome} at ${when(f.at)}${f.reason ? `: ${f.reason}` : ''}`);
  for (const a of s.approvals) lines.push(`approved:    ${who(a)} (accepting ${a.failuresAccepted} failures)`);
  lines.push(
    `rollout:     canary labels [${canary.labels.join(', ')}] tiers [${canary.tiers.join(', ')}] ids [${canary.controlPlaneIds.join(', ')}]; ` +
      `bake ${s.rollout.bakeMinutes} min; max ${s.rollout.maxConcurrent} at once; ` +
      `halt above ${budget.maxFailures} failures or ${Math.round(budget.maxRatio * 100)}% of ${budget.minSample}+`,
    `runs:        ${s.runs} (longest history ${s.maxHistoryLength} events)`,
  );
  return lines;
}

const SIGNALS = {
  pause: pauseSignal,
  resume: resumeSignal,
  cancel: cancelSignal,
  approve: approveSignal,
  unfreeze: unfreezeSignal,
} as const;

/** Runs one parsed command; throws CommandError (exit 1) with one line when Temporal says no. */
export async function runSreCommand(client: Client, cmd: SreCommand, io: SreIo): Promise<void> {
  const timeoutMs = io.timeoutMs ?? 30_000;
  const deadline = () => Date.now() + timeoutMs;
  if (cmd.name === 'help') {
    io.out(SRE_USAGE);
    return;
  }
  if (cmd.name === 'list') {
    const conditions = [
      ...(cmd.stage ? [`UpgradeStage='${cmd.stage}'`] : []),
      ...(cmd.releaseId ? [`ReleaseId='${cmd.releaseId}'`] : []),
    ];
    const rows = await client
      .withDeadline(deadline(), () => runningUpgrades(client, conditions))
      .catch((err: unknown) => {
        throw explainError(err, 'visibility', timeoutMs);
      });
    if (cmd.json) {
      io.out(JSON.stringify(rows, null, 2));
      return;
    }
    for (const r of rows)
      io.out(
        `${r.workflowId.padEnd(40)} ${(r.stage ?? '—').padEnd(20)} ${r.windowOpensAt ? `window opens ${r.windowOpensAt.toISOString()}` : ''}`.trimEnd(),
      );
    io.out(`${rows.length} running upgrade(s)${cmd.stage ? ` in stage ${cmd.stage}` : ''}`);
    return;
  }

  let workflowId = '';
  try {
    await client.withDeadline(deadline(), async () => {
      workflowId = await resolveWorkflowId(client, cmd.target);
      const handle = client.workflow.getHandle(workflowId);
      switch (cmd.name) {
        case 'status': {
          const status =
            cmd.target.kind === 'fleet' ? await handle.query(fleetStatusQuery) : await handle.query(statusQuery);
          if (cmd.json) io.out(JSON.stringify(status, null, 2));
          else if (cmd.target.kind === 'fleet') formatFleetStatus(status as FleetStatus).forEach((l) => io.out(l));
          else formatUpgradeStatus(status as UpgradeStatus).forEach((l) => io.out(l));
          return;
        }
        case 'pause':
        case 'resume':
        case 'cancel':
        case 'approve':
        case 'unfreeze':
          await handle.signal(SIGNALS[cmd.name], cmd.request);
          io.out(`${workflowId}: sent ${cmd.name} ${who(cmd.request)}`);
          return;
        case 'freeze':
          await handle.signal(freezeSignal, cmd.request);
          io.out(`${workflowId}: sent freeze until ${when(cmd.request.until)} ${who(cmd.request)}`);
          return;
        case 'defer': {
          const result = await handle.executeUpdate(deferUpdate, { args: [cmd.request] });
          io.out(`${workflowId}: deferred by ${cmd.request.days} day(s); new window:`);
          io.out(`  ${result.window.localText}`);
          io.out(`  ${result.window.utcText}`);
          io.out(`  ${result.deferralsLeft} deferral(s) left`);
          return;
        }
        case 'upgrade-now': {
          const result = await handle.executeUpdate(upgradeNowUpdate, { args: [cmd.request] });
          io.out(`${workflowId}: upgrading now (was ${result.from}) ${who(cmd.request)}`);
          return;
        }
      }
    });
  } catch (err) {
    throw explainError(err, workflowId || 'the workflow', timeoutMs);
  }
}
