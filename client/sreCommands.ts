// `npm run sre -- <command>`: the operator CLI's parsing and commands, apart from the process (cli/sre.ts), so
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
  abandonRollbackSignal,
  retryRollbackSignal,
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  deferUpdate,
  fleetStatusQuery,
  fleetWorkflowId,
  forgetSignal,
  freezeSignal,
  pauseSignal,
  reconcileSignal,
  resumeSignal,
  unfreezeSignal,
  upgradeNowUpdate,
  UPGRADE_STAGES,
  type AttemptRecord,
  type ControlPlaneStatus,
  type DeferRequest,
  type FleetStatus,
  type FreezeRequest,
  type OperatorRequest,
  type UpgradeStage as UpgradeStageName,
  type UpgradeStatus,
  type WhyNotReason,
} from '../workflows/messages';
import { ControlPlaneId, ReleaseId, UpgradeStage, WindowOpensAt } from '../workflows/searchAttributes';
import {
  CATCH_UP_EVERY_DEFAULT,
  CATCH_UP_SCHEDULE_ID,
  CATCH_UP_WORKFLOW_ID,
  CATCH_UP_WORKFLOW_TYPE,
  catchUpInterval,
  deleteCatchUpSchedule,
  ensureCatchUpSchedule,
} from './catchUpSchedule';
// eslint-disable-next-line @typescript-eslint/no-restricted-imports -- TEMPORARY: argument parsing moves to cli/
import { parseFlags, UsageError, wholeNumber } from '../cli/cliArgs';
import { parseMinutes } from '../config/duration';

// eslint-disable-next-line @typescript-eslint/no-restricted-imports -- TEMPORARY: argument parsing moves to cli/
export { UsageError } from '../cli/cliArgs';

/** The command reached Temporal but could not do what was asked (not found, rejected, no answer). Exit code 1. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly exitCode = 1;
}

export type FleetTarget = { kind: 'fleet'; releaseId: string };
export type ControlPlaneTarget = { kind: 'control-plane'; controlPlaneId: string };
export type Target = FleetTarget | ControlPlaneTarget;

export type SreCommand =
  | { name: 'help' }
  | { name: 'status'; target: Target; json: boolean }
  | { name: 'pause' | 'resume' | 'cancel'; target: Target; request: OperatorRequest }
  | { name: 'approve' | 'unfreeze' | 'reconcile'; target: FleetTarget; request: OperatorRequest }
  | { name: 'freeze'; target: FleetTarget; request: FreezeRequest }
  | { name: 'forget'; target: FleetTarget; controlPlaneId: string; request: OperatorRequest }
  | { name: 'defer'; target: ControlPlaneTarget; request: DeferRequest }
  | { name: 'upgrade-now'; target: ControlPlaneTarget; request: OperatorRequest }
  | { name: 'retry-rollback' | 'abandon-rollback'; target: ControlPlaneTarget; request: OperatorRequest }
  | { name: 'list'; stage?: UpgradeStageName; releaseId?: string; json: boolean }
  | { name: 'schedule'; action: 'ensure'; every: string }
  | { name: 'schedule'; action: 'delete' };

export const SRE_USAGE = `usage: npm run sre -- <command> [options]

  status <control-plane> [--json]          installed versions, the upgrade in progress (steps, health, window,
                                           notices), pending release, recent attempts, and why it is not upgrading
  status --fleet <release-id> [--json]     a fleet rollout's stage, waves, outcomes, failures, lost control planes
  pause|resume|cancel <control-plane> [--reason <text>] [--by <name>]
  pause|resume|cancel --fleet <release-id> [--reason <text>] [--by <name>]
  approve --fleet <release-id> [--reason <text>] [--by <name>]       continue a halted rollout
  freeze --fleet <release-id> --until <ISO instant|4h|2d> --reason <text> [--by <name>]
  unfreeze --fleet <release-id> [--reason <text>] [--by <name>]
  defer <control-plane> --days <n> [--reason <text>] [--by <name>]
  upgrade-now <control-plane> --reason <text> [--by <name>]
  retry-rollback <control-plane> [--reason <text>] [--by <name>]   a blocked rollback: try the restore again now
  abandon-rollback <control-plane> --reason <text> [--by <name>]   a blocked rollback: stop; you restore it by hand
  forget <control-plane> --fleet <release-id> [--reason <text>] [--by <name>]
                                           the rollout stops counting that control plane as in flight
  reconcile --fleet <release-id> [--reason <text>] [--by <name>]
                                           the rollout asks every control plane it counts in flight for its state now
  schedule [--every <30m|1h|1d>]           create or update the Temporal Schedule ${CATCH_UP_SCHEDULE_ID} (default every
                                           ${CATCH_UP_EVERY_DEFAULT}): it starts ${CATCH_UP_WORKFLOW_TYPE} (${CATCH_UP_WORKFLOW_ID}), skipping a run while one runs
  schedule --delete                        delete that schedule
  list [--stage <stage>] [--release <id>] [--json]      running control-plane upgrades

A control plane's commands address its one workflow, control-plane/<id> (no --release needed).
--by defaults to your user name.`;

const OPTIONS = {
  fleet: { type: 'string' },
  release: { type: 'string' },
  reason: { type: 'string' },
  by: { type: 'string' },
  until: { type: 'string' },
  days: { type: 'string' },
  stage: { type: 'string' },
  every: { type: 'string' },
  delete: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
type Flag = keyof typeof OPTIONS;

interface CommandSpec {
  /**
   * What it addresses: a fleet (`--fleet <release-id>`), a control plane (`<control-plane>`), either, a control plane
   * within a fleet (both), or none.
   */
  target: 'fleet' | 'control-plane' | 'either' | 'both' | 'none';
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
  'retry-rollback': { target: 'control-plane', flags: REQUEST_FLAGS },
  'abandon-rollback': { target: 'control-plane', flags: REQUEST_FLAGS, required: ['reason'] },
  forget: { target: 'both', flags: REQUEST_FLAGS },
  reconcile: { target: 'fleet', flags: REQUEST_FLAGS },
  list: { target: 'none', flags: ['stage', 'release', 'json'] },
  schedule: { target: 'none', flags: ['every', 'delete'] },
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
  // Own keys only: `toString` or `__proto__` is not a command (`in` would find them on Object.prototype).
  if (!Object.hasOwn(COMMANDS, name))
    throw new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  const command = name as keyof typeof COMMANDS;
  const spec = COMMANDS[command];
  if (extra.length > 0) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(extra[0])}`);

  // Before the redesign a control plane had one workflow per release: say so rather than "does not apply".
  if (v.release !== undefined && spec.target !== 'none')
    throw new UsageError(
      `${command}: --release no longer applies: a control plane's commands address its one workflow, ` +
        'control-plane/<id>, and a fleet is named by --fleet <release-id>',
    );
  const targetFlags: Record<CommandSpec['target'], Flag[]> = {
    fleet: ['fleet'],
    'control-plane': [],
    either: ['fleet'],
    both: ['fleet'],
    none: [],
  };
  const allowed = new Set<Flag>([...spec.flags, ...targetFlags[spec.target], 'help']);
  for (const flag of Object.keys(v) as Flag[])
    if (!allowed.has(flag)) throw new UsageError(`${command}: --${flag} does not apply here`);
  for (const flag of spec.required ?? [])
    if (v[flag] === undefined) throw new UsageError(`${command}: --${flag} is required`);

  let target: Target | undefined;
  if (spec.target === 'both') {
    if (subject === undefined || v.fleet === undefined)
      throw new UsageError(`${command}: needs <control-plane> and --fleet <release-id>`);
    target = { kind: 'fleet', releaseId: releaseId('--fleet', v.fleet) };
  } else if (spec.target !== 'none') {
    if (v.fleet !== undefined && subject !== undefined)
      throw new UsageError(`${command}: give either <control-plane> or --fleet <release-id>, not both`);
    if (v.fleet !== undefined) target = { kind: 'fleet', releaseId: releaseId('--fleet', v.fleet) };
    else if (subject !== undefined) {
      if (spec.target === 'fleet') throw new UsageError(`${command}: needs --fleet <release-id>, not a control plane`);
      target = { kind: 'control-plane', controlPlaneId: controlPlaneId(subject) };
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
    case 'reconcile':
      return { name: command, target: target as FleetTarget, request };
    case 'retry-rollback':
    case 'abandon-rollback':
      return { name: command, target: target as ControlPlaneTarget, request };
    case 'freeze':
      return {
        name: command,
        target: target as FleetTarget,
        request: { ...request, until: parseUntil(v.until!, ctx.now) },
      };
    case 'forget':
      return { name: command, target: target as FleetTarget, controlPlaneId: controlPlaneId(subject!), request };
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
    case 'schedule': {
      if (v.delete) {
        if (v.every !== undefined) throw new UsageError('schedule: --every and --delete do not go together');
        return { name: command, action: 'delete' };
      }
      const every = v.every ?? CATCH_UP_EVERY_DEFAULT;
      const minutes = catchUpInterval(every);
      if (typeof minutes === 'string') throw new UsageError(`--every = ${JSON.stringify(every)}: ${minutes}`);
      return { name: command, action: 'ensure', every };
    }
  }
}

// ---- running commands ----

export interface SreIo {
  out(line: string): void;
  /** Deadline for each command's calls to Temporal (default 30 s): without a worker, a query or update never answers. */
  timeoutMs?: number;
  /** The workers' task queue (TEMPORAL_TASK_QUEUE): `schedule` starts the catch-up workflow on it. */
  taskQueue?: string;
}

interface RunningUpgrade {
  workflowId: string;
  controlPlaneId?: string;
  releaseId?: string;
  stage?: string;
  windowOpensAt?: Date;
}

async function runningUpgrades(client: Client, conditions: string[]): Promise<RunningUpgrade[]> {
  // Control planes with an upgrade in progress or pending (an idle one has UpgradeStage 'idle' and no ReleaseId).
  const busy = "UpgradeStage != 'idle'";
  const query = ["WorkflowType='controlPlane'", "ExecutionStatus='Running'", busy, ...conditions].join(' AND ');
  const rows: RunningUpgrade[] = [];
  for await (const info of client.workflow.list({ query })) {
    rows.push({
      workflowId: info.workflowId,
      controlPlaneId: info.typedSearchAttributes.get(ControlPlaneId) ?? info.workflowId.slice('control-plane/'.length),
      releaseId: info.typedSearchAttributes.get(ReleaseId),
      stage: info.typedSearchAttributes.get(UpgradeStage),
      windowOpensAt: info.typedSearchAttributes.get(WindowOpensAt),
    });
  }
  return rows.sort((a, b) => a.workflowId.localeCompare(b.workflowId));
}

/** The workflow a target names: a release's fleet rollout, or a control plane's one long-lived workflow. */
export function resolveWorkflowId(target: Target): string {
  return target.kind === 'fleet' ? fleetWorkflowId(target.releaseId) : controlPlaneWorkflowId(target.controlPlaneId);
}

const CONTROL_PLANE_PREFIX = controlPlaneWorkflowId('');

/** What an operator reads when `workflowId` does not exist. */
function notFound(workflowId: string): string {
  if (workflowId.startsWith(CONTROL_PLANE_PREFIX))
    return `no control-plane workflow: no release has been offered to ${workflowId.slice(CONTROL_PLANE_PREFIX.length)} yet`;
  if (workflowId.startsWith('fleet/')) return `no fleet rollout ${workflowId} (is the release id right?)`;
  return `no workflow ${workflowId}`;
}

/** Turns what Temporal throws into one line an operator can act on; unknown errors pass through. */
export function explainError(err: unknown, workflowId: string, timeoutMs: number): unknown {
  if (err instanceof WorkflowNotFoundError) {
    if (/already (completed|finished)/i.test(err.message))
      return new CommandError(`${workflowId} has already finished: ${err.message}`);
    return new CommandError(notFound(workflowId));
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
  if (s.rollbackBlocked)
    lines.push(
      `ROLLBACK BLOCKED since ${when(s.rollbackBlocked.since)} (${s.rollbackBlocked.rounds} round(s)): restoring ` +
        `${s.rollbackBlocked.component}: ${s.rollbackBlocked.why} — retry-rollback or abandon-rollback`,
    );
  for (const d of s.rollbackDecisions ?? [])
    lines.push(`rollback:   ${d.decision} ${d.component} ${who(d)} at ${when(d.at)}`);
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

const versions = (record: Record<string, string>) =>
  Object.entries(record)
    .map(([c, v]) => `${c}=${v}`)
    .join(' ') || 'unknown';
const targetsOf = (t: { dashboard: string; gateway: string }) => `Dashboard ${t.dashboard}, Gateway ${t.gateway}`;

/** One line per attempt: release, outcome, whether anything changed, when, why. */
export function formatAttempt(a: AttemptRecord): string {
  const outcome = `${a.outcome}${a.skipReason ? ` (${a.skipReason})` : ''}`;
  return (
    `${a.releaseId.padEnd(14)} ${outcome.padEnd(20)} ${a.changed ? 'changed' : 'unchanged'}  ` +
    `${when(a.startedAt)} → ${when(a.endedAt)}${a.fleetWorkflowId ? `  via ${a.fleetWorkflowId}` : ''}` +
    `${a.reason ? `: ${a.reason}` : ''}`
  );
}

/** One line per reason: its code, what it means here, and until when it can hold at the latest. */
export function formatWhyNot(r: WhyNotReason): string[] {
  const lines = [`${r.code.padEnd(20)} ${r.detail}${r.until ? ` (until ${when(r.until)})` : ''}`];
  const evidence = Object.entries(r.evidence ?? {}).map(([k, v]) => `${k}=${String(v)}`);
  if (evidence.length) lines.push(`${' '.repeat(21)}evidence: ${evidence.join(' ')}`);
  return lines;
}

export function formatControlPlaneStatus(s: ControlPlaneStatus): string[] {
  const lines = [
    `${s.workflowId}  control plane ${s.controlPlaneId}${s.orgId ? ` (org ${s.orgId})` : ''}`,
    `state:      ${s.state}`,
    `installed:  ${versions(s.installed)}${s.installedSeenAt ? ` (as of ${when(s.installedSeenAt)})` : ''}`,
  ];
  if (s.upgrade) {
    lines.push('upgrade in progress:');
    for (const line of formatUpgradeStatus(s.upgrade)) lines.push(`  ${line}`);
  } else lines.push('upgrade in progress: none');
  const p = s.pending;
  lines.push(
    p
      ? `pending:    ${p.releaseId} (${targetsOf(p.targets)}), offered by ${p.source} at ${when(p.offeredAt)}` +
          `${p.fleetWorkflowId ? ` via ${p.fleetWorkflowId}` : ''}`
      : 'pending:    none',
  );
  if (s.recent.length) {
    lines.push(`recent attempts (oldest first):`);
    for (const a of s.recent) lines.push(`  ${formatAttempt(a)}`);
  } else lines.push('recent attempts: none');
  if (s.whyNot.length) {
    lines.push('why not:');
    for (const r of s.whyNot) for (const line of formatWhyNot(r)) lines.push(`  ${line}`);
  } else lines.push(`why not:    nothing holds it back${s.upgrade ? ' (the upgrade is making progress)' : ''}`);
  if (s.nextChanceAt) lines.push(`next chance: ${when(s.nextChanceAt)}`);
  for (const f of s.deliveryFailures ?? []) lines.push(`not delivered: ${f}`);
  lines.push(`runs:       ${s.runs}`);
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
  if (s.beforeChangeCount !== undefined)
    lines.push(`before change: ${s.beforeChangeCount} stopped before changing anything (outside the failure budget)`);
  const lost = s.lost ?? [];
  if (s.lostCount !== undefined || lost.length) {
    const total = s.lostCount ?? lost.length;
    lines.push(`lost:        ${total}${lost.length < total ? ` (latest ${lost.length})` : ''}`);
    for (const l of lost) lines.push(`  ${l.controlPlaneId} at ${when(l.at)}: ${l.reason}`);
  }
  if (s.reconciledAt) lines.push(`reconciled:  ${when(s.reconciledAt)}`);
  for (const a of s.approvals) lines.push(`approved:    ${who(a)} (accepting ${a.failuresAccepted} failures)`);
  const beforeChange =
    budget.maxBeforeChange !== undefined ? ` or ${budget.maxBeforeChange} stopped before change` : '';
  lines.push(
    `rollout:     canary labels [${canary.labels.join(', ')}] tiers [${canary.tiers.join(', ')}] ids [${canary.controlPlaneIds.join(', ')}]; ` +
      `bake ${s.rollout.bakeMinutes} min; max ${s.rollout.maxConcurrent} at once; ` +
      `halt above ${budget.maxFailures} failures or ${Math.round(budget.maxRatio * 100)}% of ${budget.minSample}+${beforeChange}` +
      `${s.rollout.reconcileMinutes !== undefined ? `; reconcile every ${s.rollout.reconcileMinutes} min` : ''}`,
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
  reconcile: reconcileSignal,
  'retry-rollback': retryRollbackSignal,
  'abandon-rollback': abandonRollbackSignal,
} as const;

const everyText = (minutes: number) =>
  minutes % 1440 === 0 ? `${minutes / 1440}d` : minutes % 60 === 0 ? `${minutes / 60}h` : `${minutes}m`;

async function runSchedule(client: Client, cmd: Extract<SreCommand, { name: 'schedule' }>, io: SreIo): Promise<void> {
  if (cmd.action === 'delete') {
    const deleted = await deleteCatchUpSchedule(client);
    io.out(
      deleted ? `schedule ${CATCH_UP_SCHEDULE_ID} deleted` : `no schedule ${CATCH_UP_SCHEDULE_ID}: nothing to delete`,
    );
    return;
  }
  if (!io.taskQueue) throw new Error('schedule: no task queue given (SreIo.taskQueue, from TEMPORAL_TASK_QUEUE)');
  const r = await ensureCatchUpSchedule(client, { taskQueue: io.taskQueue, every: cmd.every });
  io.out(
    `schedule ${r.scheduleId} ${r.result}: every ${everyText(r.everyMinutes)} it starts ${CATCH_UP_WORKFLOW_TYPE} ` +
      `(workflow id ${CATCH_UP_WORKFLOW_ID}) on task queue ${io.taskQueue}, skipped while one still runs`,
  );
}

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

  if (cmd.name === 'schedule') {
    await client
      .withDeadline(deadline(), () => runSchedule(client, cmd, io))
      .catch((err: unknown) => {
        throw explainError(err, `schedule ${CATCH_UP_SCHEDULE_ID}`, timeoutMs);
      });
    return;
  }

  const workflowId = resolveWorkflowId(cmd.target);
  try {
    await client.withDeadline(deadline(), async () => {
      const handle = client.workflow.getHandle(workflowId);
      switch (cmd.name) {
        case 'status': {
          if (cmd.target.kind === 'fleet') {
            const status = await handle.query(fleetStatusQuery);
            if (cmd.json) io.out(JSON.stringify(status, null, 2));
            else formatFleetStatus(status).forEach((l) => io.out(l));
          } else {
            const status = await handle.query(controlPlaneStatusQuery);
            if (cmd.json) io.out(JSON.stringify(status, null, 2));
            else formatControlPlaneStatus(status).forEach((l) => io.out(l));
          }
          return;
        }
        case 'pause':
        case 'resume':
        case 'cancel':
        case 'approve':
        case 'unfreeze':
        case 'reconcile':
        case 'retry-rollback':
        case 'abandon-rollback':
          await handle.signal(SIGNALS[cmd.name], cmd.request);
          io.out(`${workflowId}: sent ${cmd.name} ${who(cmd.request)}`);
          return;
        case 'freeze':
          await handle.signal(freezeSignal, cmd.request);
          io.out(`${workflowId}: sent freeze until ${when(cmd.request.until)} ${who(cmd.request)}`);
          return;
        case 'forget':
          await handle.signal(forgetSignal, { controlPlaneId: cmd.controlPlaneId, ...cmd.request });
          io.out(`${workflowId}: sent forget ${cmd.controlPlaneId} ${who(cmd.request)}`);
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
    throw explainError(err, workflowId, timeoutMs);
  }
}
