// The SRE commands' calls to Temporal, apart from the command line (cli/sre.ts parses and prints), so tests can drive
// them with any Client. Each command returns a structured result: what was done, to which workflow. Signals,
// queries and updates are the contracts in workflows/messages.ts.
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
import type { WindowPlan } from '../domain/model';
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
  FLEET_STAGES,
  UPGRADE_STAGES,
  type ControlPlaneStatus,
  type DeferRequest,
  type FleetStatus,
  type FreezeRequest,
  type OperatorRequest,
} from '../workflows/messages';
import {
  ControlPlaneId,
  OrgId,
  ReleaseId,
  TargetVersion,
  UpgradeStage,
  WindowOpensAt,
} from '../workflows/searchAttributes';
import {
  CATCH_UP_SCHEDULE_ID,
  CATCH_UP_WORKFLOW_ID,
  CATCH_UP_WORKFLOW_TYPE,
  deleteCatchUpSchedule,
  ensureCatchUpSchedule,
} from './catchUpSchedule';
import { FLEET_WORKFLOW_TYPE } from './startFleet';

/** The command reached Temporal but could not do what was asked (not found, rejected, no answer). Exit code 1. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly exitCode = 1;
}

export type FleetTarget = { kind: 'fleet'; releaseId: string };
export type ControlPlaneTarget = { kind: 'control-plane'; controlPlaneId: string };
export type Target = FleetTarget | ControlPlaneTarget;

/** What `sre list` filters on: search attributes, compared for equality. Values are validated by the caller. */
export interface ListFilter {
  /** A control plane's UpgradeStage (`idle` included) or a fleet's stage. */
  stage?: string;
  releaseId?: string;
  /** Control planes only (a fleet has no org). */
  orgId?: string;
}

export type SreCommand =
  | { name: 'status'; target: Target }
  | { name: 'pause' | 'resume' | 'cancel'; target: Target; request: OperatorRequest }
  | { name: 'approve' | 'unfreeze' | 'reconcile'; target: FleetTarget; request: OperatorRequest }
  | { name: 'freeze'; target: FleetTarget; request: FreezeRequest }
  | { name: 'forget'; target: FleetTarget; controlPlaneId: string; request: OperatorRequest }
  | { name: 'defer'; target: ControlPlaneTarget; request: DeferRequest }
  | { name: 'upgrade-now'; target: ControlPlaneTarget; request: OperatorRequest }
  | { name: 'retry-rollback' | 'abandon-rollback'; target: ControlPlaneTarget; request: OperatorRequest }
  | { name: 'list'; filter: ListFilter }
  | { name: 'schedule'; action: 'ensure'; every: string }
  | { name: 'schedule'; action: 'delete' };

export type SignalName =
  | 'pause'
  | 'resume'
  | 'cancel'
  | 'approve'
  | 'unfreeze'
  | 'reconcile'
  | 'retry-rollback'
  | 'abandon-rollback'
  | 'freeze'
  | 'forget';

/** One running workflow `sre list` found: a fleet rollout, or a control plane's workflow. */
export interface ListRow {
  kind: 'fleet' | 'control-plane';
  workflowId: string;
  runId: string;
  controlPlaneId?: string;
  orgId?: string;
  releaseId?: string;
  targetVersion?: string;
  stage?: string;
  /** ISO instant. */
  windowOpensAt?: string;
  /** ISO instant the run started. */
  startTime: string;
}

/** What a command that changes something did, and to which workflow (a signal's run is whichever is current). */
export type ActionResult =
  | {
      action: SignalName;
      workflowId: string;
      result: 'signaled';
      request: OperatorRequest & { until?: string; controlPlaneId?: string };
    }
  | {
      action: 'defer';
      workflowId: string;
      result: 'deferred';
      request: DeferRequest;
      window: WindowPlan;
      deferralsLeft: number;
    }
  | { action: 'upgrade-now'; workflowId: string; result: 'upgrading-now'; request: OperatorRequest; from: string }
  | {
      action: 'schedule';
      scheduleId: string;
      result: 'created' | 'updated' | 'unchanged';
      everyMinutes: number;
      taskQueue: string;
      /** The workflow the schedule starts. */
      workflowId: string;
      workflowType: string;
    }
  | { action: 'schedule-delete'; scheduleId: string; result: 'deleted' | 'not-found' };

export type SreResult =
  | { command: 'status'; kind: 'fleet'; status: FleetStatus }
  | { command: 'status'; kind: 'control-plane'; status: ControlPlaneStatus }
  | { command: 'list'; filter: ListFilter; rows: ListRow[] }
  | { command: 'action'; done: ActionResult };

export interface SreOptions {
  /** Deadline for each command's calls to Temporal (default 30 s): without a worker, a query or update never answers. */
  timeoutMs?: number;
  /** The workers' task queue (TEMPORAL_TASK_QUEUE): `schedule` starts the catch-up workflow on it. */
  taskQueue?: string;
}

const isFleetStage = (s: string) => (FLEET_STAGES as readonly string[]).includes(s);
const isControlPlaneStage = (s: string) => s === 'idle' || (UPGRADE_STAGES as readonly string[]).includes(s);

/**
 * Visibility queries for `sre list`: running fleet rollouts, and running control-plane workflows with an upgrade in
 * progress or pending (`--stage idle` lists the idle ones). A filter one kind cannot match leaves that kind out.
 */
export function listQueries(filter: ListFilter): { kind: ListRow['kind']; query: string }[] {
  const release = filter.releaseId ? [`ReleaseId='${filter.releaseId}'`] : [];
  const stage = filter.stage ? [`UpgradeStage='${filter.stage}'`] : [];
  const queries: { kind: ListRow['kind']; query: string }[] = [];
  if (filter.orgId === undefined && (filter.stage === undefined || isFleetStage(filter.stage)))
    queries.push({
      kind: 'fleet',
      query: [`WorkflowType='${FLEET_WORKFLOW_TYPE}'`, "ExecutionStatus='Running'", ...stage, ...release].join(' AND '),
    });
  if (filter.stage === undefined || isControlPlaneStage(filter.stage))
    queries.push({
      kind: 'control-plane',
      query: [
        "WorkflowType='controlPlane'",
        "ExecutionStatus='Running'",
        ...(filter.stage ? stage : ["UpgradeStage != 'idle'"]),
        ...release,
        ...(filter.orgId ? [`OrgId='${filter.orgId}'`] : []),
      ].join(' AND '),
    });
  return queries;
}

async function listWorkflows(client: Client, filter: ListFilter): Promise<ListRow[]> {
  const rows: ListRow[] = [];
  for (const { kind, query } of listQueries(filter)) {
    for await (const info of client.workflow.list({ query })) {
      const sa = info.typedSearchAttributes;
      const cp = kind === 'control-plane';
      const row: ListRow = {
        kind,
        workflowId: info.workflowId,
        runId: info.runId,
        ...(cp ? { controlPlaneId: sa.get(ControlPlaneId) ?? info.workflowId.slice(CONTROL_PLANE_PREFIX.length) } : {}),
        ...(sa.get(OrgId) !== undefined ? { orgId: sa.get(OrgId) } : {}),
        ...(sa.get(ReleaseId) !== undefined ? { releaseId: sa.get(ReleaseId) } : {}),
        ...(sa.get(TargetVersion) !== undefined ? { targetVersion: sa.get(TargetVersion) } : {}),
        ...(sa.get(UpgradeStage) !== undefined ? { stage: sa.get(UpgradeStage) } : {}),
        ...(sa.get(WindowOpensAt) ? { windowOpensAt: sa.get(WindowOpensAt)!.toISOString() } : {}),
        startTime: info.startTime.toISOString(),
      };
      rows.push(row);
    }
  }
  // Fleets first, then control planes, each by workflow id.
  const rank = (r: ListRow) => (r.kind === 'fleet' ? 0 : 1);
  return rows.sort((a, b) => rank(a) - rank(b) || a.workflowId.localeCompare(b.workflowId));
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

async function runSchedule(
  client: Client,
  cmd: Extract<SreCommand, { name: 'schedule' }>,
  opts: SreOptions,
): Promise<ActionResult> {
  if (cmd.action === 'delete') {
    const deleted = await deleteCatchUpSchedule(client);
    return { action: 'schedule-delete', scheduleId: CATCH_UP_SCHEDULE_ID, result: deleted ? 'deleted' : 'not-found' };
  }
  if (!opts.taskQueue)
    throw new Error('schedule: no task queue given (SreOptions.taskQueue, from TEMPORAL_TASK_QUEUE)');
  const r = await ensureCatchUpSchedule(client, { taskQueue: opts.taskQueue, every: cmd.every });
  return {
    action: 'schedule',
    scheduleId: r.scheduleId,
    result: r.result,
    everyMinutes: r.everyMinutes,
    taskQueue: opts.taskQueue,
    workflowId: CATCH_UP_WORKFLOW_ID,
    workflowType: CATCH_UP_WORKFLOW_TYPE,
  };
}

/** Runs one command and says what it found or did; throws CommandError (exit 1) with one line when Temporal says no. */
export async function runSreCommand(client: Client, cmd: SreCommand, opts: SreOptions = {}): Promise<SreResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = () => Date.now() + timeoutMs;
  if (cmd.name === 'list') {
    const rows = await client
      .withDeadline(deadline(), () => listWorkflows(client, cmd.filter))
      .catch((err: unknown) => {
        throw explainError(err, 'visibility', timeoutMs);
      });
    return { command: 'list', filter: cmd.filter, rows };
  }

  if (cmd.name === 'schedule') {
    const done = await client
      .withDeadline(deadline(), () => runSchedule(client, cmd, opts))
      .catch((err: unknown) => {
        throw explainError(err, `schedule ${CATCH_UP_SCHEDULE_ID}`, timeoutMs);
      });
    return { command: 'action', done };
  }

  const workflowId = resolveWorkflowId(cmd.target);
  try {
    return await client.withDeadline(deadline(), async (): Promise<SreResult> => {
      const handle = client.workflow.getHandle(workflowId);
      switch (cmd.name) {
        case 'status':
          if (cmd.target.kind === 'fleet')
            return { command: 'status', kind: 'fleet', status: await handle.query(fleetStatusQuery) };
          return { command: 'status', kind: 'control-plane', status: await handle.query(controlPlaneStatusQuery) };
        case 'pause':
        case 'resume':
        case 'cancel':
        case 'approve':
        case 'unfreeze':
        case 'reconcile':
        case 'retry-rollback':
        case 'abandon-rollback':
          await handle.signal(SIGNALS[cmd.name], cmd.request);
          return {
            command: 'action',
            done: { action: cmd.name, workflowId, result: 'signaled', request: cmd.request },
          };
        case 'freeze':
          await handle.signal(freezeSignal, cmd.request);
          return {
            command: 'action',
            done: { action: cmd.name, workflowId, result: 'signaled', request: cmd.request },
          };
        case 'forget': {
          const request = { controlPlaneId: cmd.controlPlaneId, ...cmd.request };
          await handle.signal(forgetSignal, request);
          return { command: 'action', done: { action: cmd.name, workflowId, result: 'signaled', request } };
        }
        case 'defer': {
          const r = await handle.executeUpdate(deferUpdate, { args: [cmd.request] });
          return {
            command: 'action',
            done: {
              action: 'defer',
              workflowId,
              result: 'deferred',
              request: cmd.request,
              window: r.window,
              deferralsLeft: r.deferralsLeft,
            },
          };
        }
        case 'upgrade-now': {
          const r = await handle.executeUpdate(upgradeNowUpdate, { args: [cmd.request] });
          return {
            command: 'action',
            done: { action: 'upgrade-now', workflowId, result: 'upgrading-now', request: cmd.request, from: r.from },
          };
        }
      }
    });
  } catch (err) {
    throw explainError(err, workflowId, timeoutMs);
  }
}
