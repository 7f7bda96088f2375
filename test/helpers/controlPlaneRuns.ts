// Driving the long-lived control-plane workflow (workflows/controlPlane.ts) from tests on a real Temporal server:
// offer a release the way an SRE does (signal-with-start `offer`), wait for the attempt to end by polling the
// `status` query (the workflow never completes by itself), and read the histories of all its runs (it continues as
// new after every attempt, so the workflow id alone names only the latest run).
import type { Client, WorkflowHandleWithSignaledRunId } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { Release } from '../../domain/release';
import { controlPlane as controlPlaneWorkflow } from '../../workflows';
import {
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  offerSignal,
  type AttemptRecord,
  type ControlPlaneStatus,
  type UpgradeStatus,
} from '../../workflows/messages';

export type ControlPlaneHandle = WorkflowHandleWithSignaledRunId<typeof controlPlaneWorkflow>;
type History = Awaited<ReturnType<ControlPlaneHandle['fetchHistory']>>;
export type HistoryEvent = NonNullable<History['events']>[number];

/** Offers `release` to the control plane's workflow, starting it if it does not run (an SRE's offer). */
export async function offerRelease(
  client: Client,
  opts: { controlPlaneId: string; release: Release; taskQueue: string; staticSummary?: string; staticDetails?: string },
): Promise<ControlPlaneHandle> {
  const { controlPlaneId, release, taskQueue, staticSummary, staticDetails } = opts;
  return client.workflow.signalWithStart(controlPlaneWorkflow, {
    workflowId: controlPlaneWorkflowId(controlPlaneId),
    taskQueue,
    args: [{ controlPlaneId }],
    signal: offerSignal,
    signalArgs: [{ release, source: 'sre', offeredAt: new Date().toISOString() }],
    ...(staticSummary ? { staticSummary } : {}),
    ...(staticDetails ? { staticDetails } : {}),
  });
}

export interface AttemptSeen {
  /** The status when the attempt's record first appeared in `recent`. */
  status: ControlPlaneStatus;
  /** That record: the newest attempt. */
  record: AttemptRecord;
  /**
   * The attempt as last seen in progress (`status.upgrade`). The status drops it once the attempt has ended, with its
   * step history: this is the newest step history a poll saw, not necessarily the final one.
   */
  lastUpgrade?: UpgradeStatus;
}

/**
 * Polls the `status` query until `recent` holds `attempts` attempts (the newest has an outcome). Query errors are
 * retried (a run that has just continued as new may not answer yet); a timeout says what the status was.
 */
export async function waitForAttempt(
  handle: Pick<ControlPlaneHandle, 'query'>,
  { attempts = 1, timeoutMs = 100_000, intervalMs = 100 } = {},
): Promise<AttemptSeen> {
  const deadline = Date.now() + timeoutMs;
  let lastUpgrade: UpgradeStatus | undefined;
  let last: ControlPlaneStatus | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await handle.query(controlPlaneStatusQuery);
      if (last.upgrade) lastUpgrade = last.upgrade;
      const record = last.recent.at(-1);
      if (last.recent.length >= attempts && record?.outcome) return { status: last, record, lastUpgrade };
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const seen = last && { state: last.state, upgrade: last.upgrade?.stage, recent: last.recent, whyNot: last.whyNot };
  throw new Error(
    `no attempt ${attempts} ended within ${timeoutMs} ms; last status ${JSON.stringify(seen)}` +
      (lastError ? `; last query error: ${String(lastError)}` : ''),
  );
}

/** Polls the `status` query until `done` holds; returns that status. */
export async function waitForStatus(
  handle: Pick<ControlPlaneHandle, 'query'>,
  what: string,
  done: (s: ControlPlaneStatus) => boolean,
  timeoutMs = 30_000,
): Promise<ControlPlaneStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ControlPlaneStatus | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await handle.query(controlPlaneStatusQuery);
      if (done(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${what}; last status ${JSON.stringify(last)}` +
      (lastError ? `; last query error: ${String(lastError)}` : ''),
  );
}

/** Waits until run `runId` of `workflowId` has continued as new (it does right after each attempt). */
export async function waitForContinuedAsNew(
  client: Client,
  workflowId: string,
  runId: string,
  timeoutMs = 30_000,
): Promise<void> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const deadline = Date.now() + timeoutMs;
  let status = (await handle.describe()).status.name;
  while (status !== 'CONTINUED_AS_NEW' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    status = (await handle.describe()).status.name;
  }
  if (status !== 'CONTINUED_AS_NEW')
    throw new Error(`run ${runId} of ${workflowId} is ${status}, not continued as new, after ${timeoutMs} ms`);
}

/** The histories of every run of `workflowId` from `firstRunId` on, following continue-as-new, oldest first. */
export async function runHistories(client: Client, workflowId: string, firstRunId: string): Promise<History[]> {
  const histories: History[] = [];
  for (let runId: string | undefined = firstRunId; runId;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    histories.push(history);
    runId = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return histories;
}

/** The search attributes a run upserted, in order: one record per upsert event, values decoded (null: removed). */
export function upsertedSearchAttributes(history: History): Record<string, unknown>[] {
  return (history.events ?? [])
    .map((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields)
    .filter((fields) => !!fields)
    .map((fields) =>
      Object.fromEntries(
        Object.entries(fields!).map(([name, payload]) => {
          const value = payload.data?.length ? defaultPayloadConverter.fromPayload(payload as Payload) : null;
          // Removing an attribute upserts an empty list.
          return [name, Array.isArray(value) && value.length === 0 ? null : value];
        }),
      ),
    );
}
