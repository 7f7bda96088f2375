// What the fleet's continue-as-new costs (pure): for each hand-over from one run to the next, how long no slot was
// granted (the last grant signal of the run to the first of the next), and the workflow tasks that failed on the way
// (by cause: a run cannot close while signals keep arriving, UnhandledCommand); and how long the server took to
// deliver the fleet's slot grants: SignalExternalWorkflowExecution initiated → ExternalWorkflowExecutionSignaled before
// patch grants-by-activity, the grantSlots activity scheduled → completed after it.
import { temporal } from '@temporalio/proto';
import { eventName, type EventTypeLike } from './historyCount';

/** What is read of a history event (the SDK's IHistoryEvent fits; its seconds are a Long). */
export interface RunEvent {
  eventType?: EventTypeLike;
  eventTime?: { seconds?: { toString(): string } | number | null; nanos?: number | null } | null;
  workflowTaskFailedEventAttributes?: { cause?: number | string | null } | null;
  eventId?: EventId;
  externalWorkflowExecutionSignaledEventAttributes?: { initiatedEventId?: EventId } | null;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: EventId } | null;
}
type EventId = { toString(): string } | number | null | undefined;
type HistoryEvent = RunEvent;

export interface HandOver {
  /** Which run ended (1 = the first). */
  run: number;
  /** Its events. */
  events: number;
  /** Seconds from the run's last grant signal to the next run's first one. */
  grantGapSeconds: number | undefined;
  /** Seconds from the run's last grant signal to its ContinuedAsNew event. */
  lastGrantToCloseSeconds: number | undefined;
  /** Workflow tasks of the run that failed, by cause ('UnhandledCommand', …). */
  failedTasks: Record<string, number>;
}

const seconds = (e: HistoryEvent): number => {
  const t = e.eventTime;
  return t ? Number(String(t.seconds ?? 0)) + (t.nanos ?? 0) / 1e9 : NaN;
};
const isGrant = (e: HistoryEvent) =>
  eventName(e.eventType) === 'SignalExternalWorkflowExecutionInitiated' ||
  (eventName(e.eventType) === 'ActivityTaskScheduled' &&
    e.activityTaskScheduledEventAttributes?.activityType?.name === 'grantSlots');
/** The event id of the grant a confirmation confirms (a delivered signal, a completed grantSlots). */
const confirms = (e: HistoryEvent): string | undefined => {
  const name = eventName(e.eventType);
  if (name === 'ExternalWorkflowExecutionSignaled')
    return String(e.externalWorkflowExecutionSignaledEventAttributes?.initiatedEventId);
  if (name === 'ActivityTaskCompleted') return String(e.activityTaskCompletedEventAttributes?.scheduledEventId);
  return undefined;
};

function failedTasks(events: readonly HistoryEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) {
    if (eventName(e.eventType) !== 'WorkflowTaskFailed') continue;
    const raw = e.workflowTaskFailedEventAttributes?.cause;
    const name =
      typeof raw === 'number' ? (temporal.api.enums.v1.WorkflowTaskFailedCause[raw] ?? String(raw)) : String(raw);
    const cause = name.replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '');
    out[cause] = (out[cause] ?? 0) + 1;
  }
  return out;
}

/** The hand-overs of a fleet's runs, given oldest first. */
export function handOvers(runs: readonly (readonly HistoryEvent[])[]): HandOver[] {
  const out: HandOver[] = [];
  for (let i = 0; i + 1 < runs.length; i++) {
    const run = runs[i]!;
    const lastGrant = [...run].reverse().find(isGrant);
    const nextGrant = runs.slice(i + 1).flatMap((r) => r.filter(isGrant))[0];
    const closed = run.at(-1);
    out.push({
      run: i + 1,
      events: run.length,
      grantGapSeconds: lastGrant && nextGrant ? round(seconds(nextGrant) - seconds(lastGrant)) : undefined,
      lastGrantToCloseSeconds: lastGrant && closed ? round(seconds(closed) - seconds(lastGrant)) : undefined,
      failedTasks: failedTasks(run),
    });
  }
  return out;
}

const round = (x: number) => Math.round(x * 10) / 10;

export interface GrantLatency {
  /** Grants (a signal, or a grantSlots batch) whose delivery the history confirms. */
  confirmed: number;
  p50Seconds: number;
  p90Seconds: number;
  maxSeconds: number;
}

/** From a grant signal's initiation to the server's confirmation that the control plane got it, over all runs. */
export function grantLatency(runs: readonly (readonly HistoryEvent[])[]): GrantLatency | undefined {
  const latencies: number[] = [];
  for (const run of runs) {
    const initiated = new Map<string, number>();
    for (const e of run) {
      if (isGrant(e)) initiated.set(String(e.eventId), seconds(e));
      const grant = confirms(e);
      const from = grant === undefined ? undefined : initiated.get(grant);
      if (from !== undefined) latencies.push(seconds(e) - from);
    }
  }
  if (latencies.length === 0) return undefined;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.floor(q * (latencies.length - 1))]!);
  return { confirmed: latencies.length, p50Seconds: at(0.5), p90Seconds: at(0.9), maxSeconds: at(1) };
}
