// The Temporal client behind MessengerPort: activities offer releases to the control-plane workflows (signal-with-
// start `control-plane/<id>`), grant them slots and withdraw releases (signals), carry their reports, slot asks and
// returns to the fleet rollouts (signals), and read what the workflows hold (describe + status query, visibility).
// Nothing here throws for a single control plane.
import { isGrpcServiceError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { ControlPlaneProbe, MessengerPort, OpenRelease, WithdrawResult } from '../activities/controlPlanes';
import { ReleaseSchema } from '../domain/release';
import {
  askSlotSignal,
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  grantSignal,
  offerSignal,
  reportSignal,
  returnSlotSignal,
  withdrawSignal,
  type ControlPlaneInput,
  type ReleaseOffer,
  type SlotGrant,
  type Withdrawal,
} from '../workflows/messages';
import { ControlPlaneId, UpgradeStage } from '../workflows/searchAttributes';

export const CONTROL_PLANE_WORKFLOW_TYPE = 'controlPlane';
export const FLEET_ROLLOUT_WORKFLOW_TYPE = 'fleetRollout';
/** Memo key of a fleet rollout holding its release (without the rollout policy); written by client/startFleet.ts. */
export const RELEASE_MEMO = 'release';
/** UpgradeStage values a closed fleet rollout upserts when it did not roll its release out to the end. */
const NOT_OPEN_STAGES = new Set(['cancelled', 'superseded']);
const CONTROL_PLANE_PREFIX = controlPlaneWorkflowId('');

type ControlPlaneWorkflow = (input: ControlPlaneInput) => Promise<unknown>;
type FleetMessage = Parameters<MessengerPort['signalFleet']>[1];

export interface TemporalMessengerOptions {
  taskQueue: string;
  /** Calls to the Temporal service in flight at once per batch (offers, describes). Default 20. */
  offerConcurrency?: number;
  /** How long a status query may take before the control plane counts as busy. Default 5 s. */
  queryTimeoutMs?: number;
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** gRPC status codes (not a direct dependency): the service is down, slow, or rate limiting. */
const RETRY_CODES = new Set([14 /* UNAVAILABLE */, 4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */]);

/** The gRPC status code of `err` or of one of its causes, if any. */
function grpcCodeOf(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e)) return e.code;
  }
  return undefined;
}

/** The service could not be reached or did not answer in time: worth retrying the whole activity. */
export function isConnectionError(err: unknown): boolean {
  const code = grpcCodeOf(err);
  return code !== undefined && RETRY_CODES.has(code);
}

/** The error's message, with its cause's (the client's ServiceError says only "Failed to signal Workflow"). */
function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause && !err.message.includes(cause) ? `${err.message}: ${cause}` : err.message;
}

/** A string literal for a visibility query. */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function controlPlaneSummary(controlPlaneId: string): string {
  return `Control plane ${controlPlaneId}`;
}

export function controlPlaneDetails(controlPlaneId: string): string {
  const workflowId = controlPlaneWorkflowId(controlPlaneId);
  return [
    `**Control plane** \`${controlPlaneId}\`: one long-lived workflow that upgrades it to each release offered ` +
      `(by a fleet rollout, the catch-up schedule or an SRE), in its maintenance window.`,
    '',
    `- Why is it (not) upgrading: query \`status\` (\`temporal workflow query -w ${workflowId} --type status\`); ` +
      `its \`whyNot\` gives the reasons`,
    '- Signals: `pause` (hold before the next step), `resume`, `cancel` (the upgrade in progress is rolled back)',
    '- Offers arrive as the `offer` signal; outcomes go back to the fleet rollout that offered the release',
  ].join('\n');
}

export class TemporalMessenger implements MessengerPort {
  private readonly taskQueue: string;
  private readonly concurrency: number;
  private readonly queryTimeoutMs: number;

  constructor(
    private readonly client: Client,
    opts: TemporalMessengerOptions,
  ) {
    this.taskQueue = opts.taskQueue;
    this.concurrency = opts.offerConcurrency ?? 20;
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 5000;
  }

  async offer(
    controlPlaneIds: string[],
    offer: ReleaseOffer,
  ): Promise<{ offered: string[]; failed: { id: string; error: string }[] }> {
    const outcomes = await mapLimit(controlPlaneIds, this.concurrency, async (id) => {
      try {
        await this.client.workflow.signalWithStart<ControlPlaneWorkflow, [ReleaseOffer]>(CONTROL_PLANE_WORKFLOW_TYPE, {
          workflowId: controlPlaneWorkflowId(id),
          taskQueue: this.taskQueue,
          args: [{ controlPlaneId: id }],
          signal: offerSignal,
          signalArgs: [offer],
          typedSearchAttributes: [{ key: ControlPlaneId, value: id }],
          staticSummary: controlPlaneSummary(id),
          staticDetails: controlPlaneDetails(id),
        });
        return { id };
      } catch (err) {
        return { id, err };
      }
    });
    const offered = outcomes.filter((o) => !('err' in o)).map((o) => o.id);
    const failures = outcomes.filter((o): o is { id: string; err: unknown } => 'err' in o);
    // Nothing got through and the service is unreachable: let the activity retry rather than report every id failed.
    if (offered.length === 0 && failures.length > 0 && failures.every((f) => isConnectionError(f.err))) {
      const first = failures[0]!.err;
      throw new Error(`no offer delivered (${failures.length} control planes): ${messageOf(first)}`, { cause: first });
    }
    return { offered, failed: failures.map((f) => ({ id: f.id, error: messageOf(f.err) })) };
  }

  async withdraw(controlPlaneIds: string[], w: Withdrawal): Promise<WithdrawResult> {
    return this.signalEach(controlPlaneIds, 'withdrawal', (h) => h.signal(withdrawSignal, w));
  }

  async grant(controlPlaneIds: string[], g: SlotGrant): Promise<WithdrawResult> {
    return this.signalEach(controlPlaneIds, 'slot grant', (h) => h.signal(grantSignal, g));
  }

  /**
   * Signals each control-plane workflow; a closed or missing one is `gone`. Throws only when nothing got through and
   * every failure was the service being unreachable (the activity retries rather than lose every signal).
   */
  private async signalEach(
    controlPlaneIds: string[],
    what: string,
    send: (handle: WorkflowHandle) => Promise<void>,
  ): Promise<WithdrawResult> {
    const outcomes = await mapLimit(controlPlaneIds, this.concurrency, async (id) => {
      try {
        await send(this.client.workflow.getHandle(controlPlaneWorkflowId(id)));
        return { id, sent: true as const };
      } catch (err) {
        // Signalling a closed workflow answers NOT_FOUND, like one that never existed.
        if (err instanceof WorkflowNotFoundError) return { id, sent: false as const };
        return { id, err };
      }
    });
    const sent = outcomes.filter((o) => 'sent' in o && o.sent).map((o) => o.id);
    const gone = outcomes.filter((o) => 'sent' in o && !o.sent).map((o) => o.id);
    const failures = outcomes.filter((o): o is { id: string; err: unknown } => 'err' in o);
    if (
      sent.length === 0 &&
      gone.length === 0 &&
      failures.length > 0 &&
      failures.every((f) => isConnectionError(f.err))
    ) {
      const first = failures[0]!.err;
      throw new Error(`no ${what} delivered (${failures.length} control planes): ${messageOf(first)}`, {
        cause: first,
      });
    }
    return {
      sent,
      gone,
      ...(failures.length > 0 ? { failed: failures.map((f) => ({ id: f.id, error: messageOf(f.err) })) } : {}),
    };
  }

  async signalFleet(
    fleetWorkflowId: string,
    message: FleetMessage,
  ): Promise<{ delivered: true } | { delivered: false; fleetStatus: string }> {
    const handle = this.client.workflow.getHandle(fleetWorkflowId);
    try {
      if (message.kind === 'report') await handle.signal(reportSignal, message.report);
      else if (message.kind === 'ask-slot') await handle.signal(askSlotSignal, message.ask);
      else
        await handle.signal(returnSlotSignal, { controlPlaneId: message.controlPlaneId, releaseId: message.releaseId });
      return { delivered: true };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    // Signalling a closed workflow answers NOT_FOUND, like one that never existed: describe tells them apart.
    let fleetStatus: string;
    try {
      fleetStatus = (await handle.describe()).status.name;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      fleetStatus = 'NOT_FOUND';
    }
    // It runs again (a new run started in between): not delivered, but a retry will be.
    if (fleetStatus === 'RUNNING')
      throw new Error(`signal to ${fleetWorkflowId} found no running workflow, but it runs now: retry`);
    return { delivered: false, fleetStatus };
  }

  async inspect(controlPlaneIds: string[]): Promise<ControlPlaneProbe[]> {
    return mapLimit(controlPlaneIds, this.concurrency, (id) => this.probe(id));
  }

  private async probe(controlPlaneId: string): Promise<ControlPlaneProbe> {
    const handle = this.client.workflow.getHandle(controlPlaneWorkflowId(controlPlaneId));
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { controlPlaneId, found: false };
      throw err;
    }
    if (description.status.name !== 'RUNNING')
      return {
        controlPlaneId,
        found: true,
        running: false,
        executionStatus: description.status.name,
        ...(description.closeTime ? { closedAt: description.closeTime.toISOString() } : {}),
      };
    const task = description.raw.pendingWorkflowTask;
    if (task) {
      const why = `a workflow task is pending (attempt ${task.attempt ?? 1})`;
      return { controlPlaneId, found: true, running: true, busy: true, why };
    }
    try {
      const status = await this.client.withDeadline(Date.now() + this.queryTimeoutMs, () =>
        handle.query(controlPlaneStatusQuery),
      );
      return { controlPlaneId, found: true, running: true, busy: false, status };
    } catch (err) {
      return { controlPlaneId, found: true, running: true, busy: true, why: `status query failed: ${messageOf(err)}` };
    }
  }

  async openReleases(): Promise<OpenRelease[]> {
    const query =
      `WorkflowType = '${FLEET_ROLLOUT_WORKFLOW_TYPE}' AND ` +
      `(ExecutionStatus = 'Running' OR ExecutionStatus = 'Completed')`;
    const found: OpenRelease[] = [];
    for await (const wf of this.client.workflow.list({ query })) {
      const stage = wf.typedSearchAttributes.get(UpgradeStage);
      if (stage && NOT_OPEN_STAGES.has(stage)) continue;
      // Fleets started before the memo existed, or with a release this version cannot read, are not offered.
      const parsed = ReleaseSchema.safeParse(wf.memo?.[RELEASE_MEMO]);
      if (!parsed.success) continue;
      found.push({
        release: parsed.data,
        fleetWorkflowId: wf.workflowId,
        running: wf.status.name === 'RUNNING',
        startedAt: wf.startTime.toISOString(),
      });
    }
    found.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
    const seen = new Set<string>();
    return found.filter((r) => !seen.has(r.release.id) && seen.add(r.release.id));
  }

  async holding(releaseId: string): Promise<Set<string>> {
    const query =
      `WorkflowType = '${CONTROL_PLANE_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND ` +
      `ReleaseId = ${quote(releaseId)}`;
    const ids = new Set<string>();
    for await (const wf of this.client.workflow.list({ query })) {
      const id =
        wf.typedSearchAttributes.get(ControlPlaneId) ??
        (wf.workflowId.startsWith(CONTROL_PLANE_PREFIX) ? wf.workflowId.slice(CONTROL_PLANE_PREFIX.length) : undefined);
      if (id) ids.add(id);
    }
    return ids;
  }
}
